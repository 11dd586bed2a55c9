"""Chat: follow-up rewriting without an LLM, history budget, streaming, on the real seed index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import rag
from rag.answering.chat import Chat, is_followup, rewrite
from rag.errors import ModelSpecError, QueryError
from rag.providers.base import Model, Prompt

MITOV = ("Daniel Mitov, Bulgaria's equivalent of the Home Secretary, said his government has evidence of direct "
         "links between Russia's foreign intelligence agency and the criminal gangs. [1]")


@pytest.mark.parametrize("previous,question,expected", [
    ("What did Bulgaria claim about Russia?", "what about Cooper?", "What did Cooper claim about Russia?"),
    ("What did the UK say? (claim, Russia)", "and France?", "What did France say? (claim, Russia)"),
    ("When did Bulgaria join the Schengen area?", "and the UK?", "When did the UK join the Schengen area?"),
    ("What did Bulgaria claim about Russia?", "and what did the UK say?", "What did the UK say? (Russia, claim)"),
    ("How many people have been deported under the one in, one out deal?", "how many of them?",
     "How many of them? (people, deported, one, deal)"),
    ("Who is Bulgaria's equivalent of the Home Secretary?", "what did he say?", "What did Daniel Mitov say?"),
    ("Who is Bulgaria's equivalent of the Home Secretary?", "and what is his job?", "What is Daniel Mitov's job?"),
])
def test_followups_are_rewritten(previous, question, expected):
    assert rewrite(question, previous, MITOV) == expected


@pytest.mark.parametrize("question", [
    "Who is Bulgaria's equivalent of the Home Secretary?",
    "What did Yvette Cooper say?",
    "How many people crossed the Channel this year?",
])
def test_standalone_questions_are_left_alone(question):
    assert not is_followup(question)
    assert rewrite(question, "What did Bulgaria claim about Russia?", MITOV) == question


def test_first_question_is_never_rewritten():
    assert rewrite("and what about him?", None) == "and what about him?"


def test_chat_rewrites_and_answers_followups(seed_index):
    chat = seed_index.chat()
    first = chat.ask("What did Bulgaria claim about Russia?")
    assert not first.refused and first.query == first.question
    second = chat.ask("what about Cooper?")
    assert second.question == "what about Cooper?"
    assert second.query == "What did Cooper claim about Russia?"
    assert not second.refused and "Cooper" in second.text
    assert any("Yvette Cooper" in c.excerpt or "Ms Cooper" in c.excerpt for c in second.citations)
    assert "rewrite" in second.timings_ms
    third = chat.ask("Who is Bulgaria's equivalent of the Home Secretary?")
    assert third.query == third.question and "Daniel Mitov" in third.text
    fourth = chat.ask("what did he say?")
    assert fourth.query == "What did Daniel Mitov say?" and not fourth.refused
    assert [q for q, _ in chat.history] == ["What did Bulgaria claim about Russia?", "what about Cooper?",
                                           "Who is Bulgaria's equivalent of the Home Secretary?", "what did he say?"]
    chat.reset()
    assert chat.history == []
    assert chat.ask("what about Cooper?").query == "what about Cooper?"


def test_followup_with_pronoun_uses_previous_terms(seed_index):
    chat = seed_index.chat()
    chat.ask("How many people have been deported under the one in, one out deal?")
    ans = chat.ask("and how many of them arrived from France?")
    assert ans.query.startswith("How many of them arrived from France?") and "deported" in ans.query
    assert not ans.refused and "23" in ans.text


def test_history_budget_drops_oldest_turns(seed_index):
    chat = Chat(seed_index, history_tokens=120)
    questions = ["What did Bulgaria claim about Russia?", "What did Yvette Cooper say?",
                 "How many people crossed the Channel this year?"]
    for q in questions:
        chat.ask(q)
    assert 1 <= len(chat.history) < 3
    assert chat.history[-1][0] == questions[-1]
    from rag.tokens import count_tokens
    total = sum(count_tokens(q) + count_tokens(a.text) for q, a in chat.history)
    assert total <= 120 or len(chat.history) == 1


def test_chat_stream_pieces_then_answer_and_history(seed_index):
    chat = seed_index.chat()
    items = list(chat.ask_stream("What did Yvette Cooper say?"))
    assert isinstance(items[0], str) and isinstance(items[-1], rag.Answer)
    assert chat.history[-1][1] == items[-1]


def test_chat_bad_input(seed_index):
    with pytest.raises(ModelSpecError):
        Chat(seed_index, model="nosuch:model")
    chat = seed_index.chat()
    with pytest.raises(QueryError):
        chat.ask("   ")
    assert chat.history == []


class Rewriter(Model):
    """A generative model that answers the rewrite request with a fixed reply, and the question with a quote."""

    model_id = "scripted:rewriter"
    can_stream = False
    generative = True
    context_tokens = 4096

    def __init__(self, rewrite_reply: str):
        self.rewrite_reply = rewrite_reply
        self.prompts: list[Prompt] = []

    def generate(self, prompt: Prompt, *, stream: bool = False) -> Iterator[str]:
        self.prompts.append(prompt)
        if not prompt.sources:
            yield self.rewrite_reply
        else:
            yield "Foreign Secretary Yvette Cooper echoed the warning [1]."


def test_model_rewrite_used_when_sensible(seed_index):
    model = Rewriter("What did Yvette Cooper say about hostile state actors?")
    chat = Chat(seed_index, model=model, rewrite="model")
    chat.ask("What did Bulgaria claim about Russia?")
    ans = chat.ask("what about Cooper?")
    assert ans.query == "What did Yvette Cooper say about hostile state actors?"
    # the history went to the generative model with the sources of this turn
    assert any(m["role"] == "assistant" for m in model.prompts[-1].messages)


def test_model_rewrite_falls_back_to_heuristic(seed_index):
    model = Rewriter("I cannot answer that.\nSorry")
    chat = Chat(seed_index, model=model, rewrite="model")
    chat.ask("What did Bulgaria claim about Russia?")
    assert chat.ask("what about Cooper?").query == "What did Cooper claim about Russia?"
