"""Provider `llamacpp`: local GGUF models run in-process with llama-cpp-python.

SPEC: `llamacpp:NAME_OR_PATH`, where NAME is a known model (see `rag.llm.gguf.known_models()`) and a path points
at any .gguf file; `llamacpp` alone picks the best known model installed. Options: n_ctx (default 4096),
n_threads (default: RAG_LLAMA_THREADS, else every CPU), n_batch (default 512), seed (default 0), source_tokens
(default 80: each source is cut to its sentences most relevant to the question, about that many tokens; 0 gives
whole passages). Cut sources halve the answer time on the seed questions (bench/results/llm_quality.md).
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, ModelError, ModelUnavailableError
from .base import Prompt, checked_options, register_provider
from .gguf import default_model, resolve_gguf

DEFAULT_N_CTX = 4096
DEFAULT_SOURCE_TOKENS = 80

# Loading maps the file and builds the graph (measured 0.8-1.2 s for SmolLM2, 2.4-4.5 s for Qwen 0.5B on a busy
# 2-core machine): each model is loaded once per process and shared. A Llama object keeps one KV cache and is
# not thread-safe, so generation on it is serialised by its own lock.
_LOADED: dict[tuple[str, int, int, int], tuple[Any, threading.Lock]] = {}
_LOADING = threading.Lock()


def _default_threads() -> int:
    # RAG_LLAMA_THREADS exists for shared machines: llama.cpp threads spin-wait on one another, so asking for every
    # core while other processes hold some of them made generation 20x slower in bench/llm_speed.py.
    env = os.environ.get("RAG_LLAMA_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return os.cpu_count() or 1


def _llama_class() -> Any:
    try:
        from llama_cpp import Llama
    except ImportError:
        raise MissingDependencyError("llama-cpp-python", "llamacpp", "local GGUF models") from None
    return Llama


def load_llama(path: Path, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
               n_batch: int = 512) -> tuple[Any, threading.Lock]:
    """The shared llama_cpp.Llama for this file and settings, with the lock that guards it."""
    threads = n_threads or _default_threads()
    key = (str(path), n_ctx, threads, n_batch)
    with _LOADING:
        if key not in _LOADED:
            Llama = _llama_class()
            try:
                llama = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_batch=n_batch,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelUnavailableError(
                    f"llama.cpp could not load {path} ({' '.join(str(exc).split())}); "
                    "the file may be damaged or too new for the installed llama-cpp-python (upgrade it)"
                ) from None
            if not _LOADED:
                atexit.register(_close_all)
            _LOADED[key] = (llama, threading.Lock())
        return _LOADED[key]


def _close_all() -> None:
    # Freed by the garbage collector at interpreter exit, a Llama can outlive the llama.cpp bindings it needs and
    # print "Exception ignored in Llama.__del__"; closing while they still exist avoids that.
    # A model still generating in a daemon thread is left alone rather than waited for.
    for llama, lock in list(_LOADED.values()):
        if lock.acquire(timeout=1.0):
            try:
                llama.close()
            finally:
                lock.release()
    _LOADED.clear()


class LlamaCppModel:
    can_stream = True
    generative = True

    def __init__(self, name: str = "", *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
                 n_batch: int = 512, seed: int = 0, source_tokens: int = DEFAULT_SOURCE_TOKENS) -> None:
        _llama_class()  # fail at construction, not mid-answer, when the dependency is missing
        name = name or default_model()
        self.path = resolve_gguf(name)
        self.model_id = f"llamacpp:{name}"
        self.context_tokens = int(n_ctx)
        self.n_threads = n_threads or _default_threads()
        self.n_batch = int(n_batch)
        self.seed = int(seed)
        self.source_tokens = int(source_tokens) or None

    def __repr__(self) -> str:
        return f"LlamaCppModel(model_id={self.model_id!r}, path={str(self.path)!r}, n_ctx={self.context_tokens})"

    def load(self) -> LlamaCppModel:
        """Load the weights now (otherwise the first `generate` does); returns self."""
        self._llama()
        return self

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's vocabulary, for budgeting the prompt against `context_tokens`."""
        llama, lock = self._llama()
        with lock:
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def generate(self, prompt: Prompt, *, stream: bool = False) -> Iterator[str]:
        llama, lock = self._llama()
        request = {
            "messages": list(prompt.messages) or _fallback_messages(prompt),
            "temperature": prompt.temperature,
            "max_tokens": prompt.max_tokens,
            "stop": list(prompt.stop) or None,
            "seed": self.seed,
        }
        if not stream:
            with lock:
                try:
                    result = llama.create_chat_completion(**request)
                except (ValueError, RuntimeError) as exc:
                    raise self._generation_error(exc) from None
            # Yielded after the lock is released, so a caller holding the generator does not block others.
            yield result["choices"][0]["message"]["content"] or ""
            return
        # A stream holds the model until it ends or the caller closes it (or drops the generator).
        with lock:
            chunks = llama.create_chat_completion(**request, stream=True)
            try:
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except (ValueError, RuntimeError) as exc:
                raise self._generation_error(exc) from None
            finally:
                chunks.close()  # stops llama.cpp decoding when the caller abandons the stream

    def _llama(self) -> tuple[Any, threading.Lock]:
        return load_llama(self.path, n_ctx=self.context_tokens, n_threads=self.n_threads, n_batch=self.n_batch)

    def _generation_error(self, exc: Exception) -> ModelError:
        text = " ".join(str(exc).split())
        m = re.search(r"Requested tokens \((\d+)\) exceed context window of (\d+)", text)
        if m:
            return ModelError(
                f"the prompt needs {m.group(1)} tokens but {self.model_id} has a {m.group(2)}-token context; "
                "pass fewer passages (-k) or a larger n_ctx"
            )
        return ModelError(f"{self.model_id} failed while answering: {text[:300]}")


def _fallback_messages(prompt: Prompt) -> list[dict]:
    # Callers normally pass ready-made messages; this keeps a bare Prompt(question, sources) usable.
    sources = "\n\n".join(f"[{s.n}] {s.title}\n{s.text}" for s in prompt.sources)
    content = f"Sources:\n{sources}\n\nQuestion: {prompt.question}" if sources else prompt.question
    return [{"role": "user", "content": content}]


_OPTIONS = frozenset({"n_ctx", "n_threads", "n_batch", "seed", "source_tokens"})


def factory(name: str, **options: Any) -> LlamaCppModel:
    return LlamaCppModel(name, **checked_options("llamacpp", options, _OPTIONS))


register_provider("llamacpp", factory)
