"""Storage: where chunks live. `base.py` is the store contract; `embedded.py` the SQLite + FTS5 + FAISS backend
(catalog.py, keyword.py, writer.py, files.py, vectors/); `exact.py` the exact NumPy reference backend."""

from .base import DEFAULT_FIELD_WEIGHTS, ChunkStore, Filters, fts_header
from .embedded import Store
from .exact import ExactStore
from .files import atomic_replace, atomic_write_bytes
from .vectors import VectorPolicy
from .writer import Writer

__all__ = ["ChunkStore", "DEFAULT_FIELD_WEIGHTS", "ExactStore", "Filters", "Store", "VectorPolicy", "Writer",
           "atomic_replace", "atomic_write_bytes", "fts_header"]
