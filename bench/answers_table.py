"""Answer-accuracy table beside the MultiHop-RAG paper's rows, from `rag eval` outputs.

    rag eval ../shared/datasets/multihop-rag/MultiHopRAG.json --split test --index /work/cache/mh-index --out /tmp/mh-test
    rag eval /work/cache/natural_qa.jsonl --index /work/cache/mh-index --out /tmp/nq
    python bench/answers_table.py --run "MultiHop-RAG test=/tmp/mh-test" --run "natural questions=/tmp/nq" \\
        --out bench/results/answers_multihop

Writes OUT.md and OUT.json: answer accuracy (issue 13's rule) and the paper's looser rule, per question type,
null refusal, false refusal, and answer time, with the paper's Table 6 rows (retrieved chunks) beside them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PAPER = {"GPT-4": 0.56, "Claude-2.1": 0.52, "ChatGPT": 0.44, "Mixtral-8x7B": 0.32, "Llama-2-70B": 0.28}
TARGETS = {"answer_accuracy": 0.56, "type_accuracy": 0.40, "null_refusal_rate": 0.90, "false_refusal_rate": 0.05,
           "latency_total_p50_ms": 2000.0}


def _fmt(v, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if not pct else f"{v * 100:.1f}%"


def load(run: str) -> tuple[str, dict]:
    name, _, path = run.partition("=")
    data = json.loads((Path(path) / "metrics.json").read_text())
    return name, data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", action="append", required=True, help="NAME=EVAL_OUT_DIR (repeatable)")
    ap.add_argument("--out", required=True, help="path without suffix; .md and .json are written")
    ap.add_argument("--notes", default="", help="markdown file whose text is appended")
    args = ap.parse_args()
    runs = [load(r) for r in args.run]
    lines = ["# Answer accuracy (issue 13)", "",
             "Measured with `rag eval` (default configuration: extractive answers, k=10) on a 2-core CPU. "
             "answer_accuracy: a yes/no gold answer counts only when the answer leads with the right Yes/No, "
             "otherwise the gold answer must appear in the answer (case-insensitive); unanswerable questions count "
             "when refused. paper_accuracy: MultiHop-RAG's qa_evaluate.py rule (any shared word with the gold "
             "answer; a refusal read as 'Insufficient information.').", ""]
    out_json: dict = {"runs": {}, "paper_table6_retrieved": PAPER, "targets": TARGETS}
    for name, data in runs:
        o, by = data["overall"], data["by_type"]
        s = data.get("settings", {})
        lines += [f"## {name}", "",
                  f"{o['n_questions']} questions (split `{s.get('split')}`, model `{s.get('model')}`, k={s.get('k')}).",
                  "", "| type | n | answer_accuracy | paper_accuracy | refused | answer p50 ms |",
                  "|---|---|---|---|---|---|"]
        for t, m in sorted(by.items()):
            refused = m.get("refusal_recall") if t in ("null", "unanswerable") else m.get("false_refusal_rate")
            lines.append(f"| {t} | {m['n_questions']} | {_fmt(m.get('answer_accuracy'))} | "
                         f"{_fmt(m.get('paper_accuracy'))} | {_fmt(refused)} | {_fmt(m.get('latency_total_p50_ms'))} |")
        lines.append(f"| **all** | {o['n_questions']} | **{_fmt(o.get('answer_accuracy'))}** | "
                     f"{_fmt(o.get('paper_accuracy'))} | | {_fmt(o.get('latency_total_p50_ms'))} |")
        lines += ["", f"- null refusal (unanswerable refused): {_fmt(o.get('null_refusal_rate'))}; "
                  f"false refusal (answerable refused): {_fmt(o.get('false_refusal_rate'))}",
                  f"- ask time p50 {_fmt(o.get('latency_total_p50_ms'))} ms, p95 {_fmt(o.get('latency_total_p95_ms'))} ms",
                  f"- cited excerpts verbatim: {_fmt(o.get('citation_verbatim_rate'))} of {o.get('n_citations')}",
                  f"- contains the gold answer (SQuAD-normalised): {_fmt(o.get('contains_answer'))}", ""]
        out_json["runs"][name] = {"settings": s, "overall": o, "by_type": by}
    lines += ["## The paper's rows (Table 6, answers from retrieved chunks, its looser rule)", "",
              "| model | accuracy |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in PAPER.items()] + [""]
    if args.notes:
        lines += [Path(args.notes).read_text().rstrip(), ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps(out_json, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
