"""Hybrid retrieval: dense (FAISS inner product) + keyword (FTS5 BM25), fused by weighted reciprocal rank.

Filters (outlets, date range) restrict both retrievers to the same chunk ids before ranking, so `k` results
come back whenever that many match.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from .errors import QueryError
from .sentences import split_sentences

MAX_QUERY_CHARS = 4000

_WORD = re.compile(r"\w+", re.UNICODE)
# Function words carry no topic: dropping them keeps BM25 from rewarding chunks for "the" and "what".
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves also according article articles report
    reported reports said says say""".split()
)


@dataclass(frozen=True)
class RetrievalConfig:
    candidates: int = 60              # per retriever, before fusion
    rrf_k: float = 20.0
    dense_weight: float = 0.5
    keyword_weight: float = 1.0
    fts_weights: tuple[float, float, float] = (2.0, 1.0, 1.0)  # title, outlet+date, body
    route_outlets: bool = True        # outlets named in the query get their own sub-search
    route_dates: bool = True          # so do publication dates named in the query
    route_weight: float = 1.0         # weight of each routed sub-ranking ...
    global_weight: float = 0.1        # ... and of the unrestricted ranking, when the query names outlets or dates
    max_per_article: int = 0          # >0: at most this many chunks of one article before others are shown
    rescore_depth: int = 30           # >0: re-score this many fused candidates by their best-matching sentence
    rescore_weight: float = 4.0       # weight of that sentence match against the (max-normalised) fused score


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
    for w in _WORD.findall(query.lower()):
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
            seen.setdefault(w, None)
    return list(seen)


def fts_match(terms: list[str]) -> str:
    """An FTS5 query that ORs the terms; each is quoted, so no user text is parsed as FTS syntax."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def rrf(rankings: list[tuple[list[int], float]], k: float) -> dict[int, float]:
    """Weighted reciprocal-rank fusion: sum over rankings of weight / (k + rank), rank from 1."""
    scores: dict[int, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, cid in enumerate(ids, 1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    return scores


def dense_search(index, query_vec: np.ndarray, limit: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
    import faiss

    if index.ntotal == 0 or limit <= 0:
        return []
    q = np.ascontiguousarray(query_vec.reshape(1, -1), dtype=np.float32)
    params = None
    if allowed is not None:
        if len(allowed) == 0:
            return []
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
    scores, ids = index.search(q, min(limit, index.ntotal), params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


@functools.lru_cache(maxsize=200_000)
def _stem(w: str) -> str:
    # crude, but symmetric for query and passage: enough to match "claims"/"claim", "reported"/"reports"
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def sentence_match(terms: list[str], texts: list[str]) -> list[float]:
    """For each passage, how much of the query's weighted vocabulary its best sentence holds, in [0, 1].

    Questions about news are usually paraphrases of one sentence; a passage whose single sentence carries most
    of the rare query words is a better hit than one that scatters them. IDF is computed over the candidates.
    """
    q = {_stem(t) for t in terms}
    if not q or not texts:
        return [0.0] * len(texts)
    sent_sets = [[{_stem(w) for w in _WORD.findall(s.lower())} for s in split_sentences(t)]
                 for t in texts]
    n = len(texts)
    df = {t: sum(1 for sents in sent_sets if any(t in s for s in sents)) for t in q}
    idf = {t: np.log(1.0 + n / (df[t] + 0.5)) for t in q}
    total = sum(idf.values()) or 1.0
    out = []
    for sents in sent_sets:
        best = max((sum(idf[t] for t in q if t in s) for s in sents), default=0.0)
        out.append(best / total)
    return out
