"""One checklist for every backend of the store contract (rag/storage/base.py), txtai's `runTests` shape: the
exact NumPy reference, the embedded SQLite + FAISS store with a flat index, and the same with an IVF index (its
threshold lowered so that 600 chunks cross it); Milvus through an embedded Milvus Lite file and through a loopback
`milvus-lite server` (the stand-in for a cluster). Synthetic clustered unit vectors; no model is loaded."""

from __future__ import annotations

import hashlib
import importlib.util

import numpy as np
import pytest

from rag.schema import Article, Chunk
from rag.storage import ChunkStore, ExactStore, Filters, Store, VectorPolicy
from rag.storage.location import parse_location

from bench.harness.milvus import milvus_server

HAS_MILVUS = importlib.util.find_spec("pymilvus") is not None and importlib.util.find_spec("milvus_lite") is not None
needs_milvus = pytest.mark.skipif(not HAS_MILVUS, reason="Milvus backend: pip install 'article-rag[milvus]'")
KINDS = ["exact", "faiss-flat", "faiss-ivf", pytest.param("milvus-lite", marks=needs_milvus),
         pytest.param("milvus-server", marks=needs_milvus)]

DIM = 32
N_ARTICLES, PER = 60, 10
MANIFEST = {"embedder": "test/synthetic", "dim": DIM, "tokenizer": "cl100k_base", "chunk_tokens": 200,
            "overlap_tokens": 48}
DATES = ["2023-10-01", "2023-10-02T08:30:00+00:00", "2023-10-05", "2023-11-20"]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _corpus(seed: int = 0):
    """Articles of chunks 'w{i}x{j} common' with vectors clustered by topic; 3 outlets, one rare outlet."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((12, DIM)))
    out = []
    for i in range(N_ARTICLES):
        art = _unit(centres[i % 12] + 0.8 * rng.standard_normal(DIM) / np.sqrt(DIM))
        pieces = [f"w{i}x{j} common" for j in range(PER)]
        chunks, pos = [], 0
        for j, piece in enumerate(pieces):
            chunks.append(Chunk(f"a{i}", j, pos, pos + len(piece), piece, 2))
            pos += len(piece) + 1
        source = "Rare Outlet" if i == 7 else f"Outlet {i % 3}"
        a = Article(f"a{i}", f"title {i}", " ".join(pieces), source, "", DATES[i % len(DATES)], "", f"x#{i}",
                    f"h{i}")
        out.append((a, chunks, _unit(art + 0.55 * rng.standard_normal((PER, DIM)) / np.sqrt(DIM))))
    return out


CORPUS = _corpus()
ARTICLES = {a.id: a for a, _, _ in CORPUS}


def _open(kind: str, root, create: bool = True, server: str = "") -> ChunkStore:
    if kind == "exact":
        return ExactStore.open(root, dim=DIM, manifest=MANIFEST)
    if kind.startswith("milvus"):
        from rag.storage.milvus.store import MilvusStore

        if kind == "milvus-lite":
            root.mkdir(parents=True, exist_ok=True)
            uri = f"milvus-lite://{root}/store.db"
        else:  # one server for the module, one collection per test
            uri = f"milvus://{server}/t{hashlib.sha1(str(root).encode()).hexdigest()[:12]}"
        return MilvusStore.open(parse_location(uri), manifest=MANIFEST if create else None, create=create)
    policy = VectorPolicy(flat_max=100 if kind == "faiss-ivf" else VectorPolicy().flat_max)
    return Store.open(root, manifest=MANIFEST if create else None, create=create, policy=policy)


def _fill(store: ChunkStore) -> None:
    for a, chunks, vecs in CORPUS:
        store.upsert(a, chunks, vecs)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not HAS_MILVUS:
        yield ""
        return
    with milvus_server(tmp_path_factory.mktemp("milvus")) as address:
        yield address


@pytest.fixture(params=KINDS)
def backend(request, tmp_path):
    kind = request.param
    address = request.getfixturevalue("server") if kind == "milvus-server" else ""
    store = _open(kind, tmp_path / "store", server=address)
    _fill(store)
    if kind.startswith("faiss"):
        assert store.vectors().kind == kind.split("-")[1]  # the kind this case claims to test
    yield kind, store, tmp_path / "store", address
    store.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    store = ExactStore.open(tmp_path_factory.mktemp("ref"), dim=DIM)
    _fill(store)
    return store


def _queries(n: int, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = [CORPUS[i][2][j] for i, j in zip(rng.integers(0, N_ARTICLES, n), rng.integers(0, PER, n))]
    return _unit(np.stack(picks) + rng.standard_normal((n, DIM)) / np.sqrt(DIM))  # near the data, as questions are


def _keys(store: ChunkStore, results) -> list[tuple[str, int]]:
    """Results as (article id, start): comparable across backends, whatever their chunk ids."""
    where = store.locate([c for c, _ in results])
    return [(where[c][0], where[c][1]) for c, _ in results]


def test_count_and_record(backend):
    _, store, *_ = backend
    assert store.count() == N_ARTICLES * PER
    record = store.record()
    assert record["dim"] == DIM and record["embedder"] == "test/synthetic" and record["backend"]


def test_delete_by_article(backend):
    _, store, *_ = backend
    q = CORPUS[3][2][0]
    assert _keys(store, store.dense_search(q, 1))[0][0] == "a3"
    assert store.delete("a3") == PER
    assert store.delete("a3") == 0 and store.delete("no-such-article") == 0
    assert store.count() == (N_ARTICLES - 1) * PER
    assert all(aid != "a3" for aid, _ in _keys(store, store.dense_search(q, N_ARTICLES * PER)))
    assert store.keyword_search(["w3x0"], 10) == []


def test_upsert_replaces_an_article(backend):
    _, store, *_ = backend
    a, chunks, vecs = CORPUS[4]
    old = {c for c, _ in store.keyword_search(["w4x0", "w4x9"], 10)}
    new_ids = store.upsert(a, chunks[:3], vecs[:3])
    assert len(new_ids) == 3 and not old & set(new_ids)
    assert store.count() == N_ARTICLES * PER - (PER - 3)
    assert store.keyword_search(["w4x9"], 10) == []
    assert {c for c, _ in store.keyword_search(["w4x0"], 10)} <= set(new_ids)


@pytest.mark.parametrize("f", [
    Filters(sources=("Rare Outlet",)),
    Filters(sources=("Outlet 1", "Rare Outlet")),
    Filters(date_from="2023-10-02", date_to="2023-10-05"),
    Filters(date_to="2023-10-02"),          # a bare date includes that whole day (a timestamped article)
    Filters(dates=("2023-10-02",)),
    Filters(sources=("Outlet 0",), dates=("2023-11-20", "2023-10-01")),
])
def test_filters_are_exact(backend, f):
    _, store, *_ = backend
    passing = {(a.id, c.start) for a, chunks, _ in CORPUS if f.admits(a.source, a.published_at) for c in chunks}
    assert passing  # each case selects something
    everything = N_ARTICLES * PER
    for q in _queries(3):
        got = _keys(store, store.dense_search(q, everything, f))
        assert set(got) == passing and len(got) == len(passing)  # all of them, nothing else: exact under filters
        top = store.dense_search(q, 5, f)
        assert set(_keys(store, top)) <= passing and len(top) == min(5, len(passing))
    got = _keys(store, store.keyword_search(["common"], everything, f))
    assert set(got) == passing and len(got) == len(passing)


def test_k_larger_than_count(backend):
    _, store, *_ = backend
    n = store.count()
    dense = store.dense_search(_queries(1)[0], n * 3)
    assert len(dense) == n and len({c for c, _ in dense}) == n
    scores = [s for _, s in dense]
    assert scores == sorted(scores, reverse=True)
    keyword = store.keyword_search(["common"], n * 3)
    assert len(keyword) == n and len({c for c, _ in keyword}) == n
    assert store.dense_search(_queries(1)[0], 0) == []


def test_keyword_search_finds_the_rare_term_first(backend):
    _, store, *_ = backend
    for i, j in [(0, 0), (17, 4), (59, 9)]:
        hits = store.keyword_search([f"w{i}x{j}", "common"], 5)
        assert _keys(store, hits[:1]) == [(f"a{i}", CORPUS[i][1][j].start)]
    assert store.keyword_search(["absent"], 5) == []


def test_persist_and_reopen(backend):
    kind, store, root, address = backend
    qs = _queries(5)
    before = [_keys(store, store.dense_search(q, 10)) for q in qs]
    store.persist()
    store.close()
    again = _open(kind, root, create=False, server=address)
    try:
        assert again.count() == N_ARTICLES * PER
        assert [_keys(again, again.dense_search(q, 10)) for q in qs] == before
        assert again.record()["dim"] == DIM
    finally:
        again.close()


def test_recall_against_the_exact_backend(backend, reference):
    kind, store, *_ = backend
    recalls = []
    for q in _queries(40, seed=11):
        want = set(_keys(reference, reference.dense_search(q, 10)))
        got = set(_keys(store, store.dense_search(q, 10)))
        recalls.append(len(want & got) / 10)
    # flat and the reference are both exact; IVF probes a quarter of its lists here
    assert np.mean(recalls) >= (0.99 if kind != "faiss-ivf" else 0.9), np.mean(recalls)


def test_articles_sources_and_generation(backend):
    _, store, *_ = backend
    got = store.get_articles(["a7", "a8", "missing"])
    assert set(got) == {"a7", "a8"} and got["a7"] == ARTICLES["a7"]
    assert store.sources() == [("Outlet 0", 20), ("Outlet 1", 19), ("Outlet 2", 20), ("Rare Outlet", 1)]
    before = store.generation()
    store.delete("a8")
    assert store.generation() > before


def test_the_retriever_runs_on_the_backend(backend):
    from rag.retrieval import RetrievalConfig, Retriever

    _, store, *_ = backend
    target = CORPUS[5][2][2]  # the vector of chunk 2 of article a5
    retriever = Retriever(store, lambda _q: target, RetrievalConfig())
    hits = retriever.search("w5x2 common", k=3)
    assert hits[0].article.id == "a5" and hits[0].text == "w5x2 common"
    assert hits[0].text == hits[0].article.text[hits[0].start:hits[0].end]
    rare = retriever.search("common", k=20, sources=["Rare Outlet"])
    assert {h.article.id for h in rare} == {"a7"} and len(rare) == PER
