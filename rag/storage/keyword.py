"""Keyword search of the embedded store: FTS5 BM25 over (title, outlet+date, body), with a term budget.

FTS5 computes BM25 for every matching row before it sorts (~5 us a row on this machine), so one common term
('2023' from a date, 'com' from an outlet name, 'said') in a 1M-chunk index costs seconds. Such terms weigh little
in BM25 anyway (low IDF), and the dense retriever still reads the whole question; so on a large index the most
common terms are left out first (`select`), and if every term is that common, keyword search sits this query out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .base import Filters
from .catalog import Catalog

# Keyword search scores at most about this many matching rows; rarer terms are kept first. At 1M chunks the budget
# bounds FTS5 to ~10-20 ms where common terms cost seconds (bench/results/perf.md). Even at 8k chunks FTS5 was most of
# a search's time: 4,000 (was 8,000) made Index.search 17% faster with the same Hits@10 on MultiHop-RAG dev (1,917
# questions) and the natural-question dev set, MRR -0.001 and -0.004 (bench/results/keyword_budget.md).
KEYWORD_MAX_POSTINGS = 4_000


def fts_phrase(term: str) -> str:
    """One quoted FTS5 phrase: no user text is ever parsed as FTS syntax."""
    return '"' + term.replace('"', '""') + '"'


def fts_match(terms: Sequence[str]) -> str:
    """An FTS5 query that ORs the terms, each quoted."""
    return " OR ".join(fts_phrase(t) for t in terms)


class KeywordIndex:
    """FTS5 search over a catalog's `chunks_fts` table, with document frequencies cached per generation."""

    def __init__(self, catalog: Catalog, max_postings: int = KEYWORD_MAX_POSTINGS):
        self.catalog = catalog
        self.max_postings = max_postings  # 0: never leave terms out (bench/perf_scale.py compares)
        self._df: dict[str, int] = {}  # term -> matching rows (capped at the budget + 1), this generation
        self._df_gen = -1
        self._df_chunks = 0

    def reset_cache(self) -> None:
        """Forget the document frequencies (bench: measure a first pass again)."""
        with self.catalog.db_lock:
            self._df.clear()
            self._df_gen = -1

    def search(self, terms: Sequence[str], limit: int, weights: tuple[float, float, float],
               f: Filters | None = None) -> list[tuple[int, float]]:
        """(chunk id, bm25 score; higher is better) for chunks holding any of `terms`, best first."""
        match = fts_match(self.select(terms))
        if not match:
            return []
        cat = self.catalog
        if f is not None and f.active:
            where, fargs = cat.filter_sql(f)
            sql = ("SELECT t.rowid, -bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts t"
                   " JOIN chunks c ON c.id = t.rowid JOIN articles a ON a.id = c.article_id"
                   " WHERE chunks_fts MATCH ?" + where + " ORDER BY bm25(chunks_fts, ?, ?, ?) LIMIT ?")
            args = [*weights, match, *fargs, *weights, limit]
        else:
            sql = ("SELECT rowid, -bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
                   " ORDER BY bm25(chunks_fts, ?, ?, ?) LIMIT ?")
            args = [*weights, match, *weights, limit]
        with cat.db_lock:
            try:
                return [(r[0], r[1]) for r in cat.conn.execute(sql, args)]
            except sqlite3.OperationalError:
                return []  # a query FTS5 cannot parse finds nothing by keyword; dense search still answers

    def select(self, terms: Sequence[str]) -> list[str]:
        """The rarest of `terms` such that at most `max_postings` rows can match (all of them on an index smaller
        than the budget). Document frequencies are counted up to the budget (so a lookup costs at most that)."""
        terms = list(dict.fromkeys(terms))
        budget = self.max_postings
        if budget <= 0 or not terms:
            return terms
        cat = self.catalog
        gen = cat.generation()
        with cat.db_lock:
            if self._df_gen != gen:
                self._df.clear()
                self._df_gen = gen
                self._df_chunks = int(cat.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
            if self._df_chunks <= budget:
                return terms
            df = {}
            for t in terms:
                if t not in self._df:
                    try:
                        self._df[t] = int(cat.conn.execute(
                            "SELECT COUNT(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
                            (fts_phrase(t), budget + 1)).fetchone()[0])
                    except sqlite3.OperationalError:
                        self._df[t] = budget + 1
                df[t] = self._df[t]
        kept, total = set(), 0
        for t in sorted(terms, key=lambda t: df[t]):
            if total + df[t] > budget:
                break
            kept.add(t)
            total += df[t]
        return [t for t in terms if t in kept]
