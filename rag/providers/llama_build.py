"""Which CPU instructions a llama.cpp build may use on this host, and whether the installed build stays inside them.

Why this exists: `pip install llama-cpp-python` compiles llama.cpp with `-march=native`. On an Intel host whose CPU
flags advertise AMX inside a VM that does not enable AMX state, that build dies with SIGILL (`tileloadd` in
`ggml_backend_amx_mul_mat`) at the first token. So the install path (`scripts/install-llamacpp.sh`) builds with
`GGML_NATIVE=OFF` and an explicit SIMD level chosen from the flags the kernel reports in /proc/cpuinfo (the kernel
drops AVX-512 flags when the OS does not save their state), never AMX; and `rag doctor` compares the installed
build's compiled features with this host's.

Run as a script before the package is installed (stdlib only):
    python3 -m rag.providers.llama_build cmake-args   # the CMAKE_ARGS for a portable build on this host
    python3 -m rag.providers.llama_build check        # exit 0 when the installed build only uses enabled features
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

# ggml's compiled-feature name -> the /proc/cpuinfo flag that says the CPU and OS support it. AMX maps to None:
# its flags can be advertised where the tile state is not enabled, so a portable build never includes it.
FEATURE_FLAGS: dict[str, str | None] = {
    "SSE3": "pni", "SSSE3": "ssse3", "AVX": "avx", "AVX_VNNI": "avx_vnni", "AVX2": "avx2", "F16C": "f16c",
    "FMA": "fma", "BMI2": "bmi2", "AVX512": "avx512f", "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16", "AMX_INT8": None,
}
# CMake switch -> the flags it needs (all of them). Order matters only for readability of the printed args.
_CMAKE_SWITCHES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GGML_SSE42", ("sse4_2",)),
    ("GGML_AVX", ("avx",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_F16C", ("f16c",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    ("GGML_AVX512", ("avx512f", "avx512bw", "avx512dq", "avx512vl")),
    ("GGML_AVX512_VBMI", ("avx512f", "avx512vbmi")),
    ("GGML_AVX512_VNNI", ("avx512f", "avx512_vnni")),
    ("GGML_AVX512_BF16", ("avx512f", "avx512_bf16")),
)
_ALWAYS_OFF = ("GGML_NATIVE", "GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16", "GGML_CPU_ALL_VARIANTS")
# The llava/mtmd library is not used by article-rag; skipping it shortens the build by a third.
_EXTRA = ("-DLLAVA_BUILD=OFF",)


def is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "i386")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The instruction-set flags of the first CPU listed, or None where /proc/cpuinfo has none (not Linux/x86)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return None


def cmake_args(flags: frozenset[str] | None) -> str:
    """CMAKE_ARGS for a llama.cpp build that uses only what `flags` enable; '' off x86 (native is safe there)."""
    if flags is None:
        return ""
    args = [f"-D{name}=OFF" for name in _ALWAYS_OFF]
    args += [f"-D{switch}={'ON' if all(f in flags for f in needs) else 'OFF'}" for switch, needs in _CMAKE_SWITCHES]
    return " ".join([*args, *_EXTRA])


def baseline_cmake_args() -> str:
    """The fallback when the chosen level still crashes: AVX2-era x86-64 (every x86 CPU of the last decade)."""
    return cmake_args(frozenset({"sse4_2", "avx", "avx2", "fma", "f16c", "bmi2"}))


def parse_system_info(text: str) -> dict[str, str]:
    """`llama_print_system_info()` -> {feature: value}, e.g. 'CPU : AVX2 = 1 | AMX_INT8 = 1 |' -> {'AVX2': '1', ...}."""
    found: dict[str, str] = {}
    for part in text.replace("\n", "|").split("|"):
        if "=" not in part:
            continue
        key, _, value = part.partition("=")
        key = key.split(":")[-1].strip()
        if key:
            found[key] = value.strip()
    return found


_PROBES = {
    "llama-cpp-python": "import json, llama_cpp; "
                        "print(json.dumps(llama_cpp.llama_print_system_info().decode('utf-8', 'replace')))",
    "xllamacpp": "import json, xllamacpp; print(json.dumps(xllamacpp.get_system_info()))",
}


def installed_build_features(timeout: float = 60.0, runtime: str = "llama-cpp-python") -> dict[str, str]:
    """The compiled CPU features of an installed llama.cpp runtime ('llama-cpp-python' or 'xllamacpp'), read in a
    subprocess.

    A subprocess because loading a build made for another CPU can itself die with SIGILL (ggml's static
    initialisers use F16C/AVX); the caller must survive that. Raises RuntimeError with a one-line reason.
    """
    proc = subprocess.run([sys.executable, "-c", _PROBES[runtime]], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        if proc.returncode < 0:
            last = f"killed by signal {-proc.returncode} ({_signal_name(-proc.returncode)})"
        raise RuntimeError(f"could not load {runtime}: {last}")
    return parse_system_info(json.loads(proc.stdout.strip().splitlines()[-1]))


def unsupported_features(build: dict[str, str], flags: frozenset[str] | None) -> list[str]:
    """Compiled features this host does not enable (AMX always counts: it is never safe to assume)."""
    if flags is None:
        return []
    bad = []
    for feature, value in build.items():
        if feature not in FEATURE_FLAGS or value in ("0", ""):
            continue
        flag = FEATURE_FLAGS[feature]
        if flag is None or flag not in flags:
            bad.append(feature)
    return bad


def compiled_cpu_features(build: dict[str, str]) -> list[str]:
    return [f for f, v in build.items() if f in FEATURE_FLAGS and v not in ("0", "")]


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


_SMOKES = {
    "llama-cpp-python": """
import sys
from llama_cpp import Llama
llama = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=1, n_batch=64, verbose=False)
out = llama.create_completion("The capital of France is", max_tokens=1, temperature=0.0)
print(repr(out["choices"][0]["text"]))
""",
    "xllamacpp": """
import sys
import xllamacpp
params = xllamacpp.CommonParams()
params.model.path = sys.argv[1]
params.n_ctx, params.n_batch, params.verbosity, params.warmup = 256, 64, 0, False
params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
out = xllamacpp.Server(params).handle_completions({"prompt": "The capital of France is", "max_tokens": 1,
                                                   "temperature": 0.0})
print(repr(out["choices"][0]["text"]))
""",
}


def smoke_test(model_path: Path, timeout: float = 180.0, runtime: str = "llama-cpp-python") -> str | None:
    """Load `model_path` with `runtime` and generate one token in a subprocess; None when it worked, else a one-line
    reason."""
    try:
        proc = subprocess.run([sys.executable, "-c", _SMOKES[runtime], str(model_path)], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"no token within {timeout:.0f} s (hung)"
    if proc.returncode < 0:
        return f"killed by {_signal_name(-proc.returncode)}" + (
            " (an instruction this CPU does not enable)" if -proc.returncode == 4 else "")
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1][:300]
    return None


def _smallest_installed_model() -> Path | None:
    from .gguf import known_models, resolve_gguf

    for model in sorted(known_models(), key=lambda m: m.get("size_bytes") or 0):
        if model.get("available"):
            return resolve_gguf(model["name"])
    return None


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "cmake-args"
    if command == "cmake-args":
        print(cmake_args(cpu_flags() if is_x86() else None))
        return 0
    if command == "baseline-args":
        print(baseline_cmake_args() if is_x86() else "")
        return 0
    if command == "check":
        try:
            build = installed_build_features()
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"llama-cpp-python: {exc}", file=sys.stderr)
            return 1
        bad = unsupported_features(build, cpu_flags() if is_x86() else None)
        features = " ".join(compiled_cpu_features(build)) or "none reported"
        if bad:
            print(f"llama-cpp-python was built for CPU features this host does not enable: {' '.join(bad)} "
                  f"(compiled: {features})", file=sys.stderr)
            return 1
        print(f"llama-cpp-python build uses: {features}", file=sys.stderr)
        return 0
    if command == "smoke":
        path = Path(argv[1]) if len(argv) > 1 else _smallest_installed_model()
        if path is None:
            print("llama.cpp smoke test skipped: no GGUF model installed", file=sys.stderr)
            return 0
        reason = smoke_test(path)
        if reason:
            print(f"llama.cpp smoke test with {path.name} failed: {reason}", file=sys.stderr)
            return 1
        print(f"llama.cpp smoke test with {path.name}: one token generated", file=sys.stderr)
        return 0
    print("usage: python3 -m rag.providers.llama_build [cmake-args|baseline-args|check|smoke [MODEL.gguf]]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
