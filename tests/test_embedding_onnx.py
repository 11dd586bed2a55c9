"""The ONNX Runtime question encoder: the same vectors as torch fp32, or not used at all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import embedding_onnx
from rag.embedding import SentenceTransformerEmbedder

QUESTIONS = ["What did Bulgaria claim about Russia?", "Which newspaper did Mitov speak to?",
             "Did both The Verge and TechCrunch report on the FTX trial before October 2023?"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One export of the packaged model into a cache folder of its own (the tests copy it before damaging it)."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAG_CACHE_DIR", str(cache))
        mp.delenv("RAG_EMBED_ENGINE", raising=False)
        emb = SentenceTransformerEmbedder(precision="fp32")
        emb.embed(["one passage makes indexing prepare the question encoder"])
        assert emb.engine == "onnx"
    return cache


def fresh(monkeypatch, cache, engine: str | None = None) -> SentenceTransformerEmbedder:
    monkeypatch.setenv("RAG_CACHE_DIR", str(cache))
    if engine:
        monkeypatch.setenv("RAG_EMBED_ENGINE", engine)
    else:
        monkeypatch.delenv("RAG_EMBED_ENGINE", raising=False)
    return SentenceTransformerEmbedder(precision="fp32")


def export_folder(cache):
    (folder,) = (cache / "onnx").iterdir()
    return folder


def test_question_vectors_match_torch_fp32(exported, monkeypatch):
    onnx = fresh(monkeypatch, exported)
    got = np.stack([onnx.embed_query(q) for q in QUESTIONS])
    assert onnx.engine == "onnx"
    torch_emb = fresh(monkeypatch, exported, engine="torch")
    want = np.stack([torch_emb.embed_query(q) for q in QUESTIONS])
    assert torch_emb.engine == "torch"
    assert np.min(np.sum(got * want, axis=1)) >= embedding_onnx.MIN_COSINE
    # and the two engines agree on the order of passages by similarity
    passages = torch_emb.embed(["Bulgaria's foreign minister said Russian spies had links to the far right.",
                                "The Times interviewed the minister in Sofia.", "Taylor Swift's tour sold out."])
    assert (np.argsort(-(passages @ got.T), axis=0) == np.argsort(-(passages @ want.T), axis=0)).all()


def test_a_cached_export_is_used_without_loading_torch(exported, monkeypatch):
    emb = fresh(monkeypatch, exported)
    emb.embed_query("Who won?")
    assert emb.engine == "onnx"
    assert emb._model is None  # the question never needed the torch model


def test_a_damaged_export_is_written_again(exported, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    shutil.copytree(exported, cache)
    onnx_file = export_folder(cache) / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[: onnx_file.stat().st_size // 2])
    emb = fresh(monkeypatch, cache)
    with pytest.raises(RuntimeError):  # without the torch model to export from, a damaged file is refused
        embedding_onnx.load(Path(emb._load_from), "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                            emb.max_tokens)
    vec = emb.embed_query(QUESTIONS[0])
    assert emb.engine == "onnx"
    assert onnx_file.stat().st_size > (exported / onnx_file.relative_to(cache)).stat().st_size // 2
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5


def test_vectors_that_disagree_leave_the_job_to_torch(exported, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    shutil.copytree(exported, cache)
    check = export_folder(cache) / "check.json"
    record = json.loads(check.read_text())
    record["vectors"][0] = [-x for x in record["vectors"][0]]  # as if the export computed something else
    check.write_text(json.dumps(record))
    monkeypatch.setattr(embedding_onnx, "export", lambda *a, **k: None)  # and exporting again cannot fix it
    emb = fresh(monkeypatch, cache)
    vec = emb.embed_query(QUESTIONS[1])
    assert emb.engine == "torch"
    assert vec.shape == (384,)


def test_the_engine_can_be_turned_off(exported, monkeypatch):
    emb = fresh(monkeypatch, exported, engine="torch")
    emb.embed_query("Who won?")
    assert emb.engine == "torch"


def test_a_repeated_question_is_encoded_once(exported, monkeypatch):
    emb = fresh(monkeypatch, exported)
    first = emb.embed_query(QUESTIONS[2])
    assert emb.embed_query(QUESTIONS[2]) is first
    assert not first.flags.writeable  # shared between callers, so nobody may change it
