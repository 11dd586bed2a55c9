"""`rag serve` loads a local model in the background (rag.providers.warmup) and the settings panel says which state it
is in; real SmolLM2 through its worker process, and a damaged file for the failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answering.prompting import SYSTEM
from rag.providers import warmup
from rag.providers.llamacpp import LlamaCppModel
from ui.models import ModelInfo, status_html

PREFIX = [{"role": "system", "content": SYSTEM}]


@pytest.mark.slow
def test_a_background_load_ends_ready_with_the_model_running() -> None:
    spec = "llamacpp:smollm2-135m"
    warmup.forget(spec)
    thread = warmup.start(spec, {"n_ctx": 2048}, prefix=PREFIX)
    assert thread is not None and warmup.state(spec) in ("loading", "ready")
    thread.join(120)
    assert warmup.state(spec) == "ready"
    assert LlamaCppModel("smollm2-135m", n_ctx=2048).worker_pid is not None
    assert warmup.start(spec, {"n_ctx": 2048}, prefix=PREFIX) is None   # loaded once, not again


def test_a_load_that_fails_is_one_line_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    spec = f"llamacpp:{broken}"
    warmup.forget(spec)
    warmup.start(spec, {}, prefix=PREFIX).join(60)
    state = warmup.state(spec)
    assert state.startswith("failed: ") and str(broken.resolve()) in state and "\n" not in state
    # a failed load may be tried again (the file may have been replaced meanwhile)
    assert warmup.start(spec, {}, prefix=PREFIX) is not None


def test_the_status_line_says_loading_then_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    models = [ModelInfo("llamacpp:qwen2.5-0.5b", "qwen2.5-0.5b", "local model")]
    states = {"llamacpp:qwen2.5-0.5b": "loading"}
    monkeypatch.setattr(warmup, "state", states.get)
    assert "is loading in the background" in status_html(models, "llamacpp:qwen2.5-0.5b")
    states["llamacpp:qwen2.5-0.5b"] = "failed: the file is damaged"
    line = status_html(models, "llamacpp:qwen2.5-0.5b")
    assert "could not be loaded" in line and "the file is damaged" in line
    states["llamacpp:qwen2.5-0.5b"] = "ready"
    assert "Answers come from <b>qwen2.5-0.5b</b>" in status_html(models, "llamacpp:qwen2.5-0.5b")


@pytest.mark.slow
def test_a_model_already_made_is_loaded_not_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """`rag serve` makes the model once (its readiness check) and hands it over: making a known GGUF model checks the
    file's sha256, which the background load must not pay a second time."""
    from rag.providers import base

    model = LlamaCppModel("smollm2-135m", n_ctx=1088)
    spec = "llamacpp:smollm2-135m#made"
    warmup.forget(spec)

    def refuse(*args, **kwargs):
        raise AssertionError("get_model was called again")

    monkeypatch.setattr(base, "get_model", refuse)
    warmup.start(spec, {"n_ctx": 1088}, prefix=PREFIX, model=model).join(120)
    assert warmup.state(spec) == "ready" and model.worker_pid is not None
