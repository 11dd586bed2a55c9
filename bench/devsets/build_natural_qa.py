"""Build bench/devsets/natural_qa.jsonl from natural_qa_src.py and check it against corpus.json.

Checks (any failure stops the build): every evidence passage maps to a verbatim span of its article body (only
runs of whitespace are matched loosely, the stored text is the exact span), every gold answer of a non-yes/no
question appears verbatim in one of its evidence passages, and no unanswerable question's key phrase is in the
corpus. About 30% of the articles form the held-out "test" split (chosen by a hash of the title, so all
questions about one article fall on the same side).

    python bench/devsets/build_natural_qa.py [--corpus PATH] [--out PATH]
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from natural_qa_src import PARAPHRASES, ROWS, UNANSWERABLE  # noqa: E402

DEFAULT_CORPUS = Path("/work/shared/datasets/multihop-rag/corpus.json")


def verbatim_span(body: str, loose: str) -> str:
    pattern = r"\s+".join(re.escape(tok) for tok in loose.split())
    match = re.search(pattern, body)
    if match is None:
        raise ValueError(f"passage not in body: {loose[:80]!r}")
    return match.group(0)


def split_of(title: str) -> str:
    digest = int(hashlib.sha1(title.encode("utf-8")).hexdigest(), 16)
    return "test" if digest % 100 < 33 else "dev"


def build(corpus_path: Path) -> list[dict]:
    corpus = json.loads(corpus_path.read_text(encoding="utf-8"))
    out: list[dict] = []
    errors: list[str] = []
    for n, (idx, question, answers, passages, kind, days) in enumerate(ROWS, 1):
        art = corpus[idx]
        try:
            evidence = [{"title": art["title"], "text": verbatim_span(art["body"], p)} for p in passages]
        except ValueError as exc:
            errors.append(f"row {n}: {exc}")
            continue
        if kind != "yesno":
            errors += [f"row {n}: answer {ans!r} not in its evidence" for ans in answers
                       if not any(ans in ev["text"] for ev in evidence)]
        published = dt.date.fromisoformat(art["published_at"][:10])
        out.append({
            "id": f"nq-{n:03d}", "question": question, "answers": answers, "evidence": evidence,
            "answerable": True, "as_of": (published + dt.timedelta(days=days)).isoformat(), "kind": kind,
            "type": kind,
            "split": split_of(art["title"]), "source": art["source"], "category": art["category"],
            "published_at": art["published_at"],
        })
    by_id = {r["id"]: r for r in out}
    for n, (orig, question) in enumerate(PARAPHRASES, 1):
        if orig not in by_id:
            errors.append(f"paraphrase {n}: no question {orig}")
            continue
        out.append({**by_id[orig], "id": f"nq-p{n:02d}", "question": question, "variant_of": orig})
    if errors:
        raise SystemExit("\n".join(errors))
    for n, (question, as_of) in enumerate(UNANSWERABLE, 1):
        kind = "yesno" if question.split()[0] in {"Did", "Does", "Is", "Was"} else "entity"
        out.append({
            "id": f"nq-null-{n:02d}", "question": question, "answers": [], "evidence": [], "answerable": False,
            "as_of": as_of, "kind": kind, "type": "unanswerable", "split": "test" if n % 3 == 0 else "dev",
        })
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "natural_qa.jsonl")
    args = ap.parse_args()
    rows = build(args.corpus)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    answerable = [r for r in rows if r["answerable"]]
    titles = {r["evidence"][0]["title"] for r in answerable}
    print(f"{len(rows)} questions ({len(answerable)} answerable, {len(rows) - len(answerable)} not) over "
          f"{len(titles)} articles, {len({r['source'] for r in answerable})} outlets; "
          f"test split {sum(r['split'] == 'test' for r in rows)}")


if __name__ == "__main__":
    main()
