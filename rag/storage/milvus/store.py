"""The Milvus backend of the store contract, over `pymilvus.MilvusClient`: the same code talks to an embedded Milvus
Lite file, a loopback `milvus-lite server` and a Milvus cluster. Everything lives in Milvus (articles, chunks,
vectors, keyword fields, manifest), so a process that serves queries keeps no local state.

Milvus has no transactions, so an article is written in an order that never shows half of it: its article rows
go first (readers drop chunks whose article they cannot read whole), then its old chunks, then the new chunks, and
the article rows last, carrying the content hash. A writer killed in between leaves an article that is simply
absent (no hash), so the next `rag index` writes it again: re-runs converge, without duplicates. Chunk ids are
Milvus's auto ids. One writer at a time per index is assumed (no cross-process lock: run one indexing job).

Scores: dense = inner product; keyword = the weighted sum over the title, 'outlet date' and body fields of Milvus's
BM25 (Milvus Lite 3.x reports BM25 as a negative distance: the score is its negation). The retriever fuses by rank.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ...errors import IndexMismatchError, IndexNotFoundError, MissingDependencyError, RagError
from ...schema import Article, Chunk
from ..base import DEFAULT_FIELD_WEIGHTS, ChunkStore, Filters
from ..location import MilvusLocation
from .schema import KEYWORD_FIELDS, MAX_TOPK, create_collections, filter_expr, keyword_query, literal, literal_list, names
from .writer import MilvusWriter

FORMAT = 1
_BATCH = 500  # ids per `in [...]` query
_ARTICLE_FIELDS = ["article_id", "part", "n_parts", "title", "source", "author", "published_at", "url", "origin",
                   "content_hash", "text"]


def _client(loc: MilvusLocation):
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise MissingDependencyError("pymilvus", "milvus", f"the index {loc.spec}") from None
    if loc.embedded:
        try:
            import milvus_lite  # noqa: F401 - pymilvus opens a .db file through it
        except ImportError:
            raise MissingDependencyError("milvus-lite", "milvus", f"the index {loc.spec}") from None
    # Milvus Lite has no timestamp service: pymilvus asks for it when it waits for an index build, and the embedded
    # server logs a traceback per call; the call's result is unaffected, and a user has nothing to do about it
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    try:
        return MilvusClient(uri=loc.uri, timeout=30)  # a refused connection fails at once; 30 s is for a busy server
    except Exception as e:  # noqa: BLE001 - pymilvus raises its own and grpc's errors; all mean "cannot reach it"
        raise RagError(f"cannot reach Milvus at {loc.spec} ({str(e).splitlines()[0][:200]}); start the server or "
                       "check the URI") from None


class MilvusStore(ChunkStore):
    backend = "milvus"

    def __init__(self, client, location: MilvusLocation, manifest: dict):
        self.client = client
        self.location = location
        self.root = location  # what messages print as the index's place (`Index.path`)
        self.names = names(location.collection)
        self.manifest = manifest
        self._sources: tuple[int, list[tuple[str, int]]] | None = None

    # ---- opening -------------------------------------------------------------------------------------------
    @classmethod
    def exists(cls, loc: MilvusLocation) -> bool:
        client = _client(loc)
        try:
            return _manifest(client, loc) is not None
        finally:
            client.close()

    @classmethod
    def open(cls, loc: MilvusLocation, *, manifest: dict | None = None, create: bool = True) -> "MilvusStore":
        client = _client(loc)
        n = names(loc.collection)
        stored = _manifest(client, loc)
        if stored is None:
            if not create or manifest is None:
                client.close()
                raise IndexNotFoundError(f"no index at {loc.spec}; build one with: rag index PATH --index {loc.spec}")
            for name in n.values():  # left by a creation that was killed before the manifest was written
                if client.has_collection(name):
                    client.drop_collection(name)
            stored = {**manifest, "format_version": FORMAT, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                        time.gmtime())}
            stored["milvus_index"] = loc.index
            create_collections(client, loc.collection, int(manifest["dim"]), stored, index_type=loc.index)
        else:
            stored = json.loads(stored)
            for key in ("embedder", "dim", "tokenizer"):
                if manifest and manifest.get(key) and stored.get(key) != manifest[key]:
                    client.close()
                    raise IndexMismatchError(
                        f"index at {loc.spec} was built with {key} {stored.get(key)!r}, this run uses "
                        f"{manifest[key]!r}; open it with the same {key} or build a new collection")
        for name in n.values():
            client.load_collection(name)  # a reopened collection is released until loaded
        return cls(client, loc, stored)

    def warm(self) -> None:
        for name in self.names.values():
            self.client.load_collection(name)

    # ---- writing -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, lock_timeout: float = 60.0, *, flush: bool = True) -> Iterator["MilvusWriter"]:
        """Writes are durable when each call returns (Milvus logs them); `flush` seals the segments at the end, which
        a bulk load needs (unsealed rows are searched slowly) and one article does not."""
        w = MilvusWriter(self)
        try:
            yield w
        finally:
            if w.written and flush:
                self.persist()

    def upsert(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray) -> list[int]:
        with self.writer(flush=False) as w:
            ids = w.put_article(article, chunks, vectors)
            w.commit()
        return ids

    def delete(self, article_id: str) -> int:
        with self.writer(flush=False) as w:
            n = w.delete_article(article_id)
            w.commit()
        return n

    # ---- searching -----------------------------------------------------------------------------------------
    def dense_search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        k = min(k, MAX_TOPK)
        expr = filter_expr(filters)
        params: dict = {"metric_type": "IP"}
        if self.manifest.get("milvus_index", "FLAT") == "HNSW":
            # HNSW keeps `ef` candidates and drops those a filter rejects (Milvus Lite): widen `ef` by how selective
            # the filter is, so a filtered search still fills its k (exhaustive when the filter keeps few rows)
            ef = max(k, 64)
            if expr:
                total, kept = self.count(), self._count(self.names["chunks"], expr)
                ef = min(max(total, 1), max(ef, int(2 * k * total / max(kept, 1))))
            params["params"] = {"ef": min(max(ef, k), 32_768)}
        res = self.client.search(self.names["chunks"], [q], anns_field="vec", limit=k, filter=expr,
                                 output_fields=[], search_params=params)
        out = [(int(h["id"]), float(h["distance"])) for h in res[0]]
        out.sort(key=lambda cs: (-cs[1], cs[0]))
        return out

    def keyword_search(self, terms: Sequence[str], k: int, filters: Filters | None = None,
                       weights: tuple[float, float, float] = DEFAULT_FIELD_WEIGHTS) -> list[tuple[int, float]]:
        """Weighted sum of per-field BM25, as FTS5's bm25() with column weights. Each field's top `k` gives the
        candidates; a candidate missing from a field's list that was cut at `k` gets that field's exact score by a
        second search restricted to the missing ids, so the sum does not depend on where a list was cut."""
        text = keyword_query(terms)
        if not text or k <= 0:
            return []
        limit = min(k, MAX_TOPK)
        expr = filter_expr(filters)
        fields = [(f, w) for f, w in zip(KEYWORD_FIELDS, weights) if w]
        per: dict[str, dict[int, float]] = {}
        cut: dict[str, bool] = {}
        for field, _ in fields:
            per[field] = self._bm25(field, text, limit, expr)
            cut[field] = len(per[field]) >= limit
        cands = set().union(*per.values()) if per else set()
        for field, _ in fields:
            missing = sorted(cands - per[field].keys())
            if cut[field] and missing:
                for i in range(0, len(missing), _BATCH):
                    ids = missing[i : i + _BATCH]
                    per[field].update(self._bm25(field, text, len(ids), f"id in {ids}"))
        scored = [(c, sum(w * per[f].get(c, 0.0) for f, w in fields)) for c in cands]
        scored.sort(key=lambda cs: (-cs[1], cs[0]))
        return scored[:k]

    def _bm25(self, field: str, text: str, limit: int, expr: str) -> dict[int, float]:
        res = self.client.search(self.names["chunks"], [text], anns_field=f"{field}_sp", limit=limit, filter=expr,
                                 output_fields=[], search_params={"metric_type": "BM25"})
        # Milvus Lite 3.x returns BM25 as a negative distance (smaller is better); a cluster returns the score
        return {int(h["id"]): abs(float(h["distance"])) for h in res[0]}

    # ---- reading -------------------------------------------------------------------------------------------
    def locate(self, chunk_ids: Sequence[int]) -> dict[int, tuple[str, int, int]]:
        ids = sorted({int(c) for c in chunk_ids})
        out: dict[int, tuple[str, int, int]] = {}
        for i in range(0, len(ids), _BATCH):
            part = ids[i : i + _BATCH]
            for r in self.client.query(self.names["chunks"], filter=f"id in {part}", limit=len(part),
                                       output_fields=["article_id", "start", "end"]):
                out[int(r["id"])] = (r["article_id"], int(r["start"]), int(r["end"]))
        return out

    def get_articles(self, ids: Iterable[str]) -> dict[str, Article]:
        ids = list(dict.fromkeys(ids))
        rows: dict[str, list[dict]] = {}
        for i in range(0, len(ids), _BATCH):
            for r in self._scan(self.names["articles"], f"article_id in {literal_list(ids[i : i + _BATCH])}",
                                _ARTICLE_FIELDS):
                rows.setdefault(r["article_id"], []).append(r)
        out = {}
        for aid, parts in rows.items():
            parts.sort(key=lambda r: r["part"])
            if len(parts) == parts[0]["n_parts"]:  # a write in progress shows nothing rather than part of it
                out[aid] = _article(parts[0], "".join(p["text"] for p in parts))
        return {a: out[a] for a in ids if a in out}

    def get_article(self, article_id: str) -> Article | None:
        return self.get_articles([article_id]).get(article_id)

    def _heads(self, fields: list[str]) -> Iterator[dict]:
        """Part 0 of every article (its metadata)."""
        return self._scan(self.names["articles"], "part == 0", ["article_id", *fields])

    def article_hashes(self) -> dict[str, str]:
        return {r["article_id"]: r["content_hash"] for r in self._heads(["content_hash"])}

    def article_origins(self) -> dict[str, str]:
        return {r["article_id"]: r["origin"] for r in self._heads(["origin"])}

    def list_articles(self) -> list[tuple[Article, int]]:
        counts = Counter(r["article_id"] for r in self._scan(self.names["chunks"], "", ["article_id"]))
        heads = [_article(r, "") for r in self._heads([f for f in _ARTICLE_FIELDS if f != "text"])]
        heads.sort(key=lambda a: (a.published_at, a.title, a.id))
        return [(a, counts.get(a.id, 0)) for a in heads]

    def sources(self) -> list[tuple[str, int]]:
        gen = self.generation()
        if self._sources is None or self._sources[0] != gen:
            counts = Counter(r["source"] for r in self._heads(["source"]) if r["source"])
            self._sources = (gen, sorted(counts.items()))
        return list(self._sources[1])

    def generation(self) -> int:
        return int(_read_meta(self.client, self.location, "generation") or 0)

    def count(self) -> int:
        return self._count(self.names["chunks"], "")

    def counts(self) -> tuple[int, int]:
        return self._count(self.names["articles"], "part == 0"), self.count()

    def _count(self, collection: str, expr: str) -> int:
        return int(self.client.query(collection, filter=expr, output_fields=["count(*)"])[0]["count(*)"])

    def _scan(self, collection: str, expr: str, fields: list[str]) -> Iterator[dict]:
        """Every row matching `expr`. One query when the result fits Milvus's result window (Milvus Lite has no
        timestamp service, which query_iterator asks for first), an iterator beyond it (a cluster has one)."""
        rows = self.client.query(collection, filter=expr, output_fields=fields, limit=MAX_TOPK)
        if len(rows) < MAX_TOPK:
            yield from rows
            return
        it = self.client.query_iterator(collection, batch_size=1000, filter=expr, output_fields=fields)
        try:
            while batch := it.next():
                yield from batch
        finally:
            it.close()

    # ---- quotes (who said what): kept on the article's part 0 ----------------------------------------------
    def quote_rows(self, article_ids: Iterable[str] | None = None) -> list[dict]:
        expr = "part == 0" if article_ids is None else f"part == 0 and article_id in {literal_list(list(article_ids))}"
        rows = [{"article_id": r["article_id"], **q} for r in self._scan(self.names["articles"], expr,
                                                                       ["article_id", "quotes"])
                for q in (r["quotes"] or {}).get("rows", [])]
        rows.sort(key=lambda q: (q["article_id"], q["start"]))
        return rows

    def quote_unscanned(self, version: int) -> list[str]:
        return [r["article_id"] for r in self._heads(["content_hash", "quotes"])
                if (r["quotes"] or {}).get("version") != version
                or (r["quotes"] or {}).get("hash") != r["content_hash"]]

    def shared_secret(self, key: str = "ui_secret") -> str:
        """A secret every process on this index shares (the chat's browser-state key: `rag serve` replicas behind a
        load balancer must all read a browser's saved chats). Made by the first process that asks."""
        import secrets

        value = _read_meta(self.client, self.location, key)
        if not value:
            from .schema import PLACEHOLDER

            self.client.upsert(self.names["meta"], [{"key": key, "value": secrets.token_urlsafe(24),
                                                     "_v": PLACEHOLDER}])
            value = _read_meta(self.client, self.location, key)  # two first starters: both read the last write
        return value

    # ---- housekeeping --------------------------------------------------------------------------------------
    def persist(self) -> None:
        for name in self.names.values():
            self.client.flush(name)  # searches right after bulk inserts are slow until segments are sealed

    def close(self) -> None:
        self.client.close()

    def record(self) -> dict:
        return {**self.manifest, "backend": self.backend, "location": self.location.spec}


def _article(r: dict, text: str) -> Article:
    return Article(r["article_id"], r["title"], text, r["source"], r["author"], r["published_at"], r["url"],
                   r["origin"], r["content_hash"])


def _manifest(client, loc: MilvusLocation) -> str | None:
    """The stored manifest (JSON text), None when the index was never (completely) created."""
    meta = names(loc.collection)["meta"]
    if not client.has_collection(meta):
        return None
    client.load_collection(meta)  # a collection of a reopened file or restarted server starts released
    return _read_meta(client, loc, "manifest")


def _read_meta(client, loc: MilvusLocation, key: str) -> str | None:
    rows = client.query(names(loc.collection)["meta"], filter=f"key == {literal(key)}", output_fields=["value"])
    return rows[0]["value"] if rows else None


__all__ = ["MilvusStore"]
