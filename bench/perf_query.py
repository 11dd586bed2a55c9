"""In-process query latency of Index.search and the default Index.ask, with a breakdown by stage.

    python bench/perf_query.py --index index --queries seed
    python bench/perf_query.py --index bench/cache/perf-mh --queries multihop --n 200 --ask 100
    python bench/perf_query.py --index bench/cache/synth-1m --queries synthetic --n 200 --ask 100

Prints one JSON object. Wall and CPU time are both recorded: the machine is shared, and CPU time per query moves
much less with other people's load than wall time does. Run one at a time.
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MULTIHOP = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


def summary(wall: list[float], cpu: list[float]) -> dict:
    return {"n": len(wall), "p50_ms": pct(wall, 50), "p95_ms": pct(wall, 95), "mean_ms": round(float(np.mean(wall)), 2),
            "cpu_p50_ms": pct(cpu, 50), "cpu_p95_ms": pct(cpu, 95)}


def timed(fn, items) -> tuple[list[float], list[float], list]:
    wall, cpu, out = [], [], []
    for x in items:
        w0, c0 = time.perf_counter(), time.process_time()
        out.append(fn(x))
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return wall, cpu, out


def load_queries(kind: str, n: int, index) -> list[str]:
    if kind == "seed":
        rows = [json.loads(line) for line in (ROOT / "tests" / "data" / "seed_qa.jsonl").read_text().splitlines() if line]
        qs = [r["question"] for r in rows]
        return (qs * (n // len(qs) + 1))[:n]
    if kind == "multihop":
        data = json.loads(MULTIHOP.read_text())
        rng = np.random.default_rng(0)
        pick = rng.choice(len(data), size=min(n, len(data)), replace=False)
        return [data[i]["query"] for i in pick]
    if kind == "synthetic":
        import synth

        return synth.queries(n, seed=1)[0]
    raise SystemExit(f"unknown query set {kind}")


def rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--queries", required=True, choices=["seed", "multihop", "synthetic"])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--ask", type=int, default=100, help="how many of the queries also go through Index.ask")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()

    t0 = time.perf_counter()
    import rag
    from rag.retrieval import keyword_terms

    t_import = time.perf_counter() - t0
    index = rag.Index.open(args.index, create=False)
    t_open = time.perf_counter() - t0
    queries = load_queries(args.queries, args.n, index)
    w0 = time.perf_counter()
    index.search(queries[0], k=args.k)  # loads the embedder and the vector index
    t_first = time.perf_counter() - w0
    for q in queries[:5]:
        index.search(q, k=args.k)
    store = index.store
    vi = store.vectors()
    n_articles, n_chunks = store.counts()
    out = {
        "index": args.index, "queries": args.queries, "articles": n_articles, "chunks": n_chunks,
        "vector_kind": vi.kind, "nlist": getattr(vi.index, "nlist", None), "nprobe": vi.nprobe or None,
        "keyword_max_postings": store.keyword.max_postings,
        "startup_s": {"import_rag": round(t_import, 2), "open": round(t_open, 2),
                      "first_search_incl_model_and_vectors": round(t_first, 2)},
        "rss_after_load_mb": rss_mb(),
    }
    wall, cpu, _ = timed(lambda q: index.search(q, k=args.k), queries)
    out["search"] = summary(wall, cpu)
    # the stages of one search, measured separately on the same queries
    emb = index.embedder
    w, c, qvecs = timed(emb.embed_query, queries)
    out["stage_embed_query"] = summary(w, c)
    w, c, _ = timed(lambda v: vi.search(v.reshape(1, -1), index.retrieval.candidates), qvecs)
    out["stage_dense"] = summary(w, c)
    matches = [keyword_terms(q) for q in queries]
    w, c, _ = timed(lambda m: store.keyword_search(m, index.retrieval.candidates, None, index.retrieval.fts_weights)
                    if m else [], matches)
    out["stage_keyword"] = summary(w, c)
    if args.ask:
        try:
            wall, cpu, answers = timed(lambda q: index.ask(q), queries[: args.ask])
            out["ask_extractive"] = summary(wall, cpu)
            out["ask_refused_share"] = round(sum(a.refused for a in answers) / len(answers), 3)
        except Exception as e:  # answering is another engineer's module, still changing
            out["ask_extractive"] = {"error": f"{type(e).__name__}: {e}"}
    out["rss_end_mb"] = rss_mb()
    out["loadavg"] = os.getloadavg()
    out["at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
