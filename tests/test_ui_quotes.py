"""The "Who said what" tab's server side without a browser, on real indexes: rows from `Index.quotes`, HTML
escaping of article text, empty states that say why, a bad date as one line, the reader's marks over a quote that
spans paragraphs. (tests/test_browser_quotes.py checks the same view in Chromium.)"""

from __future__ import annotations

import re
import shutil
from html import unescape

import pytest

pytest.importorskip("gradio")

import rag  # noqa: E402
from ui.filters import Filters  # noqa: E402
from ui.quotes_view import QuotesActions, empty_html  # noqa: E402
from ui.reader import _marked, reader_for  # noqa: E402


class _Tab(QuotesActions):
    def __init__(self, index):
        self.index = index


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture(scope="module")
def small(small_index_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("ui-quotes") / "index"
    shutil.copytree(small_index_dir, path)
    with rag.Index.open(path) as index:
        yield index


def test_rows_are_the_index_quotes_with_speaker_role_and_kind(small):
    hits = small.quotes()
    chips, clear, body = _Tab(small).find_quotes("", "", [], "", "")
    rows = re.findall(r"<tr data-article=.*?</tr>", body)
    seen, distinct = set(), []
    for h in hits:
        key = (h.article.id, h.quote.speaker.lower(), " ".join(h.quote.quote.split()).lower())
        if key not in seen:
            seen.add(key)
            distinct.append(h)
    assert len(rows) == len(distinct) and len(rows) < len(hits), "a repeated pull-quote is one row"
    for row, h in zip(rows, distinct):
        q, text = h.quote, _text(row)
        assert f'data-article="{h.article.id}"' in row and f'data-spans="1:{q.start}:{q.end}' in row
        assert text.startswith(q.speaker + (f" {q.role}" if q.role else ""))
        said = " ".join(q.quote.split())
        assert (f"“{said}”" if q.kind == "direct" else f"Reported {said}") in text
    assert "All outlets and dates" in _text(chips) and clear["visible"] is False


def test_empty_states_say_why(small):
    tab = _Tab(small)
    n = small.stats()["articles"]
    assert small.quotes("zqxjvw") == []
    _, _, body = tab.find_quotes("zqxjvw", "", [], "", "")
    assert f"No quotes about “zqxjvw” in the {n} indexed articles." in _text(body)
    _, _, body = tab.find_quotes("", "Nobody Atall", [], "", "")
    assert f"No quotes by “Nobody Atall” in the {n} indexed articles." in _text(body)
    outlets = [s for s, _ in small.sources() if s]
    word, outlet = next((w, o) for h in small.quotes() for w in re.findall(r"[A-Za-z]{7,}", h.quote.quote)
                        for o in outlets if small.quotes(w) and not small.quotes(w, sources=[o]))
    chips, clear, body = tab.find_quotes(word, "", [outlet], "", "")
    text = _text(body)
    assert f"outlet {outlet}" in text and "The filters left out" in text, text
    assert small.quotes(word)[0].quote.speaker in text
    assert f"Outlet: {outlet}" in _text(chips) and clear["visible"] is True
    _, _, body = tab.find_quotes("", "", [outlet], "2999-01-01", "")
    assert "No article matches the filters" in _text(body)
    assert "The index is empty" in empty_html("", "", 0, Filters())


def test_a_bad_date_is_one_line_not_an_exception(small):
    _, _, body = _Tab(small).find_quotes("", "", [], "2024-13-01", "")
    assert 'class="rag-error"' in body and "not a real date" in body
    _, _, body = _Tab(small).find_quotes("", "", [], "2025-02-01", "2025-01-01")
    assert "From date is after the To date" in body


def test_article_text_is_escaped(fresh_tmp_index):
    index, folder = fresh_tmp_index
    (folder / "hostile.txt").write_text(
        "Markup in a quote\n\n\"We will <script>alert(1)</script> never stop,\" said Jane Doe, the mayor.\n")
    index.add([folder])
    hits = index.quotes()
    assert hits and "<script>" in hits[0].quote.quote
    _, _, body = _Tab(index).find_quotes("", "", [], "", "")
    assert "<script>" not in body and "&lt;script&gt;" in body


@pytest.fixture
def fresh_tmp_index(tmp_path, embedder):
    folder = tmp_path / "articles"
    folder.mkdir()
    with rag.Index.open(tmp_path / "index") as index:
        yield index, folder


def test_reader_marks_a_quote_over_a_paragraph_break_in_every_paragraph(small):
    text = 'Intro.\n\n"First part.\n\nSecond part," she said.'
    s, e = text.index("First"), text.index(',"')
    html = _marked(text, [(1, s, e)], 1)
    paras = re.findall(r"<p>(.*?)</p>", html)
    assert len(paras) == 3 and "<mark" in paras[1] and "<mark" in paras[2], html
    assert all(p.count("<mark") == p.count("</mark>") for p in paras)
    hit = small.quotes()[0]
    overlay = reader_for(small, {"article": hit.article.id, "spans": f"1:{hit.quote.start}:{hit.quote.end}",
                                 "target": "1", "what": "quote"})
    target = re.search(r'<mark id="rag-hl-1" class="rag-hl-target"[^>]*>(.*?)</mark>', overlay).group(1)
    assert unescape(target) in hit.article.text and "the quote highlighted" in overlay
