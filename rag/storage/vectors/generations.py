"""The FAISS file lifecycle of the embedded store: one file per generation, caught up from SQLite, saved by policy.

The FAISS file is derived from the vectors stored in SQLite and is named after the generation it reflects
(`vectors.<gen>.faiss`, written to a temporary name, fsynced, then renamed). A kill between the SQLite commit and
the FAISS write leaves a missing or older file, which the next open notices (generation mismatch) and brings up to
date from SQLite by chunk id, or rebuilds. So at any moment the last committed state is loadable, SQLite and FAISS
agree, and no vector is orphaned. Because an older file is always safe, small changes leave it in place on purpose
(rewriting ~1.5 GB per million chunks for one article would dominate an incremental add); see `VectorFiles.maybe_save`.
The FAISS kind (exact flat, or IVF for large indexes) is derived from the size, never stored: see `VectorIndex`.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..catalog import Catalog
from ..files import atomic_replace
from .faiss_index import FLAT_MAX, IVF_TRAIN_PER_LIST, VectorIndex, ivf_nlist


@dataclass(frozen=True)
class VectorPolicy:
    """When the index switches kind and when its file is rewritten. Defaults are the measured ones; tests lower
    them so that a few thousand vectors cross the thresholds."""

    flat_max: int = FLAT_MAX          # below: exact flat; above: IVF (see faiss_index.py)
    save_min_delta: int = 20_000      # write the file when more than this many vectors changed since the last
    save_fraction: float = 0.05       # ... or this share of the index


class VectorFiles:
    """The in-memory FAISS index of the current generation and its files in the index directory."""

    def __init__(self, catalog: Catalog, policy: VectorPolicy | None = None):
        self.catalog = catalog
        self.root = catalog.root
        self.policy = policy or VectorPolicy()
        self._faiss: VectorIndex | None = None
        self._faiss_gen = -1
        self._delta_since_file = 0  # vectors added/removed in memory since the FAISS file it came from
        self._lock = threading.Lock()

    @property
    def loaded(self) -> VectorIndex | None:
        """The index held in memory, if any (None until the first search or a large write)."""
        return self._faiss

    def path(self, gen: int) -> Path:
        return self.root / f"vectors.{gen}.faiss"

    def files(self) -> list[tuple[int, Path]]:
        """(generation, path) of the FAISS files on disk, newest first."""
        out = []
        for p in self.root.glob("vectors.*.faiss"):
            with contextlib.suppress(ValueError):
                out.append((int(p.name.split(".")[1]), p))
        return sorted(out, reverse=True)

    def current(self) -> VectorIndex:
        """The vector index for the current generation.

        Kept in memory across calls; when SQLite has moved on (another process wrote) it is brought up to date by
        chunk id. Otherwise it comes from the newest FAISS file (caught up the same way) or is rebuilt from SQLite.
        """
        cat = self.catalog
        gen = cat.generation()
        with self._lock:
            if self._faiss is not None and self._faiss_gen == gen:
                return self._faiss
            vi = self._faiss
            if vi is None:
                for file_gen, path in self.files():
                    if file_gen > gen:
                        continue  # from a SQLite state this one does not contain (a restored database): unusable
                    try:
                        vi = VectorIndex.read(path)
                    except RuntimeError:
                        continue  # damaged file: try an older one, else rebuild below
                    if vi.dim != int(cat.manifest["dim"]):
                        vi = None
                        continue
                    self._delta_since_file = 0
                    break
            rebuilt = False
            if vi is None or not vi.suits(cat.chunk_count(), self.policy.flat_max):
                vi = self._build()
                rebuilt = True
            # Another process may commit while we read: catch up until the generation holds still, so that the
            # index (and a file written from it) is exactly the state of the generation it is labelled with.
            changed = 0
            while True:
                gen = cat.generation()
                changed += self._catch_up(vi)
                if cat.generation() == gen:
                    break
            self._delta_since_file = 0 if rebuilt else self._delta_since_file + changed
            self._faiss, self._faiss_gen = vi, gen
            self.maybe_save(vi, gen, force=rebuilt)
            return vi

    def _catch_up(self, vi: VectorIndex) -> int:
        """Apply to `vi` what SQLite changed since `vi` was current; returns how many vectors were added or removed.

        Chunk ids come from AUTOINCREMENT, so they only grow and are never reused: everything added since is
        above the largest id `vi` holds, and a removal shows as fewer SQLite rows at or below that id.
        """
        cat = self.catalog
        ids = vi.ids()
        top = int(ids.max()) if len(ids) else 0
        with cat.db_lock:
            total = cat.chunk_count()
            newer = cat.count_above(top)
        changed = 0
        if total - newer != len(ids):
            have = cat.ids_up_to(top)
            gone = np.setdiff1d(ids, have, assume_unique=True)
            missing = np.setdiff1d(have, ids, assume_unique=True)
            if len(gone):
                vi.remove(gone)
            for part in range(0, len(missing), 50_000):
                sub = missing[part : part + 50_000]
                got_ids, vecs = cat.vectors_by_id(sub)
                vi.add(vecs, got_ids)
            changed += len(gone) + len(missing)
        for got_ids, vecs in cat.iter_vectors(after=top):
            vi.add(vecs, got_ids)
            changed += len(got_ids)
        return changed

    def _build(self) -> VectorIndex:
        """A fresh index from the vectors in SQLite, of the kind that suits its size (see `VectorIndex`)."""
        cat = self.catalog
        dim = int(cat.manifest["dim"])
        n = cat.chunk_count()
        if n < self.policy.flat_max:
            vi = VectorIndex.flat(dim)
        else:
            nlist = ivf_nlist(n)
            sample = cat.training_sample(n, nlist * IVF_TRAIN_PER_LIST)
            vi = VectorIndex.ivf(dim, nlist, sample)
        for ids, vecs in cat.iter_vectors():
            vi.add(vecs, ids)
        return vi

    def maybe_save(self, vi: VectorIndex, gen: int, *, force: bool = False) -> None:
        """Write the file for `gen` when enough changed since the file it came from, or when `force` (a rebuild:
        worth keeping, and it replaces a file of another kind for the same generation). Caller holds the lock.

        Small changes are not written: the next open catches a stale file up from SQLite in about the time it
        takes to read those few vectors, while rewriting the file costs ~1.5 GB per million chunks every time.
        """
        files = self.files()
        newest = files[0][0] if files else None
        if newest == gen and not force:
            self._delta_since_file = 0
            return
        limit = max(self.policy.save_min_delta, self.policy.save_fraction * vi.ntotal)
        if not force and newest is not None and self._delta_since_file <= limit:
            return
        with contextlib.suppress(OSError):  # read-only index directory: keep it in memory only
            self.save(vi, gen)
            self._delta_since_file = 0

    def save(self, vi: VectorIndex, gen: int) -> None:
        """Write `vi` as the file of generation `gen` (atomically) and drop the files of older generations."""
        import faiss

        def write(tmp: Path) -> None:
            with vi.lock:
                faiss.write_index(vi.index, str(tmp))  # streamed: no in-memory copy of a GB-sized index

        atomic_replace(self.path(gen), write)
        for old_gen, old in self.files():
            if old_gen < gen:  # never a newer one another process may just have written
                with contextlib.suppress(OSError):
                    old.unlink()

    def persist(self) -> None:
        """Write the file of the current generation now, whatever the save policy says."""
        vi = self.current()
        with self._lock:
            if not self.files() or self.files()[0][0] != self._faiss_gen:
                self.save(vi, self._faiss_gen)
                self._delta_since_file = 0

    def apply_commit(self, gen: int, removed: list[int], added: list[tuple[np.ndarray, np.ndarray]]) -> int:
        """Apply one SQLite commit (now generation `gen`) to the in-memory index when it is the one for the previous
        generation (cheap: adds and removes); returns how many vectors the commit changed. The file is not rewritten
        here: `after_write` decides once per writer. Without an in-memory index nothing is loaded: SQLite holds the
        vectors and the next `current()` catches up by id."""
        changed = len(removed) + sum(len(ids) for ids, _ in added)
        with self._lock:
            vi = self._faiss
            if vi is not None and self._faiss_gen == gen - 1:
                if removed:
                    vi.remove(np.asarray(removed, dtype=np.int64))
                for ids, vecs in added:
                    vi.add(vecs, ids)
                self._faiss_gen = gen
                self._delta_since_file += changed
        return changed

    def after_write(self, changed: int) -> None:
        """Called once when a writer finishes (under the write lock): settle the index kind and the file."""
        if not changed:
            return
        cat = self.catalog
        gen = cat.generation()
        policy = self.policy
        with self._lock:
            vi = self._faiss if self._faiss is not None and self._faiss_gen == gen else None
            if vi is not None:
                rebuilt = not vi.suits(vi.ntotal, policy.flat_max)
                if rebuilt:  # crossed a size threshold: switch kind now, while we hold the lock
                    vi = self._build()
                    self._faiss, self._delta_since_file = vi, 0
                self.maybe_save(vi, gen, force=rebuilt)
                return
            if self.files() and changed <= max(policy.save_min_delta, policy.save_fraction * cat.chunk_count()):
                return  # a small change: whoever opens the index next catches the stale file up cheaply
        self.current()  # no file yet, or a large change: build or catch up now, and save
