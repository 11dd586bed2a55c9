"""FAISS itself: the vector index kinds (exact flat, IVF) and searching them. The only place `faiss` is imported
(with vectors/generations.py, which writes and reads the files)."""

from __future__ import annotations

import threading
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

    def suits(self, n: int, flat_max: int = FLAT_MAX) -> bool:
        """Is this kind (and IVF list count) still right for n vectors? With slack, so sizes near a threshold
        do not flip the kind back and forth."""
        if self.kind == "flat":
            return n < flat_max
        ideal = ivf_nlist(n)
        return n >= flat_max // 2 and self.index.nlist // 4 < ideal < self.index.nlist * 4

    def search(self, q: np.ndarray, k: int, params=None):
        import faiss

        with self.lock:
            if self.kind == "ivf":
                sel = getattr(params, "sel", None) if params is not None else None
                p = faiss.SearchParametersIVF(nprobe=self.filtered_nprobe(sel, k) if sel is not None else self.nprobe)
                if sel is not None:
                    p.sel = sel
                scores, ids = self.index.search(q, k, params=p)
                if p.nprobe < self.index.nlist and (ids < 0).any() and k <= self.index.ntotal:
                    # the probed lists held fewer than k vectors (a tiny index, or a k near its size): scan every
                    # list, so that k results come back whenever that many exist, as from a flat index
                    p.nprobe = self.index.nlist
                    scores, ids = self.index.search(q, k, params=p)
                return scores, ids
            return self.index.search(q, k, params=params)

    @staticmethod
    def selector(allowed: np.ndarray):
        """A FAISS id selector for `allowed` (what a filtered search passes as `params.sel`)."""
        import faiss

        return faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))

    def filtered_nprobe(self, sel, k: int) -> int:
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


def dense_search(index: VectorIndex, query_vec: np.ndarray, limit: int,
                 allowed: np.ndarray | None) -> list[tuple[int, float]]:
    """(chunk id, inner product) of the `limit` nearest chunks; with `allowed`, only among those ids (exact on IVF
    too: a filtered search scans as many lists as it needs, see `VectorIndex.filtered_nprobe`)."""
    import faiss

    if index.ntotal == 0 or limit <= 0:
        return []
    q = np.ascontiguousarray(query_vec.reshape(1, -1), dtype=np.float32)
    params = None
    if allowed is not None:
        if len(allowed) == 0:
            return []
        params = faiss.SearchParameters(sel=index.selector(allowed))
    scores, ids = index.search(q, min(limit, index.ntotal), params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def faiss_version() -> str:
    import faiss

    return faiss.__version__
