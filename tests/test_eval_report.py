"""The evaluation runner and report, driven by a scripted fake index (a fake at the search/ask seam only)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rag.errors import ModelTimeoutError
from rag.evaluation import check_gates, evaluate
from rag.schema import Answer, AnswerSentence, Article, Citation, Hit

ROOT = Path(__file__).resolve().parents[1]
SEED_ARTICLE = ROOT / "seeds" / "000_4b0c6bffbec62fe4.txt"
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"

TEXT = "Alpha one. Beta two. Gamma three. Delta four."
DOC = Article(id="doc", title="Doc", text=TEXT)
OTHER = Article(id="other", title="Other", text="Nothing relevant at all.")


def chunk(article: Article, piece: str, cid: int) -> Hit:
    start = article.text.index(piece)
    return Hit(chunk_id=cid, article=article, text=piece, start=start, end=start + len(piece), score=1.0 / cid)


def cite(n: int, piece: str) -> Citation:
    start = TEXT.index(piece)
    return Citation(n=n, article=DOC, excerpt=piece, start=start, end=start + len(piece))


QUESTIONS = [
    {"id": "q1", "question": "What is beta?", "answers": ["two"],
     "evidence": [{"title": "Doc", "text": "Beta two."}], "answerable": True, "type": "what"},
    {"id": "q2", "question": "What is gamma?", "answers": ["three"],
     "evidence": [{"title": "Doc", "text": "Gamma three."}], "answerable": True, "type": "what"},
    {"id": "q3", "question": "What is delta?", "answers": ["four"],
     "evidence": [{"title": "Doc", "text": "Delta four."}], "answerable": True, "type": "who"},
    {"id": "q4", "question": "What is omega?", "answers": [], "evidence": [], "answerable": False,
     "type": "unanswerable"},
]

# What the fake index returns per question: the ranked hits, then (answer text, refused, citations).
HITS = {
    "What is beta?": [chunk(DOC, "Alpha one.", 1), chunk(DOC, "Beta two.", 2)],       # relevant at rank 2
    "What is gamma?": [chunk(DOC, "Gamma three.", 3)],                                # relevant at rank 1
    "What is delta?": [chunk(OTHER, "Nothing relevant at all.", 9)],                  # nothing relevant
    "What is omega?": [chunk(DOC, "Alpha one.", 1)],
}
ANSWERS = {
    "What is beta?": ("Beta is two [1].", False, (cite(1, "Beta two."),)),
    "What is gamma?": ("Gamma is nothing [1].", False, (cite(1, "Alpha one."),)),
    "What is delta?": ("I cannot answer that.", True, ()),
    "What is omega?": ("I cannot answer that.", True, ()),
}


class FakeIndex:
    def __init__(self, fail_on: str = ""):
        self.calls: list[tuple] = []
        self.fail_on = fail_on

    def search(self, query: str, k: int = 10) -> list[Hit]:
        self.calls.append(("search", query, k))
        return HITS[query][:k]

    def ask(self, question: str, model: str = "extractive", k: int = 10) -> Answer:
        self.calls.append(("ask", question, model, k))
        if question == self.fail_on:
            raise ModelTimeoutError("no answer in 30 s")
        text, refused, cites = ANSWERS[question]
        sentences = () if refused else (AnswerSentence(text, tuple(c.n for c in cites), True),)
        return Answer(question=question, text=text, refused=refused, citations=cites, model=model,
                      sentences=sentences, hits=tuple(HITS[question][:k]),
                      timings_ms={"retrieve": 10.0, "generate": 30.0, "total": 40.0})


@pytest.fixture()
def testset(tmp_path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    return path


def test_retrieval_only_run_writes_metrics_results_report_and_plots(testset, tmp_path):
    index, out = FakeIndex(), tmp_path / "out"
    result = evaluate(index, testset, retrieval_only=True, k=5, out_dir=out, progress=False)
    assert {c[2] for c in index.calls} == {10}                   # search k = max(k, 10)
    m = result.overall
    assert m["hits@1"] == pytest.approx(1 / 3)                   # q2 only
    assert m["hits@2"] == m["hits@10"] == pytest.approx(2 / 3)   # q1 at rank 2, q3 never
    assert m["mrr@10"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert m["article_hits@1"] == pytest.approx(2 / 3)           # q1's first hit is from the gold article
    assert m["exact_match"] is None and m["refusal_recall"] is None
    assert m["n_retrieval_scored"] == 3 and m["n_questions"] == 4

    saved = json.loads((out / "metrics.json").read_text())
    assert saved["overall"]["hits@10"] == pytest.approx(2 / 3)
    assert set(saved["by_type"]) == {"what", "who", "unanswerable"}
    assert saved["settings"]["mode"] == "retrieval-only"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4"]
    assert rows[0]["relevant_ranks"] == [2] and rows[0]["retrieved"][1]["chunk_id"] == 2
    assert rows[0]["retrieved"][1]["title"] == "Doc" and "retrieve" in rows[0]["timings_ms"]
    report = (out / "report.md").read_text()
    assert "hits_at_k.png" in report and "## Metric definitions" in report and "**map@10**" in report
    assert (out / "hits_at_k.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "latency.png").exists() and (out / "by_type.png").exists()


def test_full_run_scores_answers_citations_refusals_and_latency(testset, tmp_path):
    index = FakeIndex()
    result = evaluate(index, testset, model="extractive", k=4, progress=False)
    assert index.calls[0] == ("ask", "What is beta?", "extractive", 4)
    m = result.overall
    assert m["hits@10"] == pytest.approx(2 / 3)                  # scored from Answer.hits
    assert m["exact_match"] == 0.0                               # "beta is two" != "two"
    assert m["contains_answer"] == pytest.approx(1 / 3)          # q1 only; refused q3 scores 0
    assert m["citation_verbatim_rate"] == 1.0
    assert m["citation_precision"] == pytest.approx((1 + 0) / 2)  # q1's citation matches, q2's does not
    assert m["citation_recall"] == pytest.approx((1 + 0 + 0) / 3)
    assert m["supported_sentence_rate"] == 1.0
    assert (m["refusal_precision"], m["refusal_recall"]) == (0.5, 1.0)
    assert m["false_refusal_rate"] == pytest.approx(1 / 3)
    assert (m["latency_generate_p50_ms"], m["latency_total_p95_ms"]) == (30.0, 40.0)
    assert result.metrics["by_type"]["what"]["contains_answer"] == 0.5
    assert check_gates(result.metrics, ["citation_verbatim_rate=1.0", "hits@10=0.5"]) == []
    assert check_gates(result.metrics, ["hits@10=0.9"]) == [
        "metric hits@10 = 0.667 is below the --fail-under threshold 0.900"]


def test_model_errors_are_counted_and_scored_as_wrong(testset):
    result = evaluate(FakeIndex(fail_on="What is beta?"), testset, progress=False)
    assert result.overall["n_errors"] == 1
    assert result.rows[0]["error"] == "no answer in 30 s" and result.rows[0]["metrics"]["f1"] == 0.0


def test_limit_is_a_seeded_sample_in_file_order(testset):
    first = evaluate(FakeIndex(), testset, retrieval_only=True, limit=2, seed=3, progress=False)
    again = evaluate(FakeIndex(), testset, retrieval_only=True, limit=2, seed=3, progress=False)
    positions = [r["position"] for r in first.rows]
    assert positions == [r["position"] for r in again.rows] and positions == sorted(positions)
    assert len(positions) == 2


def test_progress_bar_goes_to_stderr(testset, capsys):
    evaluate(FakeIndex(), testset, retrieval_only=True, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "eval" in captured.err


def test_multihop_report_shows_the_papers_table5(tmp_path):
    items = [{"query": "What is beta?", "answer": "two", "question_type": "inference_query",
              "evidence_list": [{"title": "Doc", "fact": "Beta two."}]},
             {"query": "What is omega?", "answer": "Insufficient information.", "question_type": "null_query",
              "evidence_list": []}]
    path = tmp_path / "MultiHopRAG.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    result = evaluate(FakeIndex(), path, retrieval_only=True, out_dir=tmp_path / "out", progress=False)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Table 5" in report and "| paper: bge-large-en-v1.5 | 0.4298 | 0.3423 | 0.6718 | 0.5221 |" in report
    assert "| **this run** | 0.5000 | 0.5000 | 1.0000 | 1.0000 |" in report
    assert set(result.metrics["by_type"]) == {"inference", "null"}


def test_seed_testset_runs_end_to_end_through_the_harness(tmp_path):
    """Seed questions against a naive word-overlap retriever over the seed article's paragraphs."""
    from rag.ingest import iter_inputs

    # the title as ingest reads it (the gold evidence names it), over the raw file's paragraphs
    title = next(a for a in iter_inputs([SEED_ARTICLE]) if isinstance(a, Article)).title
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    article = Article(id="seed", title=title, text=text)
    paragraphs = [p for p in text.split("\n\n") if p.strip()]

    class ParagraphIndex:
        def search(self, query: str, k: int = 10) -> list[Hit]:
            words = set(query.lower().split())
            ranked = sorted(paragraphs, key=lambda p: (-len(words & set(p.lower().split())), paragraphs.index(p)))
            return [chunk(article, p, i) for i, p in enumerate(ranked[:k], start=1)]

    result = evaluate(ParagraphIndex(), SEED_QA, retrieval_only=True, out_dir=tmp_path, progress=False)
    m = result.overall
    rows = [json.loads(line) for line in Path(SEED_QA).read_text().splitlines() if line.strip()]
    unanswerable = sum(1 for r in rows if not r["answerable"])
    scored = sum(1 for r in rows if r["answerable"] and r.get("evidence"))
    assert (m["n_questions"], m["n_retrieval_scored"], m["n_unanswerable"]) == (len(rows), scored, unanswerable)
    assert unanswerable == 4 and scored >= 10
    assert m["article_hits@1"] == 1.0        # one article: every hit is from the gold article
    assert m["hits@10"] == 1.0               # every evidence sentence sits inside one paragraph
    assert (tmp_path / "report.md").exists() and (tmp_path / "results.jsonl").exists()


def test_missing_matplotlib_writes_the_report_without_plots_and_says_how_to_add_them(testset, tmp_path, monkeypatch,
                                                                                     caplog):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    evaluate(FakeIndex(), testset, retrieval_only=True, out_dir=tmp_path, progress=False)
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "results.jsonl").exists()
    report = (tmp_path / "report.md").read_text()
    assert "## Overall" in report and "hits@10" in report
    assert "Plots were left out" in report and "pip install 'article-rag[eval]'" in report
    assert not list(tmp_path.glob("*.png"))
    assert "without plots" in caplog.text
