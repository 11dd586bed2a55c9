"""Token-aware chunks that end on sentence boundaries, overlap, and keep character offsets.

Invariant: for every chunk, `article.text[chunk.start:chunk.end] == chunk.text`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .lexicon import sentence_spans
from .schema import Article, Chunk
from .tokens import count_tokens

DEFAULT_CHUNK_TOKENS = 200
DEFAULT_OVERLAP_TOKENS = 24

@dataclass(frozen=True)
class ChunkSettings:
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS

    def __post_init__(self):
        if self.chunk_tokens < 16:
            raise ValueError("chunk_tokens must be at least 16")
        if not 0 <= self.overlap_tokens < self.chunk_tokens // 2 + 1:
            raise ValueError("overlap_tokens must be between 0 and half of chunk_tokens")


def _units(text: str, max_tokens: int) -> list[tuple[int, int, int]]:
    """Sentences as (start, end, tokens); a sentence longer than a chunk is split at spaces, else hard."""
    units = []
    max_chars = max_tokens * 4  # English averages ~4 chars per cl100k token; a cap, re-measured below
    for s, e in sentence_spans(text):
        if e - s <= max_chars:
            n = count_tokens(text[s:e])
            if n <= max_tokens:
                units.append((s, e, n))
                continue
        units.extend(_split_long(text, s, e, max_tokens))
    return units


def _split_long(text: str, s: int, e: int, max_tokens: int) -> Iterator[tuple[int, int, int]]:
    step = max(16, max_tokens * 3)  # chars; conservative so that pieces fit in a chunk
    while s < e:
        cut = min(e, s + step)
        if cut < e:
            space = text.rfind(" ", s + step // 2, cut)
            if space > s:
                cut = space
        piece_end = cut
        while piece_end > s and text[piece_end - 1].isspace():
            piece_end -= 1
        if piece_end > s:
            yield s, piece_end, count_tokens(text[s:piece_end])
        s = cut
        while s < e and text[s].isspace():
            s += 1


def chunk_text(article_id: str, text: str, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    units = _units(text, settings.chunk_tokens)
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][2] <= settings.chunk_tokens):
            total += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        chunks.append(Chunk(article_id, len(chunks), start, end, text[start:end], total))
        if j >= len(units):
            break
        # step back over whole sentences worth at most `overlap_tokens`, but always move forward
        back, k = 0, j
        while k - 1 > i and back + units[k - 1][2] <= settings.overlap_tokens:
            k -= 1
            back += units[k][2]
        i = k
    return chunks


def chunk_article(article: Article, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    return chunk_text(article.id, article.text, settings)
