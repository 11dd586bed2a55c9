"""The keyword term budget (rag/storage/keyword.py KEYWORD_MAX_POSTINGS): retrieval and Index.search latency.

    python bench/keyword_budget.py --index /work/cache/mh-index --budgets 8000 4000 2000 \
        --out bench/results/keyword_budget.json

Profiling `Index.search` on the MultiHop-RAG index (8,104 chunks) showed FTS5 (BM25 over every matching row) as
most of its time, more than the question's encoding. The budget bounds how many rows keyword search may score; this
measures what each budget costs in retrieval on both dev sets (MultiHop-RAG dev, the natural quiz questions' dev
split, retrieval only) and what it saves in latency: one Index per budget (each with its own document-frequency
cache), the same questions in a rotating order, the question encoded afresh each call.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
MULTIHOP = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"
NATURAL = ROOT / "bench" / "devsets" / "natural_qa.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--budgets", type=int, nargs="+", default=[8000, 4000, 2000])
    ap.add_argument("--n", type=int, default=150, help="questions timed")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import rag
    from rag.evaluation import evaluate

    idx = {}
    for b in args.budgets:
        idx[b] = rag.Index.open(args.index, create=False)
        idx[b]._store.keyword.max_postings = b  # bench only: the one knob compared
    idx[args.budgets[0]].warm()
    retrieval = {}
    for b in args.budgets:
        retrieval[b] = {}
        for name, testset in (("multihop-dev", MULTIHOP), ("natural-dev", NATURAL)):
            o = evaluate(idx[b], testset, k=10, split="dev", retrieval_only=True, progress=False).overall
            retrieval[b][name] = {k: round(o[k], 4) for k in ("hits@10", "hits@4", "mrr@10", "map@10")}
        print(b, retrieval[b], flush=True)

    emb = idx[args.budgets[0]].embedder
    qs = [q["query"] for q in json.loads(MULTIHOP.read_text())]
    random.Random(3).shuffle(qs)
    qs = qs[: args.n + 5]
    for q in qs[:5]:
        for b in args.budgets:
            idx[b].search(q, k=10)
    times: dict[int, list[float]] = {b: [] for b in args.budgets}
    load0 = os.getloadavg()
    for q in qs[5:]:
        for b in random.sample(args.budgets, len(args.budgets)):
            emb._recent.clear()  # every variant encodes the question itself
            t = time.perf_counter()
            idx[b].search(q, k=10)
            times[b].append((time.perf_counter() - t) * 1000)
    report = {
        "command": "python bench/keyword_budget.py " + " ".join(sys.argv[1:]),
        "index": args.index, "chunks": idx[args.budgets[0]].stats().get("chunks"),
        "load_average": [load0, os.getloadavg()],
        "retrieval": retrieval,
        "search_ms": {b: {"p50": round(statistics.median(v), 2), "p95": round(sorted(v)[int(0.95 * len(v))], 2)}
                      for b, v in times.items()},
    }
    Path(args.out).write_text(json.dumps(report, indent=1))
    for b in args.budgets:
        print(b, report["search_ms"][b])


if __name__ == "__main__":
    main()
