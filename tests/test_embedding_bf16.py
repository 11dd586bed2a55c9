"""bf16 passage encoding is used only where the CPU has bf16 instructions and only when it gives the fp32 vectors
back (cosine >= 0.999 on fixed sentences); the real packaged MiniLM."""

from __future__ import annotations

import numpy as np
import pytest

from rag import embedding, embedding_onnx
from rag.embedding import SentenceTransformerEmbedder, bf16_or_fp32


def test_bf16_passes_its_check_for_minilm_and_stays_close_to_fp32(embedder) -> None:
    import torch

    assert bf16_or_fp32(embedder.model) == "bf16"
    texts = ["Bulgaria said Russian spies had links to the far right.", "Nvidia shares rose 4.2% on Tuesday."]
    ref = embedder.model.encode(texts, normalize_embeddings=True)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = embedder.model.encode(texts, normalize_embeddings=True)
    low = np.asarray(low, np.float32) / np.linalg.norm(np.asarray(low, np.float32), axis=1, keepdims=True)
    assert np.min(np.sum(ref * low, axis=1)) >= 0.999


def test_a_model_whose_bf16_vectors_move_is_encoded_in_fp32(embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding_onnx, "MIN_COSINE", 1.0 + 1e-6)   # no bf16 result can reach it
    assert bf16_or_fp32(embedder.model) == "fp32"


def test_auto_precision_follows_the_cpu_and_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "cpu_has_bf16", lambda: False)
    assert SentenceTransformerEmbedder(precision="auto").precision == "fp32"
    monkeypatch.setattr(embedding, "cpu_has_bf16", lambda: True)
    emb = SentenceTransformerEmbedder(precision="auto")
    monkeypatch.setattr(embedding, "bf16_or_fp32", lambda model: "fp32")  # as if the check had failed
    emb.model
    assert emb.precision == "fp32"
    assert SentenceTransformerEmbedder(precision="bf16")._check_precision is False   # an index's recorded choice


def test_an_operator_can_choose_the_precision_of_new_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "cpu_has_bf16", lambda: True)
    monkeypatch.setenv("RAG_EMBED_PRECISION", "fp32")
    assert SentenceTransformerEmbedder(precision="auto").precision == "fp32"
    assert SentenceTransformerEmbedder(precision="bf16").precision == "bf16"   # an existing index's record wins
