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

import logging
import re
from dataclasses import dataclass

from .answer_plan import _TYPE_NOUNS, DATE, NUMBER, ORGANISATION, PERSON, PLACE, THING, AnswerPlan
from .citations import terms, terms_match
from ..news.speakers import _ORG_WORDS as _SPEAKER_ORG_WORDS
from .evidence_check import Scored, quote_spans

log = logging.getLogger(__name__)

# Google, FTX, R&A, eBay/iPhone, Bankman-Fried
_CAP = r"(?:[A-Z]+&[A-Z]+|[A-Z][\w'’\-]*|[A-Z]{2,}[\w'’\-]*|[a-z]+[A-Z][\w'’\-]*)"
_NAME_SPAN = re.compile(rf"{_CAP}(?:(?:\s+(?:of|de|du|la|von|van|der|&|and|the)){{0,2}}\s+{_CAP})*")
_NUM_WORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
             r"twenty|thirty|forty|fifty|hundred|dozen|dozens|hundreds|thousands)")
_NUM_SPAN = re.compile(
    r"(?:(?:[$£€]|[A-Z]{2,3}\s)\s?)?(?:\d[\d,.]*(?:-\d+)?|\b" + _NUM_WORD + r"\b)"
    r"(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand|bn|m|k)\b)?"
    r"(?:\s+(?:[a-z]+\s+){0,1}(?:people|years?|months?|weeks?|days?|hours?|minutes?|seconds?|points?|dollars|pounds|euros|games|yards|"
    r"touchdowns|goals|runs|wickets|users|employees|jobs|members|copies|units|votes|seats))?")
_MONTH = ("January February March April May June July August September October November December "
          "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec").split()
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
# "October 5, 2023", "Sunday 29 October" (day before month, as British sources write it), "Monday", "2023"
_DATE_SPAN = re.compile(r"\b(?:(?:" + _WEEKDAY + r",?\s+)?\d{1,2}(?:st|nd|rd|th)?\s+(?:" + "|".join(_MONTH) +
                        r")\b\.?(?:,?\s+\d{4})?|(?:" + "|".join(_MONTH) +
                        r")\.?(?:\s+\d{1,2}(?:st|nd|rd|th)?)?(?:,?\s+\d{4})?|" + _WEEKDAY + r"|(?:19|20)\d\d)\b")
_LEAD_STOP = frozenset("""The A An In On At By For Of To From And Or But If As It Its He She They His Her Their This
    That These Those There Here When Where While After Before During Since Although Though However Meanwhile Also
    According Last Next With Without Against Under Over Into Despite Amid Among Through Across Like Unlike Once
    Every Each All Some Many Most Both Neither Either Not Maybe Perhaps Mr Mrs Ms Dr Sir Dame Lord Lady President CEO Chief Prime Minister Secretary Senator
    Judge Coach Rep Gov General Captain Professor Prof Former Ex We I You Our My Your What Who Which How Why Yet
    Still Even Just Only Then So Now Today Yesterday Tomorrow""".split())
_PARTICLES = frozenset(("of", "de", "du", "la", "von", "van", "der", "&", "and", "the"))
_WEEKDAYS_MONTHS = frozenset(m.lower() for m in _MONTH) | frozenset(
    "monday tuesday wednesday thursday friday saturday sunday week weekend day month year season".split())
_ORG_WORDS = frozenset("""inc corp corporation co company group bank fund club fc united city university college
    association federation league council committee commission agency department ministry reserve exchange
    network networks labs games studios records entertainment media news times post journal press capital
    partners holdings technologies systems airlines motors foundation institute party union court""".split()) | {
    w.rstrip(".") for w in _SPEAKER_ORG_WORDS}   # the quote finder's: clinic, hospital, school, office, ...
_PERSON_CUES = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Sir|Dame|CEO|founder|co-founder|chief executive|president|coach|"
                          r"quarterback|minister|secretary|senator|judge|star|singer|player|manager|chairman)\.?\s*$",
                          re.IGNORECASE)
_SAID_AFTER = re.compile(r"^\s*(?:,\s*(?:who|the|a|an)\b|said|says|told|added|wrote|argued|testified|claimed)")
_PLACE_CUES = re.compile(r"\b(?:in|at|to|from|near|across|outside)\s+(?:the\s+)?$")


REPEAT_WEIGHT = 0.3
RANK_DECAY = 0.1
PROXIMITY_CHARS = 50
PROXIMITY_WEIGHT = 1.5
VERB_FACTOR = 2.5          # the question's verb next to the span outweighs ...
UNIT_FACTOR = 1.2           # ... the span carrying the unit asked about ("16 more people" vs "arriving ... 23")
DURATION_FACTOR = 2.0       # "how long" / "how many hours": a span that is a length of time ("4.5 hours", "11 days")
LOCAL_CHARS = 80            # the neighbourhood of a leading candidate that is embedded ...
LOCAL_CANDIDATES = 6        # ... for this many candidates
LOCAL_SEM_WEIGHT = 1.0
OVERLAP_FACTOR = 0.5
ARTICLE_BONUS = 0.25
HEAD_FACTOR = 1.5           # the question's head noun ("guard", "judge", "company") right beside the span
# heads every article says of everything ("the company said"): they tell no candidate apart
_GENERIC_HEADS = frozenset("""person place number date individual people company companies firm business
    organization organisation entity group team platform corporation player players member members""".split()) | {""}
HEAD_WORDS = 3              # ... within this many words ("Judge Arthur Engoron", "Zak Zinter, the guard")
MEASURE_FACTOR = 1.5        # money asked for and the span is money (or a share and it is a percentage)


@dataclass(frozen=True)
class ShortAnswer:
    text: str               # as the source writes it (verbatim in `support.unit.text`)
    support: Scored         # the sentence it is cited from
    score: float
    n_articles: int


def _name_runs(text: str) -> list[tuple[int, int]]:
    """Runs of capitalised words, cut after a possessive: "Iñigo Quintero’s Si No Estás" is a person and a song."""
    out = []
    for m in _NAME_SPAN.finditer(text):
        s = m.start()
        for p in re.finditer(r"['’]s\s", m.group(0)):
            out.append((s, m.start() + p.end() - 1))
            s = m.start() + p.end()
        if s < m.end():
            out.append((s, m.end()))
    return out


def _spans(kind: str, text: str) -> list[tuple[int, int]]:
    if kind == NUMBER:
        return [(m.start(), m.end()) for m in _NUM_SPAN.finditer(text) if m.group(0).strip()]
    if kind == DATE:
        return [(m.start(), m.end()) for m in _DATE_SPAN.finditer(text)]
    out = []
    for s, e in _name_runs(text):
        words = text[s:e].split()
        # a sentence-initial or title word is not part of the name: "The Verge said" keeps "Verge"? no - the
        # outlet filter drops it; "President Joe Biden" -> "Joe Biden"; "In London" -> "London"
        # ... and a particle the dropped title left in front: "CEO of Mayo Clinic" -> "Mayo Clinic"
        while words and (words[0].strip("'’") in _LEAD_STOP or (words[0] in _PARTICLES and len(words) > 1 and
                                                                 words[1][0].isupper())):
            s = text.index(words[1], s + len(words[0])) if len(words) > 1 else e
            words = words[1:]
        while words and words[-1] in _PARTICLES:
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


_NUMBER_TERMS = frozenset(terms("one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                                 "fifteen twenty thirty forty fifty hundred dozen"))


def _trim_known(text: str, s: int, e: int, known) -> tuple[int, int, bool]:
    """Drop leading and trailing words of a name span that the question already says: 'Foreign Secretary Yvette
    Cooper' for 'Which Foreign Secretary ...?' is 'Yvette Cooper'."""
    words = list(re.finditer(r"\S+", text[s:e]))
    lo, hi = 0, len(words)
    while lo < hi and all(known(t) for t in terms(words[lo].group(0))) and terms(words[lo].group(0)):
        lo += 1
    while hi > lo and all(known(t) for t in terms(words[hi - 1].group(0))) and terms(words[hi - 1].group(0)):
        hi -= 1
    if lo == hi:
        return s, e, False
    # words cut from the end mean the rest modified the question's own name ("Los Angeles [Chargers]")
    return s + words[lo].start(), s + words[hi - 1].end(), hi < len(words)


_ROLE_WORDS = frozenset(_TYPE_NOUNS[PERSON])
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_SCORE = re.compile(r"^\d+-\d+$")


_MONEY_NOUNS = frozenset(terms("""price prices cost costs value valuation revenue revenues earnings profit profits
    loss losses salary fee fees budget income sales sum amount fine fines funding deal"""))
_SHARE_NOUNS = frozenset(terms("percentage percent share rate growth cagr margin proportion"))
_DURATION_UNITS = frozenset(terms("seconds minutes hours days weeks months years second minute hour day week "
                                  "month year decades"))
_MONEY = re.compile(r"[$£€]|\b(?:dollars?|pounds|euros|[A-Z]{3})\b")
_SHARE = re.compile(r"%|\bper\s?cent\b")
_AFTER_MONTH = re.compile(r"\b(?:" + "|".join(_MONTH) + r")\.?\s*$")


def _measure_fit(head: str, unit: str, span: str, before: str, after: str, durations: frozenset[str]) -> float:
    """Numbers and dates: a year is no count ("how many days" is not answered by "2023"), a score or record is
    written "23-20", a year question wants a year, a count carries the unit the question asks about, a number
    right after a month is a day of it ("Nov. 27"), money or a share is written with its sign, and a length of
    time ("how long", "how many hours") is written with a unit of time while money is none."""
    bare = span.strip(" .,")
    if head == "date":
        return 1.0
    if head in ("year",):
        return 1.5 if _YEAR.match(bare) else 0.5
    if head in ("score", "scores", "record"):
        return 2.0 if _SCORE.match(bare) else 0.5
    fit = 0.3 if _YEAR.match(bare) or _AFTER_MONTH.search(before) else 1.0
    carried = frozenset(terms(span + " " + " ".join(after.split()[:1])))
    if durations:
        # a length of time is only ever written with its unit: "two to 498 times" or "203 kids" is not one
        fit *= DURATION_FACTOR if carried & durations else 1.0 / DURATION_FACTOR
        if _MONEY.search(span):
            fit /= MEASURE_FACTOR
    elif unit and unit in carried:
        fit *= UNIT_FACTOR
    wanted = set(terms(head)) | {unit}
    if wanted & _MONEY_NOUNS:
        fit *= MEASURE_FACTOR if _MONEY.search(span) else 1.0 / MEASURE_FACTOR
    elif wanted & _SHARE_NOUNS:
        fit *= MEASURE_FACTOR if _SHARE.search(span) else 1.0 / MEASURE_FACTOR
    return fit


def _acronyms(question: str) -> frozenset[str]:
    """Initials of the names a question uses: 'Hipgnosis Songs Fund' -> 'HSF', so that the source's short form
    of a name the question already says is not taken for the answer."""
    out = set()
    for m in _NAME_SPAN.finditer(question):
        words = [w for w in m.group(0).split() if w[0].isupper() and w not in _LEAD_STOP]
        if len(words) >= 2:
            out.add("".join(w[0] for w in words))
    return frozenset(out)


_LOWER_WORD = re.compile(r"(?<![\w'’-])[a-z][a-z'’-]+")
_SENTENCE_START = re.compile(r"^[\s\"“‘'(\[]*$")


def _type_fit(kind: str, span: str, before: str, after: str) -> float:
    """How well a name span fits the wanted type, from its shape and neighbours: 1 plain, >1 good, <1 poor."""
    words = span.split()
    low = [w.lower().strip(".,") for w in words]
    orgish = any(w in _ORG_WORDS for w in low) or span.isupper() or any(
        c.isupper() for w in words for c in w[1:] if not w.isupper() and "-" not in w)
    personish = bool(_PERSON_CUES.search(before)) or bool(_SAID_AFTER.match(after))
    if kind == PERSON:
        if orgish or low[-1] in _ROLE_WORDS:
            return 0.4          # "Home Secretary" is a title, not a name
        return 1.6 if len(words) >= 2 and personish else (1.3 if len(words) >= 2 else (1.1 if personish else 0.7))
    if kind == ORGANISATION:
        if len(words) >= 2 and personish and not orgish:
            return 0.4
        return 1.3 if orgish else 1.0
    if kind == PLACE:
        return 1.4 if _PLACE_CUES.search(before) else 0.8
    # "which software update / animals / program": a thing, so someone's full name said to speak is a poor fit
    return 0.6 if len(words) >= 2 and personish and not orgish else 1.0


def _key(span: str) -> str:
    # "Sam Bankman-Fried" and "Bankman-Fried" are one candidate: key on the last word
    ts = terms(span.split()[-1]) or terms(span)
    return ts[-1] if ts else span.lower()


def choose(plan: AnswerPlan, ranked: list[Scored], question: str, outlet_words: frozenset[str],
           pool=None, depth: int = 12, embed=None) -> ShortAnswer | None:
    """The best-supported span of the wanted type among the `depth` most relevant sentences, or None.

    A span's support in one sentence is the sentence's relevance plus how much of the question (IDF-weighted,
    over the pool) its own neighbourhood holds: "the number arriving from France is ... 23" answers "how many
    arrived from France" better than "... deported under the deal to 42" in a sentence that matches more words."""
    kind = plan.answer_type
    # "how many days ...": the word after "how many" is the unit the number should carry
    m = re.search(r"\bhow many\s+([a-z]+)", question, re.IGNORECASE)
    unit = terms(m.group(1))[0] if m and terms(m.group(1)) else ""
    q_weights = dict.fromkeys(terms(question), 1.0)
    # the question's verbs ("have arrived", "returned", "deported") say which of several numbers or names is meant
    verbs = frozenset(t for w in re.findall(r"[A-Za-z]{3,}ed\b", question) for t in terms(w))
    q_terms = frozenset(q_weights)
    m = re.search(r"\bhow much\s+([a-z]+)", question, re.IGNORECASE)
    unit = unit or (terms(m.group(1))[0] if m and terms(m.group(1)) else "")
    # "how long", "in days", "how many hours": the answer is a length of time, in that unit when one is named
    named = {t for t in terms(question) if t in _DURATION_UNITS} & ({unit} | set(
        terms(" ".join(re.findall(r"\bin\s+([a-z]+)\b", question, re.IGNORECASE)))))
    durations = frozenset(named) or (_DURATION_UNITS if re.search(r"\bhow long\b", question, re.IGNORECASE)
                                     else frozenset())
    # the noun that says what is wanted, when it says more than the type ("guard", "commissioner", "company")
    head = [] if plan.head in _GENERIC_HEADS else terms(plan.head)
    known_acronyms = _acronyms(question)
    # words the passages also write in lower case: capitalised only because they open a sentence ("Maybe")
    lower_words = frozenset(w for p in (pool.passages if pool is not None else ()) for w in
                            _LOWER_WORD.findall(p.text)) if kind not in (NUMBER, DATE) else frozenset()

    def in_question(t: str) -> bool:
        return t in q_terms or (pool is not None and any(terms_match(t, q) for q in q_terms))

    def local(window: str) -> float:
        near = frozenset(terms(window))
        if pool is None:
            return len(near & q_terms) / max(len(q_terms), 1)
        return pool.coverage(q_weights, near)

    stats: dict[str, dict] = {}
    for rank, sc in enumerate(ranked[:depth]):
        text = sc.unit.text
        weight = max(sc.relevance, 0.0) / (1.0 + RANK_DECAY * rank)
        span_kind = kind if kind in (NUMBER, DATE) else THING
        # when the sentence matched through who-said-it-to-whom, the answer is there, not inside the quotation
        quoted = quote_spans(text) if sc.by_attribution else []
        for s, e in _spans(span_kind, text):
            if any(qs <= s < qe for qs, qe in quoted):
                continue
            modifier = False
            if span_kind == THING:
                s, e, modifier = _trim_known(text, s, e, in_question)
            span = text[s:e].strip(" ,;:").removesuffix(".")
            if not span:
                continue
            ts = [t for t in terms(span) if t not in outlet_words]
            if span_kind != THING:
                # "16 more people": the number is the answer, its unit may well repeat the question
                ts = [t for t in ts if t[0].isdigit() or t in _NUMBER_TERMS] or ts
            if not ts or all(in_question(t) for t in ts):
                continue     # the question's own words (or an outlet's name) are not its answer
            if span_kind == THING and (span in known_acronyms or (
                    " " not in span and span.lower() in lower_words and (modifier or _SENTENCE_START.match(text[:s])))):
                continue     # "HSF" for Hipgnosis Songs Fund; "Maybe ..."; "[College Football] Playoff" for a program
            if span_kind == NUMBER and span.lower() == "one" and text[e:e + 4] == " of ":
                continue     # "one of the fastest growing" is no count
            fit = _type_fit(kind, span, text[max(0, s - 30):s], text[e:e + 25]) if span_kind == THING else \
                _measure_fit(plan.head, unit, span, text[max(0, s - 12):s], text[e:e + 20], durations)
            near = frozenset(terms(" ".join(text[max(0, s - 60):s].split()[-HEAD_WORDS:] +
                                            text[e:e + 60].split()[:HEAD_WORDS])))
            headed = span_kind == THING and bool(head) and pool is not None and all(pool.has(near, h) for h in head)
            if headed:
                fit *= HEAD_FACTOR
            if modifier or any(in_question(t) for t in ts):
                fit *= OVERLAP_FACTOR    # "Los Angeles Chargers" when the question names the Chargers
            # a sentence's subject comes first: earlier spans win what is left of a tie
            fit *= 1.0 - 0.05 * s / max(len(text), 1)
            window = text[max(0, s - PROXIMITY_CHARS):s] + " " + text[e:e + PROXIMITY_CHARS]
            occ = (weight + PROXIMITY_WEIGHT * local(window)) * fit
            if verbs and pool is not None and any(pool.has(frozenset(terms(window)), v) for v in verbs):
                occ *= VERB_FACTOR
            key = _key(span) if span_kind == THING else span.lower()
            st = stats.setdefault(key, {"occ": [], "articles": set(), "forms": {}, "best": None, "headed": False})
            st["occ"].append(occ)
            st["headed"] = st["headed"] or headed
            st["articles"].add(sc.unit.passage)
            st["forms"][span] = st["forms"].get(span, 0) + 1
            if st["best"] is None or occ > st["best"][0]:
                window = text[max(0, s - LOCAL_CHARS):e + LOCAL_CHARS // 2]
                st["best"] = (occ, sc, span, window)
    if not stats:
        return None

    def total(st: dict) -> float:
        # the best occurrence decides; repeats add a little, other articles more (multi-source questions)
        best = max(st["occ"])
        support = best + REPEAT_WEIGHT * (sum(st["occ"]) - best)
        # a candidate the sources call what the question asks for ("Judge Arthur Engoron") outweighs one they
        # merely repeat (the article's subject, which the question describes instead of naming)
        return (support + st.get("local_sem", 0.0)) * (1.0 + ARTICLE_BONUS * (len(st["articles"]) - 1)) * \
            (HEAD_FACTOR if st["headed"] else 1.0)

    if embed is not None and len(stats) > 1:
        # the leading candidates' own neighbourhoods, read for meaning: "the number arriving from France is ...
        # 23" is about arrivals even where a longer sentence about returns shares more words with the question
        lead = sorted(stats.values(), key=total, reverse=True)[:LOCAL_CANDIDATES]
        qv = embed([question])[0]
        vecs = embed([st["best"][3] for st in lead])
        for st, v in zip(lead, vecs):
            st["local_sem"] = LOCAL_SEM_WEIGHT * float(qv @ v)

    key, st = max(stats.items(), key=lambda kv: (total(kv[1]), kv[0]))
    if log.isEnabledFor(logging.DEBUG):
        for k, v in sorted(stats.items(), key=lambda kv: -total(kv[1]))[:5]:
            log.debug("candidate %r total %.3f occ %s local_sem %.3f", k, total(v), [round(o, 3) for o in v["occ"]],
                      v.get("local_sem", 0.0))
    # the fullest form the sources use ("Sam Bankman-Fried" over "Bankman-Fried"), if its sentence holds it
    form = max(st["forms"], key=lambda f: (len(f.split()), st["forms"][f]))
    _, sc, span, _ = st["best"]
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
