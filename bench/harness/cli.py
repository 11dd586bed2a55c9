"""Running `rag` as a user would: `python -m rag.cli ...` in a subprocess, from the checkout this file is in."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli_env(extra: dict | None = None) -> dict:
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag.cli", *args]


def popen_cli(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(cli_cmd(*args), cwd=ROOT, env=cli_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def run_cli(*args: str, env: dict | None = None, timeout: float = 300, prefix: list[str] | None = None,
            preexec_fn=None, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run `rag ARGS` to completion, as a user would (`prefix`: a command to run it under, e.g. setpriv)."""
    return subprocess.run([*(prefix or []), *cli_cmd(*args)], cwd=cwd or ROOT, env=cli_env(env), capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec_fn, input=input)


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
