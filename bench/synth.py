"""Deterministic synthetic indexes for scale tests: seeded random articles, written straight through rag.store.

    python bench/synth.py --chunks 100000 --out bench/cache/synth-100k
    python bench/synth.py --chunks 1000000 --out bench/cache/synth-1m

Nothing is embedded (1M chunks would take days here). Instead:
- Text: words drawn from a Zipfian vocabulary (exponent 1.07 over ranks). The top ranks are real English function
  words (so stop-word handling and FTS5 posting-list lengths behave as in news text); the rest are pronounceable
  pseudo-words. Each article also draws ~25% of its words from its topic's own words, as news does.
- Chunks: sentence-aligned windows of ~150 words (~200 cl100k tokens) with ~36 words of overlap, exact offsets.
- Vectors: unit vectors with the geometry of MiniLM news embeddings, measured on MultiHop-RAG (random pairs
  cos ~0.13, adjacent chunks of one article ~0.79): topic centre = unit(0.6*m + g), article = unit(centre + 0.8*g),
  chunk = unit(article + 0.55*g), g ~ N(0, I/d). Structure matters: on structureless random vectors no ANN index
  reaches useful recall, and real embeddings are far from structureless.
`queries(...)` gives query vectors (unit(chunk + 1.3*g): cos ~0.6 to their chunk, like a question to its evidence)
and keyword queries drawn from the same text model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.retrieval import STOPWORDS  # noqa: E402
from rag.schema import Article, Chunk  # noqa: E402

DIM = 384
VOCAB = 60_000
ZIPF_S = 1.07
N_TOPICS = 3_000
TOPIC_WORDS = 150
N_OUTLETS = 60
WORDS_PER_CHUNK = 150
OVERLAP_WORDS = 36
CHUNKS_PER_ARTICLE = (6, 24)     # MultiHop-RAG averages ~15 chunks of ~200 tokens per article
MU, ALPHA, BETA, QUERY_NOISE = 0.6, 0.8, 0.55, 1.3

# Most frequent English words first (rough news-text order), then the rest of rag's stop words.
_TOP = ("the of and to a in is that for it on was with as he be by at are from his this have an said not but they "
        "has were which will or its had their been who more would after about new year one people two also first "
        "time last state company government").split()
_FUNCTION_WORDS = list(dict.fromkeys(_TOP + sorted(STOPWORDS)))
_ONSETS = "b c d f g h j k l m n p r s t v w z br ch cl cr dr fl fr gl gr kr pl pr sh sk sl sp st str th tr".split()
_VOWELS = "a e i o u ai ea ee ie oo ou".split()
_CODAS = ["", "", "n", "r", "s", "t", "l", "m", "nd", "rk", "st", "ng", "x"]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@dataclass
class World:
    """Everything the generator derives from the seed: vocabulary, topics, outlets and their geometry."""

    vocab: list[str]
    cdf: np.ndarray                  # Zipfian CDF over vocab ranks
    topic_words: np.ndarray          # (N_TOPICS, TOPIC_WORDS) vocab ids
    topic_cdf: np.ndarray            # topic popularity (Zipfian)
    centres: np.ndarray              # (N_TOPICS, DIM)
    outlets: list[str]
    outlet_cdf: np.ndarray

    @classmethod
    def make(cls, seed: int = 0) -> "World":
        rng = np.random.default_rng(seed)
        words: dict[str, None] = dict.fromkeys(_FUNCTION_WORDS)
        while len(words) < VOCAB:
            # vectorised draws (per-word rng calls take ~30 s for 60k words)
            n_syl = rng.choice([1, 2, 2, 3, 3, 4], size=VOCAB)
            on = rng.integers(0, len(_ONSETS), size=(VOCAB, 4))
            vo = rng.integers(0, len(_VOWELS), size=(VOCAB, 4))
            co = rng.integers(0, len(_CODAS), size=VOCAB)
            for i in range(VOCAB):
                w = "".join(_ONSETS[on[i, j]] + _VOWELS[vo[i, j]] for j in range(n_syl[i])) + _CODAS[co[i]]
                words.setdefault(w, None)
                if len(words) >= VOCAB:
                    break
        vocab = list(words)
        weights = 1.0 / np.arange(1, VOCAB + 1) ** ZIPF_S
        cdf = np.cumsum(weights / weights.sum())
        topic_words = rng.integers(300, VOCAB, size=(N_TOPICS, TOPIC_WORDS))
        tw = 1.0 / np.arange(1, N_TOPICS + 1) ** 0.8
        m = _unit(rng.standard_normal(DIM))
        centres = _unit(MU * m + rng.standard_normal((N_TOPICS, DIM)) / np.sqrt(DIM))
        outlets = []
        for i in range(N_OUTLETS):
            a, b = rng.integers(2000, VOCAB, 2)
            outlets.append(f"The {vocab[a].capitalize()} {vocab[b].capitalize()}" if i % 3 else
                           f"{vocab[a].capitalize()}{vocab[b].capitalize()}.com")
        ow = 1.0 / np.arange(1, N_OUTLETS + 1) ** 1.0
        return cls(vocab, cdf, topic_words, np.cumsum(tw / tw.sum()), centres, outlets, np.cumsum(ow / ow.sum()))

    def words(self, rng: np.random.Generator, n: int, topic: int) -> list[str]:
        ids = np.searchsorted(self.cdf, rng.random(n))
        own = rng.random(n) < 0.25
        # topic words are Zipfian within the topic too
        k = np.minimum((rng.pareto(1.2, own.sum()) * 3).astype(int), TOPIC_WORDS - 1)
        ids[own] = self.topic_words[topic, k]
        return [self.vocab[i] for i in ids]


def make_article(world: World, rng: np.random.Generator, n: int) -> tuple[Article, list[Chunk], np.ndarray]:
    """Article n: text, sentence-aligned chunks with overlap, and one vector per chunk."""
    topic = int(np.searchsorted(world.topic_cdf, rng.random()))
    outlet = world.outlets[int(np.searchsorted(world.outlet_cdf, rng.random()))]
    n_chunks = int(rng.integers(*CHUNKS_PER_ARTICLE))
    n_words = WORDS_PER_CHUNK + (n_chunks - 1) * (WORDS_PER_CHUNK - OVERLAP_WORDS)
    words = world.words(rng, n_words, topic)
    # sentences of 8-28 words
    sentences, i = [], 0
    while i < len(words):
        L = int(rng.integers(8, 29))
        s = words[i : i + L]
        sentences.append(s[0].capitalize() + (" " + " ".join(s[1:]) if len(s) > 1 else "") + ".")
        i += L
    text, spans, pos = [], [], 0
    for s in sentences:
        text.append(s)
        spans.append((pos, pos + len(s), s.count(" ") + 1))
        pos += len(s) + 1
    body = " ".join(text)
    chunks: list[Chunk] = []
    a = 0
    while a < len(spans):
        b, total = a, 0
        while b < len(spans) and (b == a or total + spans[b][2] <= WORDS_PER_CHUNK):
            total += spans[b][2]
            b += 1
        start, end = spans[a][0], spans[b - 1][1]
        chunks.append(Chunk(f"syn{n}", len(chunks), start, end, body[start:end], int(total * 4 / 3)))
        if b >= len(spans):
            break
        back, k = 0, b
        while k - 1 > a and back + spans[k - 1][2] <= OVERLAP_WORDS:
            k -= 1
            back += spans[k][2]
        a = k
    title_words = world.words(rng, int(rng.integers(5, 11)), topic)
    title = " ".join(w.capitalize() for w in title_words)
    day = 1 + int(rng.integers(0, 122))  # Sept-Dec 2023, like MultiHop-RAG
    month, dom = (9, day) if day <= 30 else (10, day - 30) if day <= 61 else (11, day - 61) if day <= 91 else (12, day - 91)
    published = f"2023-{month:02d}-{dom:02d}T{int(rng.integers(0, 24)):02d}:00:00+00:00"
    art_vec = _unit(world.centres[topic] + ALPHA * rng.standard_normal(DIM) / np.sqrt(DIM))
    vecs = _unit(art_vec + BETA * rng.standard_normal((len(chunks), DIM)) / np.sqrt(DIM))
    h = hashlib.sha256(f"{title}\n{outlet}\n{published}\n{body}".encode()).hexdigest()
    art = Article(f"syn{n}", title, body, outlet, "", published, f"https://example.org/syn/{n}", f"synthetic#{n}", h)
    return art, chunks, vecs


def manifest() -> dict:
    import faiss

    from rag import __version__
    from rag.embedding import DEFAULT_EMBEDDER
    from rag.index import EMBED_TEXT_VERSION
    from rag.tokens import TOKENIZER_NAME

    # The real embedder's identity, so rag.Index opens it and embeds queries with MiniLM (for latency only).
    return {"embedder": DEFAULT_EMBEDDER, "dim": DIM, "embedder_precision": "fp32", "tokenizer": TOKENIZER_NAME,
            "chunk_tokens": 200, "overlap_tokens": 48, "embed_text_version": EMBED_TEXT_VERSION,
            "library_version": __version__, "faiss_version": faiss.__version__, "synthetic": True}


def generate(out: Path, n_chunks: int, *, seed: int = 0, commit_every: int = 20_000, log=print) -> dict:
    """Write articles until the index holds at least `n_chunks` chunks. Deterministic for (seed, n_chunks)."""
    from rag.storage import Store

    world = World.make(seed)
    rng = np.random.default_rng(seed + 1)
    store = Store.open(out, manifest=manifest(), create=True)
    if store.counts()[1]:
        raise SystemExit(f"{out} already holds chunks; delete it first")
    t0 = time.perf_counter()
    total, n, pending = 0, 0, 0
    with store.writer() as w:
        while total < n_chunks:
            art, chunks, vecs = make_article(world, rng, n)
            w.put_article(art, chunks, vecs)
            n += 1
            total += len(chunks)
            pending += len(chunks)
            if pending >= commit_every:
                w.commit()
                pending = 0
                log(f"{total:,} chunks, {n:,} articles, {time.perf_counter() - t0:.0f} s")
        w.commit()
        t_sql = time.perf_counter() - t0
    # leaving the writer built the vector index (its kind chosen by size) and wrote its file
    t_all = time.perf_counter() - t0
    stats = {"chunks": total, "articles": n, "seed": seed, "sqlite_write_s": round(t_sql, 1),
             "vector_build_s": round(t_all - t_sql, 1), "kind": store.vectors().kind,
             "db_bytes": sum(p.stat().st_size for p in out.glob("index.sqlite3*")),
             "faiss_bytes": sum(p.stat().st_size for p in out.glob("vectors.*.faiss"))}
    store.close()
    (out.parent / f"{out.name}.json").write_text(json.dumps(stats, indent=2))
    return stats


def queries(n: int, *, seed: int = 0, n_chunks_hint: int = 100_000, index_seed: int = 0,
            store=None) -> tuple[list[str], np.ndarray]:
    """n keyword queries and n query vectors, both deterministic.

    Text queries: 3-6 words of a random generated article (a mix of its topic words and common words) plus, for
    one query in five, "according to <outlet>" and for one in ten a date, so routed sub-searches are exercised.
    Vectors: noisy copies of random chunk vectors of `store` (when given), else of fresh articles.
    """
    world = World.make(index_seed)
    rng = np.random.default_rng(10_000 + seed)
    texts = []
    for i in range(n):
        art, chunks, _ = make_article(world, rng, 10_000_000 + i)
        words = [w for w in chunks[0].text.replace(".", "").split() if w.lower() not in STOPWORDS]
        pick = rng.choice(len(words), size=min(len(words), int(rng.integers(3, 7))), replace=False)
        q = "What about " + " ".join(words[j].lower() for j in sorted(pick))
        if i % 5 == 0:
            q += f" according to {art.source}"
        if i % 10 == 3:
            q += f" on {art.published_at[:10]}"
        texts.append(q + "?")
    if store is not None:
        n_total = store.counts()[1]
        ids = rng.integers(1, n_total + 1, size=n)
        got, base = store.vectors_by_id(np.unique(ids))
        base = base[rng.integers(0, len(base), size=n)]
    else:
        base = np.stack([make_article(world, rng, 20_000_000 + i)[2][0] for i in range(n)])
    vecs = _unit(base + QUERY_NOISE * rng.standard_normal(base.shape) / np.sqrt(DIM))
    return texts, vecs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    stats = generate(args.out, args.chunks, seed=args.seed, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
