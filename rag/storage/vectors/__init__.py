"""The FAISS backend's vector side: index kinds (faiss_index.py) and the per-generation file lifecycle
(generations.py). `faiss` is imported nowhere else in rag."""

from .faiss_index import FLAT_MAX, VectorIndex, dense_search, faiss_version, ivf_nlist
from .generations import VectorFiles, VectorPolicy

__all__ = ["FLAT_MAX", "VectorIndex", "VectorFiles", "VectorPolicy", "dense_search", "faiss_version", "ivf_nlist"]
