"""The value objects that flow through the pipeline. All frozen: they are shared between threads and sessions."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Article:
    """One cleaned article. Every offset in the system points into `text`."""

    id: str
    title: str
    text: str
    source: str = ""          # the outlet, e.g. "The Verge"
    author: str = ""
    published_at: str = ""    # ISO 8601 ("2023-10-05" or "2023-10-05T14:00:00+00:00"); "" when unknown
    url: str = ""
    origin: str = ""          # where it came from: a file path, "path#3" for the 4th record of a JSON file
    content_hash: str = ""    # sha256 of title + metadata + text; decides unchanged vs updated


@dataclass(frozen=True)
class Skipped:
    """An input that was not indexed, and why (one line, no traceback)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Chunk:
    """A window of an article's text: `article.text[start:end] == text`."""

    article_id: str
    ordinal: int
    start: int
    end: int
    text: str
    n_tokens: int
    id: int = -1              # assigned by the store


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk. `text` is verbatim article text, `article.text[start:end]`."""

    chunk_id: int
    article: Article
    text: str
    start: int
    end: int
    score: float
    rank: int = 0
    signals: dict = field(default_factory=dict, compare=False)  # per-retriever ranks/scores, for explanations


@dataclass(frozen=True)
class Citation:
    """A numbered pointer from the answer to a verbatim excerpt: `article.text[start:end] == excerpt`."""

    n: int
    article: Article
    excerpt: str
    start: int
    end: int
    score: float = 0.0
    chunk_id: int = -1


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer with the citations that support it; `supported` is False when nothing does."""

    text: str
    citations: tuple[int, ...] = ()
    supported: bool = True


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    model: str = "extractive"
    query: str = ""                      # the standalone query actually searched (follow-ups are rewritten)
    sentences: tuple[AnswerSentence, ...] = ()
    hits: tuple[Hit, ...] = ()           # passages retrieved; for refusals, the closest ones
    notes: tuple[str, ...] = ()          # what was searched ("searched 2025-10-13 to 2025-10-20"), shown to the user
    timings_ms: dict = field(default_factory=dict, compare=False)
    # Set when a generative model's answer had no supported sentence: `text` is then the verified extractive
    # answer, `note` says so in words, and `unverified` keeps the model's unchecked text (never shown as the answer).
    note: str = ""
    unverified: str = ""


@dataclass(frozen=True)
class IndexReport:
    """What `Index.add` did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_embedded: int = 0
    skipped: tuple[Skipped, ...] = ()

    def to_json(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "chunks_embedded": self.chunks_embedded,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }
