"""Where an index lives, from what the user typed after `--index` (or gave `rag.Index.open`).

A URI scheme picks the backend; anything without one is a folder for the embedded SQLite + FAISS store. The scheme is
parsed, never guessed from a substring, so a folder named `milvus-data/` stays a folder:

- `milvus://HOST:PORT/COLLECTION[?index=HNSW|FLAT]`: a Milvus server (a cluster, or a loopback `milvus-lite server`);
- `milvus-lite:///abs/path/file.db[?collection=NAME&index=FLAT|HNSW]`: an embedded Milvus Lite file (one process at
  a time).
The vector index type applies when the collection is created: HNSW by default on a server (a cluster's size),
FLAT (exact) in a Lite file (small by nature, and exact under any filter).

No heavy import here: the CLI parses `--index` before it knows whether it needs pymilvus.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..errors import UserError

DEFAULT_COLLECTION = "rag"
INDEX_TYPES = ("HNSW", "FLAT")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Milvus collection names: a letter or underscore, then letters, digits, underscores (we append `_chunks` etc.)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")


@dataclass(frozen=True)
class MilvusLocation:
    """A Milvus-backed index: `uri` is what `pymilvus.MilvusClient` takes, `collection` the prefix of its collections."""

    uri: str
    collection: str
    spec: str          # as the user wrote it (messages, `Index.path`)
    embedded: bool     # a Milvus Lite file opened in this process
    index: str = "HNSW"  # vector index type for a new collection

    def __str__(self) -> str:
        return self.spec


def parse_location(spec: str | os.PathLike | None) -> Path | MilvusLocation | None:
    """A Path for a folder, a MilvusLocation for a Milvus URI, None for None; UserError for a URI we cannot use."""
    if spec is None or isinstance(spec, (Path, MilvusLocation)):
        return spec
    text = os.fspath(spec)
    m = _SCHEME.match(text)
    if not m:
        return Path(text)
    scheme = m.group(1).lower()
    parts = urlsplit(text)
    if scheme == "milvus":
        if not parts.hostname or not parts.port:
            raise UserError(f"--index {text}: a Milvus URI needs a host and port, like milvus://127.0.0.1:19530/news")
        name = parts.path.strip("/") or DEFAULT_COLLECTION
        _check_name(text, name)
        return MilvusLocation(f"http://{parts.hostname}:{parts.port}", name, text, embedded=False,
                              index=_index_type(text, parts.query, "HNSW"))
    if scheme == "milvus-lite":
        path = parts.path
        if parts.netloc or not path.startswith("/") or path.endswith("/"):
            raise UserError(f"--index {text}: a Milvus Lite URI names a file by its absolute path, like "
                            "milvus-lite:///srv/rag/news.db")
        name = (parse_qs(parts.query).get("collection") or [DEFAULT_COLLECTION])[0]
        _check_name(text, name)
        return MilvusLocation(path, name, text, embedded=True, index=_index_type(text, parts.query, "FLAT"))
    raise UserError(f"--index {text}: unknown scheme {scheme}://; use a folder path, milvus://HOST:PORT/COLLECTION "
                    "or milvus-lite:///path/file.db")


def _index_type(text: str, query: str, default: str) -> str:
    kind = (parse_qs(query).get("index") or [default])[0].upper()
    if kind not in INDEX_TYPES:
        raise UserError(f"--index {text}: index={kind} is not one of {', '.join(INDEX_TYPES)}")
    return kind


def _check_name(text: str, name: str) -> None:
    if not _NAME.match(name):
        raise UserError(f"--index {text}: collection name {name!r} must be letters, digits and underscores, "
                        "starting with a letter or underscore")


def is_milvus(spec: str | os.PathLike | None) -> bool:
    return isinstance(parse_location(spec), MilvusLocation)


__all__ = ["DEFAULT_COLLECTION", "MilvusLocation", "is_milvus", "parse_location"]
