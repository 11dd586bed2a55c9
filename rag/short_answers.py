"""Short answers: the entity an entity question asks for, as the source writes it, with the sentence it came from.

Candidates are spans of the best evidence sentences: runs of capitalised words ("Sam Bankman-Fried", "Federal
Reserve", "OpenAI"), numbers with their unit ("36,000", "$26.3 billion", "7 percent") and dates ("January",
"October 5"). A candidate that the question already names is no answer ("Who is Mitov?" is not answered by
"Mitov"). Each candidate collects the relevance of the sentences it appears in; one found in several articles
(multi-source questions name several outlets) gathers more. The expected type (person, organisation, place,
number, date) filters and weighs the candidates with surface rules over the span and its neighbours; spaCy's
small English NER would type names better but was not adopted (see bench/results/answers_multihop.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .answer_plan import DATE, NUMBER, ORGANISATION, PERSON, PLACE, THING, AnswerPlan
from .citations import terms
from .evidence_check import Scored, quote_spans

_CAP = r"(?:[A-Z][\w'’\-]*|[A-Z]{2,}[\w'’\-]*|[a-z]+[A-Z][\w'’\-]*)"   # Google, FTX, eBay/iPhone, Bankman-Fried
_NAME_SPAN = re.compile(rf"{_CAP}(?:(?:\s+(?:of|de|du|la|von|van|der|&|and|the)){{0,2}}\s+{_CAP})*")
_NUM_WORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
             r"twenty|thirty|forty|fifty|hundred|dozen|dozens|hundreds|thousands)")
_NUM_SPAN = re.compile(
    r"(?:(?:[$£€]|[A-Z]{2,3}\s)\s?)?(?:\d[\d,.]*(?:-\d+)?|\b" + _NUM_WORD + r"\b)"
    r"(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand|bn|m|k)\b)?"
    r"(?:\s+(?:[a-z]+\s+){0,1}(?:people|years?|months?|days?|points?|dollars|pounds|euros|games|yards|"
    r"touchdowns|goals|runs|wickets|users|employees|jobs|members|copies|units|votes|seats))?")
_MONTH = ("January February March April May June July August September October November December "
          "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec").split()
_DATE_SPAN = re.compile(r"\b(?:(?:" + "|".join(_MONTH) + r")\.?(?:\s+\d{1,2}(?:st|nd|rd|th)?)?(?:,?\s+\d{4})?|"
                        r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)|(?:19|20)\d\d)\b")
_LEAD_STOP = frozenset("""The A An In On At By For Of To From And Or But If As It Its He She They His Her Their This
    That These Those There Here When Where While After Before During Since Although Though However Meanwhile Also
    According Last Next Mr Mrs Ms Dr Sir Dame Lord Lady President CEO Chief Prime Minister Secretary Senator
    Judge Coach Rep Gov General Captain Professor Prof Former Ex We I You Our My Your What Who Which How Why Yet
    Still Even Just Only Then So Now Today Yesterday Tomorrow""".split())
_WEEKDAYS_MONTHS = frozenset(m.lower() for m in _MONTH) | frozenset(
    "monday tuesday wednesday thursday friday saturday sunday week weekend day month year season".split())
_ORG_WORDS = frozenset("""inc corp corporation co company group bank fund club fc united city university college
    association federation league council committee commission agency department ministry reserve exchange
    network networks labs games studios records entertainment media news times post journal press capital
    partners holdings technologies systems airlines motors foundation institute party union court""".split())
_PERSON_CUES = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Sir|Dame|CEO|founder|co-founder|chief executive|president|coach|"
                          r"quarterback|minister|secretary|senator|judge|star|singer|player|manager|chairman)\.?\s*$",
                          re.IGNORECASE)
_SAID_AFTER = re.compile(r"^\s*(?:,\s*(?:who|the|a|an)\b|said|says|told|added|wrote|argued|testified|claimed)")
_PLACE_CUES = re.compile(r"\b(?:in|at|to|from|near|across|outside)\s+(?:the\s+)?$")


REPEAT_WEIGHT = 0.3
PROXIMITY_CHARS = 50
PROXIMITY_WEIGHT = 1.0
OVERLAP_FACTOR = 0.5
ARTICLE_BONUS = 0.25


@dataclass(frozen=True)
class ShortAnswer:
    text: str               # as the source writes it (verbatim in `support.unit.text`)
    support: Scored         # the sentence it is cited from
    score: float
    n_articles: int


def _spans(kind: str, text: str) -> list[tuple[int, int]]:
    if kind == NUMBER:
        return [(m.start(), m.end()) for m in _NUM_SPAN.finditer(text) if m.group(0).strip()]
    if kind == DATE:
        return [(m.start(), m.end()) for m in _DATE_SPAN.finditer(text)]
    out = []
    for m in _NAME_SPAN.finditer(text):
        s, e = m.start(), m.end()
        words = text[s:e].split()
        # a sentence-initial or title word is not part of the name: "The Verge said" keeps "Verge"? no - the
        # outlet filter drops it; "President Joe Biden" -> "Joe Biden"; "In London" -> "London"
        while words and words[0].strip("'’") in _LEAD_STOP:
            s = text.index(words[1], s + len(words[0])) if len(words) > 1 else e
            words = words[1:]
        while words and words[-1] in ("of", "de", "du", "la", "von", "van", "der", "&", "and", "the"):
            e = s + len(" ".join(words[:-1]))
            words = words[:-1]
        if not words:
            continue
        span = text[s:e]
        # strip possessive: "Google's" -> "Google"
        if span.endswith(("'s", "’s")):
            e -= 2
        if e > s and text[s:e].lower() not in _WEEKDAYS_MONTHS:
            out.append((s, e))
    return out


def _type_fit(kind: str, span: str, before: str, after: str) -> float:
    """How well a name span fits the wanted type, from its shape and neighbours: 1 plain, >1 good, <1 poor."""
    words = span.split()
    low = [w.lower().strip(".,") for w in words]
    orgish = any(w in _ORG_WORDS for w in low) or span.isupper() or any(
        c.isupper() for w in words for c in w[1:] if not w.isupper() and "-" not in w)
    personish = bool(_PERSON_CUES.search(before)) or bool(_SAID_AFTER.match(after))
    if kind == PERSON:
        if orgish:
            return 0.4
        return 1.6 if len(words) >= 2 and personish else (1.3 if len(words) >= 2 else (1.1 if personish else 0.7))
    if kind == ORGANISATION:
        if len(words) >= 2 and personish and not orgish:
            return 0.4
        return 1.3 if orgish else 1.0
    if kind == PLACE:
        return 1.4 if _PLACE_CUES.search(before) else 0.8
    return 1.0


def _key(span: str) -> str:
    # "Sam Bankman-Fried" and "Bankman-Fried" are one candidate: key on the last word
    ts = terms(span.split()[-1]) or terms(span)
    return ts[-1] if ts else span.lower()


def choose(plan: AnswerPlan, ranked: list[Scored], question: str, outlet_words: frozenset[str],
           depth: int = 12) -> ShortAnswer | None:
    """The best-supported span of the wanted type among the `depth` most relevant sentences, or None."""
    kind = plan.answer_type
    q_terms = frozenset(terms(question))
    stats: dict[str, dict] = {}
    for rank, sc in enumerate(ranked[:depth]):
        text = sc.unit.text
        weight = max(sc.relevance, 0.0) / (1.0 + 0.15 * rank)
        span_kind = kind if kind in (NUMBER, DATE) else THING
        # when the sentence matched through who-said-it-to-whom, the answer is there, not inside the quotation
        quoted = quote_spans(text) if sc.by_attribution else []
        for s, e in _spans(span_kind, text):
            if any(qs <= s < qe for qs, qe in quoted):
                continue
            span = text[s:e].strip(" ,;:").removesuffix(".")
            if not span:
                continue
            ts = [t for t in terms(span) if t not in outlet_words]
            if not ts or all(t in q_terms for t in ts):
                continue     # the question's own words (or an outlet's name) are not its answer
            overlap = any(t in q_terms for t in ts)     # "Los Angeles Chargers" when the question names the Chargers
            fit = 1.0 if span_kind != THING else _type_fit(kind, span, text[max(0, s - 30):s], text[e:e + 25])
            # the answer sits next to the words of the question ("deported under the deal to 42"); a sentence's
            # subject comes first, so earlier spans win what is left of a tie
            near = frozenset(terms(text[max(0, s - PROXIMITY_CHARS):s] + " " + text[e:e + PROXIMITY_CHARS]))
            fit *= 1.0 + PROXIMITY_WEIGHT * len(near & q_terms) / max(len(q_terms), 1)
            fit *= 1.0 - 0.05 * s / max(len(text), 1)
            if overlap:
                fit *= OVERLAP_FACTOR
            key = _key(span) if span_kind == THING else span.lower()
            st = stats.setdefault(key, {"weights": [], "articles": set(), "forms": {}, "best": None, "fit": 0.0})
            st["weights"].append(weight)
            st["fit"] = max(st["fit"], fit)
            st["articles"].add(sc.unit.passage)
            st["forms"][span] = st["forms"].get(span, 0) + 1
            if st["best"] is None or weight > st["best"][0]:
                st["best"] = (weight, sc, span)
    if not stats:
        return None

    def total(st: dict) -> float:
        # the best sentence decides; repeats add a little, other articles more (multi-source questions)
        best = max(st["weights"])
        support = best + REPEAT_WEIGHT * (sum(st["weights"]) - best)
        return support * st["fit"] * (1.0 + ARTICLE_BONUS * (len(st["articles"]) - 1))

    key, st = max(stats.items(), key=lambda kv: (total(kv[1]), kv[0]))
    # the fullest form the sources use ("Sam Bankman-Fried" over "Bankman-Fried"), if its sentence holds it
    form = max(st["forms"], key=lambda f: (len(f.split()), st["forms"][f]))
    _, sc, span = st["best"]
    support = sc
    if form not in sc.unit.text:
        for other in ranked[:depth]:
            if form in other.unit.text:
                support = other
                break
        else:
            form = span
    if kind != PERSON and kind not in (NUMBER, DATE):
        # "the Times", "the Buffalo Bills": keep the article the source writes before an organisation's name
        at = support.unit.text.find(form)
        if at >= 4 and support.unit.text[at - 4:at].lower() == "the ":
            form = support.unit.text[at - 4:at + len(form)]
    return ShortAnswer(form, support, total(st), len(st["articles"]))


def lead_text(answer: str) -> str:
    """'Sam Bankman-Fried' -> 'Sam Bankman-Fried.'; the first letter is raised ('the Times' -> 'The Times.')."""
    a = answer.strip()
    if a and a[0].islower():
        a = a[0].upper() + a[1:]
    return a if a.endswith((".", "!", "?")) else a + "."


__all__ = ["ShortAnswer", "choose", "lead_text"]
