"""FAISS itself: the vector index kinds (exact flat, IVF) and searching them. The only place `faiss` is imported
(with vectors/generations.py, which writes and reads the files)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

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


SELECTOR_CACHE = 16        # filters' selectors kept per index (the catalog keeps their id arrays, rag.storage.catalog)
EXACT_FILTER_READS = 3     # a filter passing at most 3x the vectors an unfiltered IVF search reads is searched exactly
EXACT_FILTER_CACHED = 4    # ... from a copy of its vectors, kept for this many filters (38 MB each at most at 1M chunks)


class Allowed:
    """The chunk ids a filtered search may return, as a FAISS bitmap selector (one bit per id up to the largest).

    A bitmap is built with numpy in about a millisecond even for 216k of 1M ids, and testing an id is one bit; the
    IDSelectorBatch it replaces took 143 ms to build per query at that size (a hash set) and slowed every scanned
    vector (bench/results/perf_scale_1m.json). `count` lets an IVF search size how many lists it must probe."""

    def __init__(self, ids: np.ndarray) -> None:
        import faiss

        ids = np.asarray(ids, dtype=np.int64)
        self.count = int(len(ids))
        bits = np.zeros(int(ids.max()) + 1 if self.count else 1, dtype=bool)
        bits[ids] = True
        self.bitmap = np.packbits(bits, bitorder="little")  # faiss tests bit (id & 7) of byte (id >> 3)
        self.sel = faiss.IDSelectorBitmap(len(self.bitmap), faiss.swig_ptr(self.bitmap))  # borrows self.bitmap
        self.ids = ids
        self.matrix: tuple[np.ndarray, np.ndarray] | None = None   # (ids, vectors) for an exact search, when small

    def exact(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k best allowed chunks by inner product, from the copied vectors (FAISS's shape)."""
        ids, vecs = self.matrix
        scores = vecs @ q[0]
        k = min(k, len(ids))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
        top = top[np.argsort(-scores[top], kind="stable")]
        return scores[top][None, :], ids[top][None, :]


def ivf_nlist(n: int) -> int:
    """Lists for an IVF index of n vectors: the power of two nearest 4*sqrt(n), at least 64 (1024 at 100k,
    4096 at 1M). Measured at 100k: 1024 lists reach recall@10 0.989 scanning 3% of the vectors, 256 lists
    0.955 scanning 12%."""
    return max(64, 1 << max(0, round(float(np.log2(4 * np.sqrt(max(n, 1)))))))


class VectorIndex:
    """A FAISS index with how to search and update it safely from several threads.

    `search(q, k, allowed=...)` limits the results to `allowed` (from `selector`); on an IVF index it probes more
    lists the fewer chunks pass the filter (`filtered_nprobe`), all of them for a rare filter, so a filtered search
    finds its nearest allowed chunks about as reliably as an unfiltered one finds its nearest, and exactly for a
    rare filter.
    """

    def __init__(self, index, kind: str):
        self.index = index
        self.kind = kind
        self.lock = threading.Lock()  # faiss indexes are not safe to search while another thread adds
        self.nprobe = max(IVF_NPROBE_MIN, index.nlist // IVF_NPROBE_FRACTION) if kind == "ivf" else 0
        # keyed by the id array's identity: the catalog hands out the same read-only array for a filter until the
        # index changes, and the entry holds the array, so its id cannot be reused while cached
        self._selectors: OrderedDict[int, tuple[np.ndarray, Allowed]] = OrderedDict()
        self._selectors_lock = threading.Lock()

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

    def suits(self, n: int, flat_max: int = FLAT_MAX) -> bool:
        """Is this kind (and IVF list count) still right for n vectors? With slack, so sizes near a threshold
        do not flip the kind back and forth."""
        if self.kind == "flat":
            return n < flat_max
        ideal = ivf_nlist(n)
        return n >= flat_max // 2 and self.index.nlist // 4 < ideal < self.index.nlist * 4

    def search(self, q: np.ndarray, k: int, params=None, *, allowed: Allowed | None = None):
        import faiss

        if allowed is not None and allowed.matrix is not None and len(q) == 1:
            return allowed.exact(q, k)
        with self.lock:
            if self.kind == "ivf":
                sel = allowed.sel if allowed is not None else getattr(params, "sel", None) if params else None
                p = faiss.SearchParametersIVF(nprobe=self.filtered_nprobe(allowed or sel, k) if sel is not None
                                              else self.nprobe)
                if sel is not None:
                    p.sel = sel
                scores, ids = self.index.search(q, k, params=p)
                if p.nprobe < self.index.nlist and (ids < 0).any() and k <= self.index.ntotal:
                    # the probed lists held fewer than k vectors (a tiny index, or a k near its size): scan every
                    # list, so that k results come back whenever that many exist, as from a flat index
                    p.nprobe = self.index.nlist
                    scores, ids = self.index.search(q, k, params=p)
                return scores, ids
            if allowed is not None:
                params = faiss.SearchParameters(sel=allowed.sel)
            return self.index.search(q, k, params=params)

    def selector(self, allowed: np.ndarray, vectors_for=None) -> Allowed:
        """The selector for the ids in `allowed`, built once per id array (a filter asked again reuses it).

        On an IVF index, a filter that passes few chunks is searched exactly from a copy of their vectors when
        `vectors_for(ids) -> (ids, vectors)` is given (the store reads them from SQLite, once per filter): probing
        every list for a rare outlet tests a bit for every id in the index (8 ms at 1M chunks), the copy is one
        small matrix product."""
        key = id(allowed)
        with self._selectors_lock:
            hit = self._selectors.get(key)
            if hit is not None and hit[0] is allowed:
                self._selectors.move_to_end(key)
                return hit[1]
        built = Allowed(allowed)
        if vectors_for is not None and 0 < built.count <= self.exact_filter_max():
            got, vecs = vectors_for(built.ids)
            built.matrix = (np.asarray(got, dtype=np.int64), np.ascontiguousarray(vecs, dtype=np.float32))
        with self._selectors_lock:
            self._selectors[key] = (allowed, built)
            while len(self._selectors) > SELECTOR_CACHE:
                self._selectors.popitem(last=False)
            # the vector copies are the memory: keep only the newest few
            for _, old in list(self._selectors.values())[:-EXACT_FILTER_CACHED]:
                old.matrix = None
        return built

    def exact_filter_max(self) -> int:
        """The most allowed chunks searched exactly from a copy (0 for a flat index, which is exact anyway)."""
        if self.kind != "ivf" or not self.index.nlist:
            return 0
        return int(EXACT_FILTER_READS * self.nprobe * self.index.ntotal / self.index.nlist)

    def filtered_nprobe(self, allowed, k: int) -> int:
        """Lists to probe for a filtered search: nprobe * (ntotal / allowed) ** 0.75, at least enough lists for
        10*k allowed chunks, at most all. Its nearest allowed chunks lie further out than the nearest of all, so it
        must reach further to find them as reliably; measured at 1M chunks (60 candidates, recall@10 against an
        exact filtered search): an outlet of 22% probes 102 of 4,096 lists for 0.978 (an unfiltered search: 0.978),
        one of 2.6% probes 493 for 0.978; exponent 1 (as many allowed vectors read as an unfiltered search reads)
        gave 0.983 / 0.998 at twice the time, 0.5 gave 0.968 / 0.935. Only allowed vectors are compared with the
        question (the bitmap is tested first). A selector of unknown size (a raw FAISS one) scans every list."""
        count = getattr(allowed, "count", None)
        if not isinstance(count, int) or not self.index.ntotal:
            return self.index.nlist
        count = max(1, min(count, self.index.ntotal))
        per_list = count / self.index.nlist  # allowed chunks in an average list
        want = max(np.ceil(10 * k / per_list), np.ceil(self.nprobe * (self.index.ntotal / count) ** 0.75))
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

    def sample(self, n: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of up to `n` entries spread evenly over the index (all of them when None), read straight
        from the FAISS structures, no search: rag.storage.integrity compares them with SQLite's copies."""
        import faiss

        def spread(size: int, want: int | None) -> np.ndarray:
            return np.arange(size) if want is None or size <= want else np.unique(
                np.linspace(0, size - 1, want).astype(np.int64))

        with self.lock:
            if self.kind == "flat":
                ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
                pos = spread(len(ids), n)
                vecs = np.vstack([self.index.index.reconstruct(int(p)) for p in pos]) if len(pos) else \
                    np.zeros((0, self.dim), np.float32)
                return ids[pos], vecs
            inv, out_ids, out_vecs = self.index.invlists, [], []
            lists = [i for i in range(self.index.nlist) if inv.list_size(i)]
            per = None if n is None else max(1, n // max(1, len(lists)))
            for i in lists:
                size = inv.list_size(i)
                lid = faiss.rev_swig_ptr(inv.get_ids(i), size).copy()
                codes = faiss.rev_swig_ptr(inv.get_codes(i), size * self.dim * 4).copy().view(np.float32)
                pos = spread(size, per)
                out_ids.append(lid[pos].astype(np.int64))
                out_vecs.append(codes.reshape(size, self.dim)[pos])
                if n is not None and sum(len(x) for x in out_ids) >= n:
                    break
        if not out_ids:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return np.concatenate(out_ids), np.vstack(out_vecs)

    def __getattr__(self, name: str):
        # anything else (id_map, nlist, ...) is the FAISS index's own
        if name == "index":
            raise AttributeError(name)
        return getattr(self.index, name)


def dense_search(index: VectorIndex, query_vec: np.ndarray, limit: int,
                 allowed: np.ndarray | None, vectors_for=None) -> list[tuple[int, float]]:
    """(chunk id, inner product) of the `limit` nearest chunks; with `allowed`, only among those ids (on IVF a
    filtered search probes as many lists as it needs, see `VectorIndex.filtered_nprobe`, and a rare filter is
    searched exactly, from the vectors `vectors_for` gives, see `VectorIndex.selector`)."""
    if index.ntotal == 0 or limit <= 0:
        return []
    q = np.ascontiguousarray(query_vec.reshape(1, -1), dtype=np.float32)
    sel = None
    if allowed is not None:
        if len(allowed) == 0:
            return []
        sel = index.selector(allowed, vectors_for)
    scores, ids = index.search(q, min(limit, index.ntotal), allowed=sel)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def faiss_version() -> str:
    import faiss

    return faiss.__version__
