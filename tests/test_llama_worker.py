"""llama.cpp portability and isolation: the portable build arguments, the installed build against this CPU, and a
model process that dies (SIGILL, SIGKILL, a hang) reported as one error line while the caller keeps running.

The crashes are real: the worker process is killed by a real signal, from outside (os.kill) or by itself through the
RAG_LLAMA_WORKER_FAULT seam, the way a build made for another CPU dies at its first token.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import ModelCrashedError, ModelTimeoutError
from rag.providers.base import Prompt, Source
from rag.providers.llama_build import (
    cmake_args, cpu_flags, installed_build_features, parse_system_info, unsupported_features,
)
from rag.providers.llamacpp import LlamaCppModel

# Flags as /proc/cpuinfo lists them on the two kinds of host this project runs on (trimmed to what matters).
INTEL_AMX = frozenset("fpu sse4_2 avx avx2 fma f16c bmi2 avx512f avx512dq avx512bw avx512vl avx512vbmi "
                      "avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8".split())
AMD_AVX2 = frozenset("fpu sse4_2 avx avx2 fma f16c bmi2".split())
QUESTION = "How many people has the UK returned to France this week?"


def tiny_prompt(max_tokens: int = 8) -> Prompt:
    source = Source(n=1, title="Rain in Oslo", source="Example News", published_at="2024-05-01",
                    text="It rained in Oslo on Tuesday.")
    return Prompt(question="Where did it rain?", sources=(source,), max_tokens=max_tokens, temperature=0.0,
                  messages=({"role": "user", "content": "[1] It rained in Oslo on Tuesday.\n\nWhere did it rain?"},))


def one_line(text: str) -> str:
    assert text and "\n" not in text.strip(), f"not one line: {text!r}"
    return text.strip()


# ------------------------------------------------------------------------------------------- build arguments


def test_intel_host_advertising_amx_gets_avx512_but_never_amx_or_native() -> None:
    args = cmake_args(INTEL_AMX).split()
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_CPU_ALL_VARIANTS=OFF" in args
    assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"} <= set(args)
    assert {"-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX512_BF16=ON", "-DGGML_AVX2=ON"} <= set(args)
    assert not any("AMX" in a and a.endswith("=ON") for a in args)


def test_amd_avx2_host_gets_avx2_and_no_avx512() -> None:
    args = set(cmake_args(AMD_AVX2).split())
    assert {"-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_AVX512=OFF", "-DGGML_AVX_VNNI=OFF"} <= args


def test_a_host_that_does_not_enable_avx512_state_gets_no_avx512() -> None:
    # The kernel drops the avx512 flags when the OS does not save their registers; only avx512_vnni left over
    # (a partial list) must not switch on any AVX-512 code either.
    args = set(cmake_args(AMD_AVX2 | {"avx512_vnni"}).split())
    assert {"-DGGML_AVX512=OFF", "-DGGML_AVX512_VNNI=OFF"} <= args


def test_no_cpuinfo_means_no_flags_and_default_args(tmp_path: Path) -> None:
    assert cpu_flags(tmp_path / "missing") is None
    assert cmake_args(None) == ""
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu avx2 fma\n")
    assert cpu_flags(info) == frozenset({"fpu", "avx2", "fma"})


def test_system_info_is_parsed_and_checked_against_the_host() -> None:
    info = parse_system_info("CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | "
                             "OPENMP = 1 | REPACK = 1 |")
    assert info["AVX512"] == "1" and info["LLAMAFILE"] == "1"
    assert unsupported_features(info, AMD_AVX2 | {"pni"}) == ["AVX512", "AMX_INT8"]
    # AMX is refused even where the flags advertise it: a VM can list it without enabling the tile state.
    assert unsupported_features(info, INTEL_AMX | {"pni"}) == ["AMX_INT8"]
    assert unsupported_features({"AVX2": "1", "OPENMP": "1"}, AMD_AVX2) == []


def test_the_installed_build_only_uses_features_this_host_enables() -> None:
    build = installed_build_features()
    assert build.get("AVX2") == "1" or "avx2" not in (cpu_flags() or set())
    assert unsupported_features(build, cpu_flags()) == []
    check = subprocess.run([sys.executable, "-m", "rag.providers.llama_build", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


# ---------------------------------------------------------------------------------------------- crashes


@pytest.mark.slow
def test_a_model_killed_by_a_signal_is_one_error_and_the_next_request_works() -> None:
    model = LlamaCppModel("smollm2-135m", n_ctx=768).load()
    first = model.worker_pid
    assert first and first != os.getpid()
    os.kill(first, signal.SIGKILL)
    with pytest.raises(ModelCrashedError) as info:
        list(model.generate(tiny_prompt()))
    message = one_line(str(info.value))
    assert "SIGKILL" in message and "llamacpp:smollm2-135m" in message
    # The caller is still here, and the next request starts a fresh worker that answers.
    assert "".join(model.generate(tiny_prompt())).strip()
    assert model.worker_pid not in (None, first)


@pytest.mark.slow
def test_sigill_at_the_first_token_names_the_rebuild_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LLAMA_WORKER_FAULT", "SIGILL:chat")
    model = LlamaCppModel("smollm2-135m", n_ctx=832, runtime="llama-cpp-python")
    with pytest.raises(ModelCrashedError) as info:
        list(model.generate(tiny_prompt(), stream=True))
    message = one_line(str(info.value))
    assert "SIGILL" in message and "scripts/install-llamacpp.sh" in message and "runtime=xllamacpp" in message
    monkeypatch.delenv("RAG_LLAMA_WORKER_FAULT")
    assert "".join(model.generate(tiny_prompt(), stream=True)).strip()


@pytest.mark.slow
def test_a_hung_model_times_out_and_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LLAMA_WORKER_FAULT", "SIGSTOP:chat")  # the worker freezes mid-request
    monkeypatch.setenv("RAG_LLAMA_TIMEOUT", "3")
    model = LlamaCppModel("smollm2-135m", n_ctx=896)
    with pytest.raises(ModelTimeoutError) as info:
        list(model.generate(tiny_prompt()))
    assert "RAG_LLAMA_TIMEOUT" in one_line(str(info.value))
    assert model.worker_pid is None  # the frozen process was killed, not left behind
    monkeypatch.delenv("RAG_LLAMA_WORKER_FAULT")
    monkeypatch.setenv("RAG_LLAMA_TIMEOUT", "300")
    assert "".join(model.generate(tiny_prompt())).strip()


@pytest.mark.slow
def test_rag_ask_with_a_crashing_model_ends_with_one_error_line(seed_index, cli) -> None:
    out = cli("ask", QUESTION, "--index", str(seed_index.path), "--model", "llamacpp:smollm2-135m",
              env={"RAG_LLAMA_WORKER_FAULT": "SIGILL:chat"})
    assert out.returncode not in (0, -signal.SIGILL), out.stderr
    assert "Traceback" not in out.stderr
    line = one_line(out.stderr.strip().splitlines()[-1])
    assert line.startswith("error:") and "SIGILL" in line


@pytest.mark.slow
def test_rag_chat_keeps_running_after_the_model_crashes(seed_index, cli) -> None:
    out = cli("chat", "--index", str(seed_index.path), "--model", "llamacpp:smollm2-135m",
              env={"RAG_LLAMA_WORKER_FAULT": "SIGILL:chat"}, input=f"{QUESTION}\n{QUESTION}\n\n")
    assert out.returncode == 0, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all("SIGILL" in e for e in errors)  # both questions answered with an error
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_doctor_reports_the_build_and_smoke_tests_the_installed_model(cli, tmp_path: Path) -> None:
    out = cli("doctor", "--index", str(tmp_path / "none"))
    for runtime in ("xllamacpp", "llama-cpp-python"):
        assert f"llama.cpp ({runtime}) build uses" in out.stdout, out.stdout
        assert f"GGUF model smollm2-135m ({runtime}): one-token smoke test passed" in out.stdout, out.stdout
    assert out.stdout.count("all enabled on this CPU") == 2, out.stdout
