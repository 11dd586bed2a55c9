"""Which CPUs each installed llama.cpp runtime can run on: the instructions in its native code, and a one-token
answer on an emulated CPU without AVX-512 or AMX.

Why: a build that contains AMX or AVX-512 code dies with SIGILL on a host that advertises those instructions without
enabling them (an Intel VM), and no such host is at hand. Two things stand in for it:
- the disassembly of every native library of the runtime (objdump): AMX tile instructions and AVX-512 (zmm/k-mask)
  instructions counted; code that is not there cannot be executed, whatever the CPU advertises;
- `qemu-x86_64 -cpu Haswell` (user-mode emulation of an AVX2 CPU): the smoke test of rag.providers.llama_build runs
  there; an instruction beyond AVX2 raises a real SIGILL.

    python bench/llama_portability.py [--model smollm2-135m] [--out bench/results/llama_portability]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.providers.gguf import resolve_gguf  # noqa: E402
from rag.providers.llama_build import _SMOKES, installed_build_features  # noqa: E402
from rag.providers.llamacpp import RUNTIME_MODULES, installed_runtimes  # noqa: E402

AMX = re.compile(r"\b(tileloadd|tileloaddt1|tilestored|tilezero|tilerelease|ldtilecfg|sttilecfg|tdp\w+)\b")
AVX512 = re.compile(r"%zmm\d+|%k[1-7]\b")


def native_libraries(runtime: str) -> list[Path]:
    folder = Path(importlib.util.find_spec(RUNTIME_MODULES[runtime]).origin).parent
    return sorted(p for p in folder.rglob("*.so*") if p.is_file() and not p.is_symlink())


def count_instructions(library: Path) -> dict:
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True,
                          check=True).stdout
    lines = text.splitlines()
    return {"library": library.name, "instructions": sum(1 for line in lines if line.startswith(" ")),
            "amx": sum(1 for line in lines if AMX.search(line)),
            "avx512": sum(1 for line in lines if AVX512.search(line))}


def smoke_on(cpu: str | None, runtime: str, model: Path) -> dict:
    prefix = [shutil.which("qemu-x86_64"), "-cpu", cpu] if cpu else []
    started = time.perf_counter()
    proc = subprocess.run([*prefix, sys.executable, "-c", _SMOKES[runtime], str(model)], capture_output=True,
                          text=True, timeout=900)
    outcome = ("one token: " + proc.stdout.strip()) if proc.returncode == 0 else (
        f"killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0 else f"exit {proc.returncode}")
    return {"cpu": cpu or "host", "runtime": runtime, "returncode": proc.returncode, "outcome": outcome,
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "llama_portability")
    args = parser.parse_args()
    model = resolve_gguf(args.model)
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    report = {"command": "python bench/llama_portability.py " + " ".join(sys.argv[1:]),
              "host": {"machine": platform.machine(), "avx512f": "avx512f" in flags,
                       "amx_tile": "amx_tile" in flags, "avx512_bf16": "avx512_bf16" in flags},
              "qemu": subprocess.run(["qemu-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
              "runtimes": {}}
    for runtime in installed_runtimes():
        build = installed_build_features(runtime=runtime)
        report["runtimes"][runtime] = {
            "version": version(runtime),
            "compiled_features": sorted(k for k, v in build.items() if v == "1"),
            "libraries": [count_instructions(lib) for lib in native_libraries(runtime)],
            "smoke": [smoke_on(None, runtime, model), smoke_on("Haswell", runtime, model)],
        }
        print(runtime, json.dumps(report["runtimes"][runtime]["smoke"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = ["# Which CPUs each llama.cpp runtime runs on", "",
             f"`{report['command']}`; host: {report['host']}; {report['qemu']}. Instruction counts from "
             "`objdump -d` of every native library the runtime ships (AMX: tile instructions; AVX-512: instructions "
             "on zmm or mask registers); one-token smoke test (rag.providers.llama_build) on the host and under "
             "`qemu-x86_64 -cpu Haswell` (AVX2, no AVX-512, no AMX).", "",
             "| runtime | version | compiled features | instructions | AVX-512 | AMX | host | Haswell (qemu) |",
             "|---|---|---|---|---|---|---|---|"]
    for runtime, r in report["runtimes"].items():
        total = sum(lib["instructions"] for lib in r["libraries"])
        avx512 = sum(lib["avx512"] for lib in r["libraries"])
        amx = sum(lib["amx"] for lib in r["libraries"])
        host, haswell = (s["outcome"] for s in r["smoke"])
        lines.append(f"| {runtime} | {r['version']} | {' '.join(r['compiled_features'])} | {total:,} | {avx512:,} | "
                     f"{amx:,} | {host} | {haswell} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
