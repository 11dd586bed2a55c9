"""Evaluation metrics, test-set readers and gates, on small cases whose expected numbers are counted by hand."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rag.errors import TestSetError
from rag.evaluation.metrics import (
    METRIC_DEFINITIONS,
    aggregate,
    excerpt_matches,
    is_verbatim,
    normalize_answer,
    percentile,
    score_answer,
    score_articles,
    score_citations,
    score_facts,
    score_question,
    yes_no,
)
from rag.evaluation.runner import check_gates
from rag.evaluation.testsets import Evidence, Question, load_testset
from rag.schema import Answer, AnswerSentence, Article, Citation, Hit

ROOT = Path(__file__).resolve().parents[1]
SEED_ARTICLE = ROOT / "seeds" / "000_4b0c6bffbec62fe4.txt"
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"


def art(title: str, text: str = "", aid: str = "") -> Article:
    return Article(id=aid or title, title=title, text=text)


def hit(text: str, title: str = "T", rank: int = 0) -> Hit:
    return Hit(chunk_id=rank, article=art(title, text), text=text, start=0, end=len(text), score=1.0, rank=rank)


def q(evidence=(), answers=("x",), answerable=True, qtype="t", qid="q") -> Question:
    return Question(id=qid, question="?", answers=tuple(answers), evidence=tuple(evidence),
                    answerable=answerable, qtype=qtype, position=0)


# --- fact-level retrieval ----------------------------------------------------------------------------------------

def test_whitespace_and_newlines_are_stripped_on_both_sides():
    fact = "Alpha beta\ngamma delta."
    chunks = ["nothing here", "x Alpha\n\nbeta  gamma\tdelta. y"]
    s = score_facts(chunks, [fact])
    assert s.relevant_ranks == (2,)
    assert s.hits_at(1) == 0.0 and s.hits_at(2) == 1.0
    assert s.reciprocal_rank == 0.5
    assert s.average_precision == 0.5  # (1 new fact / rank 2) / min(1, 10)


def test_fact_split_across_two_chunks_is_not_found():
    fact = "one two three four"
    s = score_facts(["intro one two", "three four outro"], [fact])
    assert s.relevant_ranks == ()
    assert (s.hits_at(10), s.reciprocal_rank, s.average_precision) == (0.0, 0.0, 0.0)


def test_map_with_three_facts():
    a, b, c = "fact A here", "fact B here", "fact C here"
    chunks = ["irrelevant", f"x {a} y", f"again {a}", f"{b} and {c}", f"{c}"]
    s = score_facts(chunks, [a, b, c])
    # rank 2 covers A (1/2), rank 3 covers nothing new, rank 4 covers B and C (2/4): (0.5 + 0.5) / 3
    assert s.relevant_ranks == (2, 3, 4, 5)
    assert s.average_precision == pytest.approx(1.0 / 3)
    assert s.reciprocal_rank == 0.5
    assert [s.hits_at(k) for k in (1, 2, 4, 10)] == [0.0, 1.0, 1.0, 1.0]


def test_only_the_top_ten_count():
    chunks = ["no"] * 10 + ["the fact"]
    s = score_facts(chunks, ["the fact"])
    assert s.relevant_ranks == () and s.hits_at(10) == 0.0


def test_no_facts_means_not_scored():
    assert score_facts(["anything"], []) is None
    assert score_facts(["anything"], [" \n "]) is None  # an empty fact would match every chunk


def _paper_metrics(retrieved: list[str], gold: list[str]) -> tuple[float, float, float, float]:
    """A line-by-line port of MultiHop-RAG's retrieval_evaluate.py for one query (hits@10, hits@4, MAP, MRR)."""
    hits10 = hits4 = False
    ap_sum, first, found = 0.0, None, []
    gold = [g.replace(" ", "").replace("\n", "") for g in gold]
    retrieved = [r.replace(" ", "").replace("\n", "") for r in retrieved]
    for rank, item in enumerate(retrieved[:11], start=1):
        if any(g in item for g in gold) and rank <= 10:
            hits10 = True
            first = first or rank
            hits4 = hits4 or rank <= 4
            count = 0
            for g in gold:
                if g in item and g not in found:
                    count += 1
                    found.append(g)
            ap_sum += count / rank
    return float(hits10), float(hits4), ap_sum / min(len(gold), 10), (1 / first if first else 0.0)


def test_agrees_with_the_papers_code_on_random_rankings():
    rng = random.Random(7)
    words = "red green blue cyan\nmagenta yellow black white".split(" ")
    for _ in range(300):
        facts = [" ".join(rng.choices(words, k=2)) for _ in range(rng.randint(1, 4))]
        chunks = [" ".join(rng.choices(words, k=rng.randint(1, 6))) for _ in range(rng.randint(0, 12))]
        ours = score_facts(chunks, facts)
        assert (ours.hits_at(10), ours.hits_at(4), ours.average_precision, ours.reciprocal_rank) == \
            pytest.approx(_paper_metrics(chunks, facts))


# --- article-level retrieval -------------------------------------------------------------------------------------

def test_article_level_differs_from_fact_level():
    evidence = [Evidence("T1", "fact one"), Evidence("T2", "fact two")]
    hits = [hit("T1 text without it", "T1", 1), hit("unrelated", "X", 2), hit("has fact two inside", "T2", 3)]
    row = score_question(q(evidence), hits, None, {})
    m = row["metrics"]
    assert row["relevant_ranks"] == [3] and row["article_relevant_ranks"] == [1, 3]
    assert (m["hits@1"], m["mrr@10"], m["map@10"]) == (0.0, pytest.approx(1 / 3), pytest.approx(1 / 6))
    assert (m["article_hits@1"], m["article_mrr@10"]) == (1.0, 1.0)
    assert m["article_map@10"] == pytest.approx((1 / 1 + 1 / 3) / 2)


def test_article_map_counts_each_gold_article_once():
    s = score_articles(["T1", "T1", "T2"], ["T1", "T2", "T1"])
    assert s.relevant_ranks == (1, 2, 3)
    assert s.average_precision == pytest.approx((1 + 1 / 3) / 2)


def test_unanswerable_questions_are_excluded_from_retrieval():
    row = score_question(q([Evidence("T", "fact")], answerable=False), [hit("fact")], None, {})
    assert row["metrics"]["hits@1"] is None
    assert aggregate([row])["hits@1"] is None and aggregate([row])["n_retrieval_scored"] == 0


# --- answers -----------------------------------------------------------------------------------------------------

def test_normalisation():
    assert normalize_answer("  The  Daniel Mitov!  ") == "daniel mitov"
    assert normalize_answer("“An apple”, a pear — the end") == "apple pear end"
    assert normalize_answer("above 36,000") == "above 36000"


def test_exact_match_f1_and_contains():
    assert score_answer("Daniel Mitov.", ["daniel mitov"]).exact_match == 1.0
    s = score_answer("Mitov told the Times", ["Daniel Mitov"])
    # pred tokens: mitov told times (3); gold: daniel mitov (2); 1 shared -> P 1/3, R 1/2, F1 = 0.4
    assert (s.exact_match, s.f1, s.contains_answer) == (0.0, pytest.approx(0.4), 0.0)
    assert score_answer("It returned 42 people.", ["42"]).contains_answer == 1.0
    assert score_answer("It returned 420 people.", ["42"]).contains_answer == 0.0  # whole words only
    best = score_answer("above 36,000", ["36000", "above 36,000"])
    assert (best.exact_match, best.f1, best.contains_answer) == (1.0, 1.0, 1.0)
    assert score_answer("anything", []) is None


def test_yes_no_answers():
    assert yes_no("Yes, both reports agree.") == "yes"
    assert yes_no("No.") == "no"
    assert yes_no("Both articles say yes") == "yes"
    assert yes_no("Not really") is None
    assert yes_no("It is unclear") is None
    assert score_answer("Yes, both reports agree.", ["Yes"]).exact_match == 1.0
    assert score_answer("Yes, both reports agree.", ["no"]).f1 == 0.0
    assert score_answer("The reports say no.", ["No"]).contains_answer == 1.0
    assert score_answer("It is unclear", ["yes"]).exact_match == 0.0


# --- citations ---------------------------------------------------------------------------------------------------

TEXT = "Alpha beta. Gamma delta."
DOC = Article(id="d1", title="Doc", text=TEXT)


def cite(n: int, start: int, end: int, excerpt: str | None = None) -> Citation:
    return Citation(n=n, article=DOC, excerpt=TEXT[start:end] if excerpt is None else excerpt, start=start, end=end)


def test_verbatim_check_catches_a_wrong_offset():
    assert is_verbatim(cite(1, 12, 24))
    assert not is_verbatim(cite(1, 11, 23, excerpt="Gamma delta."))   # offsets one character off
    assert not is_verbatim(cite(1, 5, 5))                              # empty excerpt
    assert not is_verbatim(cite(1, 12, 99, excerpt="Gamma delta."))    # end past the text


def test_citation_precision_and_recall():
    s = score_citations([cite(1, 12, 24), cite(2, 0, 11)], ["Gamma delta.", "Something else entirely."])
    assert s.matches_evidence == (True, False)
    assert (s.precision, s.recall) == (0.5, 0.5)
    assert score_citations([], ["Gamma delta."]).precision is None
    assert score_citations([], ["Gamma delta."]).recall == 0.0


def test_excerpt_match_rules():
    assert excerpt_matches("Gamma\n delta.", "Alpha beta. Gamma delta.")            # contained, whitespace aside
    assert excerpt_matches("Alpha beta. Gamma delta. More.", "Gamma delta.")      # contains the evidence
    # content words {minister warned hostile regimes today} vs {hostile regimes minister warned threat}: 4/5
    assert excerpt_matches("The minister warned about hostile regimes today",
                           "Hostile regimes, the minister warned, are a threat")
    assert not excerpt_matches("Bulgaria joined Schengen", "Hostile regimes, the minister warned, are a threat")
    assert not excerpt_matches("of and", "to in or")   # stop words only: nothing to compare


def test_supported_sentences_and_verbatim_rate_are_pooled():
    ev = [Evidence("Doc", "Gamma delta.")]
    a1 = Answer("?", "a [1]", False, citations=(cite(1, 12, 24),),
                sentences=(AnswerSentence("s1", (1,), True), AnswerSentence("s2", (), False),
                           AnswerSentence("s3", (1,), True)))
    a2 = Answer("?", "b [1]", False, citations=(cite(1, 11, 23, excerpt="Gamma delta."),),
                sentences=(AnswerSentence("s", (1,), True),))
    rows = [score_question(q(ev), [], a1, {}), score_question(q(ev), [], a2, {})]
    m = aggregate(rows)
    assert m["supported_sentence_rate"] == 0.75        # 3 of 4 sentences
    assert m["citation_verbatim_rate"] == 0.5          # the second citation has a wrong offset
    assert rows[1]["citations"][0]["verbatim"] is False
    assert m["citation_precision"] == 1.0 and m["citation_recall"] == 1.0


# --- refusals, latency, aggregation ------------------------------------------------------------------------------

def test_refusal_precision_recall_and_false_refusals():
    def run(answerable: bool, refused: bool, qtype: str) -> dict:
        text = "I cannot answer that from the articles." if refused else "Daniel Mitov"
        return score_question(q(answers=("Daniel Mitov",), answerable=answerable, qtype=qtype), [],
                              Answer("?", text, refused), {})

    rows = [run(False, True, "null"), run(False, True, "null"), run(False, False, "null"),
            run(True, True, "who")] + [run(True, False, "who") for _ in range(4)]
    m = aggregate(rows)
    assert m["refusal_precision"] == pytest.approx(2 / 3)   # 2 of 3 refusals were on unanswerable questions
    assert m["refusal_recall"] == pytest.approx(2 / 3)      # 2 of 3 unanswerable questions refused
    assert m["false_refusal_rate"] == pytest.approx(1 / 5)  # 1 of 5 answerable questions refused
    assert m["exact_match"] == pytest.approx(4 / 5)         # the refused answerable one scores 0
    assert (m["n_answerable"], m["n_unanswerable"]) == (5, 3)


def test_latency_percentiles():
    assert percentile([40, 10, 30, 20], 50) == 25.0
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)
    assert percentile([], 50) is None
    rows = [score_question(q(), [], None, {"retrieve": t, "total": t + 1}) for t in (10, 20, 30, 40)]
    m = aggregate(rows)
    assert (m["latency_retrieve_p50_ms"], m["latency_total_p50_ms"]) == (25.0, 26.0)
    assert m["latency_generate_p50_ms"] is None


def test_every_aggregated_metric_is_defined():
    assert set(aggregate([score_question(q(), [], None, {})])) <= set(METRIC_DEFINITIONS)


# --- gates -------------------------------------------------------------------------------------------------------

def test_check_gates():
    metrics = {"overall": {"hits@10": 0.812, "mrr@10": 0.5, "latency_total_p95_ms": 120.0, "refusal_recall": None}}
    assert check_gates(metrics, ["mrr@10=0.4"]) == []
    assert check_gates(metrics, ["hits@10=0.9", "mrr@10=0.4"]) == [
        "metric hits@10 = 0.812 is below the --fail-under threshold 0.900"]
    assert check_gates(metrics, ["latency_total_p95_ms=100"]) == [
        "metric latency_total_p95_ms = 120.000 is above the --fail-under threshold 100.000 (lower is better)"]
    assert "not measured" in check_gates(metrics, ["refusal_recall=0.5"])[0]
    with pytest.raises(TestSetError, match="valid names: .*hits@10"):
        check_gates(metrics, ["hitz@10=0.9"])
    with pytest.raises(TestSetError, match="NAME=THRESHOLD"):
        check_gates(metrics, ["hits@10"])
    with pytest.raises(TestSetError, match="not a number"):
        check_gates(metrics, ["hits@10=high"])


# --- test sets ---------------------------------------------------------------------------------------------------

def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_format_and_split_rule(tmp_path):
    recs = [{"id": f"q{i}", "question": f"Question {i}?", "answers": [str(i)],
             "evidence": [{"title": "T", "text": f"fact {i}"}], "answerable": i != 3} for i in range(8)]
    recs[2]["type"] = "who"
    path = write_jsonl(tmp_path / "t.jsonl", recs[:4] + [""] + recs[4:])   # a blank line does not count
    qs = load_testset(path)
    assert [x.position for x in qs] == list(range(8))
    assert qs[2] == Question("q2", "Question 2?", ("2",), (Evidence("T", "fact 2"),), True, "who", 2)
    assert (qs[3].answerable, qs[3].qtype, qs[0].qtype) == (False, "unanswerable", "answerable")
    assert [x.id for x in load_testset(path, split="test")] == ["q0", "q4"]
    assert [x.id for x in load_testset(path, split="dev")] == ["q1", "q2", "q3", "q5", "q6", "q7"]


def test_multihop_format(tmp_path):
    items = [
        {"query": "Who?", "answer": "Sam", "question_type": "inference_query",
         "evidence_list": [{"title": "A", "fact": "Sam did it.", "source": "X"}]},
        {"query": "What?", "answer": "Insufficient information.", "question_type": "null_query",
         "evidence_list": []},
    ]
    path = tmp_path / "MultiHopRAG.json"
    path.write_text(json.dumps(items, indent=1), encoding="utf-8")
    qs = load_testset(path)
    assert qs[0] == Question("multihop-0000", "Who?", ("Sam",), (Evidence("A", "Sam did it."),), True,
                             "inference", 0)
    assert (qs[1].answerable, qs[1].qtype, qs[1].answers) == (False, "null", ("Insufficient information.",))
    assert [x.position for x in load_testset(path, split="dev")] == [1]


@pytest.mark.parametrize("lines, message", [
    (['{"question": "ok", "answers": ["a"]}', '{"question": '], r"bad\.jsonl:2: invalid JSON"),
    (['{"answers": ["a"]}'], r"bad\.jsonl:1: 'question' must be a non-empty string"),
    (['{"question": "q", "answers": "a"}'], r"bad\.jsonl:1: 'answers' must be a list of strings"),
    (['{"question": "q", "answers": ["a"], "answerable": "yes"}'], r"bad\.jsonl:1: 'answerable' must be"),
    (['{"question": "q", "evidence": [{"title": "T", "text": ""}]}'], r"bad\.jsonl:1: evidence\[0\]\.text"),
    (['{"question": "q"}'], r"bad\.jsonl:1: an answerable question needs"),
    (['{"id": "a", "question": "q", "answers": ["x"]}', '{"id": "a", "question": "r", "answers": ["y"]}'],
     r"bad\.jsonl:2: duplicate id 'a' \(first on line 1\)"),
    (['[1, 2]'], r"bad\.jsonl: item 0: expected an object"),
    (['[{"query": "q", "answer": "a", "question_type": "x", "evidence_list": [{"title": "t"}]}]'],
     r"item 0: evidence_list\[0\]\.fact"),
    (['', '  '], r"bad\.jsonl: no questions"),
])
def test_bad_files_raise_one_line_errors(tmp_path, lines, message):
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(TestSetError, match=message) as err:
        load_testset(path)
    assert "\n" not in str(err.value)


def test_missing_file_and_unknown_split(tmp_path):
    with pytest.raises(TestSetError, match="no such test set file"):
        load_testset(tmp_path / "nope.jsonl")
    with pytest.raises(TestSetError, match="unknown split 'train'"):
        load_testset(SEED_QA, split="train")


def test_seed_qa_evidence_is_verbatim_from_the_seed_article():
    article = SEED_ARTICLE.read_text(encoding="utf-8")
    qs = load_testset(SEED_QA)
    answerable = [x for x in qs if x.answerable]
    assert len(qs) >= 12 and len(answerable) >= 8 and len(qs) - len(answerable) >= 4
    for x in answerable:
        assert x.answers and x.evidence, x.id
        for ev in x.evidence:
            assert ev.text in article, (x.id, ev.text)
        # every accepted answer is backed by its evidence (yes/no aside), so a perfect system can score 1.0
        assert any(score_answer(" ".join(e.text for e in x.evidence), [a]).contains_answer for a in x.answers), x.id
    for x in qs:
        if not x.answerable:
            assert not x.evidence
