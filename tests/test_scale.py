"""The size-dependent vector index (exact flat below FLAT_MAX, IVF above) on small synthetic data, with the
thresholds lowered so that a few thousand vectors cross them. No model is loaded; no timing is asserted."""

from __future__ import annotations

import numpy as np
import pytest

from rag.schema import Article, Chunk
from rag.storage import Filters, Store, VectorPolicy
from rag.storage.vectors import VectorIndex, dense_search, ivf_nlist

DIM = 32
SMALL = VectorPolicy(flat_max=1_000, save_min_delta=50)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _articles(n_articles: int, per: int, seed: int = 0, prefix: str = "a"):
    """Clustered unit vectors (topics -> articles -> chunks), like real embeddings; 3 outlets and a rare one."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((20, DIM)))
    for i in range(n_articles):
        art_vec = _unit(centres[i % 20] + 0.8 * rng.standard_normal(DIM) / np.sqrt(DIM))
        text = " ".join(f"w{i}x{j} common" for j in range(per))
        chunks, pos = [], 0
        for j in range(per):
            piece = f"w{i}x{j} common"
            chunks.append(Chunk(f"{prefix}{i}", j, pos, pos + len(piece), piece, 2))
            pos += len(piece) + 1
        vecs = _unit(art_vec + 0.55 * rng.standard_normal((per, DIM)) / np.sqrt(DIM))
        source = "Rare Outlet" if i == 7 else f"Outlet {i % 3}"
        yield Article(f"{prefix}{i}", f"title {i}", text, source, "", "2024-01-01", "", f"x#{i}",
                      f"h{prefix}{i}"), chunks, vecs


def _open(path, policy: VectorPolicy = SMALL) -> Store:
    return Store.open(path, manifest={"embedder": "test/synthetic", "dim": DIM, "tokenizer": "cl100k_base",
                                      "chunk_tokens": 200, "overlap_tokens": 48}, create=True, policy=policy)


def _reopen(path, policy: VectorPolicy = SMALL) -> Store:
    return Store.open(path, create=False, policy=policy)


def _fill(store: Store, n_articles: int, per: int = 10, **kw) -> None:
    with store.writer() as w:
        for i, (a, chunks, vecs) in enumerate(_articles(n_articles, per, **kw)):
            w.put_article(a, chunks, vecs)
            if i % 50 == 49:
                w.commit()
        w.commit()


def _sqlite_ids(store: Store) -> set[int]:
    return {r[0] for r in store.conn.execute("SELECT id FROM chunks")}


def _exact(store: Store, q: np.ndarray, k: int) -> np.ndarray:
    ids, vecs = [], []
    for i, v in store.iter_vectors():
        ids.append(i)
        vecs.append(v)
    ids, vecs = np.concatenate(ids), np.concatenate(vecs)
    return ids[np.argsort(-(vecs @ q.T), axis=0)[:k].T]


def test_small_index_is_exact_flat(tmp_path):
    store = _open(tmp_path / "idx")
    _fill(store, 50)  # 500 chunks < FLAT_MAX
    vi = store.vectors()
    assert vi.kind == "flat" and vi.ntotal == 500
    assert set(vi.ids().tolist()) == _sqlite_ids(store)


def test_large_index_switches_to_ivf_with_high_recall(tmp_path):
    store = _open(tmp_path / "idx")
    _fill(store, 400)  # 4,000 chunks >= FLAT_MAX
    vi = store.vectors()
    assert vi.kind == "ivf" and vi.ntotal == 4_000
    assert vi.index.nlist == ivf_nlist(4_000)
    assert set(vi.ids().tolist()) == _sqlite_ids(store)
    # the file written when the writer finished is an IVF index for the current generation
    files = store.vector_files.files()
    assert files and files[0][0] == store.generation()
    assert VectorIndex.read(files[0][1]).kind == "ivf"
    # recall@10 against exact search on queries near the data (as questions are near their evidence)
    rng = np.random.default_rng(7)
    _, base = store.vectors_by_id(rng.integers(1, 4_001, size=100))
    q = _unit(base + rng.standard_normal(base.shape) / np.sqrt(DIM))  # cos ~0.7 to its chunk
    exact = _exact(store, q, 10)
    _, got = vi.search(q, 10)
    recall = np.mean([len(set(g) & set(e)) / 10 for g, e in zip(got, exact)])
    assert recall >= 0.9


def test_ivf_filtered_search(tmp_path):
    store = _open(tmp_path / "idx")
    _fill(store, 400)
    vi = store.vectors()
    rng = np.random.default_rng(3)
    _, base = store.vectors_by_id(rng.integers(1, 4_001, size=50))
    qs = _unit(base + rng.standard_normal(base.shape) / np.sqrt(DIM))

    def filtered(allowed: np.ndarray, q: np.ndarray) -> tuple[list[int], list[int]]:
        got = [c for c, _ in dense_search(vi, q, 10, allowed)]
        ids, vecs = store.vectors_by_id(allowed)
        return got, ids[np.argsort(-(vecs @ q))[:10]].tolist()

    # a rare outlet (10 of 4,000 chunks): every list is scanned, so the result is exact
    rare = store.chunk_ids_where(Filters(sources=("Rare Outlet",)))
    assert len(rare) == 10 and vi.filtered_nprobe(vi.selector(rare), 10) == vi.index.nlist
    for q in qs[:5]:
        got, expect = filtered(rare, q)
        assert got == expect
    # a third of the index: no fewer lists than unfiltered, only allowed ids, recall like an unfiltered search
    third = store.chunk_ids_where(Filters(sources=("Outlet 1",)))
    assert vi.nprobe <= vi.filtered_nprobe(vi.selector(third), 10) <= vi.index.nlist
    allowed, recalls = set(third.tolist()), []
    for q in qs:
        got, expect = filtered(third, q)
        assert set(got) <= allowed
        recalls.append(len(set(got) & set(expect)) / 10)
    assert np.mean(recalls) >= 0.9


def test_removal_and_updates_reach_a_fresh_open(tmp_path):
    path = tmp_path / "idx"
    store = _open(path)
    _fill(store, 400)
    store.vectors()
    with store.writer() as w:
        w.delete_article("a5")
        w.commit()
    assert set(store.vectors().ids().tolist()) == _sqlite_ids(store)
    # another process adds a little: the file on disk is left stale on purpose and caught up by id on open
    other = _reopen(path)
    _fill(other, 3, prefix="b")
    assert other.vector_files.loaded is None  # that writer never loaded the index
    other.close()
    fresh = _reopen(path)
    assert fresh.vector_files.files()[0][0] < fresh.generation()
    vi = fresh.vectors()
    assert set(vi.ids().tolist()) == _sqlite_ids(fresh)
    # and the already-open store catches up in memory too
    assert set(store.vectors().ids().tolist()) == _sqlite_ids(store)


def test_missing_or_damaged_file_is_rebuilt(tmp_path):
    path = tmp_path / "idx"
    store = _open(path)
    _fill(store, 120)
    store.close()
    for _, f in _reopen(path).vector_files.files():
        f.write_bytes(b"not a faiss file")
    fresh = _reopen(path)
    vi = fresh.vectors()
    assert vi.kind == "ivf" and set(vi.ids().tolist()) == _sqlite_ids(fresh)
    assert fresh.vector_files.files()[0][0] == fresh.generation()  # the rebuild was written


def test_shrinking_far_below_the_threshold_goes_back_to_flat(tmp_path):
    store = _open(tmp_path / "idx")
    _fill(store, 200)  # 2,000 chunks: IVF
    assert store.vectors().kind == "ivf"
    with store.writer() as w:
        for i in range(170):  # leaves 300 < FLAT_MAX // 2
            w.delete_article(f"a{i}")
        w.commit()
    vi = store.vectors()
    assert vi.kind == "flat" and set(vi.ids().tolist()) == _sqlite_ids(store)


def test_writer_exception_rolls_back_and_frees_the_lock(tmp_path):
    store = _open(tmp_path / "idx")
    _fill(store, 10)
    before = _sqlite_ids(store)
    with pytest.raises(RuntimeError):
        with store.writer() as w:
            a, chunks, vecs = next(_articles(1, 5, prefix="z"))
            w.put_article(a, chunks, vecs)
            raise RuntimeError("boom")
    assert _sqlite_ids(store) == before
    with store.writer(lock_timeout=1) as w:  # not still locked
        w.commit()


def test_ivf_nlist_grows_with_size():
    assert ivf_nlist(50_000) == 1024
    assert ivf_nlist(100_000) == 1024
    assert ivf_nlist(1_000_000) == 4096
    assert ivf_nlist(10) == 64


def test_kind_change_rewrites_the_file_of_the_same_generation(tmp_path):
    path = tmp_path / "idx"
    store = _open(path)
    _fill(store, 50)  # 500 chunks: flat, and its file
    gen = store.generation()
    assert VectorIndex.read(store.faiss_path(gen)).kind == "flat"
    store.close()
    fresh = _reopen(path, VectorPolicy(flat_max=200, save_min_delta=50))  # now 500 chunks call for IVF
    assert fresh.vectors().kind == "ivf"
    # the rebuild replaced the flat file of the same generation, so the next open does not rebuild again
    assert VectorIndex.read(fresh.faiss_path(gen)).kind == "ivf"


def test_a_filters_selector_is_built_once_and_counts_exactly(tmp_path):
    store = _open(tmp_path / "idx")
    _fill(store, 400)
    vi = store.vectors()
    third = store.chunk_ids_where(Filters(sources=("Outlet 1",)))
    assert store.chunk_ids_where(Filters(sources=("Outlet 1",))) is third   # the catalog hands out one array
    sel = vi.selector(third)
    assert vi.selector(third) is sel and sel.count == len(third)
    assert vi.selector(third.copy()) is not sel                            # another array, another selector
    # every allowed id passes the bitmap and nothing else does
    member = np.array([sel.sel.is_member(int(i)) for i in range(int(third.max()) + 64)])
    assert set(np.flatnonzero(member).tolist()) == set(third.tolist())


def test_a_rare_filter_is_searched_exactly_from_a_copy_of_its_vectors(tmp_path, monkeypatch):
    from rag.storage.vectors import faiss_index

    # 3 of the vectors an unfiltered search reads would be every filter of this small index; a lower factor
    # leaves the third of it to the IVF lists, as a big outlet is at 1M chunks
    monkeypatch.setattr(faiss_index, "EXACT_FILTER_READS", 1)
    store = _open(tmp_path / "idx")
    _fill(store, 400)
    vi = store.vectors()
    rare_f, third_f = Filters(sources=("Rare Outlet",)), Filters(sources=("Outlet 1",))
    rare, third = store.chunk_ids_where(rare_f), store.chunk_ids_where(third_f)
    assert len(rare) <= vi.exact_filter_max() < len(third)
    rng = np.random.default_rng(5)
    _, base = store.vectors_by_id(rng.integers(1, 4_001, size=5))
    for q in _unit(base + rng.standard_normal(base.shape) / np.sqrt(DIM)):
        got = store.dense_search(q, 5, rare_f)
        ids, vecs = store.vectors_by_id(rare)
        order = np.argsort(-(vecs @ q))[:5]
        assert [c for c, _ in got] == ids[order].tolist()
        assert np.allclose([s for _, s in got], (vecs @ q)[order], atol=1e-5)
    assert vi.selector(rare).matrix is not None          # the copy, made once for the filter (cached selector)
    store.dense_search(q, 5, third_f)
    assert vi.selector(third).matrix is None             # a big filter stays on the IVF lists
