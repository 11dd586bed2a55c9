"""The retriever: hybrid search over a store. Dense (vectors) + keyword (BM25), fused by weighted reciprocal rank;
outlets and dates the question names get routed sub-searches; the head is re-scored by its best sentence.

Filters (outlets, date range) restrict both retrievers to the same chunk ids before ranking, so `k` results come
back whenever that many match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..schema import Hit
from ..storage import ChunkStore, Filters
from .filters import check as check_filters
from .fusion import ranked as by_score, rrf
from .routing import OutletMatcher, analyze
from .terms import check_query, keyword_terms, sentence_match
from .timeframe import narrow, newest_first, time_intent


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


def check_k(k: int | None) -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise UserError(f"k must be a whole number of at least 1, not {k!r}")


class Retriever:
    """Searches one store (any backend of the contract in rag/storage/base.py). `embed_query` turns a question into
    its vector (loaded lazily by the caller).

    `search` is the checked entry (the query, `k`, outlet names and dates as a person gives them); `ranked` takes
    filters that are already checked, for callers that checked them once for a whole question (rag.answering).
    """

    def __init__(self, store: ChunkStore, embed_query: Callable[[str], np.ndarray], config: RetrievalConfig):
        self.store = store
        self.embed_query = embed_query
        self.config = config
        self._matcher: tuple[int, OutletMatcher] | None = None

    def search(self, query: str, k: int = 10, *, sources: Sequence[str] | str | None = None,
               date_from: str | None = None, date_to: str | None = None, as_of=None,
               include_undated: bool = False) -> list[Hit]:
        """Filters checked (unknown outlets and unreadable dates raise FilterError), time words of the query
        resolved against `as_of` when it is given, then `ranked`."""
        check_k(k)
        query = check_query(query)
        known = [s for s, _ in self.store.sources()] if sources is not None else []
        checked = check_filters(sources, date_from, date_to, known, as_of=as_of, include_undated=include_undated)
        intent = time_intent(query, as_of) if as_of is not None else None
        date_from, date_to = checked.date_from, checked.date_to
        if intent is not None:
            date_from, date_to = narrow(date_from, date_to, intent)
        hits = self.ranked(query, k, Filters(checked.sources, date_from, date_to, (), include_undated))
        return newest_first(hits) if intent is not None and intent.recency else hits

    def ranked(self, query: str, k: int, user: Filters) -> list[Hit]:
        """The top `k` hits for a checked query under checked filters (`user.dates` is not used: routing sets it)."""
        cfg = self.config
        date_from, date_to, include_undated = user.date_from, user.date_to, user.include_undated
        analysis = analyze(query, self._outlet_matcher() if cfg.route_outlets and not user.sources else None)
        n = max(cfg.candidates, k)
        core_terms = keyword_terms(analysis.core)
        searches = [(keyword_terms(query), user, cfg.global_weight)]
        searches += [(core_terms, Filters((outlet,), date_from, date_to, (), include_undated), cfg.route_weight)
                     for outlet in analysis.outlets]
        if cfg.route_dates:
            searches += [(core_terms, Filters(user.sources or analysis.outlets, date_from, date_to, (day,),
                                              include_undated), cfg.route_weight) for day in analysis.dates]
        # The question's encoding (no GIL held in ONNX Runtime or torch) runs beside the keyword searches (SQLite,
        # on this thread): on 2 cores that hides most of one behind the other.
        pending = _encoder_pool().submit(self.embed_query, query) if cfg.dense_weight > 0 else None
        keyword = [self.store.keyword_search(terms, n, f, cfg.fts_weights) if terms else [] for terms, f, _ in searches]
        qvec = pending.result() if pending is not None else None
        fused = [self._ranking(qvec, kw, f, n) for (_, f, _), kw in zip(searches, keyword)]
        signals = fused[0][1]  # the hits report their ranks in the unrouted search
        if len(fused) == 1:
            ranked = fused[0][0]
        else:
            ranked = by_score(rrf([([c for c, _ in r], w) for (r, _), (_, _, w) in zip(fused, searches)], cfg.rrf_k))
        if cfg.rescore_depth > 0 and ranked:
            ranked = self._rescore(core_terms, ranked, cfg)
        return self._hits(ranked[: max(k * 3, n)], k, signals)

    def _rescore(self, terms: list[str], ranked: list[tuple[int, float]], cfg: RetrievalConfig) -> list[tuple[int, float]]:
        head, tail = ranked[: cfg.rescore_depth], ranked[cfg.rescore_depth:]
        rows = self.store.locate([c for c, _ in head])
        arts = self.store.get_articles(r[0] for r in rows.values())
        texts = [arts[rows[c][0]].text[rows[c][1]:rows[c][2]] if c in rows and rows[c][0] in arts else "" for c, _ in head]
        match = sentence_match(terms, texts)
        top = head[0][1] or 1.0
        scored = [(c, s / top + cfg.rescore_weight * m) for (c, s), m in zip(head, match)]
        scored.sort(key=lambda kv: (-kv[1], kv[0]))
        floor = min(s for _, s in scored) if scored else 0.0
        # keep the tail strictly below the re-scored head
        return scored + [(c, min(floor, s / top) - 1.0) for c, s in tail]

    def _ranking(self, qvec, keyword: list[tuple[int, float]], f: Filters, n: int) -> tuple[list[tuple[int, float]], dict]:
        """Dense candidates under filters `f` fused with the keyword ones (already found) by weighted reciprocal rank."""
        cfg = self.config
        dense = self.store.dense_search(qvec, n, f) if qvec is not None else []
        fused = rrf([([c for c, _ in dense], cfg.dense_weight), ([c for c, _ in keyword], cfg.keyword_weight)],
                    cfg.rrf_k)
        signals = {"dense": {c: r for r, (c, _) in enumerate(dense, 1)},
                   "keyword": {c: r for r, (c, _) in enumerate(keyword, 1)}}
        return by_score(fused), signals

    def _outlet_matcher(self) -> OutletMatcher:
        gen = self.store.generation()
        if self._matcher is None or self._matcher[0] != gen:
            self._matcher = (gen, OutletMatcher([s for s, _ in self.store.sources()]))
        return self._matcher[1]

    def _hits(self, ranked: list[tuple[int, float]], k: int, signals: dict[str, dict[int, int]]) -> list[Hit]:
        rows = self.store.locate([c for c, _ in ranked])
        # deleted by a concurrent writer after ranking -> absent from rows
        ranked = [(c, s) for c, s in ranked if c in rows]
        cap = self.config.max_per_article
        if cap > 0:
            # spread the top over articles: chunks beyond `cap` per article move behind the others
            per: dict[str, int] = {}
            first, later = [], []
            for c, s in ranked:
                aid = rows[c][0]
                per[aid] = per.get(aid, 0) + 1
                (first if per[aid] <= cap else later).append((c, s))
            ranked = first + later
        ranked = ranked[:k]
        arts = self.store.get_articles(rows[c][0] for c, _ in ranked)
        hits: list[Hit] = []
        for cid, score in ranked:
            aid, start, end = rows[cid]
            if aid not in arts:
                continue
            a = arts[aid]
            hits.append(Hit(cid, a, a.text[start:end], start, end, float(score), len(hits) + 1,
                            {name: ranks.get(cid) for name, ranks in signals.items()}))
        return hits


_POOL = None


def _encoder_pool():
    """Worker threads for question encodings, shared by every retriever in the process."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rag-encode")
    return _POOL
