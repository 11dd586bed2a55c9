"""The index with real parts: packaged MiniLM, FAISS, SQLite. Small articles written for the tests."""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pytest

import rag
from rag.errors import IndexLockedError, IndexMismatchError, IndexNotFoundError, QueryError, UserError
from rag.retrieval import fts_match, keyword_terms, rrf
from rag.storage import Store

from conftest import DATA, SEEDS


def test_seed_search_top_hit_is_the_intelligence_passage(seed_index):
    hits = seed_index.search("Bulgaria Russia intelligence", k=5)
    assert hits
    assert "foreign intelligence agency" in hits[0].text
    for h in hits:
        assert h.article.text[h.start:h.end] == h.text
        assert h.article.title and h.article.id
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_reindex_embeds_nothing(seed_index):
    report = seed_index.add([SEEDS])
    assert report.chunks_embedded == 0 and report.unchanged == 1 and report.added == 0


def test_all_formats_indexed(small_index_dir):
    index = rag.Index.open(small_index_dir)
    titles = {a.title for a in index.articles()}
    assert {"Lunar probe lands near the south pole", "Dock workers end strike at Port Elliot",
            "Apple harvest hit by late frost", "City council approves cycle lanes",
            "Library reopens after flood repairs"} <= titles
    assert index.stats()["articles"] == 6


def test_update_reembeds_only_changed_article(tmp_path, embedder):
    src = tmp_path / "articles"
    shutil.copytree(DATA / "articles", src)
    index = rag.Index.open(tmp_path / "idx")
    first = index.add([src])
    assert first.added == 6 - 1 and first.chunks_embedded > 0  # 5 articles: md, txt, html, 2 jsonl records
    chunks_before = {a.id: a.chunks for a in index.articles()}
    p = src / "harbour_strike.txt"
    p.write_text(p.read_text() + "\nThe union will hold a meeting on Monday to discuss pensions.\n")
    second = index.add([src])
    assert (second.added, second.updated, second.unchanged) == (0, 1, 4)
    changed = [a for a in index.articles() if "Port Elliot" in a.title][0]
    assert second.chunks_embedded == changed.chunks
    assert sum(chunks_before.values()) - chunks_before[changed.id] + changed.chunks == index.stats()["chunks"]
    hits = index.search("union meeting pensions Monday", k=1)
    assert "pensions" in hits[0].text


def test_remove_and_prune(tmp_path, embedder):
    src = tmp_path / "articles"
    shutil.copytree(DATA / "articles", src)
    index = rag.Index.open(tmp_path / "idx")
    index.add([src])
    lunar = [a for a in index.articles() if "Lunar" in a.title][0]
    index.remove([lunar.id])
    assert all("Lunar" not in a.title for a in index.articles())
    assert all("Aurora" not in h.text for h in index.search("Aurora-3 probe lunar south pole", k=10))
    with pytest.raises(UserError, match="rag list"):
        index.remove(["nope"])
    (src / "harbour_strike.txt").unlink()
    report = index.add([src], prune=True)
    assert report.removed == 1
    assert all("Port Elliot" not in a.title for a in index.articles())
    _assert_sqlite_and_faiss_agree(index.path)


def _assert_sqlite_and_faiss_agree(path):
    store = Store.open(path, create=False)
    ids = {r[0] for r in store.conn.execute("SELECT id FROM chunks")}
    fts = {r[0] for r in store.conn.execute("SELECT rowid FROM chunks_fts")}
    vec = store.vectors()
    faiss_ids = set(int(i) for i in vec.ids())
    assert ids == fts == faiss_ids
    orphans = store.conn.execute("SELECT COUNT(*) FROM chunks WHERE article_id NOT IN (SELECT id FROM articles)").fetchone()[0]
    assert orphans == 0
    store.close()


def test_manifest_records_build_and_mismatch_is_clear(small_index_dir, tmp_path):
    m = json.loads((small_index_dir / "manifest.json").read_text())
    assert m["embedder"] == "sentence-transformers/all-MiniLM-L6-v2" and m["dim"] == 384
    assert m["tokenizer"] == "cl100k_base" and m["format_version"] == 1
    assert {"chunk_tokens", "overlap_tokens", "library_version", "faiss_version"} <= set(m)
    dst = tmp_path / "idx"
    shutil.copytree(small_index_dir, dst)
    conn = sqlite3.connect(dst / "index.sqlite3")
    conn.execute("UPDATE meta SET value=? WHERE key='manifest'", (json.dumps({**m, "embedder": "other/model"}),))
    conn.commit()
    conn.close()
    with pytest.raises(IndexMismatchError, match="other/model"):
        rag.Index.open(dst, embedder="sentence-transformers/all-MiniLM-L6-v2")
    conn = sqlite3.connect(dst / "index.sqlite3")
    conn.execute("UPDATE meta SET value=? WHERE key='manifest'", (json.dumps({**m, "format_version": 99}),))
    conn.commit()
    conn.close()
    with pytest.raises(IndexMismatchError, match="format version"):
        rag.Index.open(dst)


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="rag index"):
        rag.Index.open(tmp_path / "nothing", create=False)


def test_empty_and_overlong_queries(seed_index):
    for q in ("", "   ", "\x00\x01"):
        with pytest.raises(QueryError):
            seed_index.search(q)
    with pytest.raises(QueryError, match="limit"):
        seed_index.search("x " * 5000)
    # FTS5 syntax in user text is treated as words, not operators
    assert seed_index.search('Bulgaria AND "NEAR( OR * -', k=3)


def test_filters_by_outlet_and_date(fresh_index):
    hits = fresh_index.search("library flood cycle lanes council", k=10, sources=["Metro Daily"])
    assert hits and {h.article.source for h in hits} == {"Metro Daily"}
    hits = fresh_index.search("library flood cycle lanes council", k=10, date_from="2024-03-01", date_to="2024-03-31")
    assert hits and all(h.article.published_at.startswith("2024-03") for h in hits)
    assert fresh_index.search("library", k=5, sources=["No Such Outlet"]) == []


def test_fusion_math_and_keyword_query_building():
    fused = rrf([([1, 2, 3], 1.0), ([3, 1], 1.0)], k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert sorted(fused, key=lambda c: -fused[c]) == [1, 3, 2]
    weighted = rrf([([1], 2.0), ([2], 1.0)], k=60)
    assert weighted[1] == pytest.approx(2 * weighted[2])
    assert keyword_terms("What did the Bulgaria say about Russia's spies?") == ["bulgaria", "russia", "spies"]
    assert fts_match(['a"b', "c"]) == '"a""b" OR "c"'


def test_hybrid_beats_each_retriever_alone_on_a_paraphrase(fresh_index):
    # Dense finds the paraphrase ("stoppage" ~ "strike"); keyword finds the exact name. Fusion keeps both.
    hits = fresh_index.search("When did the Port Elliot walkout finish?", k=3)
    assert "Port Elliot" in hits[0].article.title
    assert hits[0].signals["dense"] is not None or hits[0].signals["keyword"] is not None


def test_second_writer_fails_clearly(fresh_index):
    other = rag.Index.open(fresh_index.path)
    with fresh_index.store.writer():
        with pytest.raises(IndexLockedError, match="another process"):
            other.add([DATA / "articles"], lock_timeout=0.3)
    other.close()


def test_faiss_file_missing_or_stale_is_rebuilt_from_sqlite(fresh_index):
    before = [h.chunk_id for h in fresh_index.search("apple frost blossom", k=3)]
    path = fresh_index.path
    fresh_index.close()
    for f in path.glob("vectors.*.faiss"):
        f.unlink()
    again = rag.Index.open(path)
    assert [h.chunk_id for h in again.search("apple frost blossom", k=3)] == before
    assert list(path.glob("vectors.*.faiss"))
    again.close()
