"""Writes to the embedded store: changes grouped into SQLite transactions under the writer lock.

`commit()` makes them visible and durable in SQLite (the truth), then applies them to the in-memory FAISS index;
the FAISS file is settled once when the writer finishes (`VectorFiles.after_write`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ..schema import Article, Chunk
from .base import fts_header
from . import quotes
from .catalog import Catalog
from .vectors import VectorFiles


class Writer:
    """Groups changes into SQLite transactions; `commit()` makes them visible and durable (FAISS follows)."""

    def __init__(self, catalog: Catalog, vector_files: VectorFiles,
                 on_commit: Sequence[Callable[[int], None]] = ()):
        self.catalog = catalog
        self.on_commit = on_commit  # called with the new generation after each commit
        self.vector_files = vector_files
        self.conn = catalog.conn
        self._pending = False
        self._added_vecs: list[tuple[np.ndarray, np.ndarray]] = []
        self._removed: list[int] = []
        self.changed = 0  # vectors added or removed by the commits of this writer

    def _begin(self) -> None:
        if not self._pending:
            self.catalog.db_lock.acquire()
            self.conn.execute("BEGIN IMMEDIATE")
            self._pending = True
            quotes.ensure(self.conn)

    def delete_article(self, article_id: str) -> int:
        """Delete an article and its chunks; returns how many chunks went."""
        self._begin()
        ids = [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE article_id=?", (article_id,))]
        if ids:
            self.conn.executemany("DELETE FROM chunks_fts WHERE rowid=?", [(i,) for i in ids])
            self.conn.execute("DELETE FROM chunks WHERE article_id=?", (article_id,))
            self._removed.extend(ids)
        self.conn.execute("DELETE FROM articles WHERE id=?", (article_id,))
        quotes.delete(self.conn, article_id)
        return len(ids)

    def put_quotes(self, article: Article, found: Sequence, version: int) -> None:
        """Replace an article's quotes (rag.news.quotes.Quote objects), in this writer's transaction."""
        self._begin()
        quotes.put(self.conn, article, found, version)

    def put_article(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray,
                    found: tuple[Sequence, int] | None = None) -> list[int]:
        """Insert or replace an article with its chunks and their vectors (row i of `vectors` is chunk i), and its
        (quotes, extractor version) when given; returns the new chunk ids."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self.delete_article(article.id)
        self.conn.execute(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?)",
            (article.id, article.title, article.source, article.author, article.published_at, article.url,
             article.origin, article.content_hash, article.text, time.time()),
        )
        title, source = fts_header(article)
        ids = []
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        for chunk, vec in zip(chunks, vecs):
            cur = self.conn.execute(
                'INSERT INTO chunks (article_id, ordinal, start, "end", n_tokens, vector) VALUES (?,?,?,?,?,?)',
                (article.id, chunk.ordinal, chunk.start, chunk.end, chunk.n_tokens, vec.tobytes()),
            )
            ids.append(cur.lastrowid)
            self.conn.execute("INSERT INTO chunks_fts (rowid, title, source, body) VALUES (?,?,?,?)",
                              (cur.lastrowid, title, source, chunk.text))
        if ids:
            self._added_vecs.append((np.asarray(ids, dtype=np.int64), vecs))
        if found is not None:
            quotes.put(self.conn, article, *found)
        return ids

    def put_articles(self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray, tuple[Sequence, int] | None]]
                     ) -> list[list[int]]:
        """`put_article` for each (article, chunks, vectors, found) (a Milvus writer sends a batch at once)."""
        return [self.put_article(a, c, v, found=f) for a, c, v, f in items]

    def commit(self) -> None:
        if not self._pending:
            return
        try:
            gen = int(self.conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0]) + 1
            self.conn.execute("UPDATE meta SET value=? WHERE key='generation'", (str(gen),))
            self.conn.commit()
        except BaseException:
            self.rollback()
            raise
        finally:
            if self._pending:
                self._pending = False
                self.catalog.db_lock.release()
        self.changed += self.vector_files.apply_commit(gen, self._removed, self._added_vecs)
        self._added_vecs.clear()
        self._removed.clear()
        for fn in self.on_commit:
            fn(gen)

    def rollback(self) -> None:
        if self._pending:
            self.conn.rollback()
            self._pending = False
            self._added_vecs.clear()
            self._removed.clear()
            self.catalog.db_lock.release()
