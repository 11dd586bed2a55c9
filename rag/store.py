"""The on-disk index: SQLite (articles, chunks, their vectors, an FTS5 keyword table) + a FAISS file + manifest.

Crash safety comes from one rule: SQLite is the source of truth and every change is one SQLite transaction.
The FAISS file is derived from the vectors stored in SQLite and is named after the generation it reflects
(`vectors.<gen>.faiss`, written to a temporary name, fsynced, then renamed). A kill between the SQLite commit and
the FAISS write leaves a missing or older file, which the next open notices (generation mismatch) and rebuilds from
SQLite. So at any moment the last committed state is loadable, SQLite and FAISS agree, and no vector is orphaned.

Writers take an exclusive lock file (`write.lock`); a second writer waits up to `lock_timeout` seconds and then
fails with IndexLockedError. Readers never block: SQLite runs in WAL mode.
No pickle anywhere: metadata is JSON, vectors are raw float32 blobs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexNotFoundError, RagError
from .schema import Article, Chunk

FORMAT_VERSION = 1
DB_NAME = "index.sqlite3"
MANIFEST_NAME = "manifest.json"
LOCK_NAME = "write.lock"

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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


@dataclass(frozen=True)
class Filters:
    """Restrictions on which articles' chunks may be returned."""

    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    dates: tuple[str, ...] = ()       # any of these publication days (YYYY-MM-DD)

    @property
    def active(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to or self.dates)


def fts_header(article: Article) -> tuple[str, str]:
    """What the keyword index sees besides the chunk text: the title and 'outlet date'."""
    return article.title, f"{article.source} {article.published_at[:10]}".strip()


class Store:
    """Low-level storage. `rag.Index` is the public face; this class knows nothing of models or retrieval."""

    def __init__(self, root: Path, conn: sqlite3.Connection, manifest: dict):
        self.root = root
        self.conn = conn
        self.manifest = manifest
        self._faiss = None
        self._faiss_gen = -1
        self._faiss_lock = threading.Lock()
        self._db_lock = threading.RLock()  # one sqlite3 connection shared by threads (Gradio workers)

    # ---- opening -------------------------------------------------------------------------------------------
    @classmethod
    def exists(cls, root: Path) -> bool:
        return (root / DB_NAME).is_file()

    @classmethod
    def open(cls, root: Path, *, manifest: dict | None = None, create: bool = True) -> "Store":
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
            conn = _connect(db, readonly=True)  # read-only directory: still searchable
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
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
    def _create(cls, root: Path, manifest: dict) -> "Store":
        manifest = {**manifest, "format_version": FORMAT_VERSION, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with _write_lock(root, timeout=30):
            conn = _connect(root / DB_NAME)
            with conn:
                conn.executescript(_SCHEMA)
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('manifest', ?)", (json.dumps(manifest),))
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
            stored = json.loads(conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()[0])
            atomic_write_bytes(root / MANIFEST_NAME, json.dumps(stored, indent=2).encode())
        return cls(root, conn, stored)

    def close(self) -> None:
        with self._db_lock:
            self.conn.close()

    # ---- reading -------------------------------------------------------------------------------------------
    def generation(self) -> int:
        with self._db_lock:
            return int(self.conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    def article_hashes(self) -> dict[str, str]:
        with self._db_lock:
            return {r[0]: r[1] for r in self.conn.execute("SELECT id, content_hash FROM articles")}

    def article_origins(self) -> dict[str, str]:
        with self._db_lock:
            return {r[0]: r[1] for r in self.conn.execute("SELECT id, origin FROM articles")}

    def list_articles(self) -> list[tuple[Article, int]]:
        with self._db_lock:
            rows = self.conn.execute(
                "SELECT a.id, a.title, a.source, a.author, a.published_at, a.url, a.origin, a.content_hash,"
                " (SELECT COUNT(*) FROM chunks c WHERE c.article_id = a.id) AS n"
                " FROM articles a ORDER BY a.published_at, a.title, a.id"
            ).fetchall()
        return [(Article(r["id"], r["title"], "", r["source"], r["author"], r["published_at"], r["url"],
                         r["origin"], r["content_hash"]), r["n"]) for r in rows]

    def get_article(self, article_id: str) -> Article | None:
        with self._db_lock:
            r = self.conn.execute("SELECT * FROM articles WHERE id=?", (article_id,)).fetchone()
        return _article(r) if r else None

    def get_articles(self, ids: Iterable[str]) -> dict[str, Article]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        with self._db_lock:
            rows = self.conn.execute(
                f"SELECT * FROM articles WHERE id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
        return {r["id"]: _article(r) for r in rows}

    def get_chunks(self, chunk_ids: Sequence[int]) -> dict[int, tuple[str, int, int]]:
        """chunk id -> (article id, start, end); unknown ids (deleted meanwhile) are absent."""
        if not chunk_ids:
            return {}
        with self._db_lock:
            rows = self.conn.execute(
                f'SELECT id, article_id, start, "end" FROM chunks WHERE id IN ({",".join("?" * len(chunk_ids))})',
                [int(i) for i in chunk_ids],
            ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def counts(self) -> tuple[int, int]:
        with self._db_lock:
            a = self.conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            c = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return a, c

    def sources(self) -> list[tuple[str, int]]:
        with self._db_lock:
            return [(r[0], r[1]) for r in self.conn.execute(
                "SELECT source, COUNT(*) FROM articles WHERE source != '' GROUP BY source ORDER BY source")]

    @staticmethod
    def _filter_sql(f: "Filters") -> tuple[str, list]:
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
        where, args = self._filter_sql(f)
        sql = "SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE 1" + where
        with self._db_lock:
            return np.fromiter((r[0] for r in self.conn.execute(sql, args)), dtype=np.int64)

    def keyword_search(self, match: str, limit: int, weights: tuple[float, float, float],
                       f: "Filters | None" = None) -> list[tuple[int, float]]:
        """FTS5 BM25 over (title, source, body). Returns (chunk id, bm25 score; higher is better)."""
        if f is not None and f.active:
            where, fargs = self._filter_sql(f)
            sql = ("SELECT t.rowid, -bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts t"
                   " JOIN chunks c ON c.id = t.rowid JOIN articles a ON a.id = c.article_id"
                   " WHERE chunks_fts MATCH ?" + where + " ORDER BY bm25(chunks_fts, ?, ?, ?) LIMIT ?")
            args = [*weights, match, *fargs, *weights, limit]
        else:
            sql = ("SELECT rowid, -bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
                   " ORDER BY bm25(chunks_fts, ?, ?, ?) LIMIT ?")
            args = [*weights, match, *weights, limit]
        with self._db_lock:
            try:
                return [(r[0], r[1]) for r in self.conn.execute(sql, args)]
            except sqlite3.OperationalError:
                return []  # a query FTS5 cannot parse finds nothing by keyword; dense search still answers

    def iter_vectors(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        last = -1
        dim = int(self.manifest["dim"])
        while True:
            with self._db_lock:
                rows = self.conn.execute(
                    "SELECT id, vector FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
                ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
            last = int(ids[-1])
            yield ids, vecs

    # ---- the vector index ------------------------------------------------------------------------------------
    def faiss_path(self, gen: int) -> Path:
        return self.root / f"vectors.{gen}.faiss"

    def vectors(self):
        """The FAISS index for the current generation: loaded from its file, or rebuilt from SQLite."""
        gen = self.generation()
        with self._faiss_lock:
            if self._faiss is not None and self._faiss_gen == gen:
                return self._faiss
            import faiss

            path = self.faiss_path(gen)
            index = None
            if path.is_file():
                try:
                    index = faiss.read_index(str(path))
                except RuntimeError:
                    index = None  # damaged file: rebuild below
            if index is None or index.ntotal != self.counts()[1]:
                index = self._build_faiss()
                with contextlib.suppress(OSError):  # read-only index dir: keep it in memory
                    self._save_faiss(index, gen)
            self._faiss, self._faiss_gen = index, gen
            return index

    def _build_faiss(self):
        import faiss

        index = faiss.IndexIDMap2(faiss.IndexFlatIP(int(self.manifest["dim"])))
        for ids, vecs in self.iter_vectors():
            index.add_with_ids(vecs, ids)
        return index

    def _save_faiss(self, index, gen: int) -> None:
        import faiss

        data = faiss.serialize_index(index).tobytes()
        atomic_write_bytes(self.faiss_path(gen), data)
        for old in self.root.glob("vectors.*.faiss"):
            if old.name != self.faiss_path(gen).name:
                with contextlib.suppress(OSError):
                    old.unlink()

    # ---- writing -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, lock_timeout: float = 60.0) -> Iterator["Writer"]:
        with _write_lock(self.root, timeout=lock_timeout):
            w = Writer(self)
            yield w


class Writer:
    """Groups changes into SQLite transactions; `commit()` makes them visible and durable (FAISS follows)."""

    def __init__(self, store: Store):
        self.store = store
        self.conn = store.conn
        self._pending = False
        self._added_vecs: list[tuple[np.ndarray, np.ndarray]] = []
        self._removed: list[int] = []

    def _begin(self) -> None:
        if not self._pending:
            self.store._db_lock.acquire()
            self.conn.execute("BEGIN IMMEDIATE")
            self._pending = True

    def delete_article(self, article_id: str) -> None:
        self._begin()
        ids = [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE article_id=?", (article_id,))]
        if ids:
            self.conn.executemany("DELETE FROM chunks_fts WHERE rowid=?", [(i,) for i in ids])
            self.conn.execute("DELETE FROM chunks WHERE article_id=?", (article_id,))
            self._removed.extend(ids)
        self.conn.execute("DELETE FROM articles WHERE id=?", (article_id,))

    def put_article(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Insert or replace an article with its chunks and their vectors (row i of `vectors` is chunk i)."""
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
                self.store._db_lock.release()
        self._update_faiss(gen)

    def _update_faiss(self, gen: int) -> None:
        # Update the in-memory index incrementally (cheap) and write it for this generation. If we die before the
        # write finishes, the next open sees no file for `gen` and rebuilds from SQLite.
        store = self.store
        with store._faiss_lock:
            index = store._faiss if store._faiss is not None and store._faiss_gen == gen - 1 else None
        if index is None:
            with store._faiss_lock:
                store._faiss, store._faiss_gen = None, -1
            store.vectors()
            self._added_vecs.clear()
            self._removed.clear()
            return
        with store._faiss_lock:
            if self._removed:
                index.remove_ids(np.asarray(self._removed, dtype=np.int64))
            for ids, vecs in self._added_vecs:
                index.add_with_ids(vecs, ids)
            store._save_faiss(index, gen)
            store._faiss_gen = gen
        self._added_vecs.clear()
        self._removed.clear()

    def rollback(self) -> None:
        if self._pending:
            self.conn.rollback()
            self._pending = False
            self._added_vecs.clear()
            self._removed.clear()
            self.store._db_lock.release()


@contextlib.contextmanager
def _write_lock(root: Path, timeout: float) -> Iterator[None]:
    path = root / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RagError(f"cannot write to the index directory {root}: {e.strerror}; check its permissions") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexLockedError(
                        f"another process is writing to the index at {root} (waited {timeout:.0f} s); "
                        "try again when it has finished"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _article(r: sqlite3.Row) -> Article:
    return Article(r["id"], r["title"], r["text"], r["source"], r["author"], r["published_at"], r["url"],
                   r["origin"], r["content_hash"])
