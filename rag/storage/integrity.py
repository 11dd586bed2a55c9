"""Index integrity: find damage in an index on disk (`check`) and repair it (`repair`, i.e. `rag doctor --fix`).

What can be damaged, and how each is found:
- SQLite (the source of truth): an empty or overwritten file is caught by its 16-byte header; pages of random
  bytes, a truncated file or broken b-trees by `PRAGMA quick_check` (or `integrity_check`, which also checks
  every index's content, with `full`). Counting rows does not read most pages, so it is no check at all.
- The manifest: `manifest.json` is a copy of the manifest row in SQLite, written when the index is created.
- The FAISS file (derived): it must load, have the manifest's dimension, hold no id twice, hold exactly SQLite's
  chunk ids when it is labelled with SQLite's generation, and a sample of its vectors must equal the vectors SQLite
  stores under the same ids, byte for byte (all of them with `full`). A file whose vector data were zeroed keeps
  a valid header and the right ids, so only comparing the values catches it.

Repair never edits damaged files in place. Derived parts (the FAISS file, manifest.json) are rebuilt from SQLite.
A damaged SQLite file is renamed (`index.sqlite3.damaged-<UTC time>`, with its -wal/-shm), and a new index is
built beside it from every article that still reads back whole (its content hash must match), with the stored
vectors of its chunks when they are all intact (re-embedded otherwise); then the source paths recorded by
`rag index` (sources.json) are indexed again, which brings back what SQLite lost (unchanged files cost a hash).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError, RagError, repair_command
from .catalog import DB_NAME, FORMAT_VERSION, MANIFEST_NAME
from .embedded import Store
from .files import atomic_write_bytes, write_lock as _write_lock

SQLITE_HEADER = b"SQLite format 3\x00"
SOURCES_NAME = "sources.json"
_TEMP_PID = re.compile(r"\.(\d+)(?:\.\d+)?\.tmp$")
DEFAULT_SAMPLE = 256          # vectors compared per check (every vector with full=True)
OPEN_SAMPLE = 16              # compared each time a FAISS file is loaded: a few ms, catches a zeroed file
DAMAGED_TAG = "damaged"
PROBE_WITHOUT_MAX = 20_000  # rowids tried one by one past damage when the largest rowid is unreadable too


@dataclass(frozen=True)
class Problem:
    part: str       # "sqlite", "manifest" or "vectors"
    what: str       # one line: what is wrong


@dataclass(frozen=True)
class IntegrityReport:
    root: Path
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()        # harmless findings (a leftover temporary file, no FAISS file yet)
    articles: int | None = None
    chunks: int | None = None
    vectors: int | None = None
    compared: int = 0                  # FAISS vectors compared with SQLite's

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def sqlite_damaged(self) -> bool:
        return any(p.part == "sqlite" for p in self.problems)

    @property
    def fix(self) -> str:
        return repair_command(self.root)


@dataclass(frozen=True)
class RepairReport:
    root: Path
    actions: tuple[str, ...]
    articles: int                      # articles in the repaired index
    salvaged: int = 0                  # articles read back whole from a damaged SQLite file
    reindexed: int = 0                 # articles brought back by indexing the recorded sources again
    kept: str = ""                     # where the damaged SQLite file now is
    lost: tuple[str, ...] = field(default_factory=tuple)


# ---- checking ---------------------------------------------------------------------------------------------------

def check(root: str | os.PathLike, *, full: bool = False, sample: int = DEFAULT_SAMPLE) -> IntegrityReport:
    """Read-only: what is damaged in the index at `root`. Nothing is written, not even a FAISS file."""
    root = Path(root)
    db = root / DB_NAME
    problems: list[Problem] = []
    notes = [f"leftover temporary file {p.name} (removed by rag doctor --fix)" for p in _stale_temp_files(root)]
    head = _header(db)
    if head is None:
        return IntegrityReport(root, (Problem("sqlite", f"{DB_NAME} cannot be opened"),), tuple(notes))
    if not head:
        return IntegrityReport(root, (Problem("sqlite", f"{DB_NAME} is an empty file (0 bytes)"),), tuple(notes))
    if not head.startswith(SQLITE_HEADER):
        return IntegrityReport(root, (Problem("sqlite", f"{DB_NAME} is not a SQLite database (its header is "
                                                        "overwritten)"),), tuple(notes))
    try:
        conn = _open_ro(db)
    except sqlite3.Error as e:
        return IntegrityReport(root, (Problem("sqlite", f"SQLite cannot open {DB_NAME}: {e}"),), tuple(notes))
    try:
        pragma = "integrity_check(20)" if full else "quick_check(20)"
        try:
            found = [r[0] for r in conn.execute(f"PRAGMA {pragma}")]
        except sqlite3.DatabaseError as e:
            found = [str(e)]
        if found != ["ok"]:
            shown = "; ".join(found[:2]) + (f" (+{len(found) - 2} more)" if len(found) > 2 else "")
            return IntegrityReport(root, (Problem("sqlite", f"SQLite {pragma.split('(')[0]} failed: {shown}"),),
                                   tuple(notes))
        try:
            stored = _stored_manifest(conn)
            n_articles, n_chunks, gen = _sqlite_consistency(conn, stored, problems)
        except (sqlite3.DatabaseError, ValueError, KeyError) as e:
            return IntegrityReport(root, (*problems, Problem("sqlite", f"SQLite content is unreadable: {e}")),
                                   tuple(notes))
        _check_manifest_file(root, stored, problems)
        n_vectors, compared = _check_vectors(root, conn, stored, gen, n_chunks, problems, notes,
                                             sample=None if full else sample)
    finally:
        conn.close()
    return IntegrityReport(root, tuple(problems), tuple(notes), n_articles, n_chunks, n_vectors, compared)


def _header(db: Path) -> bytes | None:
    try:
        with open(db, "rb") as f:
            return f.read(100)
    except OSError:
        return None


def _open_ro(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn
    except sqlite3.OperationalError:
        # a read-only directory cannot hold the WAL index; with no WAL content pending the file is everything
        conn.close()
        wal = db.with_name(db.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
        return sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True, timeout=30)


def _stored_manifest(conn: sqlite3.Connection) -> dict:
    row = conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
    if row is None:
        raise ValueError("no manifest row")
    manifest = json.loads(row[0])
    int(manifest["dim"])
    return manifest


def _sqlite_consistency(conn, manifest: dict, problems: list[Problem]) -> tuple[int, int, int]:
    """Counts and cross-table agreement inside SQLite: every chunk has its article, an FTS row and a whole
    vector; (articles, chunks, generation)."""
    dim = int(manifest["dim"])
    one = lambda sql: int(conn.execute(sql).fetchone()[0])  # noqa: E731
    n_articles, n_chunks = one("SELECT COUNT(*) FROM articles"), one("SELECT COUNT(*) FROM chunks")
    gen = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
    orphans = one("SELECT COUNT(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id=c.article_id)")
    bad_len = one(f"SELECT COUNT(*) FROM chunks WHERE length(vector) != {dim * 4}")
    fts = one("SELECT COUNT(*) FROM chunks_fts")
    fts_extra = one("SELECT COUNT(*) FROM chunks_fts f WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.id=f.rowid)")
    if orphans:
        problems.append(Problem("sqlite", f"{orphans} chunks belong to no article"))
    if bad_len:
        problems.append(Problem("sqlite", f"{bad_len} chunks have a vector of the wrong size"))
    if fts != n_chunks or fts_extra:
        problems.append(Problem("sqlite", f"keyword index has {fts} rows for {n_chunks} chunks"))
    return n_articles, n_chunks, gen


def _check_manifest_file(root: Path, stored: dict, problems: list[Problem]) -> None:
    path = root / MANIFEST_NAME
    try:
        on_disk = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem("manifest", f"{MANIFEST_NAME} is missing"))
        return
    except (OSError, ValueError, UnicodeDecodeError) as e:
        problems.append(Problem("manifest", f"{MANIFEST_NAME} is unreadable ({type(e).__name__})"))
        return
    if on_disk != stored:
        keys = sorted(k for k in set(on_disk) | set(stored) if on_disk.get(k) != stored.get(k))
        problems.append(Problem("manifest", f"{MANIFEST_NAME} disagrees with the index on {', '.join(keys[:4])}"))
    if stored.get("format_version") != FORMAT_VERSION:
        problems.append(Problem("manifest", f"format version {stored.get('format_version')} (this article-rag "
                                            f"reads {FORMAT_VERSION})"))


def faiss_files(root: Path) -> list[tuple[int, Path]]:
    """(generation, path) of the FAISS files, newest first (the naming rule of rag.storage.vectors)."""
    out = []
    for p in root.glob("vectors.*.faiss"):
        with contextlib.suppress(ValueError):
            out.append((int(p.name.split(".")[1]), p))
    return sorted(out, reverse=True)


def _check_vectors(root: Path, conn, manifest: dict, gen: int, n_chunks: int, problems: list[Problem],
                   notes: list[str], *, sample: int | None) -> tuple[int | None, int]:
    from .vectors.faiss_index import VectorIndex

    usable = [(g, p) for g, p in faiss_files(root) if g <= gen]
    if not usable:
        notes.append("no FAISS file yet: the first search builds it from SQLite")
        return None, 0
    file_gen, path = usable[0]
    try:
        vi = VectorIndex.read(path)
    except (RuntimeError, MemoryError) as e:
        problems.append(Problem("vectors", f"{path.name} cannot be read ({str(e).splitlines()[0][:100]})"))
        return None, 0
    if vi.dim != int(manifest["dim"]):
        problems.append(Problem("vectors", f"{path.name} holds {vi.dim}-d vectors, the index {manifest['dim']}-d"))
        return vi.ntotal, 0
    ids = vi.ids()
    if len(np.unique(ids)) != len(ids):
        problems.append(Problem("vectors", f"{path.name} holds some chunk ids twice"))
    if file_gen == gen:
        have = np.fromiter((r[0] for r in conn.execute("SELECT id FROM chunks")), dtype=np.int64)
        if len(ids) != len(have) or not np.array_equal(np.sort(ids), np.sort(have)):
            missing = len(np.setdiff1d(have, ids))
            extra = len(np.setdiff1d(ids, have))
            problems.append(Problem("vectors", f"{path.name} has {len(ids)} vectors for {n_chunks} chunks "
                                               f"({missing} missing, {extra} not in SQLite)"))
    else:
        notes.append(f"FAISS file is from generation {file_gen}, SQLite at {gen}: caught up on open")
    bad, compared = compare_vectors(conn, vi, int(manifest["dim"]), sample)
    if bad:
        problems.append(Problem("vectors", f"{bad} of {compared} vectors compared in {path.name} differ from "
                                           "those stored in SQLite"))
    return vi.ntotal, compared


def compare_vectors(conn, vi, dim: int, sample: int | None) -> tuple[int, int]:
    """(differing, compared): the FAISS vectors of up to `sample` ids (all when None), spread evenly over the
    ids, against SQLite's vector blobs for those ids. Exact: both hold the same float32 values."""
    ids, vecs = vi.sample(sample)
    if not len(ids):
        return 0, 0
    stored: dict[int, bytes] = {}
    for part in range(0, len(ids), 500):
        sub = [int(i) for i in ids[part : part + 500]]
        stored.update(conn.execute(f"SELECT id, vector FROM chunks WHERE id IN ({','.join('?' * len(sub))})", sub))
    bad = compared = 0
    for cid, vec in zip(ids, vecs):
        blob = stored.get(int(cid))
        if blob is None or len(blob) != dim * 4:
            continue  # removed since the file was written, or damaged in SQLite (checked there)
        compared += 1
        if hashlib.blake2b(blob, digest_size=16).digest() != hashlib.blake2b(
                np.ascontiguousarray(vec, dtype=np.float32).tobytes(), digest_size=16).digest():
            bad += 1
    return bad, compared


def vectors_agree(catalog, vi) -> bool:
    """Cheap check when a FAISS file is loaded: a few of its vectors equal SQLite's (else it is rebuilt)."""
    ids, vecs = vi.sample(OPEN_SAMPLE)
    got, stored = catalog.vectors_by_id(ids)
    mine = dict(zip(ids.tolist(), vecs))
    return all(np.array_equal(mine[int(i)], v) for i, v in zip(got, stored))


def _stale_temp_files(root: Path) -> list[Path]:
    """Temporary files of writers that no longer run (a kill during a FAISS or manifest write)."""
    out = []
    for p in root.glob(".*.tmp"):
        m = _TEMP_PID.search(p.name)  # rag.storage.files names them .NAME.PID[.THREAD].tmp
        if m is None or not _alive(int(m.group(1))):
            out.append(p)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- recorded sources -------------------------------------------------------------------------------------------

def record_sources(root: Path, paths) -> None:
    """Remember the paths given to `rag index` (absolute), so a lost SQLite file can be rebuilt from them."""
    path = Path(root) / SOURCES_NAME
    known = recorded_sources(root)
    new = [os.path.abspath(os.fspath(p)) for p in paths]
    merged = list(dict.fromkeys([*known, *new]))
    if merged != known:
        with contextlib.suppress(OSError):  # a read-only index still works; it just cannot be rebuilt from these
            atomic_write_bytes(path, json.dumps({"paths": merged}, indent=1).encode())


def recorded_sources(root: Path) -> list[str]:
    try:
        data = json.loads((Path(root) / SOURCES_NAME).read_text(encoding="utf-8"))
        return [p for p in data.get("paths", []) if isinstance(p, str)]
    except (OSError, ValueError, AttributeError):
        return []


# ---- repairing --------------------------------------------------------------------------------------------------

def repair(root: str | os.PathLike, *, lock_timeout: float = 60.0) -> RepairReport:
    """`rag doctor --fix`: make the index at `root` work again, keeping every damaged file (renamed)."""
    from .salvage import salvage

    root = Path(root)
    if not (root / DB_NAME).exists():
        raise RagError(f"no index at {root}; build one with: rag index PATH --index {root}")
    with _write_lock(root, timeout=lock_timeout):
        actions = []
        for p in _stale_temp_files(root):
            with contextlib.suppress(OSError):
                p.unlink()
                actions.append(f"removed leftover {p.name}")
        report = check(root, full=True)
        if report.sqlite_damaged:
            return salvage(root, report, actions)
        if any(p.part == "manifest" for p in report.problems):
            conn = _open_ro(root / DB_NAME)
            try:
                stored = _stored_manifest(conn)
            finally:
                conn.close()
            atomic_write_bytes(root / MANIFEST_NAME, json.dumps(stored, indent=2).encode())
            actions.append(f"rewrote {MANIFEST_NAME} from SQLite")
        if any(p.part == "vectors" for p in report.problems):
            stamp = _stamp()
            for _, p in faiss_files(root):
                os.replace(p, p.with_name(f"{p.name}.{DAMAGED_TAG}-{stamp}"))
            actions.append("set the FAISS file aside and rebuilt it from SQLite")
        store = Store.open(root, create=False)
        try:
            store.vectors()  # builds (and saves) the FAISS file when there is none
            articles = store.counts()[0]
        finally:
            store.close()
    after = check(root)
    if not after.ok:
        raise IndexCorruptError(f"the index at {root} is still damaged after repair ({after.problems[0].what}); "
                                f"rebuild it into a new folder: rag index PATH --index NEWDIR")
    return RepairReport(root, tuple(actions) or ("nothing to repair",), articles)


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def set_aside(db: Path, stamp: str) -> Path:
    """Rename a damaged SQLite file with its WAL and shared-memory files, which keep pairing with it."""
    kept = db.with_name(f"{db.name}.{DAMAGED_TAG}-{stamp}")
    for suffix in ("-wal", "-shm"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            os.replace(side, kept.with_name(kept.name + suffix))
    os.replace(db, kept)
    return kept


def iter_rows(conn: sqlite3.Connection, table: str, columns: str) -> Iterator[tuple]:
    """Every row of `table` that SQLite can still read, in rowid order, stepping over damaged pages. A scan stops
    at the first unreadable page (or a rowid out of order: a zeroed page reads as rows of garbage); from there
    single rows are looked up by rowid (a lookup fails only when that row's own page, or the path to it, is
    damaged) until one reads, and the scan resumes after it. Without a readable largest rowid the lookups stop
    after PROBE_WITHOUT_MAX misses in a row."""
    last = 0
    top = None
    while True:
        try:
            for row in conn.execute(f"SELECT rowid, {columns} FROM {table} WHERE rowid > ? ORDER BY rowid", (last,)):
                if not isinstance(row[0], int) or row[0] <= last:
                    break
                last = row[0]
                yield row[1:]
            else:
                return
        except sqlite3.DatabaseError:
            pass
        if top is None:
            try:
                top = int(conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0)
            except (sqlite3.DatabaseError, TypeError, ValueError):
                top = -1
        found = None
        misses = 0
        while found is None and (last < top or (top < 0 and misses < PROBE_WITHOUT_MAX)):
            last += 1
            misses += 1
            with contextlib.suppress(sqlite3.DatabaseError):
                found = conn.execute(f"SELECT rowid, {columns} FROM {table} WHERE rowid = ?", (last,)).fetchone()
        if found is None:
            return
        yield found[1:]


# ---- rag doctor -------------------------------------------------------------------------------------------------

def index_checks(index_path: str | os.PathLike | None, *, full: bool = False) -> Iterator[tuple[str, str, str]]:
    """The index lines of `rag doctor`: (ok|warn|fail, what, the command that fixes it)."""
    from ..index import index_location

    root = index_location(index_path)
    if not isinstance(root, Path):
        from .milvus.doctor import milvus_checks

        yield from milvus_checks(root)
        return
    if not Store.exists(root):
        yield "warn", f"no index at {root}", f"rag index seeds/ --index {root}"
        return
    report = check(root, full=full)
    for note in report.notes:
        yield ("warn" if note.startswith("leftover") else "ok"), f"index {root}: {note}", (
            report.fix if note.startswith("leftover") else "")
    for p in report.problems:
        yield "fail", f"index {root}: {p.part} damaged: {p.what}", report.fix
    if report.ok:
        how = "integrity_check" if full else "quick_check"
        vectors = "no FAISS file yet" if report.vectors is None else (
            f"{report.vectors} vectors ({report.compared} compared with SQLite)")
        yield "ok", (f"index {root}: {report.articles} articles, {report.chunks} chunks, {vectors}; "
                     f"SQLite {how} ok, manifest ok"), ""

