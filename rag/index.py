"""`rag.Index`: the one object every surface (Python, CLI, UI, eval) works through."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .chunking import ChunkSettings
from .embedding import DEFAULT_EMBEDDER, get_embedder
from .errors import IndexNotFoundError
from .ingest.indexer import (
    COMMIT_EVERY_CHUNKS, EMBED_TEXT_VERSION, MAX_FILE_BYTES, Indexer, ProgressFn, embedding_text, origin_file,
)
from .retrieval import RetrievalConfig, Retriever, check_query
from .retrieval.retriever import check_k
from .retrieval.timeframe import TimeIntent, time_intent
from .schema import Answer, Article, Hit, IndexReport
from .storage import ChunkStore, Store
from .storage.location import MilvusLocation, parse_location
from .tokens import TOKENIZER_NAME

DEFAULT_INDEX = "index"


def default_index_path() -> Path:
    """The default index folder ($RAG_INDEX or ./index), for the tools that work on the embedded store's files."""
    return Path(os.environ.get("RAG_INDEX") or DEFAULT_INDEX)


def index_location(spec: str | os.PathLike | None = None) -> Path | MilvusLocation:
    """Where the index named by `spec` (or $RAG_INDEX, or ./index) lives: a folder, or a Milvus URI
    (rag/storage/location.py: `milvus://HOST:PORT/COLLECTION`, `milvus-lite:///path/file.db`)."""
    return parse_location(spec if spec is not None else (os.environ.get("RAG_INDEX") or DEFAULT_INDEX))


def index_exists(where: Path | MilvusLocation) -> bool:
    if isinstance(where, MilvusLocation):
        from .storage.milvus.store import MilvusStore

        return MilvusStore.exists(where)
    return Store.exists(where)


def _open_store(where: Path | MilvusLocation, manifest: dict | None, create: bool) -> ChunkStore:
    if isinstance(where, MilvusLocation):
        from .storage.milvus.store import MilvusStore

        return MilvusStore.open(where, manifest=manifest, create=create)
    return Store.open(where, manifest=manifest, create=create)


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

    A facade over three parts built with their collaborators: the indexer (rag.ingest.indexer: store + embedder +
    chunk settings), the retriever (rag.retrieval: store + query embedder) and the answerer (rag.answering: the
    retriever, the store's outlets and quotes, the embedder). None of them holds the facade.

    >>> index = Index.open("index/")
    >>> index.add(["seeds/"])
    >>> index.search("Bulgaria Russia intelligence", k=5)
    """

    def __init__(self, store: ChunkStore, *, embedder_name: str, chunking: ChunkSettings, retrieval: RetrievalConfig):
        self._store = store
        self.path = store.root
        self.embedder_name = embedder_name
        self.chunking = chunking
        self._indexer = Indexer(store, lambda: self.embedder, chunking)
        self._retriever = Retriever(store, lambda q: self.embedder.embed_query(q), retrieval)
        self._answerer = None   # built on the first question: answering pulls in the model registry

    @property
    def answerer(self):
        """The answerer over this index's retriever (rag.answering.answer.Answerer)."""
        if self._answerer is None:
            from .answering.answer import Answerer

            self._answerer = Answerer(self._retriever, self._store, lambda: self.embedder)
        return self._answerer

    @property
    def store(self) -> ChunkStore:
        """The store under this index (for tools and tests that inspect it; the API above is the stable one)."""
        return self._store

    @property
    def retrieval(self) -> RetrievalConfig:
        return self._retriever.config

    @retrieval.setter
    def retrieval(self, config: RetrievalConfig) -> None:
        self._retriever.config = config

    # ---- opening -------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, create: bool = True, embedder: str | None = None,
             chunking: ChunkSettings | None = None, retrieval: RetrievalConfig | None = None) -> "Index":
        """Open the index at `path` (default `index/` or $RAG_INDEX); create an empty one there if `create`.

        `path` is a folder (the embedded SQLite + FAISS store) or a Milvus URI: `milvus://HOST:PORT/COLLECTION`
        (a Milvus server or a loopback Milvus Lite server) or `milvus-lite:///abs/path/file.db`.
        An existing index keeps the embedder and chunk settings it was built with; asking for a different
        embedder raises IndexMismatchError.
        """
        root = index_location(path)
        chunking = chunking or ChunkSettings()
        exists = index_exists(root)
        if not create and not exists:
            raise IndexNotFoundError(f"no index at {root}; build one with: rag index PATH --index {root}")
        expected = None
        if embedder is not None or not exists:
            emb = get_embedder(embedder or DEFAULT_EMBEDDER)
            expected = {"embedder": emb.id, "tokenizer": TOKENIZER_NAME}
            if not exists:
                expected.update(cls._build_manifest(emb, chunking))
        store = _open_store(root, expected, create)
        m = store.manifest
        chunking = ChunkSettings(m["chunk_tokens"], m["overlap_tokens"])
        return cls(store, embedder_name=m["embedder"], chunking=chunking, retrieval=retrieval or RetrievalConfig())

    @staticmethod
    def _build_manifest(emb, chunking: ChunkSettings) -> dict:
        import sentence_transformers

        from .storage.vectors import faiss_version

        emb.model  # loads, and learns the dimension
        dim = emb.dim
        return {
            "embedder": emb.id, "dim": int(dim), "embedder_precision": emb.precision,
            "tokenizer": TOKENIZER_NAME, "chunk_tokens": chunking.chunk_tokens,
            "overlap_tokens": chunking.overlap_tokens, "embed_text_version": EMBED_TEXT_VERSION,
            "library_version": __version__, "faiss_version": faiss_version(),
            "sentence_transformers_version": sentence_transformers.__version__,
        }

    @property
    def manifest(self) -> dict:
        return dict(self._store.manifest)

    @property
    def embedder(self):
        return get_embedder(self.embedder_name, precision=self._store.manifest.get("embedder_precision", "auto"))

    def warm(self) -> None:
        """Load the embedders and the vectors now rather than on the first query."""
        self.embedder.embed_query("warm up")
        self.embedder.model  # the passage model too: the answer's evidence check encodes sentences with it
        self._store.warm()

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
            follow_links: bool = False, include_code: bool = False, engine: str = "local",
            ray_address: str | None = None, ray_actors: int | None = None) -> IndexReport:
        """Ingest, chunk, embed and store the articles under `paths`.

        Unchanged articles (same content hash) are skipped; changed ones are replaced; unreadable inputs are
        reported in `skipped`. With `prune`, articles that came from files under `paths` that no longer exist
        (or records no longer in their file) are removed. Work is committed whenever about `commit_every` chunks
        are embedded (whole articles only), so an interrupted run keeps what it finished and a re-run completes it.
        `engine="ray"` runs reading, chunking and embedding as a Ray Data pipeline (local Ray, or the cluster at
        `ray_address`, with `ray_actors` embedding actors); same ids, rules and report.
        """
        return self._indexer.add(paths, prune=prune, progress=progress, lock_timeout=lock_timeout,
                                 commit_every=commit_every, max_file_bytes=max_file_bytes,
                                 follow_links=follow_links, include_code=include_code, engine=engine,
                                 ray_address=ray_address, ray_actors=ray_actors)

    def remove(self, ids: Iterable[str], *, lock_timeout: float = 60.0) -> list[str]:
        """Delete articles by id; returns the ids that existed. Unknown ids raise UserError naming them."""
        return self._indexer.remove(ids, lock_timeout=lock_timeout)

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

    def search(self, query: str, k: int = 10, *, sources: Sequence[str] | str | None = None,
               date_from: str | None = None, date_to: str | None = None, as_of=None,
               include_undated: bool = False) -> list[Hit]:
        """Hybrid search. `sources` limits to outlets (matched case-insensitively; a string is one outlet);
        `date_from`/`date_to` are dates in any accepted form, inclusive (rag.retrieval.timeframe.ACCEPTED); with `date_to`,
        undated articles are left out unless `include_undated`. Unknown outlets and unreadable dates raise
        FilterError. With `as_of` (the reference date), time words in the query ("last week", "in October",
        "latest") become a date window or put the newest articles first (see `search_window`).

        Outlets and dates that the query itself names (from the index's own metadata) get routed sub-searches
        whose rankings are fused with the global one, so "as reported by The Verge and TechCrunch" finds both.
        """
        return self._retriever.search(query, k, sources=sources, date_from=date_from, date_to=date_to, as_of=as_of,
                                      include_undated=include_undated)

    def search_window(self, query: str, as_of=None) -> TimeIntent:
        """The date window and recency preference that `search(query, as_of=...)` applies, for display."""
        return time_intent(check_query(query), as_of)

    def quotes(self, query: str | None = None, *, speaker: str | None = None, sources=None,
               since: str | None = None, until: str | None = None, as_of=None, include_undated: bool = False,
               limit: int = 50) -> list:
        """Who said what: quotes (direct and reported) with speaker, role and organisation, best match first.

        `query` ranks by the words of the quote and its speaker; `speaker` keeps one person or body (any of its
        names: "Mitov", "Daniel Mitov", "Bulgaria" for its officials); `sources`, `since`, `until` filter like
        `search`. Each result's `quote` is the article text [start:end].
        """
        from .news.search import find_quotes

        return find_quotes(self._store, query, speaker=speaker, sources=sources, since=since, until=until, as_of=as_of,
                           include_undated=include_undated, limit=limit)

    # ---- answering -----------------------------------------------------------------------------------------
    def ask(self, question: str, model: str = "extractive", *, k: int | None = None, **options) -> Answer:
        """Answer from the indexed articles, every claim cited; `refused=True` when they don't say."""
        check_k(k)
        return self.answerer.answer(question, model=model, k=k, **options)

    def ask_stream(self, question: str, model: str = "extractive", *, k: int | None = None, **options):
        """Like `ask`, but yields text pieces as they are generated and finally the Answer."""
        check_k(k)
        return self.answerer.stream(question, model=model, k=k, **options)

    def chat(self, model: str = "extractive", **options):
        """A conversation: follow-ups are rewritten into standalone questions using the history."""
        from .answering.chat import Chat

        return Chat(self, model=model, **options)


__all__ = ["Index", "ArticleInfo", "default_index_path", "embedding_text", "index_exists", "index_location",
           "origin_file"]
