"""Rebuilding an index whose SQLite file is damaged (`rag doctor --fix`, see rag.storage.integrity).

Only what reads back whole is trusted: an article is kept when its stored content hash matches its fields, its
chunks' stored vectors are reused when every chunk of the article is present, in range and the right size (else
the article is chunked and embedded again). The new database is built in a hidden folder inside the index, the
damaged file is renamed with its WAL, the new one moved into place, and the recorded sources are indexed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError
from .integrity import (DAMAGED_TAG, IntegrityReport, RepairReport, _stamp, faiss_files, iter_rows, recorded_sources,
                        set_aside)
from .catalog import DB_NAME, MANIFEST_NAME
from .embedded import Store

_ARTICLE_COLS = "id, title, source, author, published_at, url, origin, content_hash, text"
_CHUNK_COLS = 'article_id, ordinal, start, "end", n_tokens, vector'


def salvage(root: Path, report: IntegrityReport, actions: list[str]) -> RepairReport:
    """Called with the write lock held."""
    from ..ingest import content_hash
    from ..schema import Article

    db = root / DB_NAME
    stamp = _stamp()
    manifest = _manifest(root, db)
    articles: dict[str, Article] = {}
    chunks: dict[str, list[tuple]] = {}
    conn = _open_damaged(db)
    if conn is not None:
        try:
            for r in iter_rows(conn, "articles", _ARTICLE_COLS):
                a = _article(r)
                if a is not None and content_hash(a.title, a.source, a.author, a.published_at, a.url,
                                                  a.text) == a.content_hash:
                    articles[a.id] = a
            for r in iter_rows(conn, "chunks", _CHUNK_COLS):
                if isinstance(r[0], str) and r[0] in articles:
                    chunks.setdefault(r[0], []).append(r)
        finally:
            conn.close()
    work = root / f".salvage-{stamp}"
    shutil.rmtree(work, ignore_errors=True)
    import rag

    reindexed = 0
    try:
        index = _create(work, manifest) if manifest else rag.Index.open(work)
        try:
            reused = _write(index, articles, chunks, int(index.manifest["dim"]))
            actions.append(f"salvaged {len(articles)} articles from the damaged SQLite file "
                           f"({reused} with their stored vectors, {len(articles) - reused} embedded again)")
            sources = [p for p in recorded_sources(root) if os.path.lexists(p)]
            if sources:
                before = index.stats()["articles"]
                rep = index.add(sources)
                reindexed = index.stats()["articles"] - before
                actions.append(f"indexed the recorded sources again ({len(sources)} paths): {reindexed} articles "
                               f"brought back, {rep.unchanged} already salvaged")
            total = index.stats()["articles"]
        finally:
            index.close()
        with contextlib.suppress(FileNotFoundError):
            (work / "write.lock").unlink()
        kept = set_aside(db, stamp)
        for _, p in faiss_files(root):  # ids of the new database start afresh: old vectors would be wrong
            os.replace(p, p.with_name(f"{p.name}.{DAMAGED_TAG}-{stamp}"))
        os.replace(work / DB_NAME, db)
        os.replace(work / MANIFEST_NAME, root / MANIFEST_NAME)
        for _, p in faiss_files(work):
            p.unlink()  # built before the sources were read again: the fresh one below is current
    finally:
        shutil.rmtree(work, ignore_errors=True)
    actions.append(f"kept the damaged file as {kept.name}")
    store = Store.open(root, create=False)
    try:
        store.vectors()
    finally:
        store.close()
    if total == 0:
        raise IndexCorruptError(f"nothing could be recovered from the damaged index at {root} (kept as {kept.name}) "
                                f"and no recorded sources exist; rebuild it with: rag index PATH --index {root}")
    return RepairReport(root, tuple(actions), total, salvaged=len(articles), reindexed=reindexed, kept=kept.name)


def _open_damaged(db: Path) -> sqlite3.Connection | None:
    try:
        with open(db, "rb") as f:
            if not f.read(16).startswith(b"SQLite format 3"):
                return None
        # read-only: a damaged file must not be checkpointed or otherwise written by reading it
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        # a schema that does not parse whole (a truncated file) would make every query fail; this reads it anyway
        conn.execute("PRAGMA writable_schema=ON")
        conn.execute("SELECT 1").fetchall()
        return conn
    except (OSError, sqlite3.Error):
        return None


def _manifest(root: Path, db: Path) -> dict | None:
    """The manifest from the damaged SQLite file, else from manifest.json; None: the defaults of a new index."""
    conn = _open_damaged(db)
    if conn is not None:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
            if row:
                return json.loads(row[0])
        except (sqlite3.Error, ValueError):
            pass
        finally:
            conn.close()
    try:
        return json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _create(work: Path, manifest: dict):
    """A new empty index with the damaged one's settings (embedder, chunking), so its vectors stay valid."""
    import rag

    from ..chunking import ChunkSettings

    keep = {k: v for k, v in manifest.items() if k not in ("created_at", "format_version")}
    Store.open(work, manifest=keep, create=True).close()
    return rag.Index.open(work, chunking=ChunkSettings(manifest["chunk_tokens"], manifest["overlap_tokens"]))


def _article(r: tuple):
    from ..schema import Article

    if not all(isinstance(x, str) for x in r):
        return None
    aid, title, source, author, published_at, url, origin, chash, text = r
    return Article(aid, title, text, source, author, published_at, url, origin, chash)


def _write(index, articles: dict, chunks: dict[str, list[tuple]], dim: int) -> int:
    """Store the salvaged articles; returns how many kept their stored vectors."""
    from ..chunking import chunk_article
    from ..schema import Chunk

    reused = 0
    redo = []
    store = index._store
    with store.writer() as w:
        for aid, a in articles.items():
            rows = sorted(chunks.get(aid, []), key=lambda r: r[1])
            whole = bool(rows) and [r[1] for r in rows] == list(range(len(rows))) and all(
                isinstance(r[2], int) and isinstance(r[3], int) and 0 <= r[2] < r[3] <= len(a.text)
                and isinstance(r[5], bytes) and len(r[5]) == dim * 4 for r in rows)
            if whole:
                vecs = np.frombuffer(b"".join(r[5] for r in rows), dtype=np.float32).reshape(len(rows), dim)
                whole = bool(np.isfinite(vecs).all()) and bool((np.abs(np.linalg.norm(vecs, axis=1) - 1) < 1e-2).all())
            if not whole:
                redo.append(a)
                continue
            cs = [Chunk(aid, r[1], r[2], r[3], a.text[r[2]:r[3]], r[4]) for r in rows]
            w.put_article(a, cs, vecs)
            reused += 1
        w.commit()
        batch = [(a, chunk_article(a, index.chunking)) for a in redo]
        batch = [(a, c) for a, c in batch if c]
        if batch:
            index._indexer._embed_and_write(w, batch, 0, sum(len(c) for _, c in batch), None)
    return reused
