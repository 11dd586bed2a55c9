"""A real `rag serve` under load: the server as a subprocess on a free port, and concurrent chat clients."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from .cli import ROOT, cli_cmd, cli_env, wait_for
from .net import free_port


LOAD_QUESTIONS = [
    "What did Bulgaria claim about Russia?",
    "How many people have been returned under the one in, one out deal?",
    "Where did the lunar probe land?",
    "Why did the dock workers at Port Elliot strike?",
    "What damaged the apple harvest?",
    "What did the city council approve?",
    "When did the library reopen?",
    "Who won the 1998 World Cup final?",          # not in the articles: a refusal
    "and what about the frost?",                  # a follow-up in the same conversation
    "What did\x07 Yvette Cooper say?",            # a control character
]


class Server:
    """`python -m rag.cli serve` on 127.0.0.1:<free port>, started and stopped by the caller."""

    def __init__(self, index_dir: Path, *args: str, env: dict | None = None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(cli_cmd("serve", "--index", str(index_dir), "--port", str(self.port), *args),
                                     cwd=ROOT, env=cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.stderr_lines: list[str] = []
        self.stdout_lines: list[str] = []
        import threading

        self._threads = [threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout_lines), daemon=True),
                         threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr_lines), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _drain(stream, sink):
        for line in stream:
            sink.append(line)

    def wait_ready(self, timeout: float = 600) -> None:
        ok = wait_for(lambda: any("Running on" in l for l in self.stdout_lines) or self.proc.poll() is not None,
                      timeout, interval=0.2)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"rag serve did not start: {''.join(self.stderr_lines)[-3000:]}")

    def rss(self) -> int:
        import psutil

        p = psutil.Process(self.proc.pid)
        return p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def logs(self) -> str:
        return "".join(self.stdout_lines) + "".join(self.stderr_lines)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    i = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[i]


def _reply_problem(result) -> str | None:
    """Why a /respond result is not a good chat reply (None when it is)."""
    try:
        messages = result[0]
        last = messages[-1]
        text = " ".join(part.get("text", "") for part in last["content"]) if isinstance(last["content"], list) \
            else str(last["content"])
    except Exception as err:  # an unexpected shape is an error too
        return f"unexpected reply shape: {type(err).__name__}"
    if last.get("role") != "assistant":
        return "last message is not the answer"
    if "rag-error" in text or "Traceback" in text:
        return "error shown: " + re.sub(r"<[^>]+>", "", text)[:200]
    if "rag-answer" not in text and "rag-refusal" not in text and "don't say" not in text:
        return "no answer in the reply: " + text[:200]
    return None


def run_load(url: str, clients: int, seconds: float, questions: list[str] | None = None) -> dict:
    """`clients` concurrent chat sessions (gradio_client, one Client each) asking questions back to back for
    `seconds`. A request counts as an error when it raises or the reply shows an error or no answer."""
    import threading

    from gradio_client import Client

    questions = questions or LOAD_QUESTIONS
    sessions = [Client(url, verbose=False) for _ in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(i: int):
        c = sessions[i]
        n = i
        start.wait()
        while time.monotonic() < deadline[0]:
            q = questions[n % len(questions)]
            n += 1
            t0 = time.perf_counter()
            try:
                res = c.predict(q, "extractive", 6, [], "", "", api_name="/respond")
                problem = _reply_problem(res)
            except Exception as err:
                problem = f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                if problem:
                    errors.append(f"{q!r}: {problem}")
            if n % 12 == 0:  # a fresh conversation now and then, as people do
                try:
                    c.predict(api_name="/new_conversation")
                except Exception as err:
                    with lock:
                        errors.append(f"new_conversation: {type(err).__name__}: {err}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + seconds
    t0 = time.monotonic()
    start.wait()
    for t in threads:
        t.join(timeout=seconds + 900)
    wall = time.monotonic() - t0
    for c in sessions:
        try:
            c.close()
        except Exception:
            pass
    return {"clients": clients, "seconds": seconds, "wall_s": round(wall, 1), "requests": len(latencies),
            "errors": len(errors), "error_samples": errors[:10],
            "throughput_rps": round(len(latencies) / wall, 2) if wall else 0.0,
            "latency_s": {"p50": round(_percentile(latencies, 50), 3), "p90": round(_percentile(latencies, 90), 3),
                          "p99": round(_percentile(latencies, 99), 3),
                          "max": round(max(latencies), 3) if latencies else float("nan")}}
