"""`rag.Index`: the one object every surface (Python, CLI, UI, eval) works through."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .chunking import ChunkSettings, chunk_article
from .embedding import DEFAULT_EMBEDDER, get_embedder
from .errors import IndexNotFoundError, UserError
from .retrieval import RetrievalConfig, check_query, dense_search, fts_match, keyword_terms, rrf, sentence_match
from .schema import Answer, Article, Chunk, Hit, IndexReport, Skipped
from .query import OutletMatcher, analyze
from .store import Filters, Store
from .tokens import TOKENIZER_NAME

DEFAULT_INDEX = "index"
# Version of what is embedded for a chunk (header layout); part of the manifest so that a change forces a rebuild.
EMBED_TEXT_VERSION = 1
COMMIT_EVERY_CHUNKS = 256
# A 45 MB text file is ~46 minutes of embedding on 2 cores: larger files are skipped unless the limit is raised.
MAX_FILE_BYTES = 20_000_000

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


def default_index_path() -> Path:
    return Path(os.environ.get("RAG_INDEX") or DEFAULT_INDEX)


def origin_file(origin: str) -> str:
    """The file an article came from: 'feed.json#12' -> 'feed.json' (a '#' elsewhere in a name is kept)."""
    return re.sub(r"#\d+$", "", origin)


def embedding_text(article: Article, chunk: Chunk) -> str:
    """What the embedder sees: a short contextual header, then the chunk. Hits still return article text only."""
    meta = ", ".join(x for x in (article.source, article.published_at[:10]) if x)
    head = f"{article.title} ({meta})" if meta else article.title
    return f"{head}\n{chunk.text}" if head else chunk.text


@dataclass(frozen=True)
class ArticleInfo:
    id: str
    title: str
    source: str
    published_at: str
    url: str
    origin: str
    chunks: int

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "source": self.source, "published_at": self.published_at,
                "url": self.url, "chunks": self.chunks}


class Index:
    """A persistent, incrementally updatable index of articles.

    >>> index = Index.open("index/")
    >>> index.add(["seeds/"])
    >>> index.search("Bulgaria Russia intelligence", k=5)
    """

    def __init__(self, store: Store, *, embedder_name: str, chunking: ChunkSettings, retrieval: RetrievalConfig):
        self._store = store
        self.path = store.root
        self.embedder_name = embedder_name
        self.chunking = chunking
        self.retrieval = retrieval
        self._add_lock = threading.Lock()
        self._matcher: tuple[int, OutletMatcher] | None = None
        self._allowed_cache: tuple[int, dict] = (-1, {})

    # ---- opening -------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, create: bool = True, embedder: str | None = None,
             chunking: ChunkSettings | None = None, retrieval: RetrievalConfig | None = None) -> "Index":
        """Open the index at `path` (default `index/` or $RAG_INDEX); create an empty one there if `create`.

        An existing index keeps the embedder and chunk settings it was built with; asking for a different
        embedder raises IndexMismatchError.
        """
        root = Path(path) if path is not None else default_index_path()
        chunking = chunking or ChunkSettings()
        if not create and not Store.exists(root):
            raise IndexNotFoundError(f"no index at {root}; build one with: rag index PATH --index {root}")
        expected = None
        if embedder is not None or not Store.exists(root):
            emb = get_embedder(embedder or DEFAULT_EMBEDDER)
            expected = {"embedder": emb.id, "tokenizer": TOKENIZER_NAME}
            if not Store.exists(root):
                expected.update(cls._build_manifest(emb, chunking))
        store = Store.open(root, manifest=expected, create=create)
        m = store.manifest
        chunking = ChunkSettings(m["chunk_tokens"], m["overlap_tokens"])
        return cls(store, embedder_name=m["embedder"], chunking=chunking, retrieval=retrieval or RetrievalConfig())

    @staticmethod
    def _build_manifest(emb, chunking: ChunkSettings) -> dict:
        import faiss
        import sentence_transformers

        emb.model  # loads, and learns the dimension
        dim = emb.dim
        return {
            "embedder": emb.id, "dim": int(dim), "embedder_precision": emb.precision,
            "tokenizer": TOKENIZER_NAME, "chunk_tokens": chunking.chunk_tokens,
            "overlap_tokens": chunking.overlap_tokens, "embed_text_version": EMBED_TEXT_VERSION,
            "library_version": __version__, "faiss_version": faiss.__version__,
            "sentence_transformers_version": sentence_transformers.__version__,
        }

    @property
    def manifest(self) -> dict:
        return dict(self._store.manifest)

    @property
    def embedder(self):
        return get_embedder(self.embedder_name, precision=self._store.manifest.get("embedder_precision", "auto"))

    def warm(self) -> None:
        """Load the embedder and the vectors now rather than on the first query."""
        self.embedder.embed_query("warm up")
        self._store.vectors()

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- writing -------------------------------------------------------------------------------------------
    def add(self, paths: Iterable[str | os.PathLike] | str | os.PathLike, *, prune: bool = False,
            progress: ProgressFn | None = None, lock_timeout: float = 60.0,
            commit_every: int = COMMIT_EVERY_CHUNKS, max_file_bytes: int = MAX_FILE_BYTES,
            follow_links: bool = False, include_code: bool = False) -> IndexReport:
        """Ingest, chunk, embed and store the articles under `paths`.

        Unchanged articles (same content hash) are skipped; changed ones are replaced; unreadable inputs are
        reported in `skipped`. With `prune`, articles that came from files under `paths` that no longer exist
        (or records no longer in their file) are removed. Work is committed whenever about `commit_every` chunks
        are embedded (whole articles only), so an interrupted run keeps what it finished and a re-run completes it.

        A path that does not exist, or a folder with nothing to read, is a UserError (nothing is written). Files
        over `max_file_bytes` are skipped with a reason; see `rag.ingest.iter_inputs` for `follow_links` (symbolic
        links out of the given folders) and `include_code` (.py, .js... files).
        """
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        paths = [Path(p) for p in paths]
        if commit_every < 1 or max_file_bytes < 1:
            raise UserError("commit_every and max_file_bytes must be at least 1")
        items = check_inputs(paths, max_file_bytes=max_file_bytes, follow_links=follow_links,
                             include_code=include_code)
        with self._add_lock, self._store.writer(lock_timeout=lock_timeout) as w:
            hashes = self._store.article_hashes()
            seen: dict[str, Article] = {}
            skipped: list[Skipped] = []
            for item in items:
                if isinstance(item, Skipped):
                    skipped.append(item)
                elif item.id in seen:
                    skipped.append(Skipped(item.origin, f"duplicate of {seen[item.id].origin} (same id {item.id})"))
                else:
                    seen[item.id] = item
            todo = [a for a in seen.values() if hashes.get(a.id) != a.content_hash]
            unchanged = len(seen) - len(todo)
            pieces = []
            for a in todo:
                chunks = chunk_article(a, self.chunking)
                if chunks:
                    pieces.append((a, chunks))
                else:
                    skipped.append(Skipped(a.origin, "no text left after cleaning"))
            added = sum(1 for a, _ in pieces if a.id not in hashes)
            updated = len(pieces) - added
            total = sum(len(c) for _, c in pieces)
            done = 0
            batch: list[tuple[Article, list[Chunk]]] = []
            for a, chunks in pieces:
                batch.append((a, chunks))
                if sum(len(c) for _, c in batch) >= commit_every:
                    done = self._embed_and_write(w, batch, done, total, progress)
                    batch = []
            if batch:
                done = self._embed_and_write(w, batch, done, total, progress)
            removed = self._prune(w, paths, set(seen)) if prune else 0
            w.commit()
            from .integrity import record_sources  # what `rag doctor --fix` re-reads if SQLite is ever lost

            record_sources(self.path, [p for p in paths if os.path.lexists(p)])
        return IndexReport(added=added, updated=updated, unchanged=unchanged, removed=removed,
                           chunks_embedded=done, skipped=tuple(skipped))

    def _embed_and_write(self, w, batch, done: int, total: int, progress: ProgressFn | None) -> int:
        texts = [embedding_text(a, c) for a, chunks in batch for c in chunks]
        base = done

        def step(n: int, _t: int) -> None:
            if progress:
                progress("embed", base + n, total)

        vecs = self.embedder.embed(texts, progress=step)
        i = 0
        for a, chunks in batch:
            w.put_article(a, chunks, vecs[i : i + len(chunks)])
            i += len(chunks)
        w.commit()
        return done + len(texts)

    def _prune(self, w, paths: Sequence[Path], seen_ids: set[str]) -> int:
        roots = [str(p.resolve()) for p in paths]
        removed = 0
        for aid, origin in self._store.article_origins().items():
            if aid in seen_ids:
                continue
            file = origin_file(origin)
            resolved = str(Path(file).resolve())
            under = any(resolved == r or resolved.startswith(r.rstrip("/") + "/") for r in roots)
            if under:
                w.delete_article(aid)
                removed += 1
        return removed

    def remove(self, ids: Iterable[str], *, lock_timeout: float = 60.0) -> list[str]:
        """Delete articles by id; returns the ids that existed. Unknown ids raise UserError naming them."""
        ids = list(dict.fromkeys(ids))
        known = self._store.article_hashes()
        missing = [i for i in ids if i not in known]
        if missing:
            raise UserError(f"no article with id {', '.join(missing)} in {self.path}; `rag list` shows the ids")
        with self._add_lock, self._store.writer(lock_timeout=lock_timeout) as w:
            for i in ids:
                w.delete_article(i)
            w.commit()
        return ids

    # ---- reading -------------------------------------------------------------------------------------------
    def articles(self) -> list[ArticleInfo]:
        return [ArticleInfo(a.id, a.title, a.source, a.published_at, a.url, a.origin, n)
                for a, n in self._store.list_articles()]

    def get_article(self, article_id: str) -> Article | None:
        return self._store.get_article(article_id)

    def sources(self) -> list[tuple[str, int]]:
        """Outlets in the index with their article counts."""
        return self._store.sources()

    def stats(self) -> dict:
        n_articles, n_chunks = self._store.counts()
        m = self._store.manifest
        return {"path": str(self.path), "articles": n_articles, "chunks": n_chunks, "embedder": m["embedder"],
                "dim": m["dim"], "chunk_tokens": m["chunk_tokens"], "overlap_tokens": m["overlap_tokens"]}

    def search(self, query: str, k: int = 10, *, sources: Sequence[str] | None = None,
               date_from: str | None = None, date_to: str | None = None) -> list[Hit]:
        """Hybrid search. `sources` limits to outlets; `date_from`/`date_to` are ISO dates (inclusive).

        Outlets and dates that the query itself names (from the index's own metadata) get routed sub-searches
        whose rankings are fused with the global one, so "as reported by The Verge and TechCrunch" finds both.
        """
        query = check_query(query)
        _check_k(k)
        cfg = self.retrieval
        user = Filters(tuple(sources or ()), date_from, date_to)
        analysis = analyze(query, self._outlet_matcher() if cfg.route_outlets and not user.sources else None)
        n = max(cfg.candidates, k)
        qvec = self.embedder.embed_query(query) if cfg.dense_weight > 0 else None
        base, signals = self._ranking(qvec, keyword_terms(query), user, n)
        rankings = [(base, cfg.global_weight)]
        core_terms = keyword_terms(analysis.core)
        for outlet in analysis.outlets:
            sub, _ = self._ranking(qvec, core_terms, Filters((outlet,), date_from, date_to), n)
            rankings.append((sub, cfg.route_weight))
        if cfg.route_dates:
            for day in analysis.dates:
                f = Filters(user.sources or analysis.outlets, date_from, date_to, (day,))
                sub, _ = self._ranking(qvec, core_terms, f, n)
                rankings.append((sub, cfg.route_weight))
        if len(rankings) == 1:
            ranked = base
        else:
            fused = rrf([([c for c, _ in r], w) for r, w in rankings], cfg.rrf_k)
            ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        if cfg.rescore_depth > 0 and ranked:
            ranked = self._rescore(keyword_terms(analysis.core), ranked, cfg)
        return self._hits(ranked[: max(k * 3, n)], k, signals)

    def _rescore(self, terms: list[str], ranked: list[tuple[int, float]], cfg: RetrievalConfig) -> list[tuple[int, float]]:
        head, tail = ranked[: cfg.rescore_depth], ranked[cfg.rescore_depth:]
        rows = self._store.get_chunks([c for c, _ in head])
        arts = self._store.get_articles(r[0] for r in rows.values())
        texts = [arts[rows[c][0]].text[rows[c][1]:rows[c][2]] if c in rows and rows[c][0] in arts else "" for c, _ in head]
        match = sentence_match(terms, texts)
        top = head[0][1] or 1.0
        scored = [(c, s / top + cfg.rescore_weight * m) for (c, s), m in zip(head, match)]
        scored.sort(key=lambda kv: (-kv[1], kv[0]))
        floor = min(s for _, s in scored) if scored else 0.0
        # keep the tail strictly below the re-scored head
        return scored + [(c, min(floor, s / top) - 1.0) for c, s in tail]

    def _ranking(self, qvec, terms: list[str], f: Filters, n: int) -> tuple[list[tuple[int, float]], dict]:
        """Dense + keyword candidates under filters `f`, fused by weighted reciprocal rank."""
        cfg = self.retrieval
        allowed = self._allowed(f) if f.active else None
        dense = dense_search(self._store.vectors(), qvec, n, allowed) if qvec is not None else []
        keyword = self._store.keyword_search(fts_match(terms), n, cfg.fts_weights, f) if terms else []
        fused = rrf([([c for c, _ in dense], cfg.dense_weight), ([c for c, _ in keyword], cfg.keyword_weight)],
                    cfg.rrf_k)
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        signals = {"dense": {c: r for r, (c, _) in enumerate(dense, 1)},
                   "keyword": {c: r for r, (c, _) in enumerate(keyword, 1)}}
        return ranked, signals

    def _allowed(self, f: Filters) -> np.ndarray:
        """Chunk ids under filters `f`, cached per index generation (routed searches repeat the same outlets)."""
        gen = self._store.generation()
        if self._allowed_cache[0] != gen:
            self._allowed_cache = (gen, {})
        cache = self._allowed_cache[1]
        ids = cache.get(f)
        if ids is None:
            if len(cache) > 256:
                cache.clear()
            ids = cache[f] = self._store.chunk_ids_where(f)
        return ids

    def _outlet_matcher(self) -> OutletMatcher:
        gen = self._store.generation()
        if self._matcher is None or self._matcher[0] != gen:
            self._matcher = (gen, OutletMatcher([s for s, _ in self._store.sources()]))
        return self._matcher[1]

    def _hits(self, ranked: list[tuple[int, float]], k: int, signals: dict[str, dict[int, int]]) -> list[Hit]:
        rows = self._store.get_chunks([c for c, _ in ranked])
        # deleted by a concurrent writer after ranking -> absent from rows
        ranked = [(c, s) for c, s in ranked if c in rows]
        cap = self.retrieval.max_per_article
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
        arts = self._store.get_articles(rows[c][0] for c, _ in ranked)
        hits: list[Hit] = []
        for cid, score in ranked:
            aid, start, end = rows[cid]
            if aid not in arts:
                continue
            a = arts[aid]
            hits.append(Hit(cid, a, a.text[start:end], start, end, float(score), len(hits) + 1,
                            {name: ranks.get(cid) for name, ranks in signals.items()}))
        return hits

    # ---- answering -----------------------------------------------------------------------------------------
    def ask(self, question: str, model: str = "extractive", *, k: int | None = None, **options) -> Answer:
        """Answer from the indexed articles, every claim cited; `refused=True` when they don't say."""
        from .answering import answer

        _check_k(k)
        return answer(self, question, model=model, k=k, **options)

    def ask_stream(self, question: str, model: str = "extractive", *, k: int | None = None, **options):
        """Like `ask`, but yields text pieces as they are generated and finally the Answer."""
        from .answering import answer_stream

        _check_k(k)
        return answer_stream(self, question, model=model, k=k, **options)

    def chat(self, model: str = "extractive", **options):
        """A conversation: follow-ups are rewritten into standalone questions using the history."""
        from .chat import Chat

        return Chat(self, model=model, **options)


def check_inputs(paths: Sequence[str | os.PathLike], *, first_only: bool = False, **kw) -> list:
    """What `rag.ingest.iter_inputs(paths, **kw)` yields (only the first item with `first_only`); UserError for
    a path that does not exist or when there is nothing at all to read."""
    from itertools import islice

    from .ingest import iter_inputs

    missing = [str(p) for p in paths if not os.path.lexists(p)]
    if missing:
        raise UserError(f"no such file or directory: {', '.join(missing)}")
    items = list(islice(iter_inputs(paths, **kw), 1 if first_only else None))
    if not items:
        raise UserError(f"nothing to index in {', '.join(map(str, paths))}: no article files found (.txt, .md, "
                        ".html, .pdf, .json, .jsonl; hidden files are never read)")
    return items


def _check_k(k: int | None) -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise UserError(f"k must be a whole number of at least 1, not {k!r}")


def _now_ms() -> float:
    return time.perf_counter() * 1000.0


__all__ = ["Index", "ArticleInfo", "default_index_path", "embedding_text", "np"]
