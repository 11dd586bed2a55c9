"""The catalog: SQLite holds the articles, their chunks (with the vectors as raw float32 blobs) and the FTS5 table.

Crash safety comes from one rule: SQLite is the source of truth and every change is one SQLite transaction. The
FAISS file (rag/storage/vectors/) is derived from the vectors stored here and caught up by generation: `meta`
holds a generation number that every commit increments. Readers never block: SQLite runs in WAL mode.
No pickle anywhere: metadata is JSON, vectors are raw float32 blobs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, RagError
from ..schema import Article
from .base import Filters
from .files import atomic_write_bytes, fsync_dir, write_lock

FORMAT_VERSION = 1
DB_NAME = "index.sqlite3"
MANIFEST_NAME = "manifest.json"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, author TEXT NOT NULL,
    published_at TEXT NOT NULL, url TEXT NOT NULL, origin TEXT NOT NULL, content_hash TEXT NOT NULL,
    text TEXT NOT NULL, added_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_origin ON articles(origin);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, n_tokens INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(title, source, body, tokenize='porter unicode61');
"""


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    conn.row_factory = sqlite3.Row
    return conn


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection, also when the directory is read-only. SQLite then cannot create the WAL index
    (-shm); when no WAL content is pending the database file alone is the whole index, so open it immutable."""
    conn = _connect(path, readonly=True)
    try:
        conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        return conn
    except sqlite3.OperationalError:
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            return conn  # committed changes wait in the WAL: opening the file alone would hide them
        conn.close()
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, timeout=30, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


class Catalog:
    """The SQLite side of the embedded store. Knows nothing of models, retrieval or FAISS."""

    def __init__(self, root: Path, conn: sqlite3.Connection, manifest: dict):
        self.root = root
        self.conn = conn
        self.manifest = manifest
        self._ids_where: dict[Filters, np.ndarray] = {}
        self._ids_where_gen = -1
        self.db_lock = threading.RLock()  # one sqlite3 connection shared by threads (Gradio workers)

    # ---- opening -------------------------------------------------------------------------------------------
    @classmethod
    def exists(cls, root: Path) -> bool:
        return (root / DB_NAME).is_file()

    @classmethod
    def open(cls, root: Path, *, manifest: dict | None = None, create: bool = True) -> "Catalog":
        """Open the index at `root`. `manifest` is what this run expects (embedder, chunking...); it is written
        on creation and compared with the stored one otherwise."""
        root = Path(root)
        db = root / DB_NAME
        if not db.is_file():
            if not create:
                raise IndexNotFoundError(f"no index at {root}; build one with: rag index PATH --index {root}")
            if root.exists() and not root.is_dir():
                raise IndexNotFoundError(f"{root} is a file, not an index directory; choose another --index path")
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise RagError(f"cannot create the index directory {root}: {e.strerror}") from None
            if manifest is None:
                raise IndexNotFoundError(f"no index at {root}")
            return cls._create(root, manifest)
        try:
            conn = _connect(db)
        except sqlite3.OperationalError:
            conn = _connect_readonly(db)  # read-only directory: still searchable
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
        except sqlite3.OperationalError as e:
            # I/O error, full disk, permissions: the file itself may be fine, so never advise rebuilding it
            conn.close()
            raise RagError(f"cannot read the index at {root} ({e}); check free disk space and permissions") from None
        except sqlite3.DatabaseError as e:
            raise IndexCorruptError(f"{db} is not a readable article-rag index ({e}); rebuild it with rag index") from None
        if row is None:
            raise IndexCorruptError(f"{db} has no manifest; rebuild it with rag index")
        stored = json.loads(row[0])
        if stored.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index at {root} has format version {stored.get('format_version')}, this article-rag reads "
                f"version {FORMAT_VERSION}; rebuild it: rm -r {root} && rag index PATH --index {root}"
            )
        if manifest is not None:
            for key in ("embedder", "dim", "tokenizer"):
                if key in manifest and manifest[key] and stored.get(key) != manifest[key]:
                    raise IndexMismatchError(
                        f"index at {root} was built with {key} {stored.get(key)!r}, this run uses {manifest[key]!r}; "
                        f"open it with the same {key} or rebuild it into a new --index directory"
                    )
        return cls(root, conn, stored)

    @classmethod
    def _create(cls, root: Path, manifest: dict) -> "Catalog":
        manifest = {**manifest, "format_version": FORMAT_VERSION, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        db = root / DB_NAME
        with write_lock(root, timeout=30):
            if not db.is_file():  # else another process created it while we waited for the lock
                # Built complete under a temporary name, then renamed: a kill at any moment leaves either no
                # database (the next run creates it) or a whole one, never tables without a manifest.
                for old in root.glob(f".{DB_NAME}.*.tmp*"):
                    with contextlib.suppress(OSError):
                        old.unlink()  # left by a creator that was killed (we hold the lock: none is running)
                tmp = root / f".{DB_NAME}.{os.getpid()}.tmp"
                try:
                    new = sqlite3.connect(tmp)
                    try:
                        new.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
                        with new:
                            new.execute("INSERT INTO meta VALUES ('manifest', ?)", (json.dumps(manifest),))
                            new.execute("INSERT INTO meta VALUES ('generation', '0')")
                        new.execute("PRAGMA journal_mode=WAL")
                    finally:
                        new.close()
                    with open(tmp, "rb+") as f:
                        os.fsync(f.fileno())
                    atomic_write_bytes(root / MANIFEST_NAME, json.dumps(manifest, indent=2).encode())
                    os.replace(tmp, db)
                    fsync_dir(root)
                except (OSError, sqlite3.OperationalError) as e:
                    raise RagError(f"cannot create the index in {root} ({e}); check free disk space and "
                                   "permissions") from None
                finally:
                    with contextlib.suppress(OSError):
                        tmp.unlink()
            conn = _connect(db)
            stored = json.loads(conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()[0])
        return cls(root, conn, stored)

    def close(self) -> None:
        with self.db_lock:
            self.conn.close()

    # ---- reading -------------------------------------------------------------------------------------------
    def generation(self) -> int:
        with self.db_lock:
            return int(self.conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    def article_hashes(self) -> dict[str, str]:
        with self.db_lock:
            return {r[0]: r[1] for r in self.conn.execute("SELECT id, content_hash FROM articles")}

    def article_origins(self) -> dict[str, str]:
        with self.db_lock:
            return {r[0]: r[1] for r in self.conn.execute("SELECT id, origin FROM articles")}

    def list_articles(self) -> list[tuple[Article, int]]:
        with self.db_lock:
            rows = self.conn.execute(
                "SELECT a.id, a.title, a.source, a.author, a.published_at, a.url, a.origin, a.content_hash,"
                " (SELECT COUNT(*) FROM chunks c WHERE c.article_id = a.id) AS n"
                " FROM articles a ORDER BY a.published_at, a.title, a.id"
            ).fetchall()
        return [(Article(r["id"], r["title"], "", r["source"], r["author"], r["published_at"], r["url"],
                         r["origin"], r["content_hash"]), r["n"]) for r in rows]

    def get_article(self, article_id: str) -> Article | None:
        with self.db_lock:
            r = self.conn.execute("SELECT * FROM articles WHERE id=?", (article_id,)).fetchone()
        return _article(r) if r else None

    def get_articles(self, ids: Iterable[str]) -> dict[str, Article]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        with self.db_lock:
            rows = self.conn.execute(
                f"SELECT * FROM articles WHERE id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
        return {r["id"]: _article(r) for r in rows}

    def get_chunks(self, chunk_ids: Sequence[int]) -> dict[int, tuple[str, int, int]]:
        """chunk id -> (article id, start, end); unknown ids (deleted meanwhile) are absent."""
        if not chunk_ids:
            return {}
        with self.db_lock:
            rows = self.conn.execute(
                f'SELECT id, article_id, start, "end" FROM chunks WHERE id IN ({",".join("?" * len(chunk_ids))})',
                [int(i) for i in chunk_ids],
            ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def counts(self) -> tuple[int, int]:
        with self.db_lock:
            a = self.conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            c = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return a, c

    def sources(self) -> list[tuple[str, int]]:
        with self.db_lock:
            return [(r[0], r[1]) for r in self.conn.execute(
                "SELECT source, COUNT(*) FROM articles WHERE source != '' GROUP BY source ORDER BY source")]

    @staticmethod
    def filter_sql(f: "Filters") -> tuple[str, list]:
        sql, args = "", []
        if f.sources:
            sql += f" AND a.source IN ({','.join('?' * len(f.sources))})"
            args += list(f.sources)
        if f.date_from:
            sql += " AND a.published_at >= ?"
            args.append(f.date_from)
        if f.date_to:
            # a bare date includes the whole day
            sql += " AND substr(a.published_at, 1, ?) <= ?"
            args += [len(f.date_to), f.date_to]
        if f.dates:
            sql += f" AND substr(a.published_at, 1, 10) IN ({','.join('?' * len(f.dates))})"
            args += list(f.dates)
        return sql, args

    def chunk_ids_where(self, f: "Filters") -> np.ndarray:
        """Ids of the chunks that pass `f`. Cached per generation: questions name the same outlets again and
        again, and for a big outlet of a 1M-chunk index the query returns ~100k ids (tens of ms)."""
        gen = self.generation()
        with self.db_lock:
            if self._ids_where_gen != gen:
                self._ids_where.clear()
                self._ids_where_gen = gen
            hit = self._ids_where.get(f)
            if hit is not None:
                self._ids_where[f] = self._ids_where.pop(f)  # most recently used last
                return hit
            where, args = self.filter_sql(f)
            sql = "SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE 1" + where
            ids = np.fromiter((r[0] for r in self.conn.execute(sql, args)), dtype=np.int64)
            ids.setflags(write=False)  # shared by callers
            self._ids_where[f] = ids
            while len(self._ids_where) > 64:
                self._ids_where.pop(next(iter(self._ids_where)))
            return ids

    def iter_vectors(self, batch: int = 65536, *, after: int = -1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) in id order, `batch` rows at a time, for chunk ids above `after`."""
        last = after
        dim = int(self.manifest["dim"])
        while True:
            with self.db_lock:
                rows = self.conn.execute(
                    "SELECT id, vector FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
                ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
            last = int(ids[-1])
            yield ids, vecs

    def chunk_count(self) -> int:
        with self.db_lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def ids_up_to(self, top: int) -> np.ndarray:
        """Ids of the chunks at or below `top`, for catching a FAISS file up on removals."""
        with self.db_lock:
            # the covering index is ~40x smaller than the table, whose rows carry the vectors
            return np.fromiter((r[0] for r in self.conn.execute(
                "SELECT id FROM chunks INDEXED BY chunks_article WHERE id <= ?", (top,))), dtype=np.int64)

    def count_above(self, top: int) -> int:
        with self.db_lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM chunks WHERE id > ?", (top,)).fetchone()[0])

    def vectors_by_id(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dim = int(self.manifest["dim"])
        with self.db_lock:
            rows = []
            for part in range(0, len(ids), 500):  # stays under SQLite's bound-parameter limit
                sub = [int(i) for i in ids[part : part + 500]]
                rows += self.conn.execute(
                    f"SELECT id, vector FROM chunks WHERE id IN ({','.join('?' * len(sub))})", sub).fetchall()
        got = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return got, vecs

    def training_sample(self, n: int, want: int) -> np.ndarray:
        # every step-th chunk id: deterministic, spread over the whole index (ids follow insertion order)
        step = max(1, n // want)
        dim = int(self.manifest["dim"])
        with self.db_lock:
            rows = self.conn.execute("SELECT vector FROM chunks WHERE id % ? = 0 LIMIT ?", (step, want)).fetchall()
        if len(rows) < want // 2:  # ids far from dense (many deletions): fall back to the first rows
            with self.db_lock:
                rows = self.conn.execute("SELECT vector FROM chunks LIMIT ?", (want,)).fetchall()
        return np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), dim)


def _article(r: sqlite3.Row) -> Article:
    return Article(r["id"], r["title"], r["text"], r["source"], r["author"], r["published_at"], r["url"],
                   r["origin"], r["content_hash"])
