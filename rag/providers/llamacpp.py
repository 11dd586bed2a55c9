"""Provider `llamacpp`: local GGUF models run with llama.cpp in a worker process (see llama_worker.py).

SPEC: `llamacpp:NAME_OR_PATH`, where NAME is a known model (see `rag.providers.gguf.known_models()`) and a path points
at any .gguf file; `llamacpp` alone picks the best known model installed. Options: n_ctx (default 4096),
n_threads (default: RAG_LLAMA_THREADS, else every CPU), n_batch (default 512), seed (default 0), source_tokens
(default 80: each source is cut to its sentences most relevant to the question, about that many tokens; 0 gives
whole passages), max_sources (default 5: the passages whose best sentence covers most of the question; 0: every
passage that fits), flash_attn (default true: llama.cpp's fused attention, 3-15% faster prompts here), runtime
(default: RAG_LLAMA_RUNTIME, else auto: a llama-cpp-python built for this CPU when installed and it fits, else the
portable prebuilt xllamacpp wheel that `pip install 'article-rag[llamacpp]'` installs; see llama_engines.py).
A small model on a laptop CPU spends most of an answer reading its prompt (Qwen 0.5B ~250 prompt tokens/s on 2
cores), so these defaults decide its answer time: bench/results/llm_quality_multihop_test.md measures them side by
side with the earlier ones (10 sources, no flash attention, no cached system prompt).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, ModelCrashedError, ModelError, ModelSpecError
from .base import Model, Prompt, checked_options, register_provider
from .gguf import default_model, resolve_gguf
from .llama_worker import LlamaWorker

DEFAULT_N_CTX = 4096
DEFAULT_SOURCE_TOKENS = 80
DEFAULT_MAX_SOURCES = 5

# Each model runs in a worker process (rag.providers.llama_worker): a native crash there is an error line here, not the
# end of `rag serve`. Loading maps the file and builds the graph (measured 0.8-1.2 s for SmolLM2, 2.4-4.5 s for
# Qwen 0.5B on a busy 2-core machine), so one worker per file and settings is started once and shared; it keeps
# one KV cache, so its requests are serialised by the worker's lock.
_WORKERS: dict[tuple, LlamaWorker] = {}
_STARTING = threading.Lock()


def _default_threads() -> int:
    # RAG_LLAMA_THREADS exists for shared machines: llama.cpp threads spin-wait on one another, so asking for every
    # core while other processes hold some of them made generation 20x slower in bench/llm_speed.py.
    env = os.environ.get("RAG_LLAMA_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return os.cpu_count() or 1


RUNTIME_CHOICES = ("auto", "xllamacpp", "llama-cpp-python")
RUNTIME_MODULES = {"llama-cpp-python": "llama_cpp", "xllamacpp": "xllamacpp"}  # package -> module, `auto`'s order


def installed_runtimes() -> list[str]:
    """The llama.cpp runtimes installed, in the order `auto` tries them: a llama-cpp-python built for this host by
    scripts/install-llamacpp.sh first (~1.5x faster prompts on AVX-512 CPUs), then the portable xllamacpp wheel.
    Found, not imported: a runtime is only ever loaded inside the worker process."""
    return [name for name, module in RUNTIME_MODULES.items() if importlib.util.find_spec(module) is not None]


def runtime_versions() -> dict[str, str]:
    """{package: version} of the installed llama.cpp runtimes (what a benchmark records beside its figures)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in RUNTIME_MODULES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def choose_runtimes(requested: str | None = None) -> tuple[str, ...]:
    """The runtimes a model tries, in order, for `requested` (an option, else RAG_LLAMA_RUNTIME, else 'auto')."""
    requested = (requested or os.environ.get("RAG_LLAMA_RUNTIME", "") or "auto").strip().lower()
    if requested not in RUNTIME_CHOICES:
        raise ModelSpecError(f"unknown llama.cpp runtime {requested!r}; choose one of {', '.join(RUNTIME_CHOICES)} "
                         "(-o runtime=... or RAG_LLAMA_RUNTIME)")
    installed = installed_runtimes()
    if requested == "auto":
        if not installed:
            raise MissingDependencyError("xllamacpp", "llamacpp", "local GGUF models")
        return tuple(installed)
    if requested not in installed:
        if requested == "xllamacpp":
            raise MissingDependencyError("xllamacpp", "llamacpp", "the xllamacpp runtime")
        raise ModelSpecError("llama-cpp-python is not installed; build it for this CPU with bash "
                         "scripts/install-llamacpp.sh, or use the prebuilt runtime: -o runtime=xllamacpp")
    return (requested,)


def load_llama(path: Path, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
               n_batch: int = 512, flash_attn: bool = True, model_id: str = "",
               runtimes: tuple[str, ...] | None = None) -> LlamaWorker:
    """The shared worker process for this file and settings, started and loaded if it is not running."""
    threads = n_threads or _default_threads()
    runtimes = runtimes or choose_runtimes()
    key = (str(Path(path).resolve()), n_ctx, threads, n_batch, bool(flash_attn), runtimes)
    with _STARTING:
        worker = _WORKERS.get(key)
        if worker is None:
            if not _WORKERS:
                atexit.register(close_all)
            worker = _WORKERS[key] = LlamaWorker(Path(path), n_ctx=n_ctx, n_threads=threads, n_batch=n_batch,
                                                 flash_attn=bool(flash_attn), runtimes=runtimes,
                                                 model_id=model_id or f"llamacpp:{Path(path).name}")
    with worker.lock:
        worker.ensure()
    return worker


def reset_all(*, prime: bool = False) -> None:
    """Drop every worker's KV cache, so the next prompt is evaluated whole (benchmarks of cold prompts); with
    `prime`, each keeps the fixed prefix it was primed with (`LlamaCppModel.prepare`), as a running worker does."""
    for worker in list(_WORKERS.values()):
        worker.reset(prime=prime)


def close_all() -> None:
    """Stop every worker process (also run at interpreter exit)."""
    for worker in list(_WORKERS.values()):
        if worker.lock.acquire(timeout=1.0):
            try:
                worker.stop()
            finally:
                worker.lock.release()
        else:  # still streaming in a daemon thread: end the process rather than wait
            proc = worker.proc
            if proc is not None:
                proc.kill()
    _WORKERS.clear()


class LlamaCppModel(Model):
    can_stream = True
    generative = True

    def __init__(self, name: str = "", *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
                 n_batch: int = 512, seed: int = 0, source_tokens: int = DEFAULT_SOURCE_TOKENS,
                 max_sources: int = DEFAULT_MAX_SOURCES, flash_attn: bool = True, runtime: str = "auto") -> None:
        # fail at construction, not mid-answer, when no runtime is installed
        self.runtimes = choose_runtimes(None if runtime == "auto" else runtime)
        name = name or default_model()
        self.path = resolve_gguf(name)
        self.model_id = f"llamacpp:{name}"
        self.context_tokens = int(n_ctx)
        self.n_threads = n_threads or _default_threads()
        self.n_batch = int(n_batch)
        self.seed = int(seed)
        self.source_tokens = int(source_tokens) or None
        self.max_sources = int(max_sources) or None
        self.flash_attn = _flag(flash_attn)

    def __repr__(self) -> str:
        return f"LlamaCppModel(model_id={self.model_id!r}, path={str(self.path)!r}, n_ctx={self.context_tokens})"

    def load(self) -> LlamaCppModel:
        """Start the worker and load the weights now (otherwise the first `generate` does); returns self."""
        self._worker()
        return self

    def prepare(self, messages: list[dict]) -> int:
        """Load the model and evaluate `messages` (the fixed system prompt every answer starts with) into its KV
        cache, so the first question only pays for its own part of the prompt. Returns the prefix's tokens."""
        return self._worker().prime(messages)

    @property
    def last_timings(self) -> dict | None:
        """llama.cpp's counters for this model's last answer: prompt tokens evaluated (a cached prefix is not),
        tokens generated, and the milliseconds each took."""
        worker = _WORKERS.get(self._key())
        return worker.last_timings if worker else None

    @property
    def runtime(self) -> str | None:
        """The llama.cpp runtime answering ('xllamacpp' or 'llama-cpp-python'), once the model is loaded."""
        worker = self._loaded()
        return worker.runtime if worker else None

    @property
    def system_info(self) -> str:
        """llama.cpp's compiled CPU features for the running runtime ('CPU : AVX2 = 1 | ...'), once loaded."""
        worker = self._loaded()
        return worker.system_info if worker else ""

    def _loaded(self) -> LlamaWorker | None:
        worker = _WORKERS.get(self._key())
        return worker if worker is not None and worker.loaded else None

    @property
    def worker_pid(self) -> int | None:
        """The pid of the process running this model, or None when none is running."""
        worker = _WORKERS.get(self._key())
        return worker.pid if worker and worker.alive() else None

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's vocabulary, for budgeting the prompt against `context_tokens`."""
        return self._worker().tokenize(text)

    def generate(self, prompt: Prompt, *, stream: bool = False) -> Iterator[str]:
        request = {
            "messages": list(prompt.messages) or _fallback_messages(prompt),
            "temperature": prompt.temperature,
            "max_tokens": prompt.max_tokens,
            "stop": list(prompt.stop) or None,
            "seed": self.seed,
        }
        worker = self._worker()
        tried = worker.runtimes
        answered = False
        try:
            for piece in self._answer(worker, request, stream):
                answered = True
                yield piece
        except ModelCrashedError:
            # A runtime that died with SIGILL before the first word is passed over (LlamaWorker._died): ask once more
            # on the next one, so the person gets an answer rather than the crash.
            if answered or worker.runtimes == tried:
                raise
            yield from self._answer(self._worker(), request, stream)

    def _answer(self, worker: LlamaWorker, request: dict, stream: bool) -> Iterator[str]:
        if not stream:
            text = []
            replies = worker.chat(request, stream=False)
            try:
                for reply in replies:
                    if "error" in reply:
                        raise self._generation_error(reply["error"])
                    text.append(reply.get("piece", ""))
            finally:
                replies.close()
            # Yielded after the worker is released, so a caller holding the generator does not block others.
            yield "".join(text)
            return
        # A stream holds the worker until it ends or the caller closes it (or drops the generator); closing sends
        # a cancel that stops llama.cpp decoding.
        replies = worker.chat(request, stream=True)
        try:
            for reply in replies:
                if "error" in reply:
                    raise self._generation_error(reply["error"])
                if reply.get("piece"):
                    yield reply["piece"]
        finally:
            replies.close()

    def _key(self) -> tuple:
        return (str(self.path.resolve()), self.context_tokens, self.n_threads, self.n_batch, self.flash_attn,
                self.runtimes)

    def _worker(self) -> LlamaWorker:
        return load_llama(self.path, n_ctx=self.context_tokens, n_threads=self.n_threads, n_batch=self.n_batch,
                          flash_attn=self.flash_attn, model_id=self.model_id, runtimes=self.runtimes)

    def _generation_error(self, text: str) -> ModelError:
        m = (re.search(r"Requested tokens \((\d+)\) exceed context window of (\d+)", text)
             or re.search(r"request \((\d+) tokens\) exceeds the available context size \((\d+) tokens\)", text))
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


def _flag(value: Any) -> bool:
    # options from the CLI arrive as strings (-o flash_attn=false)
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)


_OPTIONS = frozenset({"n_ctx", "n_threads", "n_batch", "seed", "source_tokens", "max_sources", "flash_attn",
                      "runtime"})


def factory(name: str, **options: Any) -> LlamaCppModel:
    return LlamaCppModel(name, **checked_options("llamacpp", options, _OPTIONS))


register_provider("llamacpp", factory)
