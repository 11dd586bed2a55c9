"""Readers and writers in separate processes, on a real index.

A reader process searches in a loop while `rag index` adds articles (several commits) and `rag remove` drops some:
every hit must be verbatim article text at its offsets, every listed article complete, and no search may raise.
Two writers at once: the second waits for the first, or fails with IndexLockedError's one clear line; the index
is never corrupted.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import rag
from rag.chunking import chunk_article
from rag.errors import IndexLockedError
from rag.ingest import load
from bench.harness.cli import ROOT, cli_env, popen_cli, run_cli, wait_for
from bench.harness.corpus import write_corpus
from bench.harness.inspection import check_consistent, snapshot

pytestmark = pytest.mark.slow

_READER = textwrap.dedent("""
    import json, os, sys, time, traceback
    import rag
    expected = json.load(open(sys.argv[2]))          # article id -> {"text": ..., "chunks": n}
    stop = sys.argv[3]
    queries = json.load(open(sys.argv[4]))
    index = rag.Index.open(sys.argv[1], create=False)
    stats = {"searches": 0, "hits": 0, "listings": 0, "errors": [], "generations": [], "max_articles": 0}
    def fail(msg):
        if len(stats["errors"]) < 20:
            stats["errors"].append(msg)
    i = 0
    while True:
        q = queries[i % len(queries)]
        i += 1
        try:
            for h in index.search(q, k=8):
                e = expected.get(h.article.id)
                if e is None:
                    fail(f"hit from unknown article {h.article.id}")
                elif not h.text or h.text != e["text"][h.start:h.end] or h.text != h.article.text[h.start:h.end]:
                    fail(f"hit text is not the article text at {h.start}:{h.end} ({h.article.id})")
                stats["hits"] += 1
            stats["searches"] += 1
            listed = index.articles()  # one SQL statement: a consistent snapshot of articles and chunk counts
            for a in listed:
                if a.id not in expected or a.chunks != expected[a.id]["chunks"]:
                    fail(f"article {a.id} listed with {a.chunks} chunks")
            stats["listings"] += 1
            stats["max_articles"] = max(stats["max_articles"], len(listed))
            gen = index.store.generation()
            if not stats["generations"] or stats["generations"][-1] != gen:
                stats["generations"].append(gen)
        except Exception:
            fail(traceback.format_exc())
        if i == 1:
            print("ready", flush=True)
        if os.path.exists(stop) and i > 1:
            break
    print(json.dumps(stats), flush=True)
""")


def _expected(index_dir: Path, corpus: Path, embed_chunking) -> dict:
    """Every article a reader may legitimately see, with its text and chunk count."""
    out = {}
    index = rag.Index.open(index_dir)
    for a in index.articles():
        out[a.id] = {"text": index.get_article(a.id).text, "chunks": a.chunks}
    chunking = index.chunking
    index.close()
    for a in load([corpus]).articles:
        out[a.id] = {"text": a.text, "chunks": len(chunk_article(a, chunking))}
    return out


@pytest.fixture
def work(small_index_dir, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(small_index_dir, index_dir)
    corpus = write_corpus(tmp_path / "corpus", n_articles=12)[0].parent
    return index_dir, corpus


def test_reader_never_sees_a_broken_state_during_updates(work, tmp_path):
    index_dir, corpus = work
    expected = _expected(index_dir, corpus, None)
    (tmp_path / "expected.json").write_text(json.dumps(expected))
    queries = ["harbour ferry terminal budget", "cycle lanes city council", "barley harvest record",
               "tram extension survey delay", "lunar probe south pole", "hydrogen steelworks emissions",
               "library flood repairs", "savings rates bank"]
    (tmp_path / "queries.json").write_text(json.dumps(queries))
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(index_dir), str(tmp_path / "expected.json"),
                               str(stop), str(tmp_path / "queries.json")], cwd=ROOT, env=cli_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "ready", reader.stderr.read()[-2000:]
        # while the reader loops: an add in many small commits, then a removal of some of the new articles
        added = run_cli("index", str(corpus), "--index", str(index_dir), "--commit-every", "3", timeout=900)
        assert added.returncode == 0, added.stderr[-2000:]
        victims = sorted(a.id for a in load([corpus]).articles)[:4]
        removed = run_cli("remove", *victims, "--index", str(index_dir))
        assert removed.returncode == 0, removed.stderr[-2000:]
        time.sleep(1.0)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=300)
    assert reader.returncode == 0, err[-3000:]
    stats = json.loads(out.strip().splitlines()[-1])
    print("\nreader:", {k: v for k, v in stats.items() if k != "errors"})
    assert stats["errors"] == [], stats["errors"]
    assert stats["searches"] >= 10 and stats["hits"] > 0
    # the reader really read across the update: it saw several generations and the added articles
    assert len(stats["generations"]) >= 3, stats["generations"]
    assert stats["max_articles"] > 6
    snap = snapshot(index_dir)
    assert not check_consistent(snap, snap.articles)  # chunk ids == FTS rowids == FAISS file ids
    assert {a: len(s) for a, s in snap.articles.items()} == {a: expected[a]["chunks"] for a in snap.articles}
    assert len(snap.articles) == 6 + 12 - 4


def _lock_held(index_dir: Path) -> bool:
    """Is another process holding the writer lock? (Probe without keeping it.)"""
    path = index_dir / "write.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's lock if it got it
    return False


def test_two_writers_wait_or_fail_clearly_and_never_corrupt(work, tmp_path):
    index_dir, corpus = work
    before = snapshot(index_dir)
    victim = sorted(before.articles)[0]
    first = popen_cli("index", str(corpus), "--index", str(index_dir), "--commit-every", "2", "--json")
    try:
        assert wait_for(lambda: _lock_held(index_dir) or first.poll() is not None, timeout=600, interval=0.02)
        assert first.poll() is None, "the first writer finished before a second one could try"
        # A second writer that will not wait: one line naming the problem, nothing written.
        index = rag.Index.open(index_dir)
        t0 = time.monotonic()
        with pytest.raises(IndexLockedError) as err:
            index.add([ROOT / "seeds"], lock_timeout=1.0)
        assert time.monotonic() - t0 < 30
        msg = str(err.value)
        assert "\n" not in msg and "another process is writing" in msg and str(index_dir) in msg
        with pytest.raises(IndexLockedError):
            index.remove([victim], lock_timeout=0.5)
        index.close()
        # A second writer through the CLI waits (default 60 s) and then does its work, or, when the first takes
        # longer than that on a loaded machine, fails with the same one line.
        second = run_cli("remove", victim, "--index", str(index_dir), timeout=600)
    finally:
        out, err_text = first.communicate(timeout=900)
    assert first.returncode == 0, err_text[-2000:]
    assert json.loads(out)["added"] == 12
    snap = snapshot(index_dir)
    assert not check_consistent(snap, snap.articles)
    expected = _expected(index_dir, corpus, None)
    assert {a: len(s) for a, s in snap.articles.items()} == {a: expected[a]["chunks"] for a in snap.articles}
    if second.returncode == 0:
        assert victim not in snap.articles and len(snap.articles) == 6 + 12 - 1
    else:
        line = second.stderr.strip()
        assert len(line.splitlines()) == 1 and line.startswith("error: another process is writing"), line
        assert victim in snap.articles and len(snap.articles) == 6 + 12
    index = rag.Index.open(index_dir)
    from bench.harness.inspection import loaded_faiss_ids

    assert loaded_faiss_ids(index) == snap.chunk_ids
    hits = index.search("harbour ferry terminal budget", k=3)
    assert hits and all(h.text == h.article.text[h.start:h.end] for h in hits)
    index.close()
