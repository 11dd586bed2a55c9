"""Answers about people and time: "Who said X?", "What did <name> say about Y?", "What is <name>'s role?",
"Which newspaper did <name> speak to?", and "latest"/"in October" questions.

Quote answers are built from the quotes stored at index time (rag.quotes), so the speaker is found even when the
quote's own sentence only says "he said". Every answer sentence cites verbatim excerpts: the quote itself, the
attribution sentence, and the sentence that states the speaker's role.

    ans = quote_answer(store, question, hits, base)     # an Answer, or None when the question is not of this kind
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .citations import Pool, passages_from_hits, query_weights, terms, terms_match
from ..news.quote_text import paragraphs, quote_spans, sentences
from ..news.quotes import Quote
from ..news.search import load_quotes, speaker_matches, speaker_terms
from ..news.speakers import _ROLE_WORDS, _scan_people
from ..schema import Answer, AnswerSentence, Article, Citation, Hit

MIN_TOPIC_COVERAGE = 0.5      # share of the question's topic words a quote must hold for "who said X"
MIN_ABOUT_COVERAGE = 0.34     # ... and for "what did <name> say about Y"
MAX_QUOTE_CHARS = 400
MAX_QUOTES = 3

_SAY_VERBS = (r"say|says|said|saying|warn|warns|warned|claim|claims|claimed|tell|tells|told|argue|argues|argued|add|"
              r"adds|added|state|states|stated|insist|insists|insisted|describe|describes|described|call|calls|called|"
              r"announce|announced|note|noted|explain|explained|predict|predicted|suggest|suggested|admit|admitted|"
              r"believe|believes|believed|echo|echoed|reveal|revealed|think|thinks|thought|allege|alleged|comment|"
              r"commented|mention|mentioned|write|wrote|confirm|confirmed|deny|denied|report|reported|stress|stressed|joke|jokes|"
              r"joked|quip|quipped|advise|advised|recommend|recommended|respond|responded|caution|cautioned|urge|urged")
_WHO_SAID = re.compile(
    rf"^\s*(?:who|which\s+(?P<which>(?:[\w-]+\s+){{0,3}}?[\w-]+))\s+(?:has\s+|had\s+|have\s+|was\s+|is\s+)?(?:(?:also\s+)?"
    rf"(?:{_SAY_VERBS})|quoted\s+(?:as\s+)?saying|made\s+the\s+(?:claim|remark|comment|point))\b"
    r"(?:\s+(?:the\s+\w+\s+)?(?:that|about|of|on))?[\s,:]*(?P<x>.*?)[\s?.!]*$", re.I)
_WHAT_SAY = re.compile(
    rf"^\s*(?:what|how)\s+(?:did|does|has|have|had|do)\s+(?P<s>.+?)\s+(?:{_SAY_VERBS})\b"
    r"(?:\s+(?:about|on|regarding|concerning|of|that|in\s+(?:regard|relation)\s+to))?\s*(?P<topic>.*?)[\s?.!]*$",
    re.I)
_ROLE_Q = re.compile(
    r"(?i)^\s*(?:what\s+(?:is|was)\s+(?P<a>.+?)(?:'s|’s|')\s+(?:role|job|title|position|post|occupation)"
    r"|what\s+(?:role|job|title|position|post)\s+(?:does|did|do)\s+(?P<b>.+?)\s+(?:hold|have|play|occupy)"
    r"|who\s+(?:is|was)\s+(?P<c>(?:Mr|Mrs|Ms|Dr)?\.?\s*[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,3}))[\s?.!]*$")
_TO_WHOM = re.compile(
    r"^\s*(?:which|what|to\s+which|to\s+what)\s+(?:newspaper|paper|outlet|publication|broadcaster|channel|network|"
    r"magazine|station|(?:media|news)\s+outlet|programme|program|show)\s+(?:did|does|has|had)\s+(?P<s>.+?)\s+"
    r"(?:speak|spoke|talk|tell|told|say|give|gave|do)\b", re.I)


@dataclass(frozen=True)
class QuoteQuestion:
    kind: str            # "who_said" | "what_say" | "role" | "to_whom"
    speaker: str = ""
    topic: str = ""
    which: str = ""      # "EU commissioner" in "Which EU commissioner warned ...?"


_ROLE_TERMS = frozenset(t for w in _ROLE_WORDS for t in terms(w))


def parse_question(question: str) -> QuoteQuestion | None:
    q = " ".join(question.split())
    if m := _TO_WHOM.match(q):
        return QuoteQuestion("to_whom", m["s"])
    if (m := _ROLE_Q.match(q)) and (not m["c"] or m["c"][0].isupper()):
        return QuoteQuestion("role", m["a"] or m["b"] or m["c"])
    if m := _WHO_SAID.match(q):
        return QuoteQuestion("who_said", topic=m["x"], which=m["which"] or "") if terms(m["x"]) else None
    if m := _WHAT_SAY.match(q):
        return QuoteQuestion("what_say", m["s"], m["topic"])
    return None


# ---- citations ----------------------------------------------------------------------------------------------------
class _Cites:
    """Citations numbered in order of first use; the same span cited twice keeps its number."""

    def __init__(self) -> None:
        self.items: list[Citation] = []

    def add(self, article: Article, start: int, end: int, score: float = 1.0) -> int:
        for c in self.items:
            if c.article.id == article.id and c.start == start and c.end == end:
                return c.n
        c = Citation(len(self.items) + 1, article, article.text[start:end], start, end, score)
        self.items.append(c)
        return c.n


def sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence(s) of the paragraph that hold text[start:end] (quotes kept whole)."""
    for ps, pe in paragraphs(text):
        if ps <= start < pe or ps < end <= pe:
            masked = _masked(text, ps, pe)
            spans = sentences(text, ps, pe, masked)
            s = min((a for a, b in spans if a <= start < b or a < end <= b), default=ps)
            e = max((b for a, b in spans if a < end <= b or a <= start < b), default=pe)
            return s, max(e, min(end, pe))
    return start, end


def _masked(text: str, ps: int, pe: int) -> str:
    from ..news.quote_text import _mask

    return _mask(text, quote_spans(text, ps, pe), ps, pe)


def _quote_excerpt(q: Quote, text: str) -> tuple[int, int]:
    """The quote, cut at a sentence end inside it when very long (the excerpt must stay verbatim)."""
    if q.end - q.start <= MAX_QUOTE_CHARS:
        return q.start, q.end
    cut = max((m.end() for m in re.finditer(r"[.!?](?=\s)", text[q.start:q.start + MAX_QUOTE_CHARS])), default=0)
    return q.start, q.start + cut if cut > 40 else q.start + MAX_QUOTE_CHARS - len(
        text[q.start:q.start + MAX_QUOTE_CHARS].rsplit(" ", 1)[-1])


def _when(a: Article) -> str:
    from .citations import _date_words

    words = _date_words(a.published_at)
    if words:
        month, day, year = words.split()
        words = f"{int(day)} {month.capitalize()} {year}"
    bits = [b for b in (a.source, words) if b]
    return f" ({', '.join(bits)})" if bits else ""


def _role_phrase(q: Quote) -> str:
    role = q.role.strip().rstrip(".,;:")   # a role that ended its sentence ("... was EDC chairman.")
    return f", {role}," if role and role.lower() not in q.speaker.lower() else ""


def _shown(text: str) -> str:
    return " ".join(text.split())


# ---- the answers --------------------------------------------------------------------------------------------------
def quote_answer(catalog, question: str, hits: Sequence[Hit], base: Answer, *, filters: dict | None = None) -> Answer | None:
    """A cited answer built from stored quotes, or None when the question is not about who said what (or no
    quote fits well enough: the ordinary answerer then takes over). `catalog`: the store (its outlets and stored
    quotes)."""
    parsed = parse_question(question)
    if parsed is None:
        return None
    if parsed.kind == "role":
        return _role_answer(parsed, hits, base)
    pairs = _candidates(catalog, parsed, hits, filters or {})
    if not pairs:
        return None
    if parsed.kind == "who_said":
        return _who_said(parsed, pairs, base)
    if parsed.kind == "to_whom":
        return _to_whom(parsed, pairs, base)
    return _what_say(parsed, pairs, base)


def _candidates(catalog, parsed: QuoteQuestion, hits: Sequence[Hit], filters: dict) -> list[tuple[Quote, Article, int]]:
    """Quotes of the retrieved articles (with the article's best rank), and for a named speaker every quote of
    theirs in the index that passes the filters."""
    rank: dict[str, int] = {}
    for h in hits:
        rank.setdefault(h.article.id, h.rank)
    pairs = [(q, a, rank[a.id]) for q, a in load_quotes(catalog, list(rank))]
    if parsed.speaker:
        pairs = [p for p in pairs if speaker_matches(p[0], parsed.speaker)]
        seen = {(a.id, q.start) for q, a, _ in pairs}
        from ..news.search import find_quotes

        more = find_quotes(catalog, None, speaker=parsed.speaker, sources=filters.get("sources") or None,
                           since=filters.get("date_from"), until=filters.get("date_to"), limit=200)
        pairs += [(h.quote, h.article, len(hits) + 1) for h in more if (h.article.id, h.quote.start) not in seen]
    return pairs


def _coverage(pairs, topic: str, *, with_speaker: bool) -> list[tuple[float, Quote, Article, int]]:
    """How much of the topic each quote holds: half from the quote's own words, half from the quote with its
    context (its sentence, the article title, and for a short quote paragraph the paragraph before), so that
    "Who joked the founders might hang out on LinkedIn?" finds "Maybe LinkedIn," Cselle jokes."""
    weights = query_weights(topic)
    if not weights:
        return [(1.0, q, a, r) for q, a, r in pairs]
    import math

    from ..news.search import _has

    own, ctx = [], []
    for q, a, _ in pairs:
        extra = f" {q.speaker} {q.role} {a.text[q.attr_start:q.attr_end]}" if with_speaker else ""
        own.append(frozenset(terms(q.quote + extra)))
        ctx.append(own[-1] | frozenset(terms(f"{a.title} {_context(q, a.text)}")))
    n = len(own)
    idf = {t: math.log(1 + (n + 1) / (sum(1 for b in own if _has(b, t)) + 0.5)) + 0.5 for t in weights}
    total = sum(idf.values())

    def cov(bag: frozenset[str]) -> float:
        return sum(idf[t] for t in weights if _has(bag, t)) / total

    return [(0.5 * cov(o) + 0.5 * cov(c) if cov(o) > 0 else 0.0, q, a, r)
            for o, c, (q, a, r) in zip(own, ctx, pairs)]


def _context(q: Quote, text: str) -> str:
    """The quote's paragraph, and the paragraph before when either is short (a lead-in: "That's not to say
    that Ice Poseidon's stream didn't affect her." / "\"I broke down in tears,\" she continued.")."""
    pars = paragraphs(text)
    i = next((k for k, (ps, pe) in enumerate(pars) if ps <= q.start < pe), None)
    if i is None:
        return ""
    s, e = pars[i]
    if i > 0 and min(len(text[a:b].split()) for a, b in pars[i - 1:i + 1]) < 20:
        s = pars[i - 1][0]
    return text[s:e]


def _order(scored):
    # best coverage; then a direct quote over a paraphrase, an attribution that names the speaker (not a pull
    # quote's "a minister has warned"), a stated role, the better-ranked article
    return sorted(scored, key=lambda s: (-round(s[0], 3), s[1].kind != "direct", not _named(s[1], s[2]),
                                         not s[1].role, s[3], s[1].start))


def _named(q: Quote, a: Article) -> bool:
    attr = a.text[q.attr_start:q.attr_end].lower()
    return any(w.lower() in attr for w in q.speaker.split() if len(w) > 2)


def _lead(q: Quote, a: Article, cites: _Cites) -> tuple[str, list[int]]:
    """'Daniel Mitov, Bulgaria's equivalent of the Home Secretary,' with citations of the role and attribution."""
    ns = []
    if q.role and q.role_start >= 0:
        ns.append(cites.add(a, *sentence_around(a.text, q.role_start, q.role_end)))
    ns.append(cites.add(a, *sentence_around(a.text, q.attr_start, q.attr_end)))
    return f"{q.speaker}{_role_phrase(q)}", list(dict.fromkeys(ns))


def _marks(ns: Sequence[int]) -> str:
    return "".join(f"[{n}]" for n in dict.fromkeys(ns))


def _quoted(q: Quote, a: Article, cites: _Cites) -> tuple[str, int]:
    s, e = _quote_excerpt(q, a.text)
    n = cites.add(a, s, e)
    body = _shown(a.text[s:e]).rstrip(",")
    return (f"\"{body}\"" if q.kind == "direct" else body), n


def _finish(base: Answer, sentences: list[tuple[str, list[int]]], cites: _Cites) -> Answer:
    # citations are numbered in order of first use in the text
    order = list(dict.fromkeys(n for _, ns in sentences for n in ns))
    new = {old: i for i, old in enumerate(order, 1)}
    cites.items = [replace(c, n=new[c.n]) for c in sorted(cites.items, key=lambda c: new.get(c.n, 10**6))
                   if c.n in new]
    sentences = [(s, [new[n] for n in ns]) for s, ns in sentences]
    # a lead ending in ":" keeps its colon after its markers: 'Daniel Mitov ... said [1][2]: "..." [3]'
    text = " ".join((f"{s[:-1]} {_marks(ns)}:" if s.endswith(":") else f"{s} {_marks(ns)}").strip()
                    for s, ns in sentences)
    return replace(base, text=text, refused=False, citations=tuple(cites.items),
                   sentences=tuple(AnswerSentence(s, tuple(dict.fromkeys(ns))) for s, ns in sentences))


def _fits_which(parsed: QuoteQuestion, q: Quote, a: Article) -> bool:
    """'Which EU commissioner warned ...?' is not answered by a quote of the European Union or of a governor: the
    speaker's role, name or introduction must hold the role the question asks for. Questions that ask for no
    role ("which person", "which company") accept any speaker."""
    head = terms(parsed.which.split()[-1]) if parsed.which else []
    if not head or head[0] not in _ROLE_TERMS:
        return True
    said = " ".join((q.speaker, q.role, q.organisation, a.text[slice(*sentence_around(a.text, q.attr_start, q.attr_end))],
                     a.text[slice(*sentence_around(a.text, q.role_start, q.role_end))] if q.role_start >= 0 else ""))
    return any(terms_match(head[0], t) for t in terms(said))


def _who_said(parsed: QuoteQuestion, pairs, base: Answer) -> Answer | None:
    pairs = [(q, a, r) for q, a, r in pairs if _fits_which(parsed, q, a)]
    scored = _order([s for s in _coverage(pairs, parsed.topic, with_speaker=False)])
    if not scored or scored[0][0] < MIN_TOPIC_COVERAGE:
        return None
    _, q, a, _ = scored[0]
    cites = _Cites()
    lead, ns = _lead(q, a, cites)
    body, qn = _quoted(q, a, cites)
    said = f"told {q.addressee}" if q.addressee else "said"
    return _finish(base, [(f"{lead} {said}{_when(a)}:", ns), (body, [qn])], cites)


def _what_say(parsed: QuoteQuestion, pairs, base: Answer) -> Answer | None:
    scored = _order(_coverage(pairs, parsed.topic, with_speaker=False))
    if not scored:
        return None
    best = scored[0][0]
    if parsed.topic.strip() and terms(parsed.topic) and best < MIN_ABOUT_COVERAGE:
        return None
    picked: list[tuple[Quote, Article]] = []
    for cov, q, a, _ in scored:
        if cov < max(MIN_ABOUT_COVERAGE if terms(parsed.topic) else 0.0, 0.6 * best) or len(picked) == MAX_QUOTES:
            break
        if any(b.id == a.id and p.start < q.end and q.start < p.end for p, b in picked) or \
                any(_same_text(q, p) for p, _ in picked):
            continue
        picked.append((q, a))
    if not picked:
        return None
    cites = _Cites()
    sents = []
    for i, (q, a) in enumerate(picked):
        body, qn = _quoted(q, a, cites)
        if i == 0:
            lead, ns = _lead(q, a, cites)
            sents.append((f"{lead} said{_when(a)}:", ns))
        else:
            name = q.speaker.split()[-1] if not q.speaker.isupper() else q.speaker
            an = cites.add(a, *sentence_around(a.text, q.attr_start, q.attr_end))
            sents.append((f"{name} also said{_when(a) if a.id != picked[0][1].id else ''}:", [an]))
        sents.append((body + ("" if body.endswith((".", '"', "!", "?")) else "."), [qn]))
    return _finish(base, sents, cites)


def _same_text(q: Quote, p: Quote) -> bool:
    a, b = " ".join(q.quote.lower().split())[:80], " ".join(p.quote.lower().split())[:80]
    return a == b


def _to_whom(parsed: QuoteQuestion, pairs, base: Answer) -> Answer | None:
    told = [(q, a, r) for q, a, r in pairs if q.addressee]
    if not told:
        return None
    q, a, _ = sorted(told, key=lambda p: (p[2], p[0].start))[0]
    cites = _Cites()
    n = cites.add(a, *sentence_around(a.text, q.attr_start, q.attr_end))
    # an entity question leads with the entity as the source writes it ("The Times."), then who and when
    lead = q.addressee[:1].upper() + q.addressee[1:]
    sents = [(f"{lead}.", [n]), (f"{q.speaker}{_role_phrase(q)} spoke to {q.addressee}{_when(a)}.", [n])]
    return _finish(base, sents, cites)


def _role_answer(parsed: QuoteQuestion, hits: Sequence[Hit], base: Answer) -> Answer | None:
    """The role the retrieved articles state for a person (read from the articles, speakers or not)."""
    wanted = speaker_terms(parsed.speaker)
    if not wanted:
        return None
    seen: set[str] = set()
    for h in hits:
        a = h.article
        if a.id in seen:
            continue
        seen.add(a.id)
        reg = _scan_people(a.text)
        for m in reg.mentions:
            p = m.person
            if p.is_body or not p.role or p.role_start < 0:
                continue
            names = speaker_terms(p.name)
            if all(any(w == n for n in names) for w in wanted):
                cites = _Cites()
                n = cites.add(a, *sentence_around(a.text, p.role_start, p.role_end))
                role = p.role.rstrip(" ,")
                art = "" if re.match(r"(?i)(?:the|a|an|his|her|their|its)\b|[A-Z][\w.&-]*(?:'s|’s)\s", role) else ""
                return _finish(base, [(f"{p.name} is {art}{role}{_when(a)}.", [n])], cites)
    return None


__all__ = ["QuoteQuestion", "parse_question", "quote_answer", "sentence_around"]


# ---- time --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimePlan:
    question: str                 # the question without its time words (they are filters, not topic words)
    filters: dict
    recency: bool
    notes: tuple[str, ...]
    fallback: dict | None = None  # the user's own filters, for a soft window that finds nothing
    today: str = ""               # the reference date, ISO; generative models are told it


def plan_time(question: str, filters: dict, as_of=None) -> TimePlan:
    """The question's time words resolved against `as_of` (default today) and merged with the user's filters."""
    from ..retrieval.timeframe import as_of_date, narrow, strip_time_words, time_intent

    today = as_of_date(as_of).isoformat()
    intent = time_intent(question, today)
    if not intent.active:
        return TimePlan(question, filters, False, (), None, today)
    lo, hi = narrow(filters.get("date_from"), filters.get("date_to"), intent)
    stripped = question if intent.soft else strip_time_words(question, intent)
    return TimePlan(stripped or question, {**filters, "date_from": lo, "date_to": hi}, intent.recency,
                    (intent.note(),), filters if intent.soft else None, today)


def newest_relevant(hits: Sequence[Hit], question: str, query: str | None = None, *,
                    weights: Mapping[str, float] | None = None) -> tuple[list[Hit], str]:
    """For "what is the latest ...": the hits of the newest dated article among those that speak to the question
    (best sentence within 80% of the best article's coverage), and a note naming it."""
    if not hits:
        return list(hits), ""
    pool = Pool(passages_from_hits(hits))
    if weights is None:
        weights = query_weights(question, query)
    best: dict[str, float] = {}
    for u in pool.units:
        aid = pool.passages[u.passage].article.id
        best[aid] = max(best.get(aid, 0.0), pool.coverage(weights, u.scope) if weights else 0.0)
    top = max(best.values(), default=0.0)
    arts = {h.article.id: h.article for h in hits}
    relevant = [aid for aid, c in best.items() if c >= 0.8 * top and arts[aid].published_at]
    if not relevant:
        return list(hits), ""
    newest = max(relevant, key=lambda aid: arts[aid].published_at)
    a = arts[newest]
    kept = [replace(h, rank=i + 1) for i, h in enumerate(h for h in hits if h.article.id == newest)]
    return kept, f"newest matching article: {a.title}{_when(a)}"
