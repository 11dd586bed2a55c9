"""Writes to a Milvus index (the embedded store's Writer interface, rag/storage/writer.py). Milvus has no
transactions: every call writes at once, in the order described in rag/storage/milvus/store.py, and `commit()`
advances the generation that readers cache by."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...schema import Article, Chunk
from ..base import fts_header
from .schema import PLACEHOLDER, TEXT_PART, keyword_text, literal, literal_list

if TYPE_CHECKING:
    from .store import MilvusStore


class MilvusWriter:
    """The embedded store's Writer interface (rag/storage/writer.py) over Milvus: every call writes at once (no
    transactions); `commit()` advances the generation. See the module docstring for the write order."""

    def __init__(self, store: "MilvusStore"):
        self.store = store
        self.client = store.client
        self.names = store.names
        self.dirty = False    # written since the last commit
        self.written = False  # written at all
        self.changed = 0

    def delete_article(self, article_id: str) -> int:
        expr = f"article_id == {literal(article_id)}"
        n = self.store._count(self.names["chunks"], expr)
        self.client.delete(self.names["articles"], filter=expr)  # the article first: no reader sees it half-gone
        if n:
            self.client.delete(self.names["chunks"], filter=expr)
        self.dirty = self.written = True
        self.changed += n
        return n

    def put_article(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray,
                    found: tuple[Sequence, int] | None = None) -> list[int]:
        """Insert or replace one article with its chunks (row i of `vectors` is chunk i); returns the chunk ids."""
        return self.put_articles([(article, chunks, vectors, found)])[0]

    def put_articles(self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray, tuple[Sequence, int] | None]]
                     ) -> list[list[int]]:
        """`put_article` for a batch in four requests: a filtered delete scans the collection (Milvus Lite), so one
        per article made loading quadratic (20 chunks/s at 8k chunks)."""
        if not items:
            return []
        for a, chunks, vectors, _ in items:
            if len(chunks) != len(vectors):
                raise ValueError(f"one vector per chunk ({a.id})")
        expr = f"article_id in {literal_list([a.id for a, *_ in items])}"
        self.client.delete(self.names["articles"], filter=expr)  # the articles first: no reader sees half of one
        self.client.delete(self.names["chunks"], filter=expr)
        self.dirty = self.written = True
        rows, heads = [], []
        for article, chunks, vectors, found in items:
            title, header = fts_header(article)
            title_kw, header_kw = keyword_text(title), keyword_text(header)
            vecs = np.ascontiguousarray(vectors, dtype=np.float32)
            rows += [{"article_id": article.id, "ordinal": c.ordinal, "start": c.start, "end": c.end,
                      "source": article.source, "published_at": article.published_at,
                      "day": article.published_at[:10], "vec": v.tolist(), "title_kw": title_kw,
                      "header_kw": header_kw, "body_kw": keyword_text(c.text)} for c, v in zip(chunks, vecs)]
            heads += _article_rows(article, found)
        ids = [int(i) for i in self.client.insert(self.names["chunks"], rows)["ids"]] if rows else []
        self.client.upsert(self.names["articles"], heads)
        self.changed += len(ids)
        out, i = [], 0
        for _, chunks, _, _ in items:  # Milvus returns the ids in the order of the rows
            out.append(ids[i : i + len(chunks)])
            i += len(chunks)
        return out

    def put_quotes(self, article: Article, found: Sequence, version: int) -> None:
        rows = self.client.query(self.names["articles"], filter=f"key == {literal(article.id + '#0')}",
                                 output_fields=["*"])
        if rows:
            row = {k: v for k, v in rows[0].items() if k != "_v"}
            self.client.upsert(self.names["articles"], [{**row, "_v": PLACEHOLDER,
                                                         "quotes": _quotes_json(article, found, version)}])
            self.dirty = self.written = True

    def commit(self) -> None:
        if not self.dirty:
            return
        gen = self.store.generation() + 1
        self.client.upsert(self.names["meta"], [{"key": "generation", "value": str(gen), "_v": PLACEHOLDER}])
        self.dirty = False

    def rollback(self) -> None:
        pass  # nothing is pending: each call above has already been written


def _article_rows(article: Article, found: tuple[Sequence, int] | None) -> list[dict]:
    """The article's rows: its text in parts, each with the metadata; part 0 also carries the quotes."""
    text = article.text
    pieces = [text[i : i + TEXT_PART] for i in range(0, len(text), TEXT_PART)] or [""]
    quotes = _quotes_json(article, *found) if found is not None else {}
    head = {"article_id": article.id, "n_parts": len(pieces), "title": article.title, "source": article.source,
            "author": article.author, "published_at": article.published_at, "url": article.url,
            "origin": article.origin, "content_hash": article.content_hash, "added_at": time.time(),
            "_v": PLACEHOLDER}
    return [{**head, "key": f"{article.id}#{i}", "part": i, "text": piece, "quotes": quotes if i == 0 else {}}
            for i, piece in enumerate(pieces)]


def _quotes_json(article: Article, found: Sequence, version: int) -> dict:
    keep = ("speaker", "role", "organisation", "kind", "verb", "addressee", "start", "end", "attr_start",
            "attr_end", "role_start", "role_end")
    return {"version": version, "hash": article.content_hash,
            "rows": [{k: getattr(q, k) for k in keep} for q in found]}




__all__ = ["MilvusWriter"]
