"""Evidence and citations: which passage sentences support which answer sentences (markers: rag.answering.markers).

The lexical machinery here is shared by the evidence gate (rag.answering), the extractive model and
post-generation attribution, so that "supported" means the same thing everywhere:

- a *term* is a lower-cased, lightly stemmed content word (stopwords dropped); numbers keep their digits;
- two terms match when equal or when the shorter (>= 5 chars) is a prefix of the longer ("Bulgaria"/"Bulgarian");
- *coverage* of a set of weighted terms by a passage sentence is the IDF-weighted share of those terms the
  sentence contains, where IDF comes from the candidate sentences themselves, so a term found nowhere weighs most;
- an answer sentence is *supported* by a passage sentence (or two adjacent ones) when coverage reaches
  SUPPORT_THRESHOLD and every number the answer sentence states appears there too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..lexicon import MONTH_NAMES, QUESTION_WORDS, STOPWORDS, normalise_number, sentence_spans, stem, tokens
from ..schema import AnswerSentence, Article, Citation, Hit
from .markers import format_markers, parse_markers, strip_markers

SUPPORT_THRESHOLD = 0.5
MAX_UNIT_CHARS = 420          # longer "sentences" (lists, run-ons) are cut at spaces for readable excerpts

_STOP = STOPWORDS | QUESTION_WORDS


def terms(text: str) -> list[str]:
    """Content terms of `text` in order (repeats kept)."""
    out = []
    for tok in tokens(text):
        if tok[0].isdigit():
            out.append(normalise_number(tok))
            continue
        low = tok.lower()
        if len(low) < 2 or low in _STOP:
            continue
        out.append(stem(low))
    return out


_NAME_WORD = re.compile(r"(?<![.!?:;\"“‘(\[]\s)(?<![\"“‘(\[])(?<!^)\b[A-Z][\w'’\-]*")


def claim_anchors(sentence: str) -> frozenset[str]:
    """Terms a supporting passage must contain for `sentence` to count as supported: the numbers it states and
    the names it uses (capitalised words not opening the sentence or a quotation), so "The European
    Commission confirmed X" is not supported by a passage about X that never mentions the Commission."""
    body = sentence.lstrip(" -*•\"“‘'(")
    names = [t for m in _NAME_WORD.finditer(body) for t in terms(m.group(0)) if not t[0].isdigit()]
    return numbers(body) | frozenset(names)


def numbers(text: str) -> frozenset[str]:
    return frozenset(normalise_number(t) for t in tokens(text) if t[0].isdigit())


def terms_match(a: str, b: str) -> bool:
    if a == b:
        return True
    if a[0].isdigit() or b[0].isdigit():
        return False
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 5 and long_.startswith(short) and len(long_) - len(short) <= 5


def query_weights(question: str, query: str | None = None, *, context_weight: float = 0.4) -> dict[str, float]:
    """Weighted content terms of a question. Terms only in the rewritten `query` (a chat follow-up's context)
    weigh less than the ones the person just typed, unless they typed none."""
    own = dict.fromkeys(terms(question), 1.0)
    if query and query != question:
        extra = [t for t in terms(query) if t not in own]
        w = context_weight if own else 1.0
        for t in extra:
            own.setdefault(t, w)
    return own


# ---- passages and their sentences --------------------------------------------------------------------------
@dataclass(frozen=True)
class Passage:
    """Retrieved text offered as one numbered source: hits from one article that overlap are merged."""

    n: int
    article: Article
    start: int
    end: int
    rank: int                     # best retrieval rank among the merged hits
    chunks: tuple[tuple[int, int, int], ...]   # (chunk_id, start, end) of the merged hits, best rank first
    score: float

    @property
    def text(self) -> str:
        return self.article.text[self.start:self.end]

    def chunk_for(self, start: int, end: int) -> int:
        """The best-ranked merged chunk that holds [start, end), else one that overlaps it."""
        for cid, s, e in self.chunks:
            if s <= start and end <= e:
                return cid
        for cid, s, e in self.chunks:
            if s < end and start < e:
                return cid
        return self.chunks[0][0] if self.chunks else -1


def passages_from_hits(hits: Sequence[Hit]) -> list[Passage]:
    """Merge overlapping or touching hits of one article (chunks overlap by design), numbered by best rank."""
    groups: list[list[Hit]] = []
    for h in sorted(hits, key=lambda h: (h.article.id, h.start, h.end)):
        last = groups[-1] if groups else None
        if last and last[0].article.id == h.article.id and h.start <= max(x.end for x in last):
            last.append(h)
        else:
            groups.append([h])
    out = []
    for n, g in enumerate(sorted(groups, key=lambda g: min(h.rank for h in g)), 1):
        best_first = sorted(g, key=lambda h: h.rank)
        out.append(Passage(n, g[0].article, min(h.start for h in g), max(h.end for h in g), best_first[0].rank,
                           tuple((h.chunk_id, h.start, h.end) for h in best_first), max(h.score for h in g)))
    return out


@dataclass(frozen=True)
class Unit:
    """One passage sentence: `article.text[start:end]` (offsets into the article)."""

    passage: int          # index into the pool's passages
    order: int            # position within its passage
    start: int
    end: int
    text: str
    terms: frozenset[str]
    numbers: frozenset[str]
    scope: frozenset[str]     # its terms plus its article's title, outlet and date: what it can speak to


def _split_long(text: str, s: int, e: int) -> Iterable[tuple[int, int]]:
    while e - s > MAX_UNIT_CHARS:
        cut = text.rfind(" ", s + MAX_UNIT_CHARS // 2, s + MAX_UNIT_CHARS)
        if cut <= s:
            break
        yield s, cut
        s = cut + 1
    yield s, e


def _date_words(iso: str) -> str:
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)", iso or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        return ""
    return f"{MONTH_NAMES[int(m.group(2)) - 1]} {int(m.group(3))} {m.group(1)}"


def _trim_quotes(text: str, s: int, e: int) -> tuple[int, int]:
    """Drop a quote mark left dangling by sentence splitting inside a quotation ("He said: 'A. B.' C")."""
    piece = text[s:e]
    if piece.count('"') % 2 == 1:
        if piece.startswith('"'):
            s += 1
        elif piece.endswith('"'):
            e -= 1
    piece = text[s:e]
    if piece.startswith("“") and "”" not in piece:
        s += 1
    elif piece.endswith("”") and "“" not in piece:
        e -= 1
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


class Pool:
    """The candidate sentences of some passages, with IDF weights computed over them."""

    def __init__(self, passages: Sequence[Passage]):
        self.passages = list(passages)
        units: list[Unit] = []
        # what a passage's article is called, by whom and when: "as reported by The Verge on October 5"
        self.meta = [frozenset(terms(" ".join((p.article.title, p.article.source,
                                               _date_words(p.article.published_at))))) for p in self.passages]
        from .prompting import injection_flags  # lazy: rag.answering.prompting imports this module

        for i, p in enumerate(self.passages):
            text = p.article.text
            order = 0
            spans = list(sentence_spans(p.text))
            # an instruction to an AI is never an answer, a citation or evidence, whatever model runs
            flagged = injection_flags([p.text[s0:e0] for s0, e0 in spans])
            for (s0, e0), bad in zip(spans, flagged):
                if bad:
                    continue
                for s, e in _split_long(text, p.start + s0, p.start + e0):
                    s, e = _trim_quotes(text, s, e)
                    if e <= s:
                        continue
                    piece = text[s:e]
                    own = frozenset(terms(piece))
                    units.append(Unit(i, order, s, e, piece, own, numbers(piece), own | self.meta[i]))
                    order += 1
        self.units = units
        self.vocab = frozenset(t for u in units for t in u.terms).union(*self.meta)
        # terms that can match share their first five characters (see terms_match): bucket by them
        self._buckets: dict[str, list[str]] = {}
        for v in self.vocab:
            if len(v) >= 5 and not v[0].isdigit():
                self._buckets.setdefault(v[:5], []).append(v)
        self._postings: dict[str, list[int]] = {}
        for i, u in enumerate(units):
            for t in u.terms:
                self._postings.setdefault(t, []).append(i)
        self._matches: dict[str, frozenset[str]] = {}
        self._idf: dict[str, float] = {}

    def matches(self, term: str) -> frozenset[str]:
        """Vocabulary terms that count as `term`."""
        m = self._matches.get(term)
        if m is None:
            if term[0].isdigit() or len(term) < 5:
                m = frozenset((term,)) if term in self.vocab else frozenset()
            else:
                m = frozenset(v for v in self._buckets.get(term[:5], ()) if terms_match(term, v))
            self._matches[term] = m
        return m

    def has(self, unit_terms: frozenset[str], term: str) -> bool:
        if term in unit_terms:
            return True
        return not unit_terms.isdisjoint(self.matches(term))

    def idf(self, term: str) -> float:
        v = self._idf.get(term)
        if v is None:
            df = len({i for m in self.matches(term) for i in self._postings.get(m, ())})
            v = math.log(1.0 + (len(self.units) + 1) / (df + 0.5))
            self._idf[term] = v
        return v

    def coverage(self, weights: dict[str, float], unit_terms: frozenset[str]) -> float:
        total = sum(self.idf(t) * w for t, w in weights.items())
        if total <= 0:
            return 0.0
        return sum(self.idf(t) * w for t, w in weights.items() if self.has(unit_terms, t)) / total

    def best_union(self, weights: dict[str, float], max_units: int = 3) -> tuple[float, tuple[Unit, ...]]:
        """Up to `max_units` sentences from any passages that together cover the most (greedy set cover):
        the evidence a multi-part question needs is spread over several articles."""
        total = sum(self.idf(t) * w for t, w in weights.items())
        if total <= 0:
            return 0.0, ()
        covers = [frozenset(t for t in weights if self.has(u.scope, t)) for u in self.units]
        got: set[str] = set()
        chosen: list[Unit] = []
        for _ in range(max_units):
            gains = [(sum(self.idf(t) * weights[t] for t in c - got), -i) for i, c in enumerate(covers)]
            if not gains:
                break
            gain, neg_i = max(gains)
            if gain <= 0:
                break
            got |= covers[-neg_i]
            chosen.append(self.units[-neg_i])
        return sum(self.idf(t) * weights[t] for t in got) / total, tuple(chosen)

    def holds(self, scope: frozenset[str], required: frozenset[str]) -> bool:
        return all(self.has(scope, t) for t in required)

    def best_support(self, weights: dict[str, float], required: frozenset[str],
                     passages: Iterable[int] | None = None) -> tuple[float, tuple[Unit, ...]]:
        """The best single sentence or adjacent pair for these terms; `required` terms (the numbers and names a
        claim states) must all be there."""
        allowed = None if passages is None else set(passages)
        best: tuple[float, tuple[Unit, ...]] = (0.0, ())
        for i, u in enumerate(self.units):
            if allowed is not None and u.passage not in allowed:
                continue
            if not required or self.holds(u.scope, required):
                c = self.coverage(weights, u.scope)
                if c > best[0] + 1e-9:
                    best = (c, (u,))
            if i + 1 < len(self.units) and self.units[i + 1].passage == u.passage:
                v = self.units[i + 1]
                if not required or self.holds(u.scope | v.scope, required):
                    # a pair must beat a single sentence clearly to be worth the longer excerpt
                    c = self.coverage(weights, u.scope | v.scope) * 0.92
                    if c > best[0] + 1e-9:
                        best = (c, (u, v))
        return best


# ---- attribution -------------------------------------------------------------------------------------------
_REFUSAL = re.compile(
    r"\b(?:articles?|sources?|passages?|texts?|documents?|context)\s+(?:do(?:es)?\s*n[o']t|do(?:es)? not|did not|"
    r"don't)\s+(?:say|state|mention|contain|provide|include|specify|answer|cover|discuss|tell)|"
    r"\b(?:no|not enough|insufficient)\s+information\b|\bnot\s+(?:mentioned|stated|specified|provided)\b|"
    r"\b(?:cannot|can't|can not|unable to|not able to)\s+(?:answer|determine|find|tell|say)\b|"
    r"\bthere is no mention\b|\bI don't know\b|\bI do not know\b|\bI(?:'m| am) sorry\b|\b(?:I|we) could(?:n't| not) find\b",
    re.IGNORECASE,
)


def is_refusal(sentence: str) -> bool:
    return bool(_REFUSAL.search(sentence))


@dataclass(frozen=True)
class Attributed:
    text: str
    citations: tuple[Citation, ...]
    sentences: tuple[AnswerSentence, ...]


def answer_sentences(text: str) -> list[tuple[str, list[int], str]]:
    """Split an answer into (sentence without markers, marker numbers, separator before it).

    A marker that opens a sentence ("... Europe. [1] Next") belongs to the sentence before it."""
    marks = parse_markers(text)
    spans = list(sentence_spans(text))
    out: list[tuple[str, list[int], str]] = []
    prev_end = 0
    for s, e in spans:
        nums: list[int] = []
        lead = s
        for ms, me, ns in marks:
            if ms == lead or (ms > lead and not text[lead:ms].strip()):
                if out:
                    out[-1][1].extend(ns)
                else:
                    nums.extend(ns)
                lead = me
        own = [ns for ms, me, ns in marks if lead <= ms < e]
        for ns in own:
            nums.extend(ns)
        body = strip_markers(text[lead:e])
        sep = "\n" if "\n" in text[prev_end:s] else " "
        prev_end = e
        if body:
            out.append((body, nums, sep if out else ""))
    return out


def _excerpt_span(pool: Pool, units: tuple[Unit, ...], sentence: str) -> tuple[int, int]:
    article = pool.passages[units[0].passage].article
    # a verbatim quote inside the supporting sentence(s) is the tightest honest excerpt
    needle = sentence.rstrip(".!?").strip()
    lo, hi = units[0].start, units[-1].end
    if len(needle) >= 20:
        at = article.text.find(needle, lo, hi)
        if at >= 0:
            end = at + len(needle)
            if at == lo and not article.text[end:hi].strip(".!?\"”'’) "):
                return lo, hi       # the whole sentence: keep its closing punctuation
            return at, end
    return lo, hi


def _verbatim(pool: Pool, sentence: str, prefer: Sequence[int]) -> Unit | None:
    """The passage sentence that contains `sentence` word for word (extractive answers, quoting models)."""
    needle = " ".join(sentence.split()).rstrip(".!?\"”").strip()
    if len(needle) < 20:
        return None
    order = list(prefer) + [i for i in range(len(pool.passages)) if i not in prefer]
    for i in order:
        for u in pool.units:
            if u.passage == i and needle in " ".join(u.text.split()):
                return u
    return None


def _cited(nums: Sequence[int], n_passages: int) -> list[int]:
    """Marker numbers as passage indexes, in order, once each, those that point at no passage dropped."""
    return [n - 1 for n in dict.fromkeys(nums) if 1 <= n <= n_passages]


def _lead_source(lead: str, cited: Sequence[int], following: Unit | None) -> Unit | None:
    """A short answer ("2023.", "The Times.") is cited to the sentence that follows it when that sentence is quoted
    word for word (`following`) from a passage it cites and holds the answer: a term search for so few words can
    land on any sentence of the passage that shares them."""
    needle = " ".join(lead.split()).rstrip(".!?").strip()
    if not needle or len(needle) >= 20 or following is None or following.passage not in cited:
        return None
    text = " ".join(following.text.split())
    # case-blind: the lead raises its first letter ("the Times" -> "The Times.")
    return following if re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", text, re.IGNORECASE) else None


def attribute(answer: str, pool: Pool, *, threshold: float = SUPPORT_THRESHOLD) -> Attributed:
    """Check every sentence of an answer against the passages, fix its citations and renumber them 1..n.

    Markers that point at no passage are dropped; a cited passage that does not support its sentence is
    replaced by one that does; a sentence nothing supports keeps its place in the text, loses its markers and
    is flagged `supported=False`."""
    n_passages = len(pool.passages)
    keyed: dict[tuple[str, int, int], Citation] = {}
    pieces: list[str] = []
    sentences: list[AnswerSentence] = []
    split = answer_sentences(answer)
    # each sentence's word-for-word source, once: a short lead borrows the next sentence's
    quoted_units = [_verbatim(pool, body, _cited(nums, n_passages)) for body, nums, _ in split] + [None]
    for pos, (body, nums, sep) in enumerate(split):
        cited = _cited(nums, n_passages)
        weights = dict.fromkeys(terms(body), 1.0)
        chosen: list[tuple[float, tuple[Unit, ...]]] = []
        if not weights or (is_refusal(body) and not cited):
            supported = True   # no claim about the articles ("Here is what they say:"; "They don't say X.")
        else:
            anchors = claim_anchors(body)
            quoted = quoted_units[pos] or _lead_source(body, cited, quoted_units[pos + 1])
            if quoted is not None:
                chosen.append((1.0, (quoted,)))
            for i in ([] if chosen else cited):
                score, units = pool.best_support(weights, anchors, [i])
                if score >= threshold:
                    chosen.append((score, units))
            if not chosen and len(cited) > 1:
                # each cited passage may carry part of the sentence
                parts = [pool.best_support(weights, frozenset(), [i]) for i in cited]
                union = frozenset(t for _, us in parts for u in us for t in u.scope)
                if pool.coverage(weights, union) >= threshold and pool.holds(union, anchors):
                    chosen = [p for p in parts if p[1] and p[0] >= threshold / 2]
            if not chosen:
                score, units = pool.best_support(weights, anchors)
                if score >= threshold:
                    chosen.append((score, units))
            supported = bool(chosen)
        ns: list[int] = []
        for score, units in chosen:
            start, end = _excerpt_span(pool, units, body)
            p = pool.passages[units[0].passage]
            key = (p.article.id, start, end)
            if key not in keyed:
                keyed[key] = Citation(len(keyed) + 1, p.article, p.article.text[start:end], start, end,
                                      round(score, 4), p.chunk_for(start, end))
            if keyed[key].n not in ns:
                ns.append(keyed[key].n)
        pieces.append(sep + body + (" " + format_markers(ns) if ns else ""))
        sentences.append(AnswerSentence(body, tuple(ns), supported))
    return Attributed("".join(pieces).strip(), tuple(keyed.values()), tuple(sentences))


def unit_citations(pool: Pool, picks: Sequence[tuple[Unit, float]]) -> tuple[Citation, ...]:
    """Citations 1..n for passage sentences chosen directly (refusals list their closest sentences)."""
    out = []
    for n, (u, score) in enumerate(picks, 1):
        p = pool.passages[u.passage]
        out.append(Citation(n, p.article, u.text, u.start, u.end, round(score, 4), p.chunk_for(u.start, u.end)))
    return tuple(out)
