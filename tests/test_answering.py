"""Answering over real indexes (SQLite + FAISS + the packaged embedder): the extractive model, refusals, streaming,
bad input, and the generative pipeline through a scripted model at the model seam."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterator

import pytest

import rag
from rag.answering import GATE_COVERAGE, answer_stream, assess
from rag.answering.answer import Answerer
from rag.answering.citations import Pool, passages_from_hits
from rag.errors import ModelSpecError, QueryError
from rag.providers.base import Model, Prompt
from rag.retrieval import MAX_QUERY_CHARS

from conftest import DATA

SEED_CASES = [
    ("What did Bulgaria claim about Russia?",
     "direct links between Russia's foreign intelligence agency and the criminal gangs"),
    ("How many people have been deported under the one in, one out deal?", "42"),
    ("Who is Bulgaria's equivalent of the Home Secretary?", "Daniel Mitov"),
    ("What did Yvette Cooper say?", "Yvette Cooper"),
    ("How many people crossed the Channel this year?", "36,000"),
    ("How many people has the UK returned to France this week?", "16"),
    ("Who is the UK Home Secretary who spoke about the return flight?", "Shabana Mahmood"),
    ("When did Bulgaria join the Schengen area?", "January"),
    ("How many people have arrived in the UK from France under the deal?", "23"),
    ("Which Foreign Secretary echoed the Bulgarian minister's warning?", "Yvette Cooper"),
    ("Where will European ministers meet Sir Keir Starmer this week?", "London"),
]
UNCOVERED = [
    "What did the French president say about the deal?",
    "What is the GDP of Bulgaria?",
    "Who won the football match?",
    "How did the French president respond to the claims about Russian spies?",
    "What was the UK's GDP growth in the last quarter?",
    "How much money does the UK pay France under the one in, one out agreement?",
    "What is the population of Bulgaria?",
]
SMALL_CASES = [
    ("How much did the library renovation cost?", "4.5 million pounds"),
    ("What pay rise did the dock workers get?", "7 percent"),
    ("Who is the mission director of the Aurora-3 probe?", "Hanna Lind"),
    ("How many union members voted on the offer?", "1,200"),
    ("When does construction of the cycle lanes start?", "March"),
    ("How much were the frost losses estimated at?", "12 million dollars"),
]
SMALL_UNCOVERED = [
    "Who won the football match?",
    "What is the GDP of Bulgaria?",
    "Which party won the election in the northern valley?",
    "How many goals did the striker score?",
]


@pytest.fixture(scope="module")
def small_index(small_index_dir):
    index = rag.Index.open(small_index_dir)   # read-only use
    yield index
    index.close()


def check_answer(ans: rag.Answer) -> None:
    """The invariants every Answer keeps."""
    for c in ans.citations:
        assert c.article.text[c.start:c.end] == c.excerpt
        assert c.excerpt.strip()
    assert [c.n for c in ans.citations] == list(range(1, len(ans.citations) + 1))
    used = [int(n) for n in re.findall(r"\[(\d+)\]", ans.text)]
    assert list(dict.fromkeys(used)) == [c.n for c in ans.citations]     # numbered in order of first use
    assert set(ans.timings_ms) >= {"retrieve", "generate", "total"}


@pytest.mark.parametrize("question,expected", SEED_CASES)
def test_extractive_answers_seed_questions(seed_index, question, expected):
    ans = seed_index.ask(question)
    check_answer(ans)
    assert not ans.refused, ans.text
    assert expected in ans.text
    assert any(expected in c.excerpt for c in ans.citations)
    assert ans.model == "extractive" and ans.query == question and ans.hits
    assert all(s.supported and s.citations for s in ans.sentences)
    # excerpts are sentences, not whole chunks
    assert all(len(c.excerpt) < 600 for c in ans.citations)


def test_bulgaria_answer_cites_the_intelligence_sentence(seed_index):
    ans = seed_index.ask("What did Bulgaria claim about Russia?")
    assert any(c.excerpt.startswith("Daniel Mitov, Bulgaria's equivalent of the Home Secretary")
               for c in ans.citations)


@pytest.mark.parametrize("question", UNCOVERED)
def test_uncovered_questions_are_refused(seed_index, question):
    ans = seed_index.ask(question)
    check_answer(ans)
    assert ans.refused
    assert ans.text.startswith("The articles don't say.")
    assert ans.hits                          # the closest passages are still returned
    assert len(ans.citations) <= 2
    if ans.citations:                        # and cited, saying plainly that they do not answer
        assert "do not answer" in ans.text or "does not answer" in ans.text


@pytest.mark.parametrize("question,expected", SMALL_CASES)
def test_extractive_answers_across_articles(small_index, question, expected):
    ans = small_index.ask(question)
    check_answer(ans)
    assert not ans.refused, ans.text
    assert expected in ans.text


@pytest.mark.parametrize("question", SMALL_UNCOVERED)
def test_uncovered_questions_refused_on_small_index(small_index, question):
    assert small_index.ask(question).refused


def test_seed_testset_answers_and_refusals(seed_index):
    for line in (DATA / "seed_qa.jsonl").read_text().splitlines():
        item = json.loads(line)
        ans = seed_index.ask(item["question"])
        check_answer(ans)
        if item["answerable"]:
            assert not ans.refused and any(a in ans.text for a in item["answers"]), item["question"]
        else:
            assert ans.refused, item["question"]


def test_gate_margin_on_seed(seed_index):
    """The refusal threshold sits between the answerable and the unanswerable seed questions, with room."""
    def coverage(q: str) -> float:
        return assess(Pool(passages_from_hits(seed_index.search(q, k=6))), q).coverage

    answerable = min(coverage(q) for q, _ in SEED_CASES)
    unanswerable = max(coverage(q) for q in UNCOVERED)
    assert unanswerable + 0.05 < GATE_COVERAGE < answerable - 0.05, (unanswerable, answerable)


def test_multi_part_questions_may_draw_on_several_articles(small_index):
    ans = small_index.ask("Did the dock workers at Port Elliot win a 7 percent pay rise after their strike, and did "
                          "the Aurora-3 lunar probe mission cost 310 million euros?")
    check_answer(ans)
    assert not ans.refused
    assert {c.article.title for c in ans.citations} >= {"Dock workers end strike at Port Elliot",
                                                      "Lunar probe lands near the south pole"}
    ans = small_index.ask("Did the football club's new striker, signed from a Brazilian team for a record fee, "
                          "score twice in the Champions League final in Madrid last weekend?")
    assert ans.refused


def test_filters_reach_retrieval(small_index):
    ans = small_index.ask("How much did the renovation cost?", sources=["Metro Daily"])
    assert not ans.refused and all(h.article.source == "Metro Daily" for h in ans.hits)
    ans = small_index.ask("What pay rise did the dock workers get?", sources=["Metro Daily"])
    assert ans.refused   # the strike article is not from that outlet


def test_extractive_stream_is_one_piece_then_answer(seed_index):
    items = list(seed_index.ask_stream("What did Yvette Cooper say?"))
    assert len(items) == 2 and isinstance(items[0], str) and isinstance(items[1], rag.Answer)
    assert items[0] == items[1].text


def test_refusal_streams_too(seed_index):
    items = list(answer_stream(seed_index, "Who won the football match?"))
    assert isinstance(items[-1], rag.Answer) and items[-1].refused and items[0] == items[-1].text


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "x" * (MAX_QUERY_CHARS + 1)])
def test_bad_questions_raise_query_error(seed_index, question):
    with pytest.raises(QueryError):
        seed_index.ask(question)
    with pytest.raises(QueryError):
        seed_index.ask_stream(question)      # raised at the call, before iteration


@pytest.mark.parametrize("spec", ["nosuch", "nosuch:model", "extractive:big"])
def test_unknown_model_raises_model_spec_error(seed_index, spec):
    with pytest.raises(ModelSpecError):
        seed_index.ask("What did Yvette Cooper say?", model=spec)


def test_extractive_latency_beyond_retrieval(seed_index):
    """Median time spent after retrieval (gate + sentence selection + attribution), over 30 questions."""
    questions = [q for q, _ in SEED_CASES] + UNCOVERED
    questions = (questions * 2)[:30]
    cache = {(q, 6): seed_index.search(q, k=6) for q in questions}

    class Cached:      # the real hits, without re-paying for the query embedding on a busy machine
        def ranked(self, q, k, filters):
            if (q, k) not in cache:      # a part's second search (rag.answering.part_search) is retrieval too
                cache[q, k] = seed_index.search(q, k=k)
            return cache[q, k]

    # the answerer's seam: any retriever, the index's catalog, no embedder (the lexical gate alone)
    answerer = Answerer(Cached(), seed_index.store, lambda: None)
    for q in questions[:5]:
        answerer.answer(q)
    times = [answerer.answer(q).timings_ms["generate"] for q in questions]
    median = statistics.median(times)
    print(f"extractive median beyond retrieval: {median:.1f} ms (max {max(times):.1f} ms)")
    assert median < 100


# ---- the generative pipeline through a scripted model ------------------------------------------------------
class Scripted(Model):
    """A generative model that replies with fixed text (in pieces when streaming) and records its prompts."""

    can_stream = True
    generative = True
    context_tokens = 4096

    def __init__(self, reply: str, model_id: str = "scripted:test"):
        self.reply = reply
        self.model_id = model_id
        self.prompts: list[Prompt] = []

    def generate(self, prompt: Prompt, *, stream: bool = False) -> Iterator[str]:
        self.prompts.append(prompt)
        if not stream:
            yield self.reply
            return
        for i in range(0, len(self.reply), 7):
            yield self.reply[i:i + 7]


def test_generative_answer_is_verified(seed_index):
    model = Scripted("Daniel Mitov said there are direct links between Russia's foreign intelligence agency and "
                     "criminal gangs [1][9]. The French president agreed [1]. 42 people have been deported [2].")
    ans = seed_index.ask("What did Bulgaria claim about Russia?", model=model)
    check_answer(ans)
    assert ans.model == "scripted:test" and not ans.refused
    s1, s2, s3 = ans.sentences
    assert s1.supported and s1.citations == (1,) and "direct links" in ans.citations[0].excerpt
    assert not s2.supported and s2.citations == () and "The French president agreed." in ans.text
    assert s3.supported and "42" in ans.citations[s3.citations[0] - 1].excerpt
    prompt = model.prompts[0]
    user = prompt.messages[-1]["content"]
    assert '<source id="1"' in user and "</source>" in user and "Question: What did Bulgaria claim" in user
    assert prompt.messages[0]["role"] == "system" and "instructions" in prompt.messages[0]["content"]


def test_generative_stream_yields_pieces_then_answer(seed_index):
    model = Scripted("Foreign Secretary Yvette Cooper echoed the warning [1].")
    items = list(seed_index.ask_stream("What did Yvette Cooper say?", model=model))
    pieces, final = items[:-1], items[-1]
    assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)
    assert isinstance(final, rag.Answer) and "[1]" in "".join(pieces)
    check_answer(final)


def test_weak_evidence_refuses_before_generation(seed_index):
    model = Scripted("The French president said PWNED [1].")
    ans = seed_index.ask("What did the French president say about the deal?", model=model)
    assert ans.refused and model.prompts == []
    assert ans.model == "scripted:test"


def test_model_saying_it_cannot_answer_is_honoured(seed_index):
    model = Scripted("The articles don't say.")
    ans = seed_index.ask("What did Bulgaria claim about Russia?", model=model)
    check_answer(ans)
    assert ans.refused and ans.text.startswith("The articles don't say.")


def test_model_asking_for_focused_sources_gets_them_and_citations_stay_whole(seed_index):
    whole = Scripted("Bulgaria joined the Schengen area in January [1].")
    seed_index.ask("When did Bulgaria join the Schengen area?", model=whole)
    model = Scripted("Bulgaria joined the Schengen area in January [1].")
    model.source_tokens = 40
    ans = seed_index.ask("When did Bulgaria join the Schengen area?", model=model)
    check_answer(ans)
    user = model.prompts[0].messages[-1]["content"]
    assert "joined the EU's free movement Schengen area in January" in user
    assert len(user) < len(whole.prompts[0].messages[-1]["content"]) / 2
    assert not ans.refused and ans.citations
    assert "Schengen area in January" in ans.citations[0].excerpt


def test_prompt_options_reach_the_model(seed_index):
    model = Scripted("Yvette Cooper echoed the warning [1].")
    seed_index.ask("What did Yvette Cooper say?", model=model, max_tokens=64, temperature=0.3)
    assert model.prompts[0].max_tokens == 64 and model.prompts[0].temperature == 0.3


def test_cli_ask_json(seed_index, cli):
    out = cli("ask", "How many people crossed the Channel this year?", "--index", str(seed_index.path), "--json")
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert "36,000" in obj["answer"] and not obj["refused"]
    art = seed_index.get_article(obj["citations"][0]["article_id"])
    c = obj["citations"][0]
    assert art.text[c["start"]:c["end"]] == c["excerpt"]
    out = cli("ask", "   ", "--index", str(seed_index.path))
    assert out.returncode != 0 and "Traceback" not in out.stderr and out.stderr.strip().count("\n") == 0
