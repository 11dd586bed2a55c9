"""`rag serve --model llamacpp:...` comes up before its model has loaded, and the settings panel says what became of
the background load (rag.providers.warmup): ready, or one line on why it failed. Real Chromium, real `rag serve`,
real llama.cpp worker (SmolLM2) and a damaged model file for the failure."""

from __future__ import annotations

import shutil
import time

import pytest

from conftest import serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _settings_status(chromium, url: str, expect: str) -> str:
    page = chromium.new_context(viewport={"width": 1300, "height": 900}).new_page()
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector("#rag-question textarea", timeout=120_000)
    page.locator("#rag-settings").click()
    status = page.locator("#rag-model-status")
    deadline = time.monotonic() + 90
    while expect not in status.inner_text() and time.monotonic() < deadline:
        page.wait_for_timeout(500)   # the panel polls while a model loads
    text = status.inner_text()
    page.context.close()
    return text


def test_a_local_model_loads_in_the_background_and_the_panel_says_ready(chromium, small_index_dir, tmp_path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(small_index_dir, index_dir)
    with serving(index_dir, tmp_path, {"RAG_MODEL": "llamacpp:smollm2-135m"}) as url:
        text = _settings_status(chromium, url, "Answers come from")
    assert "Answers come from" in text and "smollm2" in text, text


def test_a_model_that_cannot_load_is_one_line_in_the_panel(chromium, small_index_dir, tmp_path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(small_index_dir, index_dir)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    with serving(index_dir, tmp_path, {"RAG_MODEL": f"llamacpp:{broken}"}) as url:
        text = _settings_status(chromium, url, "could not be loaded")
    assert "could not be loaded" in text and "broken.gguf" in text, text


def test_a_model_killed_by_a_signal_leaves_the_chat_answering_with_extractive(chromium, small_index_dir,
                                                                              tmp_path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(small_index_dir, index_dir)
    # the worker kills itself with SIGILL at every answer, as a build with an instruction the CPU lacks does
    env = {"RAG_MODEL": "llamacpp:smollm2-135m", "RAG_LLAMA_WORKER_FAULT": "SIGILL:chat"}
    with serving(index_dir, tmp_path, env) as url:
        page = chromium.new_context(viewport={"width": 1300, "height": 900}).new_page()
        page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_selector("#rag-question textarea", timeout=120_000)
        answers = []
        for _ in range(2):   # the second question starts a fresh worker, which dies too: still answered
            before = page.locator("#rag-chat [data-testid=bot]").count()
            page.fill("#rag-question textarea", "What did Bulgaria claim about Russia?")
            page.keyboard.press("Enter")
            page.wait_for_function(
                """n => { const b = document.querySelectorAll('#rag-chat [data-testid=bot]');
                          return b.length > n && !b[b.length - 1].querySelector('.rag-cursor'); }""",
                arg=before, timeout=180_000)
            page.wait_for_timeout(400)
            answers.append(page.locator("#rag-chat [data-testid=bot]").last.inner_text())
        page.context.close()
    for text in answers:
        assert "could not run" in text and "SIGILL" in text and "Extractive" in text, text
        assert "[1]" in text   # the extractive answer with its citation, not an error box
