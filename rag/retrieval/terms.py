"""What the retriever reads from text: the checked query, its keyword terms, and how well a passage's best sentence
matches them (the re-scoring signal)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import QueryError
from ..lexicon import STOPWORDS, WORD, sentences, stem

MAX_QUERY_CHARS = 4000


def check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the query is empty; type a question or some keywords")
    query = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in query).strip()
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(query):,} characters long; the limit is {MAX_QUERY_CHARS:,} — shorten it to the question itself"
        )
    if not query:
        raise QueryError("the query holds only control characters; type a question or some keywords")
    return query


def keyword_terms(query: str) -> list[str]:
    seen: dict[str, None] = {}
    for w in WORD.findall(query.lower()):
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
            seen.setdefault(w, None)
    return list(seen)


def sentence_match(terms: list[str], texts: list[str]) -> list[float]:
    """For each passage, how much of the query's weighted vocabulary its best sentence holds, in [0, 1].

    Questions about news are usually paraphrases of one sentence; a passage whose single sentence carries most
    of the rare query words is a better hit than one that scatters them. IDF is computed over the candidates.
    """
    q = {stem(t) for t in terms}
    if not q or not texts:
        return [0.0] * len(texts)
    sent_sets = [_sentence_stems(t) for t in texts]
    n = len(texts)
    df = {t: sum(1 for sents in sent_sets if any(t in s for s in sents)) for t in q}
    idf = {t: np.log(1.0 + n / (df[t] + 0.5)) for t in q}
    total = sum(idf.values()) or 1.0
    out = []
    for sents in sent_sets:
        best = max((sum(idf[t] for t in q if t in s) for s in sents), default=0.0)
        out.append(best / total)
    return out


@lru_cache(maxsize=4096)
def _sentence_stems(text: str) -> tuple[frozenset[str], ...]:
    # The same passages come back as candidates question after question; splitting and stemming them was a third
    # of the re-scoring time (bench/results/perf_query_engines.md).
    return tuple(frozenset(stem(w) for w in WORD.findall(s.lower())) for s in sentences(text))
