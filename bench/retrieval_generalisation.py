"""Does retrieval tuned on MultiHop-RAG generalise to quiz-style questions that name no outlet?

One index (MultiHop-RAG's corpus), several search settings, three question sets: the natural quiz set's dev and
held-out test parts (bench/devsets/natural_qa.jsonl, its own `split` field) and MultiHop-RAG's dev split
(positions % 4 != 0, optionally a seeded sample). Metric: fact-level Hits@k / MRR@10 (a hit is a retrieved chunk
that holds a gold evidence passage verbatim, whitespace-insensitive), as `rag eval --retrieval-only` scores it.

    python bench/retrieval_generalisation.py --index /work/cache/mh-index --variants default bm25 dense \
        --sets natural-dev natural-test mh-dev --mh-limit 600

Rows are appended to bench/results/retrieval_generalisation.json; the markdown table is regenerated from them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag.evaluation.runner import evaluate  # noqa: E402
from rag.retrieval import RetrievalConfig  # noqa: E402

MULTIHOP = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"
NATURAL = ROOT / "bench" / "devsets" / "natural_qa.jsonl"
RESULTS = ROOT / "bench" / "results"
OUT_JSON = RESULTS / "retrieval_generalisation.json"

PLAIN = {"route_outlets": False, "route_dates": False, "rescore_depth": 0}
VARIANTS: dict[str, dict] = {
    "default": {},
    "bm25": {"dense_weight": 0.0, **PLAIN},          # FTS5 alone
    "dense": {"keyword_weight": 0.0, **PLAIN},       # FAISS alone
    "hybrid-plain": dict(PLAIN),                     # fusion only: no routing, no re-scoring
    "no-rescore": {"rescore_depth": 0},
    "no-route": {"route_outlets": False, "route_dates": False},
    "dense-1": {"dense_weight": 1.0},
    "rescore-w2": {"rescore_weight": 2.0},
}


def natural_subset(name: str, tmp: Path) -> Path:
    """natural-dev / natural-test: that split's answerable questions; '-orig' / '-para' keep only the written
    questions / only their paraphrases."""
    parts = name.split("-")
    split, kind = parts[1], (parts[2] if len(parts) > 2 else "all")
    rows = [json.loads(line) for line in NATURAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    keep = [r for r in rows if r["answerable"] and (split == "all" or r["split"] == split)
            and (kind == "all" or (kind == "para") == ("variant_of" in r))]
    path = tmp / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep), encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--variants", nargs="+", default=["default"])
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="ad-hoc override (JSON values)")
    ap.add_argument("--label", default=None, help="name of the --set variant")
    ap.add_argument("--sets", nargs="+", default=["natural-dev", "mh-dev"],
                    choices=[f"natural-{s}{k}" for s in ("dev", "test", "all") for k in ("", "-orig", "-para")]
                    + ["mh-dev", "mh-test"])
    ap.add_argument("--mh-limit", type=int, default=None, help="seeded sample of MultiHop-RAG questions")
    ap.add_argument("--rows-dir", type=Path, default=None, help="also write per-question rows here")
    ap.add_argument("--code", default="this branch", help="label of the code under test (e.g. 'main')")
    args = ap.parse_args()
    index = rag.Index.open(args.index, create=False)
    index.search("warm up", k=10)
    variants = [(v, VARIANTS[v]) for v in args.variants]
    if args.set:
        variants.append((args.label or "custom", {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}))
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        for name, override in variants:
            index.retrieval = dataclasses.replace(RetrievalConfig(), **{
                k: tuple(v) if isinstance(v, list) else v for k, v in override.items()})
            for qset in args.sets:
                if qset.startswith("natural"):
                    path, split, limit = natural_subset(qset, tmp), "all", None
                else:
                    path, split, limit = MULTIHOP, qset.split("-", 1)[1], args.mh_limit
                t = time.time()
                res = evaluate(index, path, split=split, retrieval_only=True, limit=limit, progress=False)
                o = res.metrics["overall"]
                row = {"variant": name, "override": override, "set": qset, "limit": limit, "code": args.code,
                       "n": o["n_retrieval_scored"], "hits@1": o["hits@1"], "hits@4": o["hits@4"],
                       "hits@10": o["hits@10"], "mrr@10": o["mrr@10"],
                       "search_p50_ms": o["latency_retrieve_p50_ms"], "wall_s": round(time.time() - t, 1),
                       "index": Path(args.index).name, "machine": f"{platform.machine()} cpus=2",
                       "at": time.strftime("%Y-%m-%d %H:%M")}
                if args.rows_dir:
                    args.rows_dir.mkdir(parents=True, exist_ok=True)
                    (args.rows_dir / f"{name}.{qset}.jsonl").write_text(
                        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in res.rows), encoding="utf-8")
                rows = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else []
                rows.append(row)
                OUT_JSON.write_text(json.dumps(rows, indent=1) + "\n")
                print(f"{name:16s} {qset:13s} n={row['n']:4d} H@1 {row['hits@1']:.3f} H@4 {row['hits@4']:.3f} "
                      f"H@10 {row['hits@10']:.3f} MRR {row['mrr@10']:.3f} p50 {row['search_p50_ms']:.0f} ms",
                      flush=True)


def write_table() -> None:
    """bench/results/retrieval_generalisation.md: one row per (index, code, variant), one column group per set."""
    rows = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else []
    sets = [s for s in ("natural-dev-orig", "natural-dev-para", "natural-test-orig", "natural-test-para", "mh-dev",
                        "mh-test") if any(r["set"] == s for r in rows)]
    table: dict[tuple, dict] = {}
    for r in rows:  # the latest run of a (index, label, variant, set) wins
        table.setdefault((r["index"], r.get("code", "this branch"), r["variant"]), {})[r["set"]] = r
    head = "| index | code | variant | override | " + " | ".join(
        f"{s} H@10 / MRR@10 (n)" for s in sets) + " |"
    lines = [head, "|" + "---|" * (4 + len(sets))]
    for (index, code, variant), by_set in table.items():
        override = next(iter(by_set.values()))["override"]
        cells = [f"{by_set[s]['hits@10']:.3f} / {by_set[s]['mrr@10']:.3f} ({by_set[s]['n']})" if s in by_set else ""
                 for s in sets]
        lines.append(f"| {index} | {code} | {variant} | `{json.dumps(override)}` | " + " | ".join(cells) + " |")
    (RESULTS / "retrieval_generalisation_table.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
    write_table()
