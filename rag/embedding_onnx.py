"""The embedding model run by ONNX Runtime, for questions at search time.

Why: a question is one short text, and torch's per-call overhead (dispatch, thread wake-up) is most of its cost on
a small CPU; ONNX Runtime runs the same graph with the same fp32 weights at a fraction of it
(bench/results/perf_query_engines.md). It is only used when it gives the same vectors:

- the first use exports the sentence-transformers model once (torch.onnx) into the cache folder
  (`$RAG_CACHE_DIR`, else `$XDG_CACHE_HOME/article-rag`, else `~/.cache/article-rag`), named by the sha256 of the
  weights, and stores beside it the fp32 torch vectors of fixed check sentences (one longer than the model reads);
- every start-up encodes those sentences with ONNX Runtime and the model's own tokenizer.json and requires
  cosine >= 0.999 with each stored vector; anything else (no onnxruntime, a pooling other than mean, a damaged or
  stale file, a mismatch) leaves the job to torch, with the reason logged.

`RAG_EMBED_ENGINE=torch` turns it off.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MIN_COSINE = 0.999
FORMAT = 1
CHECK_SENTENCES = (
    "What did Bulgaria claim about Russia?",
    "Mr Mitov told the Times that Russian spies had links to the country's far right.",
    "Who is the quarterback that threw four touchdowns against the Cowboys, according to Sporting News?",
    "Nvidia's shares rose 4.2% on Tuesday after the U.S. Commerce Department said it would not widen export curbs.",
    "ok",
    # longer than the model's 256 tokens: the check covers truncation too
    " ".join(["The committee met again on Thursday to discuss the budget, the schedule and the new rules."] * 30),
)


def cache_dir() -> Path:
    if os.environ.get("RAG_CACHE_DIR"):
        return Path(os.environ["RAG_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "article-rag"


def export_folder(weights_sha: str, max_tokens: int) -> Path:
    return cache_dir() / "onnx" / f"{weights_sha[:24]}-{max_tokens}"


class OnnxEncoder:
    """Mean-pooled, L2-normalised sentence vectors from an exported BERT-style model."""

    def __init__(self, onnx_path: Path, tokenizer_json: Path, max_tokens: int):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        # One thread: a question is ~30 tokens, too little work to split; on 2 busy cores a second thread cost
        # twice the CPU and wall time (bench/results/perf_query_engines.md).
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # never spin on a shared CPU
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        tok = Tokenizer.from_file(str(tokenizer_json))
        tok.enable_truncation(max_length=max_tokens)
        pad_id = tok.token_to_id("[PAD]")
        tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
        self._tok = tok

    def encode(self, texts: list[str]) -> np.ndarray:
        enc = self._tok.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
        hidden = self._session.run(None, feed)[0]
        m = mask[..., None].astype(np.float32)
        vecs = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs.astype(np.float32)


def mean_pooled(st_model) -> bool:
    """Only Transformer -> mean Pooling (-> Normalize) is reproduced here; other heads stay on torch."""
    names = [type(m).__name__ for m in st_model]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        return False
    pooling = st_model[1]
    mode = getattr(pooling, "pooling_mode", None) or (
        "mean" if getattr(pooling, "pooling_mode_mean_tokens", False) else "")
    return mode == "mean"


def load(model_dir: Path, weights_sha: str, max_tokens: int, torch_model=None) -> OnnxEncoder:
    """The checked encoder for `model_dir`. With `torch_model` (a loaded SentenceTransformer) a missing, stale or
    damaged export is written anew first; without it, raises RuntimeError saying why it cannot be used."""
    tokenizer_json = model_dir / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise RuntimeError(f"no tokenizer.json in {model_dir}")
    folder = export_folder(weights_sha, max_tokens)
    try:
        return _open_checked(folder, tokenizer_json, max_tokens)
    except Exception as exc:  # noqa: BLE001 - a damaged file raises whatever onnxruntime raises; all mean "redo"
        if torch_model is None:
            raise RuntimeError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    export(torch_model, folder, max_tokens)
    return _open_checked(folder, tokenizer_json, max_tokens)


def _open_checked(folder: Path, tokenizer_json: Path, max_tokens: int) -> OnnxEncoder:
    onnx_path, check_path = folder / "model.onnx", folder / "check.json"
    if not (onnx_path.is_file() and check_path.is_file()):
        raise RuntimeError("not exported yet")
    check = json.loads(check_path.read_text())
    if check.get("format") != FORMAT or check.get("sentences") != list(CHECK_SENTENCES):
        raise RuntimeError("the cached export is from another version")
    enc = OnnxEncoder(onnx_path, tokenizer_json, max_tokens)
    got = enc.encode(list(CHECK_SENTENCES))
    want = np.asarray(check["vectors"], dtype=np.float32)
    worst = float(np.min(np.sum(got * want, axis=1)))
    if worst < MIN_COSINE:
        raise RuntimeError(f"ONNX vectors differ from torch fp32 (lowest cosine {worst:.5f} < {MIN_COSINE})")
    log.info("ONNX Runtime question encoder in use (lowest check cosine %.6f)", worst)
    return enc


def export(torch_model, folder: Path, max_tokens: int) -> None:
    """Write model.onnx and check.json into `folder` atomically (a crash leaves the old pair or none)."""
    import torch

    if not mean_pooled(torch_model):
        raise RuntimeError("the model's pooling is not mean pooling")
    bert = torch_model[0].auto_model

    class Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    folder.mkdir(parents=True, exist_ok=True)
    sample = torch_model.tokenizer(["a short sample", "and a second, longer sample sentence"], padding=True,
                                   return_tensors="pt")
    args = tuple(sample.get(k, torch.zeros_like(sample["input_ids"]))
                 for k in ("input_ids", "attention_mask", "token_type_ids"))
    with torch.inference_mode():
        reference = torch_model.encode(list(CHECK_SENTENCES), convert_to_numpy=True, normalize_embeddings=True,
                                       show_progress_bar=False)
    fd, tmp_onnx = tempfile.mkstemp(dir=folder, suffix=".onnx.tmp")
    os.close(fd)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shapes: the axes below are dynamic
            torch.onnx.export(Hidden(bert).eval(), args, tmp_onnx, dynamo=False, opset_version=17,
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["last_hidden_state"],
                              dynamic_axes={n: {0: "batch", 1: "tokens"} for n in
                                            ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")})
        os.replace(tmp_onnx, folder / "model.onnx")
    finally:
        if os.path.exists(tmp_onnx):
            os.unlink(tmp_onnx)
    record = {"format": FORMAT, "max_tokens": max_tokens, "sentences": list(CHECK_SENTENCES),
              "vectors": np.asarray(reference, dtype=np.float32).tolist(), "torch": torch.__version__}
    fd, tmp_check = tempfile.mkstemp(dir=folder, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(tmp_check, folder / "check.json")
