"""Calibrate the answer layer on DEV questions only: the yes/no scorer's weights and the evidence-check thresholds.

    python bench/answers_calibrate.py collect --index /work/cache/mh-index --per-type 80 --out /tmp/ans-cal
    python bench/answers_calibrate.py fit --out /tmp/ans-cal        # prints weights and the gate grid

`collect` runs retrieval and the answer layer once per question (MultiHop-RAG dev split: positions not divisible
by 4; plus the dev questions of a natural-question JSONL set when given) and stores the features as JSON lines;
`fit` fits the logistic verdict scorer (scikit-learn, L2) with 5-fold cross-validated accuracy and prints the
refusal rates of a grid of evidence-check thresholds, so constants in rag/answering/verdicts.py and rag/answering/evidence_check.py
can be set from the printout. Test-split questions are never read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MULTIHOP = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"


def dev_sample(path: Path, per_type: int, seed: int, titles: set[str] | None = None,
               types: tuple[str, ...] = ()) -> list[dict]:
    data = json.loads(path.read_text())
    by_type: dict[str, list[dict]] = {}
    for pos, item in enumerate(data):
        if pos % 4 == 0:
            continue    # test split: never used for tuning
        if titles is not None and any(e["title"] not in titles for e in item["evidence_list"]):
            continue    # evidence not in a partial index: retrieval could not find it
        item = dict(item, position=pos)
        by_type.setdefault(item["question_type"].removesuffix("_query"), []).append(item)
    rng = random.Random(seed)
    out = []
    for t, items in sorted(by_type.items()):
        if types and t not in types:
            continue
        for it in rng.sample(items, min(per_type, len(items))):
            out.append({"id": f"multihop-{it['position']:04d}", "question": it["query"], "answers": [it["answer"]],
                        "answerable": t != "null", "type": t})
    return out


def natural_dev(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            obj = json.loads(line)
            if obj.get("split", "dev") == "dev":
                out.append({"id": obj["id"], "question": obj["question"], "answers": obj.get("answers", []),
                             "answerable": obj.get("answerable", True), "type": "natural", "as_of": obj.get("as_of")})
    return out


def collect(args) -> None:
    import rag
    from rag.answering.answer import assess
    from rag.answering.citations import Pool, passages_from_hits
    from rag.evaluation.accuracy import answer_correct

    index = rag.Index.open(args.index, create=False)
    index.warm()
    titles = {a.title for a in index.articles()} if args.only_indexed else None
    questions = dev_sample(MULTIHOP, args.per_type, args.seed, titles,
                           tuple(t for t in args.types.split(",") if t))
    if args.natural:
        questions += natural_dev(Path(args.natural))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    t_all = time.perf_counter()
    for i, q in enumerate(questions):
        t0 = time.perf_counter()
        hits = index.search(q["question"], k=args.k)
        pool = Pool(passages_from_hits(hits))
        ev = assess(pool, q["question"], q["question"])
        layer = index.answerer.layer(pool, q["question"], q["question"], ev)
        row = dict(q, lexical_ok=ev.sufficient, lexical=ev.coverage)
        if layer is not None:
            top = layer.view.scores()[:5]
            row.update(kind=layer.plan.kind, atype=layer.plan.answer_type, missing=layer.check.missing,
                       top=[[round(s.coverage, 4), round(s.semantic, 4)] for s in top],
                       sufficient=layer.check.sufficient)
            text = layer.extractive_text()
            row["text"] = text
            if layer.verdict is not None:
                row["features"] = layer.verdict.features
                row["prob"] = layer.verdict.probability
            if layer.short is not None:
                row["short"] = layer.short.text
            row["correct"] = bool(text) and layer.check.sufficient and answer_correct(
                text, False, q["answers"], q["answerable"])
        row["ms"] = (time.perf_counter() - t0) * 1000
        rows.append(row)
        if (i + 1) % 20 == 0:
            print(f"{i + 1}/{len(questions)} {time.perf_counter() - t_all:.0f}s", file=sys.stderr)
    with open(out / f"{args.name}features.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def fit(args) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from rag.answering.verdicts import FEATURES

    rows = [json.loads(l) for p in sorted(Path(args.out).glob("*features.jsonl"))
            for l in p.read_text().splitlines() if l.strip()]
    rows = list({r["id"]: r for r in rows}.values())     # two samples may share questions
    yn = [r for r in rows if r.get("features") and r["answers"][0].strip(". ").lower() in ("yes", "no")]
    X = np.array([[r["features"][f] for f in FEATURES] for r in yn])
    y = np.array([r["answers"][0].strip(". ").lower() == "yes" for r in yn])
    print(f"yes/no dev questions: {len(yn)}, share yes {y.mean():.3f}")
    for C in (0.1, 0.3, 1.0, 3.0):
        clf = LogisticRegression(C=C, max_iter=2000)
        print(f"C={C}: 5-fold accuracy {cross_val_score(clf, X, y, cv=5).mean():.3f}")
    clf = LogisticRegression(C=args.C, max_iter=2000).fit(X, y)
    print("WEIGHTS = {" + ", ".join(f'"{f}": {w:.4f}' for f, w in zip(FEATURES, clf.coef_[0])) + "}")
    print(f"BIAS = {clf.intercept_[0]:.4f}")
    for t in sorted({r["type"] for r in yn}):
        sel = [i for i, r in enumerate(yn) if r["type"] == t]
        print(f"  train accuracy {t}: {(clf.predict(X[sel]) == y[sel]).mean():.3f} (always-yes {y[sel].mean():.3f})")

    # evidence-check grid: null refusal vs false refusal
    from rag.answering import evidence_check as ec

    def sufficient(r: dict, gate: float, min_cov: float, max_missing: float) -> bool:
        if "top" not in r:
            return False
        if r["missing"] > max_missing:
            return False
        if r["lexical_ok"]:
            return True
        return any(s >= gate and c >= min_cov for c, s in r["top"])

    ans = [r for r in rows if r["answerable"]]
    nul = [r for r in rows if not r["answerable"]]
    print(f"answerable {len(ans)}, unanswerable {len(nul)}; current gate {ec.SEMANTIC_GATE}, "
          f"min coverage {ec.SEMANTIC_MIN_COVERAGE}, max missing {ec.MAX_MISSING_NAMES}")
    for max_missing in (0.2, 0.34, 0.5, 0.67, 1.01):
        for gate in (0.45, 0.5, 0.55, 0.6, 0.65, 1.1):
            fr = sum(not sufficient(r, gate, ec.SEMANTIC_MIN_COVERAGE, max_missing) for r in ans) / max(len(ans), 1)
            nr = sum(not sufficient(r, gate, ec.SEMANTIC_MIN_COVERAGE, max_missing) for r in nul) / max(len(nul), 1)
            print(f"  max_missing {max_missing:.2f} gate {gate:.2f}: false refusal {fr:.3f}, null refusal {nr:.3f}")
    by_type: dict[str, list[bool]] = {}
    for r in rows:
        by_type.setdefault(r["type"], []).append(bool(r.get("correct")) if r["answerable"]
                                                 else not r.get("sufficient", False))
    for t, v in sorted(by_type.items()):
        print(f"layer accuracy {t}: {sum(v) / len(v):.3f} ({len(v)})")
    ms = sorted(r["ms"] for r in rows)
    print(f"p50 ms {ms[len(ms) // 2]:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["collect", "fit"])
    ap.add_argument("--index", default="/work/cache/mh-index")
    ap.add_argument("--out", default="/tmp/ans-cal")
    ap.add_argument("--per-type", type=int, default=60)
    ap.add_argument("--natural", default=None, help="natural-question JSONL (its dev split is used)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--name", default="", help="prefix of the features file (several collects can be fitted together)")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("-C", type=float, default=1.0)
    ap.add_argument("--types", default="", help="comma-separated question types to sample (default: all)")
    ap.add_argument("--only-indexed", action="store_true",
                    help="keep questions whose evidence articles are all in the index (for a partial index)")
    args = ap.parse_args()
    collect(args) if args.mode == "collect" else fit(args)


if __name__ == "__main__":
    main()
