"""The store contract: what retrieval and indexing need from a place that keeps chunks, whatever engine it is.

Small on purpose (like txtai's `ann/base.py`): upsert an article's chunks with their vectors and metadata, delete
by article, dense and keyword search under the same filters, locate chunks and read articles back, count, persist,
close, and a record of how the store was built. The retriever (rag/retrieval/retriever.py) uses only these. Filters are data (a frozen dataclass, like LlamaIndex's `VectorStoreQuery`), so every backend applies
exactly the same restriction. Chunk ids are the store's own (positive integers, never reused).

Backends: `rag.storage.embedded.Store` (SQLite + FTS5 + FAISS, the default on disk) and
`rag.storage.exact.ExactStore` (NumPy, exact; the reference the contract test measures recall against).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..schema import Article, Chunk

# Title, 'outlet date', body: how much a keyword match in each field counts (the retriever's default).
DEFAULT_FIELD_WEIGHTS = (2.0, 1.0, 1.0)


@dataclass(frozen=True)
class Filters:
    """Restrictions on which articles' chunks may be returned."""

    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    dates: tuple[str, ...] = ()       # any of these publication days (YYYY-MM-DD)
    include_undated: bool = False     # with date_to: keep articles that have no date

    @property
    def active(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to or self.dates)

    def admits(self, source: str, published_at: str) -> bool:
        """The same rule the SQL of the embedded store applies, for backends that filter in Python."""
        if self.sources and source not in self.sources:
            return False
        if self.date_from and published_at < self.date_from:
            return False
        if self.date_to and published_at[: len(self.date_to)] > self.date_to:  # a bare date includes the whole day
            return False
        if self.date_to and not published_at and not self.include_undated:
            return False
        return not self.dates or published_at[:10] in self.dates


def fts_header(article: Article) -> tuple[str, str]:
    """What keyword search sees besides the chunk text: the title and 'outlet date'."""
    return article.title, f"{article.source} {article.published_at[:10]}".strip()


class ChunkStore(ABC):
    """One backend of the store contract. Scores: higher is better; results are (chunk id, score), best first."""

    backend: ClassVar[str]

    @abstractmethod
    def upsert(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray) -> list[int]:
        """Insert or replace `article` with its chunks (row i of `vectors` is chunk i); returns the new chunk ids."""

    @abstractmethod
    def delete(self, article_id: str) -> int:
        """Remove an article and its chunks; returns how many chunks went (0: it was not there)."""

    @abstractmethod
    def dense_search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """Up to `k` chunks by inner product with `query` (unit vectors: cosine)."""

    @abstractmethod
    def keyword_search(self, terms: Sequence[str], k: int, filters: Filters | None = None,
                       weights: tuple[float, float, float] = DEFAULT_FIELD_WEIGHTS) -> list[tuple[int, float]]:
        """Up to `k` chunks that contain any of `terms`, best BM25 first."""

    @abstractmethod
    def locate(self, chunk_ids: Sequence[int]) -> dict[int, tuple[str, int, int]]:
        """chunk id -> (article id, start, end); unknown ids are absent."""

    @abstractmethod
    def get_articles(self, ids: Iterable[str]) -> dict[str, Article]:
        """The stored articles (with their cleaned text) among `ids`; unknown ids are absent."""

    @abstractmethod
    def sources(self) -> list[tuple[str, int]]:
        """Outlets with their article counts, by name."""

    @abstractmethod
    def generation(self) -> int:
        """A number that grows with every committed change (callers cache per generation)."""

    @abstractmethod
    def count(self) -> int:
        """Chunks stored."""

    @abstractmethod
    def persist(self) -> None:
        """Make everything upserted so far durable on disk (a later open sees it)."""

    @abstractmethod
    def close(self) -> None: ...

    def warm(self) -> None:
        """Load what searching needs (vectors, collections) now rather than on the first query."""

    @abstractmethod
    def record(self) -> dict:
        """How this store was built: the manifest (embedder, dimension, chunking, versions) and the backend."""
