"""The exact reference backend: every vector in one NumPy matrix, keyword search by BM25 in Python.

Exact by construction (a full inner-product scan), so the contract test measures the FAISS backend's recall
against it; small enough to read in one sitting, so it is also the template for a new backend. Persisted as
one .npz file (the vectors, and the metadata as JSON bytes; loaded with `allow_pickle=False`: no pickle anywhere),
replaced atomically, so a crash leaves the previous persisted state whole.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..schema import Article, Chunk
from .base import DEFAULT_FIELD_WEIGHTS, ChunkStore, Filters, fts_header
from .files import atomic_replace

FILE_NAME = "exact-store.npz"
_WORD = re.compile(r"\w+", re.UNICODE)


class ExactStore(ChunkStore):
    backend = "exact-numpy"

    def __init__(self, dim: int, root: Path | None = None, manifest: dict | None = None):
        self.dim = dim
        self.root = Path(root) if root is not None else None
        self.manifest = {**(manifest or {}), "dim": dim}
        self._next_id = 1  # ids only grow, never reused (as in the embedded store)
        self._articles: dict[str, dict] = {}  # id -> the Article's fields
        self._chunks: dict[int, dict] = {}  # id -> article_id, start, end, fields (title, header, body)
        self._vectors: dict[int, np.ndarray] = {}
        self._generation = 0

    @classmethod
    def open(cls, root: Path, *, dim: int, manifest: dict | None = None) -> "ExactStore":
        """Open the store persisted at `root`, or start an empty one there."""
        store = cls(dim, root, manifest)
        path = Path(root) / FILE_NAME
        if path.is_file():
            with np.load(path, allow_pickle=False) as npz:
                data = json.loads(npz["meta"].tobytes())
                vecs = npz["vectors"]
            store.manifest = data["manifest"]
            store.dim = int(store.manifest["dim"])
            store._next_id = data["next_id"]
            store._articles = data["articles"]
            store._chunks = {int(c): v for c, v in data["chunks"].items()}
            store._vectors = {int(c): vecs[i] for i, c in enumerate(data["order"])}
        return store

    def upsert(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray) -> list[int]:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self.delete(article.id)
        self._articles[article.id] = dataclasses.asdict(article)
        self._generation += 1
        title, header = fts_header(article)
        ids = []
        for chunk, vec in zip(chunks, np.asarray(vectors, dtype=np.float32)):
            cid, self._next_id = self._next_id, self._next_id + 1
            self._chunks[cid] = {"article_id": article.id, "start": chunk.start, "end": chunk.end,
                                 "fields": [title, header, chunk.text]}
            self._vectors[cid] = vec.copy()
            ids.append(cid)
        return ids

    def delete(self, article_id: str) -> int:
        gone = [c for c, row in self._chunks.items() if row["article_id"] == article_id]
        for c in gone:
            del self._chunks[c], self._vectors[c]
        if self._articles.pop(article_id, None) is not None:
            self._generation += 1
        return len(gone)

    def _allowed(self, filters: Filters | None) -> list[int]:
        ids = sorted(self._chunks)
        if filters is None or not filters.active:
            return ids
        meta = {a: (v["source"], v["published_at"]) for a, v in self._articles.items()}
        return [c for c in ids if filters.admits(*meta[self._chunks[c]["article_id"]])]

    def dense_search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        ids = self._allowed(filters)
        if not ids or k <= 0:
            return []
        scores = np.stack([self._vectors[c] for c in ids]) @ np.asarray(query, dtype=np.float32).reshape(-1)
        order = np.lexsort((np.asarray(ids), -scores))[:k]  # ties: lower id first
        return [(ids[i], float(scores[i])) for i in order]

    def keyword_search(self, terms: Sequence[str], k: int, filters: Filters | None = None,
                       weights: tuple[float, float, float] = DEFAULT_FIELD_WEIGHTS) -> list[tuple[int, float]]:
        """BM25 per field (k1=1.2, b=0.75, as FTS5), weighted and summed like FTS5's bm25() with weights."""
        want = {t.lower() for t in terms}
        if not want or k <= 0:
            return []
        every = sorted(self._chunks)
        toks = {c: [Counter(_WORD.findall(f.lower())) for f in self._chunks[c]["fields"]] for c in every}
        n = len(every)
        df = {t: sum(1 for c in every if any(t in f for f in toks[c])) for t in want}
        avg = [sum(sum(toks[c][i].values()) for c in every) / max(n, 1) for i in range(3)]
        scored = []
        for c in self._allowed(filters):
            if not any(t in f for f in toks[c] for t in want):
                continue
            s = 0.0
            for i, f in enumerate(toks[c]):
                length = sum(f.values())
                for t in want:
                    tf = f.get(t, 0)
                    if tf:
                        idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                        s += weights[i] * idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / max(avg[i], 1e-9)))
            scored.append((c, s))
        scored.sort(key=lambda cs: (-cs[1], cs[0]))
        return scored[:k]

    def locate(self, chunk_ids: Sequence[int]) -> dict[int, tuple[str, int, int]]:
        return {int(c): (r["article_id"], r["start"], r["end"])
                for c in chunk_ids if (r := self._chunks.get(int(c))) is not None}

    def get_articles(self, ids: Iterable[str]) -> dict[str, Article]:
        return {a: Article(**self._articles[a]) for a in ids if a in self._articles}

    def sources(self) -> list[tuple[str, int]]:
        counts = Counter(v["source"] for v in self._articles.values() if v["source"])
        return sorted(counts.items())

    def generation(self) -> int:
        return self._generation

    def count(self) -> int:
        return len(self._chunks)

    def persist(self) -> None:
        if self.root is None:
            raise ValueError("this ExactStore was made without a directory; open it with ExactStore.open(root)")
        self.root.mkdir(parents=True, exist_ok=True)
        order = sorted(self._vectors)
        matrix = (np.stack([self._vectors[c] for c in order]) if order
                  else np.zeros((0, self.dim), dtype=np.float32))

        meta = {"manifest": self.manifest, "next_id": self._next_id, "articles": self._articles,
                "chunks": {str(c): r for c, r in self._chunks.items()}, "order": order}

        def write(tmp: Path) -> None:
            buf = io.BytesIO()
            np.savez(buf, vectors=matrix, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
            tmp.write_bytes(buf.getvalue())

        atomic_replace(self.root / FILE_NAME, write)

    def close(self) -> None:
        pass  # nothing held open: persist() is what makes changes durable

    def record(self) -> dict:
        return {**self.manifest, "backend": self.backend}
