"""Who-said-what dev set: speakers, roles and quotes (issue 14).

    python bench/who_said_what.py                      # builds an index of the set's 15 articles in /tmp
    python bench/who_said_what.py --index /tmp/mh-quotes --add-seed   # or any index that holds them (+ the seed)

A question counts as right when the answer is not a refusal and holds one string of every `must` group (speaker;
for "What did X say about Y" the quote and the role), compared case-insensitively with quotes and whitespace
normalised. Every citation is also checked to be verbatim article text. Writes bench/results/who_said_what.md
and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVSET = ROOT / "bench" / "devsets" / "who_said_what.jsonl"
ARTICLES = ROOT / "bench" / "devsets" / "who_said_what_articles.jsonl"
SEED = ROOT / "seeds"


def norm(s: str) -> str:
    s = s.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(s.lower().split())


def judge(answer, must: list[list[str]]) -> tuple[bool, list[str]]:
    text = norm(answer.text)
    missing = [g[0] for g in must if not any(norm(x) in text for x in g)]
    return (not answer.refused and not missing), missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default=None, help="an existing index holding the set's articles")
    ap.add_argument("--build-dir", default="/tmp/wsw-index", help="where to build the index when --index is not given")
    ap.add_argument("--add-seed", action="store_true", help="add seeds/ to --index first (a copy you may modify)")
    ap.add_argument("--model", default="extractive")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "who_said_what"), help="output path without suffix")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    import rag

    if args.index:
        index = rag.Index.open(args.index, create=False)
        if args.add_seed:
            index.add([SEED])
        where = args.index
    else:
        index = rag.Index.open(args.build_dir)
        index.add([SEED, ARTICLES])
        where = f"{args.build_dir} (the set's {index.stats()['articles']} articles)"
    questions = [json.loads(line) for line in DEVSET.read_text().splitlines() if line.strip()]
    rows = []
    t0 = time.perf_counter()
    for q in questions:
        ans = index.ask(q["question"], model=args.model)
        ok, missing = judge(ans, q["must"])
        verbatim = all(c.excerpt == c.article.text[c.start:c.end] for c in ans.citations)
        rows.append({"id": q["id"], "type": q["type"], "outside": q["speaker_outside_quote_sentence"],
                     "question": q["question"], "ok": ok and verbatim, "missing": missing, "verbatim": verbatim,
                     "answer": " ".join(ans.text.split()), "refused": ans.refused})
    secs = time.perf_counter() - t0
    n = len(rows)
    right = sum(r["ok"] for r in rows)
    by_type = Counter(r["type"] for r in rows)
    ok_type = Counter(r["type"] for r in rows if r["ok"])
    outside = [r for r in rows if r["outside"]]
    summary = {"questions": n, "articles": len({json.dumps(q["evidence"][0]["title"]) for q in questions}),
               "score": round(right / n, 4), "right": right, "model": args.model, "index": where,
               "speaker_outside_quote_sentence": {"questions": len(outside),
                                                  "right": sum(r["ok"] for r in outside)},
               "by_type": {t: {"questions": by_type[t], "right": ok_type[t]} for t in sorted(by_type)},
               "all_citations_verbatim": all(r["verbatim"] for r in rows), "seconds": round(secs, 1)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2, ensure_ascii=False))
    lines = [
        "# Who said what: dev set results", "",
        f"`python bench/who_said_what.py{' --index ' + args.index if args.index else ''}` — model `{args.model}`, "
        f"index {where}.", "",
        f"**Score {right}/{n} = {right / n:.3f}** over {summary['articles']} articles; speaker named outside the "
        f"quote's sentence: {summary['speaker_outside_quote_sentence']['right']}/{len(outside)}; every citation "
        f"verbatim: {summary['all_citations_verbatim']}; {secs:.1f} s for all questions.", "",
        "| type | right |", "|---|---|",
        *[f"| {t} | {ok_type[t]}/{by_type[t]} |" for t in sorted(by_type)], "",
        "| id | type | outside | ok | question | answer (missing) |", "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ans = r["answer"][:220].replace("|", "\\|") + ("…" if len(r["answer"]) > 220 else "")
        miss = f" (missing: {', '.join(r['missing'])})" if r["missing"] else ""
        lines.append(f"| {r['id']} | {r['type']} | {'yes' if r['outside'] else ''} | {'✓' if r['ok'] else '✗'} | "
                     f"{r['question']} | {ans}{miss} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"score {right}/{n} = {right / n:.3f}; wrote {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
