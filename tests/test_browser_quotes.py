"""The "Who said what" tab in a real headless Chromium against `rag serve` (issues 14 and 17): the quotes of the
index as `Index.quotes` finds them, a row opening the full article at the highlighted quote, searches by topic and
speaker, empty states that say why (no such quotes; the filters left them out), dark-mode contrast from computed
styles and a 375 px phone layout.

Expected speakers and quote text are read from the served index with `rag.Index.quotes`, never written here. The
chromium and `rag serve` fixtures are the ones of tests/test_browser_ui.py (one server for this module).
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import highlight_in_view
from ui.filters import Filters

from test_browser_ui import CONTRAST_JS, _open, _pick, _settings, _shot, server, shots  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _norm(text: str) -> str:
    return " ".join(text.split())


def _index_quotes(index_dir, *args, **kwargs) -> list:
    import rag

    with rag.Index.open(index_dir) as index:
        return index.quotes(*args, **kwargs)


def _distinct(hits) -> list:
    """What the tab shows: one row per thing said (a pull-quote repeated in the body once)."""
    seen, out = set(), []
    for h in hits:
        key = (h.article.id, h.quote.speaker.lower(), _norm(h.quote.quote).lower())
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def _article_count(index_dir) -> int:
    import rag

    with rag.Index.open(index_dir) as index:
        return index.stats()["articles"]


def _wait_results(page, topic: str = "", speaker: str = "", filters: str = "") -> None:
    """Until the panel shows the answer to this search (it says on itself what it answers)."""
    page.wait_for_function("""w => { const r = document.querySelector('#rag-quotes .rag-q-results');
        return !!r && r.dataset.topic === w[0] && r.dataset.speaker === w[1] && r.dataset.filters === w[2]; }""",
                           arg=[topic, speaker, filters], timeout=60_000)


def _tab(page, filters: str = "") -> None:
    page.get_by_role("tab", name="Who said what").click()
    page.locator("#rag-q-find").wait_for()
    topic = page.locator("#rag-q-topic textarea, #rag-q-topic input").first.input_value()
    speaker = page.locator("#rag-q-speaker textarea, #rag-q-speaker input").first.input_value()
    _wait_results(page, topic, speaker, filters)


def _search(page, topic: str = "", speaker: str = "", filters: str = "") -> None:
    page.fill("#rag-q-topic textarea, #rag-q-topic input", topic)
    page.fill("#rag-q-speaker textarea, #rag-q-speaker input", speaker)
    page.click("#rag-q-find")
    _wait_results(page, topic, speaker, filters)


def _rows(page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll('#rag-quotes tbody tr')].map(tr => ({
        speaker: tr.querySelector('.rag-q-speaker').textContent, quote: tr.querySelector('.rag-q-text').textContent,
        said: tr.children[1].textContent, article: tr.dataset.article,
        outlet: tr.children[2].textContent, date: tr.children[3].textContent}))""")


def _assert_rows_are(rows: list[dict], hits: list) -> None:
    assert len(rows) == len(hits), (len(rows), len(hits))
    for row, h in zip(rows, hits):
        q, a = h.quote, h.article
        assert row["speaker"] == q.speaker and row["article"] == a.id
        assert _norm(row["quote"]) == _norm(f"“{q.quote}”" if q.kind == "direct" else q.quote)
        if q.kind != "direct":
            assert row["said"].lstrip().lower().startswith("reported"), row
        assert row["date"] == ((a.published_at or "")[:10] or "undated")
        assert row["outlet"] == (a.source or "—")


def test_the_tab_lists_the_index_quotes_and_a_row_opens_the_article_at_the_quote(chromium, server, shots):
    url, index_dir, _ = server
    everything = _distinct(_index_quotes(index_dir))
    assert len(everything) >= 5 and {h.quote.kind for h in everything} == {"direct", "reported"}
    context, page = _open(chromium, url, width=1400, height=900)
    try:
        _tab(page)
        _assert_rows_are(_rows(page), everything)
        assert f"{len(everything)} quotes" in page.locator("#rag-quotes .rag-q-count").inner_text()
        # a speaker with a role, searched by part of the name: only that person's quotes, role shown
        person = next(h.quote for h in everything if h.quote.role and " " in h.quote.speaker)
        surname = person.speaker.split()[-1]
        _search(page, speaker=surname)
        _assert_rows_are(_rows(page), _distinct(_index_quotes(index_dir, speaker=surname)))
        assert person.role in page.locator("#rag-quotes tbody tr").first.inner_text()
        # topic words from one of that person's quotes: best match first, as Index.quotes ranks them
        words = sorted(re.findall(r"[A-Za-z]{6,}", person.quote), key=len, reverse=True)[:2]
        topic = " ".join(words)
        _search(page, topic=topic)
        ranked = _distinct(_index_quotes(index_dir, topic))
        assert ranked and any(_norm(person.quote) == _norm(h.quote.quote) for h in ranked)
        _assert_rows_are(_rows(page), ranked)
        _search(page)
        page.wait_for_timeout(800)  # the search's progress shading fades
        _shot(page, shots, "quotes.png", full_page=False)
        # a direct quote of that speaker opens the reader, scrolled to it and highlighted
        pick = next(i for i, h in enumerate(everything) if h.quote.speaker == person.speaker
                    and h.quote.kind == "direct" and "\n\n" not in h.quote.quote)
        hit = everything[pick]
        page.locator("#rag-quotes tbody tr").nth(pick).locator(".rag-q-text").click()
        target = page.locator("#rag-q-reader-host .rag-reader mark.rag-hl-target")
        target.wait_for(timeout=15_000)
        import rag

        with rag.Index.open(index_dir) as index:
            article = index.get_article(hit.article.id)
        marked = _norm(target.first.inner_text())
        assert marked and marked in _norm(article.text), "the highlight is the article's own text"
        assert _norm(hit.quote.quote) in marked, "the highlight holds the quote"
        assert page.locator(".rag-reader-title").inner_text() == (article.title or "Untitled article")
        assert "the quote" in page.locator("#rag-q-reader-host .rag-meta").inner_text()
        in_view = highlight_in_view(page)
        assert in_view, "the quote is scrolled into view"
        page.keyboard.press("Escape")
        page.wait_for_function("() => !document.querySelector('.rag-reader')")
        # the keyboard way: the row's button opens it too
        page.locator("#rag-quotes tbody tr").nth(pick).locator("button.rag-open").focus()
        page.keyboard.press("Enter")
        page.locator("#rag-q-reader-host mark.rag-hl-target").wait_for(timeout=15_000)
    finally:
        context.close()


def test_empty_states_say_why_and_name_the_filter_that_left_quotes_out(chromium, server):
    url, index_dir, _ = server
    import rag

    with rag.Index.open(index_dir) as index:
        outlets = [name for name, _ in index.sources() if name]
        everything = _distinct(index.quotes())
        n_articles = index.stats()["articles"]
        nonsense = "zqxjvw"
        assert index.quotes(nonsense) == []
        # topic words that only articles outside some outlet are quoted on, and that outlet
        topic, outlet = next((w, o) for h in everything for w in re.findall(r"[A-Za-z]{7,}", h.quote.quote)
                             for o in outlets if index.quotes(w) and not index.quotes(w, sources=[o]))
        left = _distinct(index.quotes(topic))
    context, page = _open(chromium, url)
    try:
        _tab(page)
        assert "All outlets and dates" in page.locator("#rag-q-chips").inner_text()
        _search(page, topic=nonsense)
        empty = _norm(page.locator("#rag-quotes .rag-q-empty").inner_text())
        assert f"No quotes about “{nonsense}” in the {n_articles} indexed articles." in empty, empty
        # the chat's outlet filter applies here too, and the empty state names it and what it left out
        page.get_by_role("tab", name="Chat").click()
        _settings(page)
        _pick(page, "rag-outlets", outlet)
        by_outlet = Filters((outlet,)).describe()
        _tab(page, by_outlet)
        assert f"Outlet: {outlet}" in page.locator("#rag-q-chips").inner_text()
        _search(page, topic=topic, filters=by_outlet)
        empty = _norm(page.locator("#rag-quotes .rag-q-empty").inner_text())
        assert f"No quotes about “{topic}”" in empty and f"outlet {outlet}" in empty, empty
        n_left = "1 matching quote" if len(left) == 1 else f"{len(left)} matching quotes"
        assert f"The filters left out {n_left}" in empty, empty
        assert left[0].quote.speaker in empty and (left[0].article.title or "Untitled article") in empty
        # one click clears the filters (here and in the chat) and shows them
        page.locator("#rag-q-clear").click()
        _wait_results(page, topic)
        _assert_rows_are(_rows(page), left)
        assert not page.locator("#rag-q-clear").is_visible()
        assert not page.locator("#rag-chips .rag-chip").count()
        # a bad date is one clear line, not a traceback
        page.get_by_role("tab", name="Chat").click()
        page.fill("#rag-from input, #rag-from textarea", "2024-13-01")
        _tab(page, Filters(date_from="2024-13-01").describe())
        assert "not a real date" in page.locator("#rag-quotes .rag-error").inner_text()
    finally:
        context.close()


QUOTE_STYLES = [".rag-q-speaker", ".rag-q-role", ".rag-q-text", ".rag-q-kind", ".rag-q-count", ".rag-quotes th",
                ".rag-quotes td:nth-child(3)", ".rag-quotes td:nth-child(4)", "#rag-quotes button.rag-open",
                "#rag-q-chips .rag-chips-label", ".rag-q-foot .rag-meta", "#rag-q-find"]
READER_STYLES = [".rag-reader-title", "#rag-q-reader-host .rag-meta", ".rag-reader-text p",
                 ".rag-reader-text mark"]


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_the_quotes_view_has_aa_contrast(chromium, server, theme):
    url, _, _ = server
    context, page = _open(chromium, url, query=f"?__theme={theme}", color_scheme=theme)
    try:
        if theme == "dark":
            assert page.evaluate("() => document.body.classList.contains('dark') || !!document.querySelector('.dark')")
        _tab(page)
        page.locator("#rag-quotes tbody tr").first.hover()          # a hovered row keeps its contrast too
        measured = page.evaluate(CONTRAST_JS.replace("SELECTORS", json.dumps(QUOTE_STYLES)))
        page.locator("#rag-quotes tbody tr").first.click()
        page.locator("#rag-q-reader-host mark.rag-hl-target").wait_for(timeout=15_000)
        measured += page.evaluate(CONTRAST_JS.replace("SELECTORS", json.dumps(READER_STYLES)))
        assert {m["sel"] for m in measured} == set(QUOTE_STYLES + READER_STYLES), measured
        worst = min(measured, key=lambda m: m["ratio"])
        print(f"\n{theme}: {len(measured)} quote-view styles, lowest contrast {worst['ratio']:.2f}:1 ({worst['sel']})")
        low = [m for m in measured if m["ratio"] < 4.5]
        assert not low, f"below WCAG AA 4.5:1 in {theme} mode: {low}"
    finally:
        context.close()


def test_the_quotes_view_at_375px_is_cards_with_nothing_clipped(chromium, server, shots):
    url, index_dir, _ = server
    everything = _distinct(_index_quotes(index_dir))
    context, page = _open(chromium, url, width=375, height=812, is_mobile=True, has_touch=True)
    try:
        _tab(page)
        assert len(_rows(page)) == len(everything)
        wide = page.evaluate("""() => { const w = document.documentElement.clientWidth; const bad = [];
            for (const el of document.querySelectorAll('#rag-quotes *, #rag-q-search *, #rag-q-chips-row *')) {
              const r = el.getBoundingClientRect();
              if (r.width && (r.right > w + 1 || r.left < -1 || r.width > w))
                bad.push(el.tagName + '.' + el.className + ': ' + (el.innerText || '').slice(0, 30)); }
            return {bad, page: document.documentElement.scrollWidth, w}; }""")
        assert not wide["bad"] and wide["page"] <= wide["w"], wide
        assert not page.locator("#rag-quotes thead").is_visible(), "rows are cards: no table header"
        labels = page.evaluate("() => [...document.querySelectorAll('#rag-quotes tbody tr:first-child td')]"
                               ".map(td => getComputedStyle(td, '::before').content)")
        assert '"Outlet: "' in labels and '"Date: "' in labels, labels
        page.locator("#rag-quotes").scroll_into_view_if_needed()
        _shot(page, shots, "mobile-quotes.png", full_page=False)
        page.locator("#rag-quotes tbody tr").first.locator(".rag-q-text").click()
        box = page.locator("#rag-q-reader-host .rag-reader-box")
        box.wait_for(timeout=15_000)
        r = box.bounding_box()
        assert r["x"] >= 0 and r["x"] + r["width"] <= 375, r
    finally:
        context.close()
