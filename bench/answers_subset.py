"""MultiHop-RAG questions of one split as a JSONL test set, optionally only those a (partial) index can answer.

    python bench/answers_subset.py --split test --index /tmp/mh-part --out /tmp/mh-test-part.jsonl
    rag eval /tmp/mh-test-part.jsonl --index /tmp/mh-part --out /tmp/mh-test-part

Used when the full 609-article index was not ready: answerable questions are kept when all their evidence
articles are indexed; unanswerable (null) questions are all kept. Positions and types come from MultiHopRAG.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MULTIHOP = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["dev", "test"], default="test")
    ap.add_argument("--index", default=None, help="keep only questions whose evidence this index holds")
    ap.add_argument("--multihop", default=str(MULTIHOP))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    titles = None
    if args.index:
        import rag

        titles = {a.title for a in rag.Index.open(args.index, create=False).articles()}
    data = json.loads(Path(args.multihop).read_text())
    n = 0
    with open(args.out, "w") as f:
        for pos, item in enumerate(data):
            if (pos % 4 == 0) != (args.split == "test"):
                continue
            qtype = item["question_type"].removesuffix("_query")
            if titles is not None and any(e["title"] not in titles for e in item["evidence_list"]):
                continue
            f.write(json.dumps({"id": f"multihop-{pos:04d}", "question": item["query"], "answers": [item["answer"]],
                                "evidence": [{"title": e["title"], "text": e["fact"]} for e in item["evidence_list"]],
                                "answerable": qtype != "null", "type": qtype}) + "\n")
            n += 1
    print(f"{n} questions -> {args.out}")


if __name__ == "__main__":
    main()
