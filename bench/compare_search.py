"""Do two checkouts of article-rag rank the same? Runs the first N MultiHop-RAG questions through `Index.search`
(k=10) with this checkout and with another one (`--other`, e.g. /work/main), each in its own process, on the same
index, and counts identical top-10 chunk lists. Used to show that the issue-14 changes to `Index.search` (filter
checks, `as_of`) leave retrieval figures where they were.

    python bench/compare_search.py --index /tmp/mh-partial --other /work/main --limit 150
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"
_RUN = """
import json, sys
import rag
ix = rag.Index.open(sys.argv[1], create=False)
qs = json.load(open(sys.argv[2]))[: int(sys.argv[3])]
print(json.dumps([[h.chunk_id for h in ix.search(q["query"], k=10)] for q in qs]))
"""


def ranks(root: Path, index: str, limit: int) -> list[list[int]]:
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", _RUN, index, str(QUESTIONS), str(limit)], env=env, check=True,
                         capture_output=True, text=True, cwd="/tmp")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--other", required=True, help="the other checkout's root")
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "compare_search.json"))
    args = ap.parse_args()
    mine, theirs = ranks(ROOT, args.index, args.limit), ranks(Path(args.other), args.index, args.limit)
    same = sum(a == b for a, b in zip(mine, theirs))
    result = {"index": args.index, "other": args.other, "questions": len(mine), "identical_top10": same}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0 if same == len(mine) else 1


if __name__ == "__main__":
    sys.exit(main())
