"""Every error article-rag raises on purpose, in one tree.

    RagError                      base: anything the library raises deliberately
    ├── UserError                 the caller asked for something that cannot work; the message says how to fix it
    │   ├── IndexNotFoundError    no index at that path (build one with `rag index PATH`)
    │   ├── IndexMismatchError    index built with another embedder, tokenizer or format version
    │   ├── QueryError            empty, overlong or otherwise unusable question or query
    │   ├── ModelSpecError        unknown provider or model name in a SPEC string
    │   ├── MissingDependencyError an optional extra is not installed (names the extra)
    │   └── TestSetError          an evaluation test set that cannot be read
    ├── IndexLockedError          another process is writing to the index
    ├── IndexCorruptError         the files on disk do not agree and cannot be repaired automatically
    ├── IngestError               one input cannot be turned into an article (becomes a `skipped` entry)
    └── ModelError                a model failed while answering
        ├── ModelUnavailableError server down, model file missing
        ├── AuthenticationError   the server refused the API key
        ├── ModelTimeoutError     no answer in time
        └── ModelCrashedError     the model's worker process died (a signal such as SIGILL, or the OOM killer)

The CLI prints `error: <message>` (one line, no traceback) for every RagError and exits non-zero.
Messages say what happened and what to do about it.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error raised on purpose by article-rag."""


class UserError(RagError):
    """The request cannot work as given; the message says how to fix it."""


class IndexNotFoundError(UserError):
    pass


class IndexMismatchError(UserError):
    pass


class QueryError(UserError):
    pass


class ModelSpecError(UserError):
    pass


class MissingDependencyError(UserError):
    def __init__(self, package: str, extra: str, purpose: str = ""):
        self.package = package
        self.extra = extra
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"{package} is needed{what} but is not installed; "
            f"install it with: pip install 'article-rag[{extra}]'"
        )


class TestSetError(UserError):
    __test__ = False  # not a pytest class


class IndexLockedError(RagError):
    pass


class IndexCorruptError(RagError):
    pass


class IngestError(RagError):
    """One input could not be ingested; str(err) is the one-line reason."""


class ModelError(RagError):
    pass


class ModelUnavailableError(ModelError):
    pass


class AuthenticationError(ModelError):
    pass


class ModelTimeoutError(ModelError):
    pass


class ModelCrashedError(ModelError):
    """The process running a local model died; the caller keeps running and the next request starts a new one."""
