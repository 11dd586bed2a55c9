"""The on-disk index: SQLite (articles, chunks, their vectors, an FTS5 keyword table) + a FAISS file + manifest.

Crash safety comes from one rule: SQLite is the source of truth and every change is one SQLite transaction.
The FAISS file is derived from the vectors stored in SQLite and is named after the generation it reflects
(`vectors.<gen>.faiss`, written to a temporary name, fsynced, then renamed). A kill between the SQLite commit and
the FAISS write leaves a missing or older file, which the next open notices (generation mismatch) and brings up to
date from SQLite by chunk id, or rebuilds. So at any moment the last committed state is loadable, SQLite and FAISS
agree, and no vector is orphaned. Because an older file is always safe, small changes leave it in place on purpose
(rewriting ~1.5 GB per million chunks for one article would dominate an incremental add); see `Store._maybe_save`.
The FAISS kind (exact flat, or IVF for large indexes) is derived from the size, never stored: see `VectorIndex`.

Writers take an exclusive lock file (`write.lock`); a second writer waits up to `lock_timeout` seconds and then
fails with IndexLockedError. Readers never block: SQLite runs in WAL mode.
No pickle anywhere: metadata is JSON, vectors are raw float32 blobs.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexNotFoundError, RagError
from .schema import Article, Chunk

FORMAT_VERSION = 1
DB_NAME = "index.sqlite3"
MANIFEST_NAME = "manifest.json"
LOCK_NAME = "write.lock"
# Keyword search scores at most about this many matching rows; rarer terms are kept first. On MultiHop-RAG dev (400
# questions) Hits@10 with 8,000 was within one question of no budget (2,000 lost one); at 1M chunks it bounds FTS5
# to ~10-20 ms where common terms cost seconds (bench/results/perf.md).
KEYWORD_MAX_POSTINGS = 8_000
_PHRASE = re.compile(r'"((?:[^"]|"")*)"')

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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_replace(path: Path, write: Callable[[Path], None]) -> None:
    """Have `write` fill a temporary file beside `path`, flush it to disk, then move it into place in one step:
    a crash leaves the old file or the new one, never half of either."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_replace(path, lambda tmp: tmp.write_bytes(data))


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
        self._faiss: VectorIndex | None = None
        self._faiss_gen = -1
        self._delta_since_file = 0  # vectors added/removed in memory since the FAISS file it came from
        self.keyword_max_postings = KEYWORD_MAX_POSTINGS  # 0: never leave terms out (bench/perf_scale.py compares)
        self._df: dict[str, int] = {}  # FTS phrase -> matching rows (capped at the budget + 1), this generation
        self._df_gen = -1
        self._df_chunks = 0
        self._ids_where: dict[Filters, np.ndarray] = {}
        self._ids_where_gen = -1
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
        if db.stat().st_size == 0:  # never a real index: creation renames a complete file into place
            raise IndexCorruptError.damaged(root, f"{DB_NAME} is an empty file (0 bytes)")
        try:
            try:
                conn = _connect(db)
            except sqlite3.OperationalError:
                conn = _connect_readonly(db)  # read-only directory: still searchable
        except sqlite3.OperationalError as e:
            raise RagError(f"cannot read the index at {root} ({e}); check free disk space and permissions") from None
        except sqlite3.DatabaseError as e:  # the WAL set-up already reads the header: "file is not a database"
            raise IndexCorruptError.damaged(root, f"SQLite: {e}") from None
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
        except sqlite3.OperationalError as e:
            # I/O error, full disk, permissions: the file itself may be fine, so never advise rebuilding it
            conn.close()
            raise RagError(f"cannot read the index at {root} ({e}); check free disk space and permissions") from None
        except sqlite3.DatabaseError as e:
            conn.close()
            raise IndexCorruptError.damaged(root, f"SQLite: {e}") from None
        if row is None:
            conn.close()
            raise IndexCorruptError.damaged(root, f"{DB_NAME} has no manifest")
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
        db = root / DB_NAME
        with _write_lock(root, timeout=30):
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
                    _fsync_dir(root)
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
        """Ids of the chunks that pass `f`. Cached per generation: questions name the same outlets again and
        again, and for a big outlet of a 1M-chunk index the query returns ~100k ids (tens of ms)."""
        gen = self.generation()
        with self._db_lock:
            if self._ids_where_gen != gen:
                self._ids_where.clear()
                self._ids_where_gen = gen
            hit = self._ids_where.get(f)
            if hit is not None:
                self._ids_where[f] = self._ids_where.pop(f)  # most recently used last
                return hit
            where, args = self._filter_sql(f)
            sql = "SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE 1" + where
            ids = np.fromiter((r[0] for r in self.conn.execute(sql, args)), dtype=np.int64)
            ids.setflags(write=False)  # shared by callers
            self._ids_where[f] = ids
            while len(self._ids_where) > 64:
                self._ids_where.pop(next(iter(self._ids_where)))
            return ids

    def keyword_search(self, match: str, limit: int, weights: tuple[float, float, float],
                       f: "Filters | None" = None) -> list[tuple[int, float]]:
        """FTS5 BM25 over (title, source, body). Returns (chunk id, bm25 score; higher is better).

        On a large index the most common terms of an OR query are left out first (see `_selective`)."""
        match = self._selective(match)
        if not match:
            return []
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

    def _selective(self, match: str) -> str:
        """Keep the rarest terms of an OR query such that at most `keyword_max_postings` rows can match.

        FTS5 computes BM25 for every matching row before it sorts (~5 us a row on this machine), so one common
        term ('2023' from a date, 'com' from an outlet name, 'said') in a 1M-chunk index costs seconds. Such terms
        weigh little in BM25 anyway (low IDF), and the dense retriever still reads the whole question; if every
        term is that common, keyword search sits this query out. Document frequencies are counted up to the
        budget (so a lookup costs at most that) and cached per generation. Anything that is not a plain OR of
        quoted terms (retrieval.fts_match builds those) runs unchanged; so does every query on an index smaller
        than the budget.
        """
        budget = self.keyword_max_postings
        if budget <= 0:
            return match
        phrases = _PHRASE.findall(match)
        if not phrases or " OR ".join(f'"{p}"' for p in phrases) != match:
            return match
        gen = self.generation()
        with self._db_lock:
            if self._df_gen != gen:
                self._df.clear()
                self._df_gen = gen
                self._df_chunks = int(self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
            if self._df_chunks <= budget:
                return match
            df = {}
            for p in phrases:
                if p not in self._df:
                    try:
                        self._df[p] = int(self.conn.execute(
                            "SELECT COUNT(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
                            (f'"{p}"', budget + 1)).fetchone()[0])
                    except sqlite3.OperationalError:
                        self._df[p] = budget + 1
                df[p] = self._df[p]
        kept, total = set(), 0
        for p in sorted(phrases, key=lambda p: df[p]):
            if total + df[p] > budget:
                break
            kept.add(p)
            total += df[p]
        return " OR ".join(f'"{p}"' for p in phrases if p in kept)

    def iter_vectors(self, batch: int = 65536, *, after: int = -1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) in id order, `batch` rows at a time, for chunk ids above `after`."""
        last = after
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

    def _faiss_files(self) -> list[tuple[int, Path]]:
        """(generation, path) of the FAISS files on disk, newest first."""
        out = []
        for p in self.root.glob("vectors.*.faiss"):
            with contextlib.suppress(ValueError):
                out.append((int(p.name.split(".")[1]), p))
        return sorted(out, reverse=True)

    def vectors(self) -> "VectorIndex":
        """The vector index for the current generation.

        Kept in memory across calls; when SQLite has moved on (another process wrote) it is brought up to date by
        chunk id. Otherwise it comes from the newest FAISS file (caught up the same way) or is rebuilt from SQLite.
        """
        gen = self.generation()
        with self._faiss_lock:
            if self._faiss is not None and self._faiss_gen == gen:
                return self._faiss
            vi = self._faiss
            if vi is None:
                for file_gen, path in self._faiss_files():
                    if file_gen > gen:
                        continue  # from a SQLite state this one does not contain (a restored database): unusable
                    try:
                        vi = VectorIndex.read(path)
                    except RuntimeError:
                        continue  # damaged file: try an older one, else rebuild below
                    from .integrity import vectors_agree  # lazy: rag.integrity imports this module

                    if vi.dim != int(self.manifest["dim"]) or not vectors_agree(self, vi):
                        vi = None  # zeroed or foreign vector data under a valid header: rebuilt from SQLite
                        continue
                    self._delta_since_file = 0
                    break
            rebuilt = False
            if vi is None or not vi.suits(self.chunk_count()):
                vi = self._build_faiss()
                rebuilt = True
            # Another process may commit while we read: catch up until the generation holds still, so that the
            # index (and a file written from it) is exactly the state of the generation it is labelled with.
            changed = 0
            while True:
                gen = self.generation()
                changed += self._catch_up(vi)
                if self.generation() == gen:
                    break
            self._delta_since_file = 0 if rebuilt else self._delta_since_file + changed
            self._faiss, self._faiss_gen = vi, gen
            self._maybe_save(vi, gen, force=rebuilt)
            return vi

    def chunk_count(self) -> int:
        with self._db_lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def _catch_up(self, vi: "VectorIndex") -> int:
        """Apply to `vi` what SQLite changed since `vi` was current; returns how many vectors were added or removed.

        Chunk ids come from AUTOINCREMENT, so they only grow and are never reused: everything added since is
        above the largest id `vi` holds, and a removal shows as fewer SQLite rows at or below that id.
        """
        ids = vi.ids()
        top = int(ids.max()) if len(ids) else 0
        with self._db_lock:
            total = int(self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
            newer = int(self.conn.execute("SELECT COUNT(*) FROM chunks WHERE id > ?", (top,)).fetchone()[0])
        changed = 0
        if total - newer != len(ids):
            with self._db_lock:
                # the covering index is ~40x smaller than the table, whose rows carry the vectors
                have = np.fromiter((r[0] for r in self.conn.execute(
                    "SELECT id FROM chunks INDEXED BY chunks_article WHERE id <= ?", (top,))), dtype=np.int64)
            gone = np.setdiff1d(ids, have, assume_unique=True)
            missing = np.setdiff1d(have, ids, assume_unique=True)
            if len(gone):
                vi.remove(gone)
            for part in range(0, len(missing), 50_000):
                sub = missing[part : part + 50_000]
                got_ids, vecs = self._vectors_by_id(sub)
                vi.add(vecs, got_ids)
            changed += len(gone) + len(missing)
        for got_ids, vecs in self.iter_vectors(after=top):
            vi.add(vecs, got_ids)
            changed += len(got_ids)
        return changed

    def _vectors_by_id(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dim = int(self.manifest["dim"])
        with self._db_lock:
            rows = []
            for part in range(0, len(ids), 500):  # stays under SQLite's bound-parameter limit
                sub = [int(i) for i in ids[part : part + 500]]
                rows += self.conn.execute(
                    f"SELECT id, vector FROM chunks WHERE id IN ({','.join('?' * len(sub))})", sub).fetchall()
        got = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return got, vecs

    def _build_faiss(self) -> "VectorIndex":
        """A fresh index from the vectors in SQLite, of the kind that suits its size (see `VectorIndex`)."""
        dim = int(self.manifest["dim"])
        n = self.chunk_count()
        if n < FLAT_MAX:
            vi = VectorIndex.flat(dim)
        else:
            nlist = ivf_nlist(n)
            sample = self._training_sample(n, nlist * IVF_TRAIN_PER_LIST)
            vi = VectorIndex.ivf(dim, nlist, sample)
        for ids, vecs in self.iter_vectors():
            vi.add(vecs, ids)
        return vi

    def _training_sample(self, n: int, want: int) -> np.ndarray:
        # every step-th chunk id: deterministic, spread over the whole index (ids follow insertion order)
        step = max(1, n // want)
        dim = int(self.manifest["dim"])
        with self._db_lock:
            rows = self.conn.execute("SELECT vector FROM chunks WHERE id % ? = 0 LIMIT ?", (step, want)).fetchall()
        if len(rows) < want // 2:  # ids far from dense (many deletions): fall back to the first rows
            with self._db_lock:
                rows = self.conn.execute("SELECT vector FROM chunks LIMIT ?", (want,)).fetchall()
        return np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), dim)

    def _maybe_save(self, vi: "VectorIndex", gen: int, *, force: bool = False) -> None:
        """Write the file for `gen` when enough changed since the file it came from, or when `force` (a rebuild:
        worth keeping, and it replaces a file of another kind for the same generation). Caller holds _faiss_lock.

        Small changes are not written: the next open catches a stale file up from SQLite in about the time it
        takes to read those few vectors, while rewriting the file costs ~1.5 GB per million chunks every time.
        """
        files = self._faiss_files()
        newest = files[0][0] if files else None
        if newest == gen and not force:
            self._delta_since_file = 0
            return
        if not force and newest is not None and self._delta_since_file <= max(SAVE_MIN_DELTA, SAVE_FRACTION * vi.ntotal):
            return
        with contextlib.suppress(OSError):  # read-only index directory: keep it in memory only
            self._save_faiss(vi, gen)
            self._delta_since_file = 0

    def _save_faiss(self, vi: "VectorIndex", gen: int) -> None:
        import faiss

        def write(tmp: Path) -> None:
            with vi.lock:
                faiss.write_index(vi.index, str(tmp))  # streamed: no in-memory copy of a GB-sized index

        atomic_replace(self.faiss_path(gen), write)
        for old_gen, old in self._faiss_files():
            if old_gen < gen:  # never a newer one another process may just have written
                with contextlib.suppress(OSError):
                    old.unlink()

    def _after_write(self, changed: int) -> None:
        """Called once when a writer finishes (under the write lock): settle the index kind and the file."""
        if not changed:
            return
        gen = self.generation()
        with self._faiss_lock:
            vi = self._faiss if self._faiss is not None and self._faiss_gen == gen else None
            if vi is not None:
                rebuilt = not vi.suits(vi.ntotal)
                if rebuilt:  # crossed a size threshold: switch kind now, while we hold the lock
                    vi = self._build_faiss()
                    self._faiss, self._delta_since_file = vi, 0
                self._maybe_save(vi, gen, force=rebuilt)
                return
            if self._faiss_files() and changed <= max(SAVE_MIN_DELTA, SAVE_FRACTION * self.chunk_count()):
                return  # a small change: whoever opens the index next catches the stale file up cheaply
        self.vectors()  # no file yet, or a large change: build or catch up now, and save

    # ---- writing -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, lock_timeout: float = 60.0) -> Iterator["Writer"]:
        with _write_lock(self.root, timeout=lock_timeout):
            w = Writer(self)
            try:
                yield w
            except sqlite3.OperationalError as e:  # full disk, read-only file, I/O error: one clear line
                raise _write_failed(self.root, str(e)) from None
            except OSError as e:
                if e.errno not in _WRITE_ERRNOS:
                    raise
                raise _write_failed(self.root, e.strerror or str(e)) from None
            finally:
                w.rollback()  # whatever was not committed (an exception escaped) is dropped, and the lock freed
                self._after_write(w.changed)


class Writer:
    """Groups changes into SQLite transactions; `commit()` makes them visible and durable (FAISS follows)."""

    def __init__(self, store: Store):
        self.store = store
        self.conn = store.conn
        self._pending = False
        self._added_vecs: list[tuple[np.ndarray, np.ndarray]] = []
        self._removed: list[int] = []
        self.changed = 0  # vectors added or removed by the commits of this writer

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
        # Apply this commit to the in-memory index when it is the one for the previous generation (cheap: adds
        # and removes). The file is not rewritten here: `Store._after_write` decides once per writer. Without an
        # in-memory index nothing is loaded: SQLite holds the vectors and the next `vectors()` catches up by id.
        store = self.store
        self.changed += len(self._removed) + sum(len(ids) for ids, _ in self._added_vecs)
        with store._faiss_lock:
            vi = store._faiss
            if vi is not None and store._faiss_gen == gen - 1:
                if self._removed:
                    vi.remove(np.asarray(self._removed, dtype=np.int64))
                for ids, vecs in self._added_vecs:
                    vi.add(vecs, ids)
                store._faiss_gen = gen
                store._delta_since_file += len(self._removed) + sum(len(ids) for ids, _ in self._added_vecs)
        self._added_vecs.clear()
        self._removed.clear()

    def rollback(self) -> None:
        if self._pending:
            self.conn.rollback()
            self._pending = False
            self._added_vecs.clear()
            self._removed.clear()
            self.store._db_lock.release()


# ---- vector index kinds -------------------------------------------------------------------------------------------
# Below FLAT_MAX chunks the index is exact (IndexFlatIP): a scan of 50k x 384 floats takes a few ms. Above it,
# IVF (IndexIVFFlat, inner product, spherical k-means centroids): it removes ids natively (HNSW cannot, and would
# need a full rebuild on every `rag remove`), builds in seconds per million (HNSW M=32 takes many minutes on two
# cores), and a filtered search can scan every list exactly. The kind is derived from the size when an index is
# loaded or written, so the manifest and the file format do not change. bench/perf_scale.py measured the choice.
FLAT_MAX = 50_000
IVF_TRAIN_PER_LIST = 32     # k-means training points per list: 131k for 1M chunks (~2 min here), enough for recall
IVF_NPROBE_FRACTION = 128   # probe nlist/128 lists, at least IVF_NPROBE_MIN (32 up to ~4M chunks): recall@10 vs
IVF_NPROBE_MIN = 32         # exact measured 0.989 at 100k (1024 lists) and 0.978 at 1M (4096 lists), ~3 ms CPU
# Write the FAISS file when more than this many vectors (or this share of the index) changed since the last file.
SAVE_MIN_DELTA = 20_000
SAVE_FRACTION = 0.05


def ivf_nlist(n: int) -> int:
    """Lists for an IVF index of n vectors: the power of two nearest 4*sqrt(n), at least 64 (1024 at 100k,
    4096 at 1M). Measured at 100k: 1024 lists reach recall@10 0.989 scanning 3% of the vectors, 256 lists
    0.955 scanning 12%."""
    return max(64, 1 << max(0, round(float(np.log2(4 * np.sqrt(max(n, 1)))))))


class VectorIndex:
    """A FAISS index with how to search and update it safely from several threads.

    `search(q, k, params)` takes the same arguments as a FAISS index; a filter (`params.sel`) on an IVF index scans
    every list, so a filtered search stays exact however few chunks pass the filter.
    """

    def __init__(self, index, kind: str):
        self.index = index
        self.kind = kind
        self.lock = threading.Lock()  # faiss indexes are not safe to search while another thread adds
        self.nprobe = max(IVF_NPROBE_MIN, index.nlist // IVF_NPROBE_FRACTION) if kind == "ivf" else 0

    @classmethod
    def flat(cls, dim: int) -> "VectorIndex":
        import faiss

        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), "flat")

    @classmethod
    def ivf(cls, dim: int, nlist: int, train: np.ndarray) -> "VectorIndex":
        import faiss

        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.spherical = True   # unit vectors: centroids on the sphere suit inner-product search
        index.cp.niter = 10
        index.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST
        index.cp.min_points_per_centroid = 8  # only decides when faiss prints a warning; we sample 32 on purpose
        index.cp.seed = 1234
        index.train(np.ascontiguousarray(train, dtype=np.float32))
        index.quantizer_trains_alone = 0
        return cls(index, "ivf")

    @classmethod
    def read(cls, path: Path) -> "VectorIndex":
        import faiss

        index = faiss.read_index(str(path))
        if isinstance(index, faiss.IndexIVF):
            return cls(index, "ivf")
        if isinstance(index, faiss.IndexIDMap2):
            return cls(index, "flat")
        raise RuntimeError(f"{path}: unexpected index type {type(index).__name__}")

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def suits(self, n: int) -> bool:
        """Is this kind (and IVF list count) still right for n vectors? With slack, so sizes near a threshold
        do not flip the kind back and forth."""
        if self.kind == "flat":
            return n < FLAT_MAX
        ideal = ivf_nlist(n)
        return n >= FLAT_MAX // 2 and self.index.nlist // 4 < ideal < self.index.nlist * 4

    def search(self, q: np.ndarray, k: int, params=None):
        import faiss

        with self.lock:
            if self.kind == "ivf":
                sel = getattr(params, "sel", None) if params is not None else None
                p = faiss.SearchParametersIVF(nprobe=self._filtered_nprobe(sel, k) if sel is not None else self.nprobe)
                if sel is not None:
                    p.sel = sel
                return self.index.search(q, k, params=p)
            return self.index.search(q, k, params=params)

    def _filtered_nprobe(self, sel, k: int) -> int:
        """Enough lists that about 10*k chunks passing the filter get scanned (never fewer than unfiltered):
        a big outlet needs no more lists than an unfiltered search, a rare one gets every list (exact).
        How many pass comes from IDSelectorBatch's bloom-filter size (n <= 2**(nbits-5) < 2n, faiss's own
        rule), taken at its low end so the estimate errs towards more lists; other selectors scan every list."""
        nbits = getattr(sel, "nbits", None)
        if not isinstance(nbits, int) or not self.index.ntotal:
            return self.index.nlist
        allowed_low = 2 ** max(0, nbits - 6)
        per_list = min(allowed_low, self.index.ntotal) / self.index.nlist  # allowed chunks in an average list
        want = int(np.ceil(10 * k / max(per_list, 1e-9)))
        return int(min(self.index.nlist, max(self.nprobe, want)))

    def add(self, vecs: np.ndarray, ids: np.ndarray) -> None:
        if len(ids):
            with self.lock:
                self.index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32),
                                        np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            with self.lock:
                self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def ids(self) -> np.ndarray:
        """Every chunk id in the index (unordered for IVF)."""
        import faiss

        with self.lock:
            if self.kind == "flat":
                return faiss.vector_to_array(self.index.id_map).astype(np.int64, copy=False)
            inv = self.index.invlists
            parts = [faiss.rev_swig_ptr(inv.get_ids(i), inv.list_size(i)).copy()
                     for i in range(self.index.nlist) if inv.list_size(i)]
            return np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, dtype=np.int64)

    def __getattr__(self, name: str):
        # anything else (id_map, nlist, ...) is the FAISS index's own
        if name == "index":
            raise AttributeError(name)
        return getattr(self.index, name)


_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                           errno.EIO})


def _write_failed(root: Path, reason: str) -> RagError:
    with contextlib.suppress(OSError):
        if shutil.disk_usage(root).free < (1 << 20):
            reason = f"no space left on the device: {reason}"
    return RagError(f"cannot write to the index at {root} ({reason}); everything committed before is kept — "
                    "free disk space or fix permissions, then run the command again")


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
