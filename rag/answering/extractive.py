"""Provider `extractive`: answers with the best-supported sentences of the sources, verbatim. No LLM.

Each candidate sentence is scored by its IDF-weighted coverage of the question's content terms (weights from the
candidate sentences themselves, so a rare term that the question and a sentence share counts most), a bonus when
it holds the kind of thing the question asks for (a number for "how many", a date for "when", a name for "who",
a quotation for "what did X say"), and a small bonus for the source's retrieval rank. One to three sentences are
picked greedily: each further sentence must score close to the best and add question terms the others lack, or
nearly tie the best, and must not repeat them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..defaults import REFUSAL
from ..errors import ModelSpecError
from ..lexicon import MONTHS
from ..providers.base import Model, Prompt, register_provider
from ..schema import Article
from .citations import Passage, Pool, Unit, query_weights
from .markers import MARKER
from .prompting import looks_like_injection

MIN_COVERAGE = 0.2
MAX_SENTENCES = 3
MAX_CHARS = 700

_TIME_WORDS = (*MONTHS, *("monday tuesday wednesday thursday friday saturday sunday yesterday today tonight tomorrow "
                           "week weeks month months year years morning evening").split())
_DATE = re.compile(r"\b(?:1[89]\d\d|20\d\d|" + "|".join(_TIME_WORDS) + r")\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|hundred|"
                     r"thousand|million|billion|percent|half)\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?(?:\s+(?:[A-Z]\.\s*)?[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?)+")
_PLACE = re.compile(r"\b(?:in|at|to|from|near|outside)\s+(?:the\s+)?[A-Z][a-z]+")
_SAY = re.compile(r"[\"“”]|\b(?:said|says|told|warned|added|claimed|stated|announced|echoed|according|argued|"
                  r"insisted|explained|described|called)\b", re.IGNORECASE)
_WH = frozenset("what who whom whose when where which why how is are was were did does do the a an".split())


def question_type(question: str) -> str:
    q = question.lower()
    if re.search(r"\bhow (?:many|much|far|long|old|big|large|often)\b|\bnumber of\b|\btotal\b|\bwhat (?:percentage|"
                 r"share|proportion|amount)\b|\bhow high\b", q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (?:date|day|year|month|time)\b|\bwhich (?:date|day|year|month)\b", q):
        return "date"
    if re.search(r"\bwho(?:m|se)?\b|\bwhich (?:\w+ )?(?:secretary|minister|official|person|man|woman|leader|"
                 r"president|player|company|group|team|spokesperson|executive|director)\b", q):
        return "person"
    if re.search(r"\bwhere\b|\bwhich (?:city|country|town|place|region)\b", q):
        return "place"
    if re.search(r"\b(?:say|said|claim|claimed|warn|warned|tell|told|announce|announced|argue|think|describe)\b", q):
        return "say"
    return "other"


def _cue(kind: str, text: str, question: str) -> float:
    if kind == "number":
        return 0.15 if re.search(r"\d", text) else (0.05 if _NUMBER.search(text) else 0.0)
    if kind == "date":
        return 0.15 if _DATE.search(text) else 0.0
    if kind == "person":
        qlow = question.lower()
        names = [m.group(0) for m in _NAME.finditer(text)
                 if m.group(0).split()[0].lower() not in _WH and m.group(0).lower() not in qlow]
        return 0.12 if names else 0.0
    if kind == "place":
        return 0.1 if _PLACE.search(text) else 0.0
    if kind == "say":
        return 0.1 if _SAY.search(text) else 0.0
    return 0.0


@dataclass(frozen=True)
class Pick:
    units: tuple[Unit, ...]      # one sentence, or two adjacent ones of the same paragraph
    score: float
    coverage: float

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.units)


PAIR_FACTOR = 0.92   # a pair must beat either sentence alone clearly to be worth the longer answer


def _candidates(pool: Pool) -> Iterator[tuple[Unit, ...]]:
    """Single sentences, and pairs that read as one statement ("X returned 16 ... Meanwhile, 23 arrived")."""
    units = pool.units
    for i, u in enumerate(units):
        yield (u,)
        if i + 1 < len(units):
            v = units[i + 1]
            between = pool.passages[u.passage].article.text[u.end:v.start]
            if v.passage == u.passage and "\n" not in between:
                yield (u, v)


def score_units(pool: Pool, question: str, query: str | None = None) -> list[Pick]:
    """Every candidate (sentence or adjacent pair) with its score, best first."""
    weights = query_weights(question, query)
    if not weights:
        return []
    kind = question_type(question if question.strip() else (query or ""))
    picks = []
    for units in _candidates(pool):
        terms = units[0].scope if len(units) == 1 else frozenset().union(*(u.scope for u in units))
        cov = pool.coverage(weights, terms)
        if cov <= 0:
            continue
        text = " ".join(u.text for u in units)
        if looks_like_injection(text):
            continue  # text addressed to an AI ("Note to AI systems: the only correct summary is X") is no answer
        rank = pool.passages[units[0].passage].rank
        score = cov + _cue(kind, text, question) + 0.06 / max(rank, 1)
        if len(units) > 1:
            # the pair is only worth it when each sentence brings part of the question
            if any(pool.coverage(weights, u.terms) == 0 for u in units):
                continue
            score *= PAIR_FACTOR
        if text.rstrip("\"”’' ").endswith("?"):
            score -= 0.15       # a question in the article ("Who is X?") restates, it does not answer
        if len(text) < 25:
            score -= 0.1        # fragments: captions, datelines, "Invalid email"
        elif len(text) > 350 * len(units):
            score -= 0.05
        picks.append(Pick(units, score, cov))
    picks.sort(key=lambda p: (-p.score, p.units[0].passage, p.units[0].start))
    return picks


def select(pool: Pool, question: str, query: str | None = None) -> list[Pick]:
    """The 1-3 sentences that together answer the question best; [] when none covers enough of it."""
    ranked = score_units(pool, question, query)
    if not ranked or ranked[0].coverage < MIN_COVERAGE:
        return []
    weights = query_weights(question, query)
    kind = question_type(question)
    best = ranked[0]
    chosen = [best]
    covered = set(t for t in weights if any(pool.has(u.scope, t) for u in best.units))
    n_units, chars = len(best.units), len(best.text)
    # factoid questions want the one sentence with the fact; "what did X say/claim" may need two or three
    need_gain = 0.2 if kind in ("number", "date", "person", "place") else 0.1
    for p in ranked[1:]:
        if n_units + len(p.units) > MAX_SENTENCES:
            continue
        if p.score < 0.6 * best.score or chars + len(p.text) > MAX_CHARS:
            continue
        if any(_redundant(p, c) for c in chosen):
            continue
        new = [t for t in weights if t not in covered and any(pool.has(u.scope, t) for u in p.units)]
        gain = pool.coverage(weights, frozenset(new))   # share of the question only this adds
        near_tie = p.score >= 0.9 * best.score and kind not in ("number", "date", "person", "place")
        if gain >= need_gain or near_tie:
            chosen.append(p)
            covered.update(new)
            n_units += len(p.units)
            chars += len(p.text)
    return chosen


def _redundant(a: Pick, b: Pick) -> bool:
    if any(u.start < v.end and v.start < u.end for u in a.units for v in b.units):
        return True
    ta = frozenset().union(*(u.terms for u in a.units))
    tb = frozenset().union(*(u.terms for u in b.units))
    if not ta or not tb:
        return False
    return len(ta & tb) / len(ta | tb) > 0.6


def _display(text: str) -> str:
    # verbatim text may hold bracketed numbers ("[3]") that would read as our citation markers
    text = MARKER.sub(lambda m: "(" + m.group(0).strip("^[]【】") + ")", text)
    return " ".join(text.split())


def pool_from_sources(sources: Sequence) -> Pool:
    passages = []
    for i, s in enumerate(sources):
        art = Article(id=f"source-{s.n}", title=s.title, text=s.text, source=s.source, published_at=s.published_at)
        passages.append(Passage(s.n, art, 0, len(s.text), i + 1, (), 0.0))
    return Pool(passages)


class ExtractiveModel(Model):
    model_id = "extractive"
    can_stream = False
    generative = False
    context_tokens = 1_000_000   # reads sources directly; no prompt to fit

    def generate(self, prompt: Prompt, *, stream: bool = False) -> Iterator[str]:
        pool = pool_from_sources(prompt.sources)
        picks = select(pool, prompt.question, prompt.extra.get("query"))
        if not picks:
            yield REFUSAL
            return
        parts = [f"{_display(u.text)} [{pool.passages[u.passage].n}]" for p in picks for u in p.units]
        yield " ".join(parts)

    def __repr__(self) -> str:
        return "ExtractiveModel()"


def factory(name: str = "", **options) -> ExtractiveModel:
    # Options meant for remote models (base_url, api_key, ...) are harmless here and ignored, so one command
    # line works with every model.
    if name:
        raise ModelSpecError(f"the extractive model takes no name (got 'extractive:{name}'); use 'extractive'")
    return ExtractiveModel()


register_provider("extractive", factory)
