"""The indexer: ingest, chunk, embed and write articles to the store, incrementally and in committed batches."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..chunking import ChunkSettings, chunk_article
from ..errors import UserError
from ..news.quotes import QUOTES_VERSION, extract_quotes
from ..schema import Article, Chunk, IndexReport, Skipped
from ..storage import Store

COMMIT_EVERY_CHUNKS = 256
# A 45 MB text file is ~46 minutes of embedding on 2 cores: larger files are skipped unless the limit is raised.
MAX_FILE_BYTES = 20_000_000
# Version of what is embedded for a chunk (header layout); part of the manifest so that a change forces a rebuild.
EMBED_TEXT_VERSION = 1

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


def origin_file(origin: str) -> str:
    """The file an article came from: 'feed.json#12' -> 'feed.json' (a '#' elsewhere in a name is kept)."""
    return re.sub(r"#\d+$", "", origin)


def embedding_text(article: Article, chunk: Chunk) -> str:
    """What the embedder sees: a short contextual header, then the chunk. Hits still return article text only."""
    meta = ", ".join(x for x in (article.source, article.published_at[:10]) if x)
    head = f"{article.title} ({meta})" if meta else article.title
    return f"{head}\n{chunk.text}" if head else chunk.text


def check_inputs(paths: Sequence[str | os.PathLike], *, first_only: bool = False, **kw) -> list:
    """What `rag.ingest.inputs.iter_inputs(paths, **kw)` yields (only the first item with `first_only`);
    UserError for a path that does not exist or when there is nothing at all to read."""
    from itertools import islice

    from .inputs import iter_inputs

    missing = [str(p) for p in paths if not os.path.lexists(p)]
    if missing:
        raise UserError(f"no such file or directory: {', '.join(missing)}")
    items = list(islice(iter_inputs(paths, **kw), 1 if first_only else None))
    if not items:
        raise UserError(f"nothing to index in {', '.join(map(str, paths))}: no article files found (.txt, .md, "
                        ".html, .pdf, .json, .jsonl; hidden files are never read)")
    return items


class Indexer:
    """Writes to one store. `embedder` returns the (lazily loaded) embedder."""

    def __init__(self, store: Store, embedder: Callable[[], object], chunking: ChunkSettings):
        self.store = store
        self.embedder = embedder
        self.chunking = chunking
        self._lock = threading.Lock()  # one add/remove at a time per process (the write lock covers processes)

    def add(self, paths: Iterable[str | os.PathLike] | str | os.PathLike, *, prune: bool = False,
            progress: ProgressFn | None = None, lock_timeout: float = 60.0,
            commit_every: int = COMMIT_EVERY_CHUNKS, max_file_bytes: int = MAX_FILE_BYTES,
            follow_links: bool = False, include_code: bool = False, engine: str = "local",
            ray_address: str | None = None, ray_actors: int | None = None) -> IndexReport:
        """`engine="ray"` reads, chunks and embeds as a Ray Data pipeline (rag.ingest.ray_engine); the rules
        (ids, skips, unchanged/updated, prune, commits of whole articles) are the same."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        paths = [Path(p) for p in paths]
        if commit_every < 1 or max_file_bytes < 1:
            raise UserError("commit_every and max_file_bytes must be at least 1")
        if engine not in ("local", "ray"):
            raise UserError(f"unknown engine {engine!r}: use local or ray")
        walk = {"max_file_bytes": max_file_bytes, "follow_links": follow_links, "include_code": include_code}
        if engine == "ray":
            from .ray_engine import RayEngine

            ray = RayEngine(address=ray_address, actors=ray_actors)
            items = ray.read(paths, **walk)
        else:
            items = check_inputs(paths, **walk)
        with self._lock, self.store.writer(lock_timeout=lock_timeout) as w:
            hashes = self.store.article_hashes()
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
            if engine == "ray":
                written, done, empty = ray.chunk_embed_write(
                    todo, self.chunking, self.embedder(), lambda batch: self._write(w, batch), commit_every,
                    progress)
            else:
                written, done, empty = self._chunk_embed_write(w, todo, commit_every, progress)
            skipped += [Skipped(a.origin, "no text left after cleaning") for a in empty]
            added = sum(1 for a in written if a.id not in hashes)
            updated = len(written) - added
            removed = self._prune(w, paths, set(seen)) if prune else 0
            self._backfill_quotes(w, {a.id for a in written})
            w.commit()
            if isinstance(self.store, Store):
                from ..storage.integrity import record_sources  # what `rag doctor --fix` re-reads if SQLite is lost

                record_sources(self.store.root, [p for p in paths if os.path.lexists(p)])
        return IndexReport(added=added, updated=updated, unchanged=unchanged, removed=removed,
                           chunks_embedded=done, skipped=tuple(skipped))

    def _chunk_embed_write(self, w, todo: list[Article], commit_every: int, progress: ProgressFn | None
                           ) -> tuple[list[Article], int, list[Article]]:
        """Chunk, embed and write `todo` in commits of whole articles; (written, chunks embedded, no chunks)."""
        pieces, empty = [], []
        for a in todo:
            chunks = chunk_article(a, self.chunking)
            (pieces.append((a, chunks)) if chunks else empty.append(a))
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
        return [a for a, _ in pieces], done, empty

    def _backfill_quotes(self, w, written: set[str]) -> None:
        # articles indexed before quotes existed (or by an older extractor) get them now: text only, no embedding
        for aid in self.store.quote_unscanned(QUOTES_VERSION):
            if aid not in written and (a := self.store.get_article(aid)) is not None:
                w.put_quotes(a, extract_quotes(a.text), QUOTES_VERSION)

    def _embed_and_write(self, w, batch, done: int, total: int, progress: ProgressFn | None) -> int:
        texts = [embedding_text(a, c) for a, chunks in batch for c in chunks]
        base = done

        def step(n: int, _t: int) -> None:
            if progress:
                progress("embed", base + n, total)

        vecs = self.embedder().embed(texts, progress=step)
        items, i = [], 0
        for a, chunks in batch:
            items.append((a, chunks, vecs[i : i + len(chunks)]))
            i += len(chunks)
        self._write(w, items)
        return done + len(texts)

    @staticmethod
    def _write(w, items: Sequence[tuple[Article, Sequence[Chunk], object]]) -> None:
        """Write whole articles (with their quotes) and commit them together."""
        w.put_articles([(a, chunks, vecs, (extract_quotes(a.text), QUOTES_VERSION)) for a, chunks, vecs in items])
        w.commit()

    def _prune(self, w, paths: Sequence[Path], seen_ids: set[str]) -> int:
        roots = [str(p.resolve()) for p in paths]
        removed = 0
        for aid, origin in self.store.article_origins().items():
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
        ids = list(dict.fromkeys(ids))
        known = self.store.article_hashes()
        missing = [i for i in ids if i not in known]
        if missing:
            raise UserError(f"no article with id {', '.join(missing)} in {self.store.root}; `rag list` shows the ids")
        with self._lock, self.store.writer(lock_timeout=lock_timeout) as w:
            for i in ids:
                w.delete_article(i)
            w.commit()
        return ids
