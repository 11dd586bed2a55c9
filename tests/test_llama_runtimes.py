"""Local models run on either llama.cpp runtime: the prebuilt xllamacpp wheel that `pip install
'article-rag[llamacpp]'` installs (portable: AVX2, no AVX-512, no AMX) or llama-cpp-python built for this CPU by
scripts/install-llamacpp.sh. `auto` tries the built one first and moves to the wheel when it cannot run here.

The CPU this suite runs on is not the only one that matters: a VM can advertise instructions (AMX) it does not enable.
The last tests run the model worker under qemu's user-mode emulator with a Haswell CPU (AVX2, no AVX-512, no AMX), so
a build that uses more than AVX2 dies there with a real SIGILL, as on such a host."""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT
from rag.errors import MissingDependencyError, ModelCrashedError, ModelSpecError
from rag.providers import install
from rag.providers.base import Prompt
from rag.providers.llama_build import (
    installed_build_features, is_x86, parse_system_info, unsupported_features,
)
from rag.providers.llamacpp import LlamaCppModel, choose_runtimes, installed_runtimes

# The /proc/cpuinfo flags of a Haswell-era CPU (what `qemu-x86_64 -cpu Haswell` runs): AVX2 and nothing later.
HASWELL = frozenset("fpu sse sse2 pni ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand "
                    "fsgsbase bmi1 avx2 smep bmi2 erms invpcid".split())
QEMU = [shutil.which("qemu-x86_64"), "-cpu", "Haswell"]


def prompt() -> Prompt:
    return Prompt(question="Where did it rain?", sources=(), max_tokens=6, temperature=0.0,
                  messages=({"role": "user", "content": "[1] It rained in Oslo on Tuesday.\n\nWhere did it rain?"},))


def test_the_llamacpp_extra_is_the_prebuilt_wheel_the_installer_names() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["llamacpp"] == [install.RUNTIME]
    assert install.runtime_call()[-1] == install.RUNTIME and "--no-binary" not in install.runtime_call()


def test_the_prebuilt_wheel_uses_nothing_beyond_avx2() -> None:
    """What makes it safe on a host that advertises AMX (or AVX-512) without enabling it: no such code in it."""
    build = installed_build_features(runtime="xllamacpp")
    assert build.get("AVX2") == "1", build
    assert unsupported_features(build, HASWELL) == [], build
    assert not any(k.startswith(("AVX512", "AMX")) and v == "1" for k, v in build.items()), build


def test_auto_tries_the_host_build_first_then_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_LLAMA_RUNTIME", raising=False)
    assert installed_runtimes() == ["llama-cpp-python", "xllamacpp"]
    assert choose_runtimes() == ("llama-cpp-python", "xllamacpp")
    assert choose_runtimes("xllamacpp") == ("xllamacpp",)
    monkeypatch.setenv("RAG_LLAMA_RUNTIME", "xllamacpp")
    assert LlamaCppModel("smollm2-135m").runtimes == ("xllamacpp",)
    assert LlamaCppModel("smollm2-135m", runtime="llama-cpp-python").runtimes == ("llama-cpp-python",)
    with pytest.raises(ModelSpecError, match="unknown llama.cpp runtime 'vllm'"):
        choose_runtimes("vllm")


def test_a_missing_runtime_names_its_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # find_spec then answers "not installed"
    assert choose_runtimes() == ("llama-cpp-python",)
    with pytest.raises(MissingDependencyError, match=r"pip install 'article-rag\[llamacpp\]'"):
        choose_runtimes("xllamacpp")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    monkeypatch.delitem(sys.modules, "xllamacpp")
    with pytest.raises(ModelSpecError, match="scripts/install-llamacpp.sh"):
        choose_runtimes("llama-cpp-python")
    assert choose_runtimes() == ("xllamacpp",)


def test_a_build_for_features_this_cpu_lacks_is_refused_before_any_model_code(monkeypatch) -> None:
    from rag.providers import llama_build
    from rag.providers.llama_engines import LlamaCppPythonEngine, UnsupportedBuild

    monkeypatch.setattr(llama_build, "cpu_flags", lambda *a: frozenset())  # a CPU that enables nothing
    with pytest.raises(UnsupportedBuild) as info:
        LlamaCppPythonEngine("/nonexistent.gguf", {"n_ctx": 256, "n_threads": 1, "n_batch": 64})
    assert "runtime=xllamacpp" in str(info.value) and "install-llamacpp.sh --force" in str(info.value)


@pytest.mark.slow
def test_auto_moves_to_the_wheel_when_the_host_build_dies_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LLAMA_WORKER_FAULT", "SIGILL:load:llama-cpp-python")
    model = LlamaCppModel("smollm2-135m", n_ctx=1536)
    assert "".join(model.generate(prompt())).strip()
    assert model.runtime == "xllamacpp"


@pytest.mark.slow
def test_auto_answers_on_the_wheel_when_the_host_build_dies_at_the_first_token(monkeypatch) -> None:
    """The AMX crash happened at the first token; the person still gets the answer, from the other runtime."""
    monkeypatch.setenv("RAG_LLAMA_WORKER_FAULT", "SIGILL:chat:llama-cpp-python")
    model = LlamaCppModel("smollm2-135m", n_ctx=1600)
    model.load()
    assert model.runtime == "llama-cpp-python"
    pieces = list(model.generate(prompt(), stream=True))
    assert "".join(pieces).strip() and model.runtime == "xllamacpp"
    assert "".join(model.generate(prompt())).strip()  # and it stays there


# ------------------------------------------------------------------------- a CPU without AVX-512 or AMX (qemu)

needs_qemu = pytest.mark.skipif(not is_x86(), reason="qemu-x86_64 -cpu Haswell emulates an x86 CPU on x86 hosts")


def _host_build_exceeds_haswell() -> bool:
    return bool(unsupported_features(installed_build_features(), HASWELL))


@needs_qemu
@pytest.mark.slow
def test_on_a_cpu_without_avx512_the_wheel_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert QEMU[0], "qemu-x86_64 is missing: scripts/test.sh installs it (apt-get install qemu-user)"
    monkeypatch.setenv("RAG_LLAMA_WORKER_PREFIX", " ".join(QEMU))
    model = LlamaCppModel("smollm2-135m", n_ctx=512, n_threads=1, runtime="xllamacpp")
    assert "".join(model.generate(prompt())).strip()
    assert "AVX2 = 1" in model.system_info and "AVX512" not in model.system_info


@needs_qemu
@pytest.mark.slow
def test_on_a_cpu_without_avx512_auto_survives_a_host_build_that_needs_it(monkeypatch) -> None:
    """The real thing, not a fault injected: where this host's llama-cpp-python uses AVX-512 (built for this CPU),
    the emulated Haswell kills it with SIGILL; `auto` answers from the wheel and an explicit choice is one error."""
    assert QEMU[0], "qemu-x86_64 is missing: scripts/test.sh installs it (apt-get install qemu-user)"
    monkeypatch.setenv("RAG_LLAMA_WORKER_PREFIX", " ".join(QEMU))
    model = LlamaCppModel("smollm2-135m", n_ctx=576, n_threads=1)
    assert "".join(model.generate(prompt())).strip()
    if not _host_build_exceeds_haswell():
        pytest.skip("this host's llama-cpp-python uses nothing beyond AVX2: it runs on Haswell too")
    assert model.runtime == "xllamacpp"
    pinned = LlamaCppModel("smollm2-135m", n_ctx=640, n_threads=1, runtime="llama-cpp-python")
    with pytest.raises(ModelCrashedError, match="SIGILL") as info:
        list(pinned.generate(prompt()))
    assert "runtime=xllamacpp" in str(info.value)


@pytest.mark.slow
def test_doctor_with_only_the_wheel_checks_it_and_names_the_faster_build(cli, tmp_path) -> None:
    from conftest import ROOT as root

    out = cli("doctor", "--index", str(tmp_path / "none"),
              env={"PYTHONPATH": str(root / "tests" / "no_extras"), "RAG_HIDE_MODULES": "llama_cpp"})
    assert "llama.cpp (xllamacpp) build uses" in out.stdout and "(llama-cpp-python)" not in out.stdout, out.stdout
    assert "GGUF model smollm2-135m (xllamacpp): one-token smoke test passed" in out.stdout, out.stdout
    has_avx512 = "avx512f" in (Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else "")
    assert ("bash scripts/install-llamacpp.sh" in out.stdout) == has_avx512, out.stdout


@pytest.mark.slow
def test_the_wheels_local_listener_refuses_requests_without_its_key() -> None:
    """xllamacpp serves HTTP on 127.0.0.1 beside its Python API; another local user must not be able to use it."""
    import json
    import urllib.error
    import urllib.request

    from rag.providers.gguf import resolve_gguf
    from rag.providers.llama_engines import XLlamaCppEngine

    engine = XLlamaCppEngine(str(resolve_gguf("smollm2-135m")), {"n_ctx": 512, "n_threads": 1, "n_batch": 64})
    address = engine.server.listening_address
    assert address.startswith("http://127.0.0.1:")
    for path in ("/v1/chat/completions", "/tokenize", "/completion"):
        body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "content": "hi", "prompt": "hi"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(urllib.request.Request(address + path, data=body.encode(),
                                                          headers={"Content-Type": "application/json"}), timeout=30)
        assert info.value.code == 401, path
    assert engine.tokenize("It rained in Oslo.") >= 4  # the engine itself, holding the key, still can


@pytest.mark.slow
def test_rag_ask_takes_the_runtime_as_a_model_option(seed_index, cli) -> None:
    question = "How many people has the UK returned to France this week?"
    fault = {"RAG_LLAMA_WORKER_FAULT": "SIGILL:chat:llama-cpp-python"}  # only the host build crashes
    base = ("ask", question, "--index", str(seed_index.path), "--model", "llamacpp:smollm2-135m", "--json")
    pinned = cli(*base, "-o", "runtime=llama-cpp-python", "-o", "n_ctx=1472", env=fault)
    assert pinned.returncode != 0 and "SIGILL" in pinned.stderr.strip().splitlines()[-1], pinned.stderr
    wheel = cli(*base, "-o", "runtime=xllamacpp", "-o", "n_ctx=1472", env=fault)
    assert wheel.returncode == 0, wheel.stderr
    assert "SIGILL" not in wheel.stderr and "cannot run here" not in wheel.stderr  # never tried the host build
    wrong = cli(*base, "-o", "nctx=5")
    assert wrong.returncode == 2 and "takes no option nctx" in wrong.stderr and "n_ctx" in wrong.stderr
    malformed = cli(*base, "-o", "runtime")
    assert malformed.returncode == 2 and "expected KEY=VALUE" in malformed.stderr


def test_model_options_parse_for_every_command_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.cli import commands
    from rag.cli.parser import build_parser

    parser = build_parser()
    for argv in (["ask", "q"], ["chat"], ["eval", "t.jsonl"], ["serve"]):
        args = parser.parse_args([*argv, "-o", "runtime=xllamacpp", "-o", "n_ctx=8192", "-o", "flash_attn=false"])
        assert dict(args.option) == {"runtime": "xllamacpp", "n_ctx": 8192, "flash_attn": False}, argv
    seen = {}
    monkeypatch.setattr("rag.cli.serve.serve", lambda **kwargs: seen.update(kwargs) or 0)
    commands.cmd_serve(parser.parse_args(["serve", "--model", "llamacpp:smollm2-135m", "-o", "runtime=xllamacpp"]))
    assert seen["options"] == {"runtime": "xllamacpp"} and seen["model"] == "llamacpp:smollm2-135m"
