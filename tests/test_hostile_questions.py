"""Hostile questions through every surface: the Python API, a chat, `rag search` and `rag ask`.

Empty, whitespace-only, control-character-only and overlong questions are a QueryError with a one-line message
(CLI: `error: ...`, exit 2, no traceback). Questions with control characters mixed into words and questions in
Bulgarian, Chinese and Arabic get results or a refusal, never a crash; what comes back is verbatim article text.
"""

from __future__ import annotations

import json

import pytest

from rag.errors import QueryError
from bench.harness.cli import run_cli

EMPTY = ["", "   ", "\n\t  \n", "\x00\x01\x02\x1b", "\u200b\u200b"]
LONG = "What did Bulgaria claim about Russia? " * 2800  # ~100 KB
assert len(LONG) > 100_000
MIXED_CONTROL = "What did\x00 Bulgaria\x1b[31m claim\x07 about\r Russia\x7f?"
NON_ENGLISH = {
    "bulgarian": "Какво твърди България за Русия?",
    "chinese": "保加利亚对俄罗斯有什么说法？",
    "arabic": "ماذا قالت بلغاريا عن روسيا؟",
    "mixed_rtl": "What did \u202eaissuR\u202c Bulgaria claim?",
}


def _one_line(msg: str) -> None:
    assert msg and "\n" not in msg and len(msg) < 400, msg


def _check_answer(ans) -> None:
    assert isinstance(ans.text, str) and ans.text.strip()
    assert ans.refused or ans.citations
    for c in ans.citations:
        assert c.excerpt == c.article.text[c.start:c.end]


@pytest.mark.parametrize("question", EMPTY + [LONG], ids=["empty", "spaces", "newlines", "controls", "zero-width",
                                                          "100KB"])
def test_unusable_questions_are_one_line_query_errors(seed_index, question):
    if question == "\u200b\u200b":
        # zero-width spaces are "printable" to Python: a query of nothing visible. It must not crash; either a
        # QueryError or an empty / refused result is acceptable.
        try:
            hits = seed_index.search(question, k=3)
        except QueryError as err:
            _one_line(str(err))
        else:
            assert isinstance(hits, list)
        return
    for call in (lambda: seed_index.search(question, k=5), lambda: seed_index.ask(question),
                 lambda: seed_index.chat().ask(question), lambda: list(seed_index.ask_stream(question))):
        with pytest.raises(QueryError) as err:
            call()
        _one_line(str(err.value))
    if question is LONG:
        assert "limit" in str(err.value)


def test_control_characters_inside_a_question_are_ignored(seed_index):
    hits = seed_index.search(MIXED_CONTROL, k=5)
    assert hits and "intelligence" in " ".join(h.text for h in hits)
    for h in hits:
        assert h.text == h.article.text[h.start:h.end]
    ans = seed_index.ask(MIXED_CONTROL)
    _check_answer(ans)
    assert not ans.refused  # the same question without the control characters is answerable from the seed
    assert not any(ch in ans.text for ch in "\x00\x1b\x07\x7f")


@pytest.mark.parametrize("lang", sorted(NON_ENGLISH))
def test_non_english_questions_get_results_or_a_refusal(seed_index, lang):
    q = NON_ENGLISH[lang]
    hits = seed_index.search(q, k=5)
    for h in hits:
        assert h.text == h.article.text[h.start:h.end]
    _check_answer(seed_index.ask(q))
    chat = seed_index.chat()
    _check_answer(chat.ask(q))
    _check_answer(chat.ask("и какво друго?" if lang == "bulgarian" else "还有呢？"))  # a non-English follow-up


@pytest.mark.slow
def test_cli_hostile_questions(tmp_path, seed_index):
    index = str(seed_index.path)
    # unusable: exit 2, one `error:` line, no traceback (these fail before any model loads)
    for args in (["search", ""], ["ask", "   "], ["search", "\x01\x02\x1b"], ["ask", LONG], ["search", LONG]):
        r = run_cli(*args, "--index", index, timeout=300)
        err = r.stderr.strip()
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args[0], r.returncode, r.stderr[-800:])
        assert len(err.splitlines()) == 1 and err.startswith("error: "), err
        assert r.stdout == ""
    # usable but odd: valid JSON with verbatim results or a refusal
    r = run_cli("ask", NON_ENGLISH["bulgarian"], "--index", index, "--json")
    assert r.returncode == 0, r.stderr[-1500:]
    out = json.loads(r.stdout)
    assert out["question"] == NON_ENGLISH["bulgarian"] and (out["refused"] or out["citations"])
    r = run_cli("search", NON_ENGLISH["chinese"] + " " + NON_ENGLISH["arabic"], "--index", index, "--json")
    assert r.returncode == 0, r.stderr[-1500:]
    assert isinstance(json.loads(r.stdout)["hits"], list)
    r = run_cli("ask", MIXED_CONTROL.replace("\x00", ""), "--index", index)  # argv cannot carry NUL
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert "\x1b" not in r.stdout  # no terminal escape from the question is echoed back
