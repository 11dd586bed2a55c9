"""Retrieval experiments on MultiHop-RAG's DEV split (positions % 4 != 0): one index, many search settings.

    python bench/tune_retrieval.py --index bench/cache/mh-200-48 --variants default no-route ...

Each variant is a RetrievalConfig override; results are appended to bench/results/retrieval_experiments.jsonl and the
markdown table bench/results/retrieval_experiments.md is regenerated from all rows. Tune here; report on test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag.evaluation.runner import evaluate  # noqa: E402
from rag.retrieval import RetrievalConfig  # noqa: E402

TESTSET = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"
RESULTS = ROOT / "bench" / "results"

VARIANTS: dict[str, dict] = {
    "default": {},
    "no-rescore": {"rescore_depth": 0},
    "no-route": {"route_outlets": False, "route_dates": False},
    "no-route-no-rescore": {"route_outlets": False, "route_dates": False, "rescore_depth": 0},
    "keyword-only": {"dense_weight": 0.0},
    "dense-only": {"keyword_weight": 0.0},
    "dense-1": {"dense_weight": 1.0},
    "dense-2": {"dense_weight": 2.0},
    "rescore-w2": {"rescore_weight": 2.0},
    "rescore-w8": {"rescore_weight": 8.0},
    "rescore-d50": {"rescore_depth": 50},
    "global-1": {"global_weight": 1.0},
    "rrf60": {"rrf_k": 60.0},
    "cap3": {"max_per_article": 3},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--split", default="dev", choices=["dev", "test", "all"])
    ap.add_argument("--variants", nargs="+", default=["default"])
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="ad-hoc overrides, JSON values")
    ap.add_argument("--label", default=None)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    index = rag.Index.open(args.index, create=False)
    index.search("warm up", k=10)
    RESULTS.mkdir(parents=True, exist_ok=True)
    variants = [(v, VARIANTS[v]) for v in args.variants]
    if args.set:
        variants = [(args.label or "custom", {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)})]
    for name, override in variants:
        index.retrieval = dataclasses.replace(RetrievalConfig(), **{
            k: tuple(v) if isinstance(v, list) else v for k, v in override.items()})
        t = time.time()
        result = evaluate(index, TESTSET, split=args.split, retrieval_only=True, limit=args.limit, progress=False)
        o = result.metrics["overall"]
        row = {
            "variant": name, "override": override, "index": Path(args.index).name, "split": args.split,
            "manifest": {k: index.manifest.get(k) for k in ("chunk_tokens", "overlap_tokens", "embed_text_version")},
            "n": o["n_retrieval_scored"], "hits@1": o["hits@1"], "hits@4": o["hits@4"], "hits@10": o["hits@10"],
            "mrr@10": o["mrr@10"], "map@10": o["map@10"], "search_p50_ms": o["latency_retrieve_p50_ms"],
            "search_p95_ms": o["latency_retrieve_p95_ms"], "wall_s": round(time.time() - t, 1),
            "machine": f"{platform.machine()} {platform.processor() or ''} cpus=2".strip(),
            "at": time.strftime("%Y-%m-%d %H:%M"),
        }
        with open(RESULTS / "retrieval_experiments.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{name:24s} H@1 {row['hits@1']:.4f} H@4 {row['hits@4']:.4f} H@10 {row['hits@10']:.4f} "
              f"MRR {row['mrr@10']:.4f} MAP {row['map@10']:.4f} p50 {row['search_p50_ms']:.1f} ms", flush=True)
    write_table()


def write_table() -> None:
    rows = [json.loads(l) for l in open(RESULTS / "retrieval_experiments.jsonl")]
    lines = ["# Retrieval experiments (MultiHop-RAG, fact-level, `bench/tune_retrieval.py`)", "",
             "Every row is one search setting on one index; tuned on the dev split only. "
             "Latency is in-process `Index.search` on the 2-core dev machine (noisy: other work ran beside it).", "",
             "| when | index (chunk/overlap) | variant | override | split | n | Hits@1 | Hits@4 | Hits@10 | MRR@10 | MAP@10 | p50 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["manifest"]
        lines.append(f"| {r['at']} | {r['index']} ({m['chunk_tokens']}/{m['overlap_tokens']}) | {r['variant']} | "
                     f"`{json.dumps(r['override'])}` | {r['split']} | {r['n']} | {r['hits@1']:.4f} | {r['hits@4']:.4f} | "
                     f"{r['hits@10']:.4f} | {r['mrr@10']:.4f} | {r['map@10']:.4f} | {r['search_p50_ms']:.1f} |")
    (RESULTS / "retrieval_experiments.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
