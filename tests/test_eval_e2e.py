"""`rag eval` end to end on the seed article's test set, with the real index and the default model."""

from __future__ import annotations

import json

import pytest

from conftest import DATA, without_modules

pytestmark = pytest.mark.slow
SEED_QA = DATA / "seed_qa.jsonl"


def test_seed_qa_passes_its_gates(seed_index, cli, tmp_path):
    out = tmp_path / "eval"
    r = cli("eval", str(SEED_QA), "--index", str(seed_index.path), "--out", str(out),
            "--fail-under", "hits@4=0.9", "contains_answer=0.8", "refusal_recall=0.75", "citation_verbatim_rate=1.0",
            "false_refusal_rate=0.2")
    assert r.returncode == 0, r.stderr
    metrics = json.loads((out / "metrics.json").read_text())["overall"]
    assert metrics["n_questions"] == sum(1 for line in SEED_QA.read_text().splitlines() if line.strip())
    assert metrics["citation_verbatim_rate"] == 1.0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == metrics["n_questions"]
    assert (out / "report.md").is_file() and list(out.glob("*.png"))


def test_without_matplotlib_the_report_is_written_and_says_how_to_add_plots(seed_index, cli, tmp_path):
    # As after the README's install (`pip install -e '.[ui]'`), which does not bring matplotlib.
    out = tmp_path / "eval"
    r = cli("eval", str(SEED_QA), "--index", str(seed_index.path), "--out", str(out), "--retrieval-only",
            env=without_modules(tmp_path / "site", "matplotlib"))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "without plots" in r.stderr
    report = (out / "report.md").read_text()
    assert "## Overall" in report and "Plots were left out" in report and "pip install 'article-rag[eval]'" in report
    assert (out / "metrics.json").is_file() and not list(out.glob("*.png"))


def test_failing_gate_is_one_line_and_exit_1(seed_index, cli, tmp_path):
    r = cli("eval", str(SEED_QA), "--index", str(seed_index.path), "--out", str(tmp_path / "e"),
            "--retrieval-only", "--fail-under", "hits@1=1.01")
    assert r.returncode == 1
    lines = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "hits@1" in lines[0] and "1.01" in lines[0]


def test_bad_testset_is_one_line(seed_index, cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "question": \n')
    r = cli("eval", str(bad), "--index", str(seed_index.path), "--out", str(tmp_path / "e"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "bad.jsonl" in r.stderr
