"""The chat in a real headless Chromium, served by `rag serve` in a subprocess exactly as a user starts it.

Needs Debian's /usr/bin/chromium and Python playwright (`playwright install` cannot download browsers here).
Timeouts are generous: the server loads the embedder before it prints its URL, and the machine is shared.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import ANSWER_TIMEOUT_MS, SEEDS, serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SEED_QUESTION = "What did Bulgaria claim about Russia?"
NEW_ARTICLE = """Floating library opens on Lake Orlen

Glimmerfield, 3 March 2025. The town of Glimmerfield opened a floating library on Lake Orlen on Monday.
The floating library on Lake Orlen holds 12,400 books and is moored beside the old ferry pier.
The librarian, Ottoline Brask, said the barge was built by volunteers over two winters.
"""
NEW_QUESTION = "How many books does the floating library on Lake Orlen hold?"


@pytest.fixture(scope="module")
def server(small_index_dir, tmp_path_factory):
    """`rag serve` on a private copy of the small index; yields (url, index dir, workdir)."""
    work = tmp_path_factory.mktemp("browser")
    index_dir = work / "index"
    shutil.copytree(small_index_dir, index_dir)
    with serving(index_dir, work) as url:
        yield url, index_dir, work


def _open(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector("#rag-question textarea", timeout=120_000)
    return context, page


def _ask(page, question: str) -> str:
    """Send a question; wait until its answer is final; return the last bot bubble's text."""
    before = page.locator("#rag-chat [data-testid=bot]").count()
    page.fill("#rag-question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function(
        """n => { const b = document.querySelectorAll('#rag-chat [data-testid=bot]');
                  return b.length > n && !b[b.length - 1].querySelector('.rag-cursor'); }""",
        arg=before, timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_timeout(300)
    return page.locator("#rag-chat [data-testid=bot]").last.inner_text()


def _collapse(text: str) -> str:
    return " ".join(text.split())


def test_seed_question_streams_an_answer_with_clickable_citation(chromium, server, tmp_path_factory):
    url, _, work = server
    context, page = _open(chromium, url)
    try:
        examples = page.locator("#rag-chat").inner_text()
        assert SEED_QUESTION in examples, "seed example questions are offered on first load"
        answer = _ask(page, SEED_QUESTION)
        assert "[1]" in answer
        assert "don’t say" not in answer
        mark = page.locator("#rag-sources .rag-source mark").first
        mark.wait_for(timeout=30_000)
        excerpt = _collapse(mark.inner_text())
        assert len(excerpt) > 20
        seed_text = _collapse("".join(p.read_text() for p in SEEDS.glob("*")))
        assert excerpt in seed_text, "the highlighted excerpt is verbatim article text"
        assert "Russia" in page.locator("#rag-sources").inner_text()
        page.locator("#rag-chat a[href*='#src-']").first.click()
        page.wait_for_selector("#rag-sources .rag-source.rag-flash", timeout=10_000)
        shot = work / "chat.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")
        if os.environ.get("RAG_SCREENSHOT_DIR"):
            shutil.copy(shot, Path(os.environ["RAG_SCREENSHOT_DIR"]) / "chat.png")
    finally:
        context.close()


def test_upload_an_article_then_ask_about_it(chromium, server):
    url, index_dir, work = server
    article = work / "floating library.txt"
    article.write_text(NEW_ARTICLE)
    junk = work / "photo.txt"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 4)
    context, page = _open(chromium, url)
    try:
        page.get_by_role("tab", name="Library").click()
        page.locator("#rag-upload input[type=file]").set_input_files([str(article), str(junk)])
        # the file list shows "photo" / ".txt" / size once the upload to the server's cache has finished
        page.wait_for_function("""() => { const t = document.querySelector('#rag-upload').innerText;
                                          return t.includes('photo') && !t.includes('Uploading'); }""",
                               timeout=60_000)
        page.click("#rag-add")
        page.wait_for_function(
            "() => (document.querySelector('#rag-report') || {}).innerText?.includes('added')", timeout=240_000)
        report = page.locator("#rag-report").inner_text()
        assert "1 added" in report and "photo.txt: binary file" in report
        assert (index_dir / "uploads" / "floating_library.txt").read_text() == NEW_ARTICLE
        assert "Floating library opens on Lake Orlen" in page.locator("#rag-articles").inner_text()
        page.screenshot(path=str(work / "library.png"), full_page=True)
        page.get_by_role("tab", name="Chat").click()
        answer = _ask(page, NEW_QUESTION)
        assert "12,400" in answer
        assert "Lake Orlen" in page.locator("#rag-sources").inner_text()
        page.screenshot(path=str(work / "upload.png"), full_page=True)
    finally:
        context.close()


def test_two_browser_sessions_have_separate_histories(chromium, server):
    url, _, _ = server
    ctx_a, page_a = _open(chromium, url)
    ctx_b, page_b = _open(chromium, url)
    try:
        _ask(page_a, "What did Yvette Cooper say?")
        # session B uses an example question from the empty chat instead of typing
        page_b.locator("#rag-chat button", has_text="How many people have been returned").first.click()
        page_b.wait_for_function(
            """() => { const b = document.querySelectorAll('#rag-chat [data-testid=bot]');
                      return b.length > 0 && !b[b.length - 1].querySelector('.rag-cursor'); }""",
            timeout=ANSWER_TIMEOUT_MS)
        assert "42" in page_b.locator("#rag-chat [data-testid=bot]").last.inner_text()
        chat_a = page_a.locator("#rag-chat").inner_text()
        chat_b = page_b.locator("#rag-chat").inner_text()
        assert "Yvette Cooper" in chat_a and "one in, one out deal?" not in chat_a
        assert "one in, one out deal?" in chat_b and "What did Yvette Cooper say?" not in chat_b
        answer = _ask(page_a, "What else did she say?")  # a follow-up uses this session's history only
        assert "Searched for:" in answer and "Cooper" in answer, "the rewritten follow-up query is shown"
        assert page_a.locator("#rag-chat [data-testid=user]").count() == 2
        assert page_b.locator("#rag-chat [data-testid=user]").count() == 1
    finally:
        ctx_a.close()
        ctx_b.close()
