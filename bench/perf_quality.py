"""Does the keyword term budget (rag.storage.keyword.KEYWORD_MAX_POSTINGS) change retrieval quality? MultiHop-RAG dev split,
retrieval only, the same index and questions at several budgets (0 = no budget), in one process.

    python bench/perf_quality.py --index MH_INDEX --limit 400 --budgets 0,2000,8000,20000 --out bench/results/perf_quality.json

Run it in one process: retrieval code that other people change between two runs would otherwise be compared too.
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")
TESTSET = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=400)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--budgets", default="0,2000,8000,20000")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    import rag
    from rag.evaluation.runner import _select, evaluate
    from rag.evaluation.testsets import load_testset
    from rag.retrieval import keyword_terms

    index = rag.Index.open(args.index, create=False)
    store = index.store
    index.search("warm up", k=10)
    qs = _select(load_testset(TESTSET, split=args.split), args.limit, 0)  # the questions evaluate() picks
    matches = [keyword_terms(q.question) for q in qs]
    res = {"index": str(args.index), "chunks": store.counts()[1], "split": args.split, "limit": args.limit,
           "at": time.strftime("%Y-%m-%d %H:%M:%S"), "loadavg_start": os.getloadavg(), "rows": []}
    for b in (int(x) for x in args.budgets.split(",")):
        store.keyword.max_postings = b
        store.keyword.reset_cache()
        for m in matches:
            store.keyword.select(m)  # fill the document-frequency cache, as a running server has it
        cpu = []
        for m in matches:
            c = time.process_time()
            store.keyword_search(m, 60, None, index.retrieval.fts_weights)
            cpu.append((time.process_time() - c) * 1000)
        o = evaluate(index, TESTSET, split=args.split, retrieval_only=True, limit=args.limit, progress=False).metrics["overall"]
        res["rows"].append({"budget": b, "n": o["n_retrieval_scored"], "hits@10": round(o["hits@10"], 4),
                            "hits@4": round(o["hits@4"], 4), "mrr@10": round(o["mrr@10"], 4),
                            "kw_cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
                            "kw_cpu_p95_ms": round(float(np.percentile(cpu, 95)), 2),
                            "questions_pruned": sum(1 for m in matches if b and store.keyword.select(m) != m),
                            "load": os.getloadavg()[0]})
        print(json.dumps(res["rows"][-1]), file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
