"""The embedded backend: SQLite (catalog, FTS5 keyword table) + a FAISS file per generation, in one directory.

Crash safety comes from one rule: SQLite is the source of truth and every change is one SQLite transaction; the
FAISS file is derived from it and caught up by generation (vectors/generations.py). Writers take an exclusive lock
file (`write.lock`); a second writer waits up to `lock_timeout` seconds and then fails with IndexLockedError.
Readers never block: SQLite runs in WAL mode.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..schema import Article, Chunk
from .base import DEFAULT_FIELD_WEIGHTS, ChunkStore, Filters
from .catalog import Catalog
from .files import WRITE_ERRNOS, write_failed, write_lock
from .keyword import KeywordIndex
from .vectors import VectorFiles, VectorIndex, VectorPolicy, dense_search
from .writer import Writer


class Store(Catalog, ChunkStore):
    """The SQLite + FTS5 + FAISS store. `rag.Index` is the public face; this class knows nothing of models or
    retrieval. `Store.open(root, manifest=..., policy=...)` opens or creates one."""

    backend = "sqlite-faiss"

    def __init__(self, root: Path, conn: sqlite3.Connection, manifest: dict, policy: VectorPolicy | None = None):
        super().__init__(root, conn, manifest)
        self.keyword = KeywordIndex(self)
        self.vector_files = VectorFiles(self, policy)
        # called with the new generation after every commit (tests record what each commit made visible)
        self.on_commit: list[Callable[[int], None]] = []

    @classmethod
    def open(cls, root: Path, *, manifest: dict | None = None, create: bool = True,
             policy: VectorPolicy | None = None) -> "Store":
        store = super().open(root, manifest=manifest, create=create)
        if policy is not None:
            store.vector_files.policy = policy
        return store

    # ---- vectors -------------------------------------------------------------------------------------------
    def warm(self) -> None:
        self.vectors()

    def vectors(self) -> VectorIndex:
        """The FAISS index of the current generation (loaded, caught up or rebuilt on first use)."""
        return self.vector_files.current()

    def faiss_path(self, gen: int) -> Path:
        return self.vector_files.path(gen)

    # ---- writing -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, lock_timeout: float = 60.0) -> Iterator[Writer]:
        with write_lock(self.root, timeout=lock_timeout):
            w = Writer(self, self.vector_files, self.on_commit)
            try:
                yield w
            except sqlite3.OperationalError as e:  # full disk, read-only file, I/O error: one clear line
                raise write_failed(self.root, str(e)) from None
            except OSError as e:
                if e.errno not in WRITE_ERRNOS:
                    raise
                raise write_failed(self.root, e.strerror or str(e)) from None
            finally:
                w.rollback()  # whatever was not committed (an exception escaped) is dropped, and the lock freed
                self.vector_files.after_write(w.changed)

    # ---- the store contract --------------------------------------------------------------------------------
    def upsert(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray) -> list[int]:
        with self.writer() as w:
            ids = w.put_article(article, chunks, vectors)
            w.commit()
        return ids

    def delete(self, article_id: str) -> int:
        with self.writer() as w:
            n = w.delete_article(article_id)
            w.commit()
        return n

    def dense_search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        allowed = self.chunk_ids_where(filters) if filters is not None and filters.active else None
        return dense_search(self.vectors(), query, k, allowed, self.vectors_by_id)

    def keyword_search(self, terms: Sequence[str], k: int, filters: Filters | None = None,
                       weights: tuple[float, float, float] = DEFAULT_FIELD_WEIGHTS) -> list[tuple[int, float]]:
        return self.keyword.search(terms, k, weights, filters)

    def locate(self, chunk_ids: Sequence[int]) -> dict[int, tuple[str, int, int]]:
        return self.get_chunks(chunk_ids)

    def count(self) -> int:
        return self.chunk_count()

    def persist(self) -> None:
        # SQLite commits are durable already; this writes the FAISS file the save policy may have deferred
        self.vector_files.persist()

    def record(self) -> dict:
        return {**self.manifest, "backend": self.backend}
