"""A llama.cpp model in a process of its own, driven over newline-delimited JSON on its stdin/stdout.

Why a process: llama.cpp is native code. A build that uses an instruction the host does not enable dies with
SIGILL, a model too large for memory is killed by the OOM killer, a ggml assertion aborts. In-process, each of those
ends `rag serve`, `rag chat` or a whole test session. In a worker, the caller gets one `ModelCrashedError` line
naming the signal and the fix, and keeps running; the next request starts a fresh worker.

Protocol (one JSON object per line; the worker answers every request, streams end with {"done": true}):
    {"op": "load", "path", "n_ctx", "n_threads", "n_batch", "flash_attn"}
                                                            -> {"ok": true, "load_s": 0.8} | {"error", "kind"}
    {"op": "tokenize", "text"}                              -> {"ok": true, "n": 12}
    {"op": "chat", "request": {...}, "stream": bool}        -> {"piece": "..."}* {"done": true, "timings": {...}}
                                                               | {"error", "kind"}
    {"op": "cancel"}                                        (while streaming) stops decoding -> {"done": true}
    {"op": "prime", "messages": [...]}                      -> {"ok": true, "tokens": 170}  (evaluates a fixed prefix)
    {"op": "reset", "prime": bool}                          -> {"ok": true}  (drops the KV cache; for benchmarks;
                                                               with prime, evaluates the primed prefix again)
The worker exits when its stdin closes, so it never outlives its parent for long.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ModelCrashedError, ModelError, ModelTimeoutError, ModelUnavailableError

log = logging.getLogger(__name__)

FIX_SIGILL = {
    "llama-cpp-python": "use the prebuilt portable runtime (pip install 'article-rag[llamacpp]', then -o "
                        "runtime=xllamacpp) or rebuild llama-cpp-python for this CPU: bash scripts/install-llamacpp.sh "
                        "--force (rag doctor checks both)",
    "xllamacpp": "the prebuilt xllamacpp wheel needs an x86-64 CPU with AVX2; rag doctor shows what this one enables",
}


def _timeout_s() -> float:
    # Long enough for a 1.5B model to read a 4k-token prompt on 2 busy cores; short enough that a hang ends.
    value = os.environ.get("RAG_LLAMA_TIMEOUT", "").strip()
    try:
        return float(value) if value else 600.0
    except ValueError:
        return 600.0


class _Lines:
    """Line reader over a raw file descriptor with a timeout, so a silent worker cannot block the caller forever."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.eof = False

    def readline(self, timeout: float | None) -> bytes | None:
        """The next line; b'' at end of file; None when `timeout` passed with no complete line."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if self.eof:
                line, self.buffer = self.buffer, b""
                return line
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                return None
            data = os.read(self.fd, 65536)
            if not data:
                self.eof = True
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"


class LlamaWorker:
    """One worker process holding one loaded model; requests are serialised by `lock` (one KV cache)."""

    def __init__(self, path: Path, *, n_ctx: int, n_threads: int, n_batch: int, model_id: str,
                 flash_attn: bool = False, runtimes: tuple[str, ...] = ("llama-cpp-python",)) -> None:
        self.path = Path(path).resolve()
        self.model_id = model_id
        self.settings = {"n_ctx": n_ctx, "n_threads": n_threads, "n_batch": n_batch, "flash_attn": flash_attn}
        # Runtimes to try in order (see llama_engines): a later one is used when an earlier one refuses this CPU or
        # dies at load, and after an earlier one dies with SIGILL while answering.
        self.runtimes = tuple(runtimes)
        self.runtime: str | None = None  # the one the running process uses
        self.skipped: list[str] = []  # why earlier runtimes were passed over, one line each
        self.loaded = False
        self.system_info = ""
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self._stderr: deque[str] = deque(maxlen=20)
        # llama.cpp's own counters for the last chat (see _timings): what benchmarks split an answer's time by
        self.last_timings: dict | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ------------------------------------------------------------------ lifecycle (call with self.lock held)

    def _start(self) -> None:
        candidates = self.runtimes
        for i, runtime in enumerate(candidates):
            try:
                self._spawn(runtime)
                return
            except (_UnsupportedBuild, ModelCrashedError) as exc:
                if i == len(candidates) - 1:
                    raise exc if isinstance(exc, ModelCrashedError) else ModelUnavailableError(str(exc)) from None
                # Passed over for good: a build that does not fit this CPU will not fit it on the next start either.
                self.runtimes = candidates[i + 1:]
                note = f"{self.model_id}: {runtime} cannot run here ({exc}); using {candidates[i + 1]}"
                self.skipped.append(note)
                log.warning(note)

    def _spawn(self, runtime: str) -> None:
        package_root = Path(__file__).resolve().parents[2]  # the folder that holds `rag/`, whatever the cwd
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), env.get("PYTHONPATH", "")) if p)
        self._stderr.clear()
        self.runtime = runtime
        self.loaded = False
        self.proc = subprocess.Popen(
            [*_worker_prefix(), sys.executable, "-m", "rag.providers.llama_worker"], cwd=package_root, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._lines = _Lines(self.proc.stdout.fileno())
        threading.Thread(target=self._drain_stderr, args=(self.proc,), daemon=True).start()
        reply = self._call({"op": "load", "path": str(self.path), "runtime": runtime, **self.settings})
        if "error" in reply:
            self.stop()
            if reply.get("kind") == "unsupported_build":
                raise _UnsupportedBuild(reply["error"])
            raise ModelUnavailableError(reply["error"])
        self.system_info = reply.get("system_info", "")
        self.loaded = True

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._stderr.append(line)

    def ensure(self) -> None:
        if not self.alive():
            self._start()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    # ------------------------------------------------------------------ protocol

    def _send(self, message: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(message).encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died() from None

    def _receive(self) -> dict:
        line = self._lines.readline(_timeout_s())
        if line is None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise ModelTimeoutError(
                f"{self.model_id} sent nothing for {_timeout_s():.0f} s and was stopped; "
                "set RAG_LLAMA_TIMEOUT to wait longer, or use a smaller model"
            )
        if not line:
            raise self._died()
        return json.loads(line)

    def _call(self, message: dict) -> dict:
        self._send(message)
        return self._receive()

    def _died(self) -> ModelCrashedError:
        proc, self.proc = self.proc, None
        code = proc.wait() if proc else None
        if code is not None and code < 0:
            name = _signal_name(-code)
            hint = {
                signal.SIGILL: "its llama.cpp build uses an instruction this CPU does not enable; "
                               + FIX_SIGILL.get(self.runtime or "", FIX_SIGILL["llama-cpp-python"]),
                signal.SIGKILL: "killed from outside, often by the out-of-memory killer; try a smaller model",
                signal.SIGSEGV: "a crash inside llama.cpp",
                signal.SIGABRT: "llama.cpp aborted",
            }.get(-code, "")
            what = f"was killed by {name}" + (f" ({hint})" if hint else "")
            if -code == signal.SIGILL and self.loaded and self.runtime in self.runtimes[:-1]:
                # A build that passed the load-time check can still use an instruction the CPU lacks; the runtime
                # after it (the portable wheel) takes the next request instead of crashing the same way again.
                self.runtimes = self.runtimes[self.runtimes.index(self.runtime) + 1:]
                following = self.runtimes[0]
                self.skipped.append(f"{self.model_id}: {self.runtime} died with SIGILL; using {following}")
                what += f"; the next request uses {following}"
        else:
            what = f"exited with status {code}"
        last = f"; last message: {self._stderr[-1][:200]}" if self._stderr else ""
        return ModelCrashedError(f"the process running {self.model_id} ({self.runtime}) {what}{last}")

    def tokenize(self, text: str) -> int:
        with self.lock:
            self.ensure()
            reply = self._call({"op": "tokenize", "text": text})
        if "error" in reply:
            raise ModelError(reply["error"])
        return int(reply["n"])

    def reset(self, *, prime: bool = False) -> None:
        """Drop the KV cache; with `prime`, keep (evaluate again) the prefix given to `prime` before."""
        with self.lock:
            if self.alive():
                self._call({"op": "reset", "prime": prime})

    def prime(self, messages: list[dict]) -> int:
        """Evaluate the chat template of `messages` (a fixed system prompt) into the KV cache now, so that every
        prompt starting with them skips that prefix (llama-cpp-python reuses the longest cached prefix). Returns
        the prefix's tokens."""
        with self.lock:
            self.ensure()
            reply = self._call({"op": "prime", "messages": messages})
        if "error" in reply:
            raise ModelError(reply["error"])
        return int(reply["tokens"])

    def chat(self, request: dict, *, stream: bool) -> Iterator[dict]:
        """Replies for one chat request, as the worker sends them; the lock is held until the stream ends."""
        with self.lock:
            self.ensure()
            self._send({"op": "chat", "request": request, "stream": stream})
            finished = False
            try:
                while True:
                    reply = self._receive()
                    if reply.get("done") or "error" in reply:
                        finished = True
                        self.last_timings = reply.get("timings")
                        yield reply
                        return
                    yield reply
            finally:
                if not finished and self.alive():
                    self._cancel()

    def _cancel(self) -> None:
        # The caller abandoned the stream: stop decoding and read up to the end marker, so the next request starts
        # from a clean pipe. A worker that does not stop within seconds is replaced rather than waited for.
        try:
            self._send({"op": "cancel"})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                line = self._lines.readline(max(0.0, deadline - time.monotonic()))
                if line is None or not line:
                    break
                reply = json.loads(line)
                if reply.get("done") or "error" in reply:
                    return
        except ModelError:
            return
        self.stop()


class _UnsupportedBuild(Exception):
    """The worker's runtime refused to load: it was compiled for CPU features this host does not enable."""


def _worker_prefix() -> list[str]:
    # RAG_LLAMA_WORKER_PREFIX: a command the worker runs under, e.g. `taskset -c 2,3` or `nice -n 10` on a shared
    # machine; the tests use `qemu-x86_64 -cpu Haswell` to run a model on a CPU without AVX-512 or AMX.
    return shlex.split(os.environ.get("RAG_LLAMA_WORKER_PREFIX", ""))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# ---------------------------------------------------------------------------------------------- the worker side


def _serve(lines: _Lines, out: Any) -> None:
    engine = None

    def reply(message: dict) -> None:
        out.write(json.dumps(message).encode("utf-8") + b"\n")
        out.flush()

    while True:
        line = lines.readline(None)
        if not line:
            return  # parent gone or done with us
        message = json.loads(line)
        op = message.get("op")
        _maybe_fault(op, engine.name if engine else message.get("runtime", ""))
        try:
            if op == "load":
                started = time.perf_counter()
                from .llama_engines import ENGINES, UnsupportedBuild

                try:
                    engine = ENGINES[message.get("runtime") or "llama-cpp-python"](message["path"], message)
                except UnsupportedBuild as exc:
                    reply({"error": str(exc), "kind": "unsupported_build"})
                    return
                except (ValueError, RuntimeError) as exc:
                    reply({"error": f"llama.cpp could not load {message['path']} ({' '.join(str(exc).split())}); "
                                    f"the file may be damaged or too new for the installed {message.get('runtime')} "
                                    "(upgrade it)", "kind": "unavailable"})
                    return
                reply({"ok": True, "load_s": round(time.perf_counter() - started, 3), "runtime": engine.name,
                       "system_info": engine.system_info})
            elif op == "tokenize":
                reply({"ok": True, "n": engine.tokenize(message["text"])})
            elif op == "prime":
                reply({"ok": True, "tokens": engine.prime(list(message["messages"]))})
            elif op == "reset":
                engine.reset(bool(message.get("prime")))
                reply({"ok": True})
            elif op == "chat":
                engine.chat(message, lines, reply)
            elif op == "cancel":
                reply({"done": True, "cancelled": True})  # arrived after the stream ended on its own
            else:
                reply({"error": f"unknown op {op!r}", "kind": "protocol"})
        except (ValueError, RuntimeError) as exc:
            reply({"error": " ".join(str(exc).split()), "kind": "generation"})


def _maybe_fault(op: str | None, runtime: str) -> None:
    # Test seam: RAG_LLAMA_WORKER_FAULT=SIGNAL:OP[:RUNTIME] makes the worker kill itself with SIGNAL when an OP request
    # arrives (for RUNTIME only, when given), the way a bad build dies with SIGILL at the first token; tests use it to
    # show that a crash is one error line, that the caller keeps running, and that `auto` moves to the other runtime.
    fault = os.environ.get("RAG_LLAMA_WORKER_FAULT", "")
    name, _, rest = fault.partition(":")
    when, _, only = rest.partition(":")
    if name and when == op and (not only or only == runtime):
        os.kill(os.getpid(), getattr(signal, name))


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle; we leave when stdin closes
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything llama.cpp prints to stdout must not corrupt the protocol
    _serve(_Lines(0), out)


if __name__ == "__main__":
    main()
