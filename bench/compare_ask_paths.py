"""Does a refactor of the question's path change what `Index.search` and `Index.ask` return? Dumps, for the
`rag` package that is first on PYTHONPATH, the top-10 chunk ids of `Index.search` and the extractive
`Index.ask` answer (text, refused, notes, citations with their article and offsets) for a set of questions, as JSON.
Run it once per checkout and compare the two files with `--diff`.

    PYTHONPATH=/work/main  python bench/compare_ask_paths.py --index /work/cache/mh-index --set multihop \
        --limit 150 --out /tmp/main-mh.json
    PYTHONPATH=$PWD python bench/compare_ask_paths.py --index /work/cache/mh-index --set multihop \
        --limit 150 --out /tmp/mine-mh.json
    python bench/compare_ask_paths.py --diff /tmp/main-mh.json /tmp/mine-mh.json

Sets: `multihop` = the first `--limit` dev-split questions of MultiHop-RAG (position % 4 != 0, the rule of
rag.evaluation.testsets); `seed` = tests/data/seed_qa.jsonl, each question asked with the `as_of` date it names,
and for both sets the first 20 questions again under an outlet filter (the index's first outlet, if it has any),
a date window that holds every article and one that holds none, so that the filter path is exercised too.
Timings are left out: they are the one field that is meant to differ.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MULTIHOP = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"
FILTERED = 20   # questions also asked under filters


def _questions(which: str, limit: int) -> list[dict]:
    if which == "multihop":
        rows = json.loads(MULTIHOP.read_text())
        dev = [r for i, r in enumerate(rows) if i % 4 != 0]
        return [{"question": r["query"]} for r in dev[:limit]]
    out = []
    for line in SEED_QA.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            out.append({"question": r["question"], "as_of": r.get("as_of") or None})
    return out[:limit]


def _answer_json(ans) -> dict:
    return {"text": ans.text, "refused": ans.refused, "notes": list(ans.notes), "query": ans.query,
            "citations": [[c.n, c.article.id, c.start, c.end, c.chunk_id] for c in ans.citations],
            "sentences": [[s.text, list(s.citations)] for s in ans.sentences]}


def _or_error(call):
    # a refused input is part of the behaviour too: the same error must come back
    try:
        return call()
    except Exception as e:  # noqa: BLE001
        return {"error": type(e).__name__, "message": str(e)}


def dump(index_path: str, which: str, limit: int) -> dict:
    import rag

    ix = rag.Index.open(index_path, create=False)
    outlets = [s for s, _ in ix.sources()]
    runs: list[tuple[str, dict]] = []
    for q in _questions(which, limit):
        runs.append((q["question"], {"as_of": q.get("as_of")} if q.get("as_of") else {}))
    # the filter path: an outlet filter and date windows (one that holds the articles, one that holds none)
    for q in _questions(which, limit)[:FILTERED]:
        if outlets:
            runs.append((q["question"], {"sources": [outlets[0]]}))
        runs.append((q["question"], {"date_from": "2000-01-01", "date_to": "2100-01-01"}))
        runs.append((q["question"], {"date_from": "1990-01-01", "date_to": "1990-12-31"}))
    records = []
    t0 = time.perf_counter()
    for question, opts in runs:
        search_opts = {k: v for k, v in opts.items() if k in ("sources", "date_from", "date_to", "as_of")}
        records.append({"question": question, "options": opts,
                        "search_top10": _or_error(lambda: [h.chunk_id for h in ix.search(question, k=10, **search_opts)]),
                        "answer": _or_error(lambda: _answer_json(ix.ask(question, **opts)))})
    return {"rag": rag.__file__, "index": index_path, "set": which, "seconds": round(time.perf_counter() - t0, 1),
            "records": records}


def diff(a_path: str, b_path: str) -> dict:
    a, b = json.loads(Path(a_path).read_text()), json.loads(Path(b_path).read_text())
    ra, rb = a["records"], b["records"]
    if [r["question"] for r in ra] != [r["question"] for r in rb]:
        raise SystemExit("the two dumps hold different questions")
    same_search = sum(x["search_top10"] == y["search_top10"] for x, y in zip(ra, rb))
    same_text = sum(x["answer"].get("text") == y["answer"].get("text") for x, y in zip(ra, rb))
    same_cites = sum(x["answer"].get("citations") == y["answer"].get("citations") for x, y in zip(ra, rb))
    same_all = sum(x["answer"] == y["answer"] for x, y in zip(ra, rb))
    differing = [x["question"] for x, y in zip(ra, rb) if x != y]
    return {"a": a["rag"], "b": b["rag"], "set": a["set"], "runs": len(ra), "identical_search_top10": same_search,
            "identical_answer_text": same_text, "identical_citations": same_cites,
            "identical_answer_records": same_all, "differing": differing[:20],
            "seconds": [a["seconds"], b["seconds"]]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index")
    ap.add_argument("--set", choices=("multihop", "seed"), default="multihop")
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--out")
    ap.add_argument("--diff", nargs=2, metavar=("A", "B"))
    args = ap.parse_args()
    if args.diff:
        result = diff(*args.diff)
        print(json.dumps(result, indent=2))
        return 0 if not result["differing"] else 1
    if not args.index or not args.out:
        ap.error("--index and --out are needed to dump (or --diff A B to compare)")
    Path(args.out).write_text(json.dumps(dump(args.index, args.set, args.limit), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
