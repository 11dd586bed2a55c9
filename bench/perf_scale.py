"""Scale: the vector index chosen by size (recall@10 against exact search, latency, memory, build time), HNSW
for comparison, filtered dense search, and keyword (FTS5) search with and without the term budget.

    python bench/perf_scale.py --index bench/cache/synth-100k --hnsw --out bench/results/perf_scale_100k.json
    python bench/perf_scale.py --index bench/cache/synth-1m --out bench/results/perf_scale_1m.json

The indexes come from bench/synth.py (structured synthetic vectors; see there). Query vectors are noisy copies of
stored chunk vectors (cos ~0.6, like a question to its evidence); ground truth is exact inner-product search.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def ms_percentiles(fn, items) -> dict:
    wall, cpu = [], []
    for x in items:
        w, c = time.perf_counter(), time.process_time()
        fn(x)
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    return {"p50_ms": round(float(np.percentile(wall, 50)), 3), "p95_ms": round(float(np.percentile(wall, 95)), 3),
            "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 3)}


def recall(got: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(g[:k]) & set(t[:k])) / k for g, t in zip(got, truth)]))


def all_vectors(store) -> tuple[np.ndarray, np.ndarray]:
    ids, vecs = [], []
    for i, v in store.iter_vectors():
        ids.append(i)
        vecs.append(v.copy())
    return np.concatenate(ids), np.concatenate(vecs)


def exact_topk(vecs: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    best_s = np.full((len(q), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), k), dtype=np.int64)
    for s in range(0, len(vecs), 200_000):
        sc = q @ vecs[s : s + 200_000].T
        part = np.argpartition(-sc, k, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(sc, part, 1)], 1)
        cand_i = np.concatenate([best_i, ids[s : s + 200_000][part]], 1)
        order = np.argsort(-cand_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
    return best_i


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--hnsw", action="store_true", help="also build and measure IndexHNSWFlat (M=32) on this data")
    ap.add_argument("--flat", action="store_true", help="also measure an exact IndexFlatIP at this size")
    args = ap.parse_args()

    import faiss

    import synth
    from rag.retrieval import keyword_terms
    from rag.storage import Filters, Store

    out: dict = {"index": str(args.index), "at": time.strftime("%Y-%m-%d %H:%M:%S"), "loadavg_start": os.getloadavg(),
                 "faiss_threads": faiss.omp_get_max_threads()}
    store = Store.open(args.index, create=False)
    n = store.counts()[1]
    out["chunks"] = n
    r0 = rss_mb()
    t = time.perf_counter()
    vi = store.vectors()
    out["load_vectors_s"] = round(time.perf_counter() - t, 2)
    out["vector_index_rss_mb"] = round(rss_mb() - r0, 1)
    out["vector_index_mb_per_million"] = round((rss_mb() - r0) / n * 1e6, 1)
    out["faiss_file_mb"] = round(sum(p.stat().st_size for p in args.index.glob("vectors.*.faiss")) / 2**20, 1)
    out["sqlite_mb"] = round(sum(p.stat().st_size for p in args.index.glob("index.sqlite3*")) / 2**20, 1)
    out["kind"], out["nlist"], out["nprobe_default"] = vi.kind, getattr(vi.index, "nlist", None), vi.nprobe

    texts, qv = synth.queries(args.queries, seed=2, store=store)
    ids, vecs = all_vectors(store)
    t = time.perf_counter()
    truth = exact_topk(vecs, ids, qv, 10)
    out["exact_numpy_batch_s"] = round(time.perf_counter() - t, 2)

    # the index kind in use, at several nprobe values
    if vi.kind == "ivf":
        sweep = []
        default = vi.nprobe
        for nprobe in sorted({4, 8, 16, 32, 64, 128, default}):
            vi.nprobe = nprobe
            got = np.stack([vi.search(q.reshape(1, -1), 10)[1][0] for q in qv])
            lat = ms_percentiles(lambda q: vi.search(q.reshape(1, -1), 60), qv[:100])
            sweep.append({"nprobe": nprobe, "recall@10": round(recall(got, truth), 4), **lat})
        vi.nprobe = default
        out["ivf_sweep"] = sweep
        out["ivf_default"] = next(s for s in sweep if s["nprobe"] == default)
    else:
        got = np.stack([vi.search(q.reshape(1, -1), 10)[1][0] for q in qv])
        out["flat"] = {"recall@10": round(recall(got, truth), 4),
                       **ms_percentiles(lambda q: vi.search(q.reshape(1, -1), 60), qv[:100])}

    # filtered search (a routed outlet sub-search), measured side by side with the unfiltered one, query by query:
    # the store's own path (ids cached per filter, a bitmap selector cached per id array), the search alone with
    # that selector, and the IDSelectorBatch built per query that it replaced
    from rag.storage.vectors import dense_search

    outlets = [s for s, _ in store.sources()]
    big = max(store.sources(), key=lambda s: s[1])[0]
    small = min(store.sources(), key=lambda s: s[1])[0]
    t = time.perf_counter()
    allowed = store.chunk_ids_where(Filters(sources=(big,)))
    out["filter_ids_first_s"] = round(time.perf_counter() - t, 3)
    out["filter_allowed_share"] = round(len(allowed) / n, 3)
    t = time.perf_counter()
    store.chunk_ids_where(Filters(sources=(big,)))
    out["filter_ids_cached_ms"] = round((time.perf_counter() - t) * 1000, 3)
    t = time.perf_counter()
    faiss.IDSelectorBatch(allowed)
    out["idselector_batch_build_ms"] = round((time.perf_counter() - t) * 1000, 2)
    t = time.perf_counter()
    vi.selector(allowed)
    out["bitmap_selector_build_ms"] = round((time.perf_counter() - t) * 1000, 2)

    def side_by_side(outlet: str) -> dict:
        f = Filters(sources=(outlet,))
        ids_ok = store.chunk_ids_where(f)
        in_f = np.isin(ids, ids_ok)
        truth_f = exact_topk(vecs[in_f], ids[in_f], qv[:50], 10)
        got = np.stack([np.array([c for c, _ in store.dense_search(q, 10, f)] + [-1] * 10)[:10] for q in qv[:50]])
        cols = {"unfiltered": lambda q: store.dense_search(q, 60),
                "filtered": lambda q: store.dense_search(q, 60, f),
                "filtered_batch_per_query": lambda q: vi.search(
                    q.reshape(1, -1), 60, params=faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids_ok)))}
        wall = {name: [] for name in cols}
        for q in qv[:100]:
            for name, fn in cols.items():   # interleaved, so load changes hit every column alike
                t0 = time.perf_counter()
                fn(q)
                wall[name].append((time.perf_counter() - t0) * 1000)
        p50 = {name: round(float(np.percentile(v, 50)), 3) for name, v in wall.items()}
        p95 = {name: round(float(np.percentile(v, 95)), 3) for name, v in wall.items()}
        return {"outlet": outlet, "allowed": int(len(ids_ok)), "recall@10_vs_exact_filtered": round(recall(got, truth_f), 4),
                "p50_ms": p50, "p95_ms": p95,
                "filtered_over_unfiltered_p50": round(p50["filtered"] / p50["unfiltered"], 3),
                "batch_per_query_over_unfiltered_p50": round(p50["filtered_batch_per_query"] / p50["unfiltered"], 3)}

    out["filtered_dense_biggest_outlet"] = side_by_side(big)
    out["filtered_dense_smallest_outlet"] = side_by_side(small)
    # the slowest case by design: an outlet just too big for the exact copy, so the IVF path probes the most lists
    # (store.sources() counts articles; the filter's size is its chunks)
    if vi.kind == "ivf":
        out["exact_filter_max"] = vi.exact_filter_max()
        for outlet, _ in sorted(store.sources(), key=lambda s: s[1]):
            if len(store.chunk_ids_where(Filters(sources=(outlet,)))) > vi.exact_filter_max():
                out["filtered_dense_just_above_exact"] = side_by_side(outlet)
                break
    out["outlets"] = len(outlets)

    # keyword search: budget on (default) vs off, same queries
    matches = [keyword_terms(q) for q in texts]
    kw = {}
    default_budget = store.keyword.max_postings
    for budget in (default_budget, 0):
        store.keyword.max_postings = budget
        store.keyword.reset_cache()
        first = ms_percentiles(lambda m: store.keyword_search(m, 60), matches)
        warm = ms_percentiles(lambda m: store.keyword_search(m, 60), matches)
        kw[f"budget_{budget}"] = {"first_pass": first, "cached_df": warm}
    store.keyword.max_postings = default_budget
    kept = [len(keyword_terms(q)) for q in texts]
    pruned = [len(store.keyword.select(m)) for m in matches]
    kw["terms_per_query_mean"] = round(float(np.mean(kept)), 2)
    kw["terms_kept_mean"] = round(float(np.mean(pruned)), 2)
    kw["queries_with_no_keyword_terms_left"] = int(sum(1 for p in pruned if p == 0))
    out["keyword"] = kw

    if args.flat:
        flat = faiss.IndexFlatIP(vecs.shape[1])
        flat.add(vecs)
        out["flat_exact_search"] = ms_percentiles(lambda q: flat.search(q.reshape(1, -1), 60), qv[:50])
        del flat
    if args.hnsw:
        r0 = rss_mb()
        t = time.perf_counter()
        h = faiss.IndexHNSWFlat(vecs.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        h.hnsw.efConstruction = 40
        h.add(vecs)
        hs = {"M": 32, "efConstruction": 40, "build_s": round(time.perf_counter() - t, 1),
              "rss_mb": round(rss_mb() - r0, 1), "sweep": []}
        for ef in (16, 32, 64, 128, 256):
            h.hnsw.efSearch = ef
            got = ids[np.stack([h.search(q.reshape(1, -1), 10)[1][0] for q in qv])]
            hs["sweep"].append({"efSearch": ef, "recall@10": round(recall(got, truth), 4),
                                **ms_percentiles(lambda q: h.search(q.reshape(1, -1), max(60, ef)), qv[:100])})
        out["hnsw"] = hs
    out["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
