"""Which sources a local model is shown (max_sources): the passages that speak to the question, in retrieval order."""

from __future__ import annotations

from rag.answering.citations import Pool, passages_from_hits, terms
from rag.answering.prompting import build_prompt, choose_sources
from rag.schema import Article, Hit

FILLER = [Article(id=f"f{i}", title=f"Weather roundup {i}", source="Daily Wire", published_at="2024-04-0{i}",
                  text=f"Light rain is expected across the region on day {i}. Temperatures stay mild.")
          for i in range(1, 5)]
STRIKE = Article(
    id="strike", title="Dock workers end strike", source="Harbour News", published_at="2024-04-12",
    text="Dock workers at Port Elliot ended a nine-day strike on Friday after a 7 percent pay rise was agreed.")
CEO = Article(
    id="ceo", title="Port chief speaks", source="Harbour News", published_at="2024-04-13",
    text="The port's chief executive, Marco Demir, said operations at Port Elliot would resume within 48 hours.")


def hits(articles: list[Article]) -> list[Hit]:
    return [Hit(rank, a, a.text, 0, len(a.text), 1.0 / rank, rank) for rank, a in enumerate(articles, 1)]


QUESTION = "When did the strike at Port Elliot end, and what did the chief executive Marco Demir say?"


def test_the_passages_holding_the_question_are_chosen_even_when_ranked_last():
    passages = passages_from_hits(hits([STRIKE, *FILLER, CEO]))
    weights = {t: 1.0 for t in terms(QUESTION)}
    chosen = choose_sources(Pool(passages), weights, 2)
    assert [passages[i].article.id for i in chosen] == ["strike", "ceo"]   # retrieval order, fillers left out


def test_without_question_terms_the_first_passages_are_kept():
    passages = passages_from_hits(hits([*FILLER, STRIKE]))
    assert choose_sources(Pool(passages), {}, 3) == [0, 1, 2]
    assert choose_sources(Pool(passages), {}, 10) == list(range(len(passages)))


def test_a_prompt_with_max_sources_numbers_only_what_it_shows():
    passages = passages_from_hits(hits([STRIKE, *FILLER, CEO]))
    whole = build_prompt(QUESTION, passages, source_tokens=80)
    built = build_prompt(QUESTION, passages, source_tokens=80, max_sources=2)
    assert [p.article.id for p in built.passages] == ["strike", "ceo"]
    assert [p.n for p in built.passages] == [1, 2]
    user = built.prompt.messages[-1]["content"]
    assert '<source id="2"' in user and '<source id="3"' not in user and "Marco Demir" in user
    assert "Light rain" not in user
    assert built.prompt_tokens < whole.prompt_tokens
    assert len(whole.passages) == 6
