"""The two llama.cpp runtimes a model worker can drive, behind one small contract (worker side only).

- `xllamacpp`: llama.cpp's own server engine in a prebuilt wheel from PyPI (what `pip install 'article-rag[llamacpp]'`
  installs). Its Linux x86-64 wheel is built without -march=native at the AVX2 level (no AVX-512, no AMX code in it),
  so it runs on every x86-64 host of the last decade, including Intel VMs that advertise AMX without enabling it.
- `llama-cpp-python`: compiled on this host by `scripts/install-llamacpp.sh` with the SIMD levels the host enables
  (AVX-512 where present); 1.5-2x faster prompts than the AVX2 wheel on an AVX-512 CPU
  (bench/results/llm_runtimes_multihop_test.md).
  A build made elsewhere, or by a plain `pip install llama-cpp-python` (-march=native), may use instructions this host
  does not enable: `load` refuses a build whose compiled features this host lacks, before any model code runs.

Each engine: `load(path, settings)`, `tokenize(text) -> int`, `prime(messages) -> tokens`, `reset(prime)`, and
`chat(message, lines, reply)` which answers over the worker protocol (pieces, then done with llama.cpp's timings).
Imported only inside the worker process, so a native crash never reaches the caller's process.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from typing import Any, Callable

class UnsupportedBuild(Exception):
    """The installed runtime was compiled for CPU features this host does not enable."""


Reply = Callable[[dict], None]


def _wants_cancel(lines: Any) -> bool:
    """True when the parent asked to stop (a cancel) or is gone (end of stdin)."""
    pending = lines.readline(0)
    if pending == b"":
        return True
    return pending is not None and json.loads(pending).get("op") == "cancel"


class LlamaCppPythonEngine:
    name = "llama-cpp-python"

    def __init__(self, path: str, settings: dict) -> None:
        import llama_cpp

        from .llama_build import cpu_flags, is_x86, parse_system_info, unsupported_features

        self.system_info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
        bad = unsupported_features(parse_system_info(self.system_info), cpu_flags() if is_x86() else None)
        if bad:
            raise UnsupportedBuild(
                f"the installed llama-cpp-python was built for CPU features this host does not enable "
                f"({' '.join(bad)}); rebuild it with bash scripts/install-llamacpp.sh --force, or use the prebuilt "
                "runtime: pip install 'article-rag[llamacpp]' and -o runtime=xllamacpp")
        self.llama = llama_cpp.Llama(
            model_path=path, n_ctx=settings["n_ctx"], n_threads=settings["n_threads"],
            n_threads_batch=settings["n_threads"], n_batch=settings["n_batch"],
            flash_attn=bool(settings.get("flash_attn")), verbose=False)
        self.primed: list[dict] = []

    def tokenize(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prime(self, messages: list[dict]) -> int:
        # An empty user turn after the fixed messages: the template's tokens up to the user's text are then the same
        # as in every real prompt, and llama.cpp keeps them. One token is generated because that is what evaluates.
        self.primed = list(messages)
        self.llama.reset()
        self.llama.create_chat_completion(messages=[*messages, {"role": "user", "content": ""}], max_tokens=1,
                                          temperature=0.0)
        return int(self.llama.n_tokens)

    def reset(self, prime: bool) -> None:
        if prime and self.primed:
            self.prime(self.primed)
        else:
            self.llama.reset()

    def _timings(self) -> dict:
        import llama_cpp

        perf = llama_cpp.llama_perf_context(self.llama.ctx)
        return {"prompt_eval_tokens": perf.n_p_eval, "prompt_ms": round(perf.t_p_eval_ms, 1),
                "generated_tokens": perf.n_eval, "generate_ms": round(perf.t_eval_ms, 1),
                "context_tokens": self.llama.n_tokens}

    def chat(self, message: dict, lines: Any, reply: Reply) -> None:
        import llama_cpp

        request = message["request"]
        llama_cpp.llama_perf_context_reset(self.llama.ctx)
        if not message.get("stream"):
            result = self.llama.create_chat_completion(**request)
            reply({"piece": result["choices"][0]["message"]["content"] or ""})
            reply({"done": True, "timings": self._timings()})
            return
        chunks = self.llama.create_chat_completion(**request, stream=True)
        try:
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    reply({"piece": piece})
                if _wants_cancel(lines):
                    break
        finally:
            chunks.close()
        reply({"done": True, "timings": self._timings()})


class XLlamaCppEngine:
    """llama.cpp's server engine in-process (one slot, so one KV cache whose longest common prefix is reused by the
    next prompt: `prime` leaves the fixed system part there). Its HTTP listener is bound to 127.0.0.1 on a free port and
    takes a random key, so other local users cannot drive the model through it; only /tokenize is used, which the
    Python API does not expose."""

    name = "xllamacpp"

    def __init__(self, path: str, settings: dict) -> None:
        import xllamacpp

        self.system_info = xllamacpp.get_system_info().strip()
        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_ctx = settings["n_ctx"]
        params.n_batch = settings["n_batch"]
        params.n_parallel = 1
        params.cpuparams.n_threads = settings["n_threads"]
        params.cpuparams_batch.n_threads = settings["n_threads"]
        kinds = xllamacpp.llama_flash_attn_type
        params.flash_attn_type = (kinds.LLAMA_FLASH_ATTN_TYPE_ENABLED if settings.get("flash_attn")
                                  else kinds.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        params.verbosity = 0  # errors and warnings only: stderr's last line is what a crash report quotes
        self.key = secrets.token_hex(16)
        params.api_keys = [self.key]
        try:
            self.server = xllamacpp.Server(params)
        except RuntimeError as exc:
            raise ValueError(str(exc)) from None
        self.primed: list[dict] = []
        self.cold_next = False

    def tokenize(self, text: str) -> int:
        body = json.dumps({"content": text, "add_special": False, "parse_special": True}).encode("utf-8")
        request = urllib.request.Request(self.server.listening_address + "/tokenize", data=body,
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {self.key}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return len(json.loads(response.read())["tokens"])
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            raise RuntimeError(f"tokenize failed: {exc}") from None

    def prime(self, messages: list[dict]) -> int:
        self.primed = list(messages)
        result = self._check(self.server.handle_chat_completions(self._request(
            {"messages": [*messages, {"role": "user", "content": ""}], "max_tokens": 1, "temperature": 0.0}, False)))
        return int(result["usage"]["prompt_tokens"])

    def reset(self, prime: bool) -> None:
        # The server keeps the slot's tokens; a request with cache_prompt false evaluates its prompt whole.
        self.cold_next = True
        if prime and self.primed:
            self.prime(self.primed)

    @staticmethod
    def _check(result: dict) -> dict:
        if isinstance(result, dict) and "error" in result:
            error = result["error"]
            raise RuntimeError(error.get("message", str(error)) if isinstance(error, dict) else str(error))
        return result

    @staticmethod
    def _timings(result: dict | None) -> dict | None:
        t = (result or {}).get("timings")
        if not t:
            return None
        return {"prompt_eval_tokens": t.get("prompt_n", 0), "prompt_ms": round(t.get("prompt_ms", 0.0), 1),
                "generated_tokens": t.get("predicted_n", 0), "generate_ms": round(t.get("predicted_ms", 0.0), 1),
                "context_tokens": t.get("cache_n", 0) + t.get("prompt_n", 0) + t.get("predicted_n", 0)}

    def _request(self, request: dict, stream: bool) -> dict:
        body = {key: value for key, value in request.items() if value is not None}
        body["stream"] = stream
        if self.cold_next:
            body["cache_prompt"] = False
            self.cold_next = False
        return body

    def chat(self, message: dict, lines: Any, reply: Reply) -> None:
        if not message.get("stream"):
            result = self._check(self.server.handle_chat_completions(self._request(message["request"], False)))
            reply({"piece": result["choices"][0]["message"].get("content") or ""})
            reply({"done": True, "timings": self._timings(result)})
            return
        last: dict = {}
        errors: list[str] = []

        def on_chunk(chunk: Any) -> bool:
            # Called by the engine for every chunk; returning True stops decoding.
            nonlocal last
            if isinstance(chunk, str):
                chunk = json.loads(chunk)
            if "error" in chunk:
                error = chunk["error"]
                errors.append(error.get("message", str(error)) if isinstance(error, dict) else str(error))
                return True
            last = chunk
            choices = chunk.get("choices") or [{}]
            piece = (choices[0].get("delta") or {}).get("content")
            if piece:
                reply({"piece": piece})
            return _wants_cancel(lines)

        self.server.handle_chat_completions(self._request(message["request"], True), on_chunk)
        if errors:
            raise RuntimeError(errors[0])
        reply({"done": True, "timings": self._timings(last)})


ENGINES: dict[str, type] = {"llama-cpp-python": LlamaCppPythonEngine, "xllamacpp": XLlamaCppEngine}
