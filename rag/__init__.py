"""article-rag: question answering over news articles with verified, verbatim citations.

    import rag
    index = rag.Index.open("index/")
    index.add(["seeds/"])
    hits = index.search("Bulgaria Russia intelligence", k=5)
    answer = index.ask("What did Bulgaria claim about Russia?")

Heavy libraries (torch, faiss, sentence-transformers) load on first use, so importing rag is quick.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    AuthenticationError, IndexCorruptError, IndexLockedError, IndexMismatchError, IndexNotFoundError,
    IngestError, MissingDependencyError, ModelCrashedError, ModelError, ModelSpecError, ModelTimeoutError,
    ModelUnavailableError,
    QueryError, RagError, TestSetError, UserError,
)
from .defaults import DEFAULT_K, REFUSAL  # noqa: E402
from .schema import Answer, AnswerSentence, Article, Chunk, Citation, Hit, IndexReport, Skipped  # noqa: E402
from .redact import redact  # noqa: E402


def __getattr__(name: str):
    # Index pulls in numpy; keep `import rag` light until it is used.
    if name in ("Index", "ArticleInfo", "origin_file"):
        from . import index

        return getattr(index, name)
    if name in ("get_model", "register_provider", "providers"):
        from .providers import base

        return getattr(base, name)
    if name == "known_models":
        from .providers.gguf import known_models

        return known_models
    if name == "model_load_state":
        from .providers import warmup

        return warmup.state
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


__all__ = [
    "Index", "ArticleInfo", "Answer", "AnswerSentence", "Article", "Chunk", "Citation", "Hit", "IndexReport",
    "Skipped", "get_model", "register_provider", "providers", "known_models", "model_load_state", "origin_file", "DEFAULT_K", "REFUSAL",
    "__version__", "redact",
    "RagError", "UserError", "IndexNotFoundError", "IndexMismatchError", "QueryError", "ModelSpecError",
    "MissingDependencyError", "TestSetError", "IndexLockedError", "IndexCorruptError", "IngestError", "ModelError",
    "ModelUnavailableError", "AuthenticationError", "ModelTimeoutError", "ModelCrashedError",
]
