"""Loading a model in the background, so `rag serve` is answering before a local model is, and what state it is in.

    warmup.start("llamacpp:qwen2.5-0.5b", {}, prefix=[{"role": "system", "content": SYSTEM}])
    warmup.state("llamacpp:qwen2.5-0.5b")   # "loading" | "ready" | "failed: <one line>" | None (never started)
                                            # (public as rag.model_load_state)

Loading a GGUF model takes seconds (its worker process maps the file; rag.providers.llamacpp), and evaluating the
fixed system prompt once more (`prepare`) spares the first question that part. A question asked meanwhile waits for
the load (the worker's lock), it does not fail; a load that fails is said here and again, clearly, on the question.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..redact import redact

_STATES: dict[str, str] = {}
_LOCK = threading.Lock()


def state(spec: str) -> str | None:
    """The load state of `spec`, or None when no background load was started for it."""
    with _LOCK:
        return _STATES.get(spec)


def start(spec: str, options: dict | None = None, *, prefix: Sequence[dict] = (),
          model: object | None = None) -> threading.Thread | None:
    """Load `spec` in a daemon thread (once; a second call while it loads or after it is ready does nothing).
    `model`: the instance already made for `spec` (constructing a known GGUF model checks its file's sha256, a second
    or so for 0.5 GB), else one is made in the thread. Returns the thread, or None when nothing was started."""
    from .base import get_model

    with _LOCK:
        if _STATES.get(spec) in ("loading", "ready"):
            return None
        _STATES[spec] = "loading"

    def run() -> None:
        try:
            instance = model if model is not None else get_model(spec, **dict(options or {}))
            load = getattr(instance, "load", None)
            if load is not None:
                load()
            prepare = getattr(instance, "prepare", None)
            if prepare is not None and prefix:
                prepare(list(prefix))
            outcome = "ready"
        except Exception as err:  # reported in the UI and on the first question; never kills the server
            outcome = "failed: " + " ".join(redact(str(err)).split())[:300]
        with _LOCK:
            _STATES[spec] = outcome

    thread = threading.Thread(target=run, name=f"rag-load-{spec}", daemon=True)
    thread.start()
    return thread


def forget(spec: str) -> None:
    """Drop what is known of `spec` (tests; a model reinstalled while serving)."""
    with _LOCK:
        _STATES.pop(spec, None)
