"""An independent inspection of an index directory: SQLite and the FAISS file read directly (not through rag.Index,
which would repair a stale FAISS file on open and so hide what a crash left behind), a clean reference build to
compare with, and the checks every kill must leave true."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Snapshot:
    """What is on disk, read directly. `articles` maps id -> sorted chunk spans [(start, end), ...]."""

    generation: int
    articles: dict[str, list[tuple[int, int]]]
    titles: dict[str, str]
    chunk_ids: list[int]
    fts_rowids: list[int]
    faiss_file_ids: list[int] | None        # ids in vectors.<generation>.faiss, None when that file is absent
    problems: list[str] = field(default_factory=list)


def snapshot(index_dir: Path) -> Snapshot | None:
    """None when no database exists yet (a kill before the index was created). Changes no content: a plain
    connection (as rag's own) so that SQLite replays a WAL left by a killed writer, as every later open will."""
    db = Path(index_dir) / "index.sqlite3"
    if not db.is_file():
        return None
    conn = sqlite3.connect(db, timeout=30)
    try:
        problems = []
        quick = conn.execute("PRAGMA quick_check").fetchone()[0]
        if quick != "ok":
            problems.append(f"sqlite quick_check: {quick}")
        gen = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        arts: dict[str, list[tuple[int, int]]] = {}
        titles = {}
        for aid, title in conn.execute("SELECT id, title FROM articles"):
            arts[aid] = []
            titles[aid] = title
        chunk_ids = []
        for cid, aid, start, end, vec in conn.execute('SELECT id, article_id, start, "end", vector FROM chunks ORDER BY id'):
            chunk_ids.append(cid)
            if aid not in arts:
                problems.append(f"chunk {cid} belongs to missing article {aid}")
                continue
            arts[aid].append((start, end))
            if not vec:
                problems.append(f"chunk {cid} has no vector")
        for spans in arts.values():
            spans.sort()
        fts = [r[0] for r in conn.execute("SELECT rowid FROM chunks_fts ORDER BY rowid")]
    finally:
        conn.close()
    faiss_ids = None
    for fpath in Path(index_dir).glob("vectors.*.faiss"):
        try:
            fgen = int(fpath.name.split(".")[1])
        except ValueError:
            continue
        if fgen > gen:
            problems.append(f"{fpath.name} is newer than the committed generation {gen}")
        elif fgen == gen:
            try:
                faiss_ids = sorted(int(i) for i in _file_ids(fpath))
            except RuntimeError as e:
                problems.append(f"{fpath.name} unreadable: {e}")
    return Snapshot(gen, arts, titles, chunk_ids, fts, faiss_ids, problems)


def check_consistent(snap: Snapshot, reference: dict[str, list[tuple[int, int]]]) -> list[str]:
    """Problems with `snap` against a clean build's article -> chunk spans: every listed article complete (all of
    its chunks, the same spans), SQLite chunk ids == FTS rowids == FAISS ids (when a FAISS file for the current
    generation exists)."""
    problems = list(snap.problems)
    for aid, spans in snap.articles.items():
        if aid not in reference:
            problems.append(f"unknown article {aid}")
        elif spans != reference[aid]:
            problems.append(f"article {aid} ({snap.titles.get(aid)}) has {len(spans)} chunks, a clean build has "
                            f"{len(reference[aid])}: half-added")
    if snap.fts_rowids != snap.chunk_ids:
        problems.append(f"FTS rowids differ from chunk ids: {len(snap.fts_rowids)} vs {len(snap.chunk_ids)}")
    if snap.faiss_file_ids is not None and snap.faiss_file_ids != snap.chunk_ids:
        problems.append(f"vectors.{snap.generation}.faiss holds {len(snap.faiss_file_ids)} ids, SQLite "
                        f"{len(snap.chunk_ids)} chunks: orphan or missing vectors")
    return problems


def _file_ids(path: Path):
    from rag.storage.vectors import VectorIndex

    return VectorIndex.read(path).ids()


def loaded_faiss_ids(index) -> list[int]:
    """Ids of the vector index a rag.Index actually searches with (after its own load / catch-up / rebuild)."""
    return sorted(int(i) for i in index.store.vectors().ids())


def current_generation(index_dir: Path) -> int | None:
    """The committed generation, read the way any reader would (None before the database exists)."""
    db = Path(index_dir) / "index.sqlite3"
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        finally:
            conn.close()
    except (sqlite3.Error, TypeError):
        return None


@dataclass
class Reference:
    """A clean build: per article its chunk spans and text, and the article set after each commit (generation)."""

    spans: dict[str, list[tuple[int, int]]]
    texts: dict[str, str]
    titles: dict[str, str]
    committed: list[frozenset[str]]          # committed[g] = the articles at generation g (committed[0] = none)
    chunk_count: int


def reference_build(corpus: Path, index_dir: Path, commit_every: int) -> Reference:
    """Index `corpus` in this process with the same code path `rag index` uses, recording what every commit made
    visible (read back from SQLite right after it)."""
    import rag

    committed: list[frozenset[str]] = [frozenset()]
    index = rag.Index.open(index_dir)
    index.store.on_commit.append(lambda _gen: committed.append(frozenset(index.store.article_hashes())))
    index.add([corpus], commit_every=commit_every)
    snap = snapshot(index_dir)
    texts = {a.id: index.get_article(a.id).text for a in index.articles()}
    index.close()
    assert snap is not None and not check_consistent(snap, snap.articles)
    assert snap.generation == len(committed) - 1, (snap.generation, len(committed))
    return Reference(snap.articles, texts, snap.titles, committed, len(snap.chunk_ids))


def verify_after_kill(index_dir: Path, ref: Reference, allowed: list[frozenset[str]] | None = None) -> dict:
    """Everything a kill must leave true, checked on disk and through rag.Index. Returns a summary; raises
    AssertionError with the problems otherwise.

    `allowed`: the article sets that may be listed (default: the reference's commit sequence, and then the set
    must be exactly the one of the committed generation)."""
    import rag

    problems: list[str] = []
    snap = snapshot(index_dir)
    listed: frozenset[str] = frozenset()
    gen = 0
    if snap is not None:
        problems += check_consistent(snap, ref.spans)
        listed, gen = frozenset(snap.articles), snap.generation
        if allowed is None:
            if gen >= len(ref.committed):
                problems.append(f"generation {gen} beyond the {len(ref.committed) - 1} commits of a clean build")
            elif listed != ref.committed[gen]:
                problems.append(f"generation {gen} lists {len(listed)} articles, that commit made "
                                f"{len(ref.committed[gen])}: not the last completed commit")
    if allowed is not None and listed not in allowed:
        problems.append(f"{len(listed)} articles listed: not one of the allowed states "
                        f"{sorted(len(a) for a in allowed)}")
    if problems:
        raise AssertionError("; ".join(problems))
    hits_checked = 0
    if snap is not None:
        index = rag.Index.open(index_dir)
        try:
            infos = {a.id: a.chunks for a in index.articles()}
            assert set(infos) == set(listed), "rag list disagrees with SQLite"
            assert all(infos[a] == len(ref.spans[a]) for a in infos), "rag list shows a partial article"
            assert loaded_faiss_ids(index) == snap.chunk_ids, "the vectors searched are not exactly SQLite's chunks"
            for aid in list(listed)[:3] or [None]:
                query = ref.titles[aid] if aid else "harbour ferry terminal budget"
                for h in index.search(query, k=5):
                    assert h.article.id in listed
                    assert h.text == ref.texts[h.article.id][h.start:h.end] and h.text
                    assert (h.start, h.end) in ref.spans[h.article.id]
                    hits_checked += 1
                if aid:
                    assert hits_checked, f"no hit for the title of a listed article {ref.titles[aid]!r}"
        finally:
            index.close()
    return {"articles": len(listed), "generation": gen, "db": snap is not None, "hits_checked": hits_checked}


def assert_complete(index_dir: Path, ref: Reference) -> None:
    """The index holds exactly the clean build's articles with the same chunks, and its vectors agree."""
    import rag

    snap = snapshot(index_dir)
    assert snap is not None
    problems = check_consistent(snap, ref.spans)
    assert not problems, problems
    assert snap.articles == ref.spans, f"{len(snap.articles)} articles after the re-run, {len(ref.spans)} expected"
    index = rag.Index.open(index_dir)
    try:
        assert loaded_faiss_ids(index) == snap.chunk_ids
    finally:
        index.close()
