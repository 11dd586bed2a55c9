"""The Milvus backend behind the CLI and the API: `--index` URIs parsed by scheme, one-line errors, and the seed
corpus indexed into a loopback Milvus Lite server by one process and answered, with verbatim citations, by
another. (The store checklist itself runs against Milvus in tests/test_store_contract.py.)"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import UserError
from rag.storage.location import MilvusLocation, parse_location

from bench.harness.milvus import milvus_server

ROOT = Path(__file__).resolve().parent.parent
HAS_MILVUS = importlib.util.find_spec("pymilvus") is not None and importlib.util.find_spec("milvus_lite") is not None
needs_milvus = pytest.mark.skipif(not HAS_MILVUS, reason="Milvus backend: pip install 'article-rag[milvus]'")


def _rag(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_locations_are_parsed_by_scheme(tmp_path):
    assert parse_location("milvus-data/") == Path("milvus-data/")  # a folder whose name mentions milvus
    assert parse_location(str(tmp_path)) == tmp_path
    loc = parse_location("milvus://127.0.0.1:19530/news")
    assert isinstance(loc, MilvusLocation) and not loc.embedded
    assert (loc.uri, loc.collection, loc.index, str(loc)) == ("http://127.0.0.1:19530", "news", "HNSW",
                                                              "milvus://127.0.0.1:19530/news")
    lite = parse_location("milvus-lite:///srv/rag/news.db?collection=world&index=hnsw")
    assert lite.embedded and (lite.uri, lite.collection, lite.index) == ("/srv/rag/news.db", "world", "HNSW")
    assert parse_location("milvus-lite:///srv/a.db").index == "FLAT"
    for bad in ["milvus://host-without-port/c", "milvus-lite://relative/a.db", "milvus://h:1/bad-name",
                "milvus-lite:///a.db?index=IVF_PQ", "s3://bucket/index"]:
        with pytest.raises(UserError):
            parse_location(bad)


def test_a_bad_uri_is_one_line_and_exit_2():
    proc = _rag("search", "anything", "--index", "milvus-lite://relative/file.db", check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --index milvus-lite://relative/file.db") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_missing_client_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['pymilvus'] = None\n"  # as if pymilvus were not installed
            "import rag\n"
            "try:\n"
            f"    rag.Index.open('milvus-lite://{tmp_path}/x.db')\n"
            "except rag.errors.MissingDependencyError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120).stdout
    assert "pymilvus is needed" in out and "pip install 'article-rag[milvus]'" in out


@needs_milvus
def test_seeds_through_a_loopback_server_answer_from_a_second_process(tmp_path):
    import rag

    with milvus_server(tmp_path) as address:
        uri = f"milvus://{address}/seeds"
        report = json.loads(_rag("index", "seeds/", "--index", uri, "--json").stdout)
        assert report["added"] >= 1 and report["chunks_embedded"] >= 1 and not report["skipped"]
        again = json.loads(_rag("index", "seeds/", "--index", uri, "--json").stdout)  # by content hash
        assert again["unchanged"] == report["added"] and again["chunks_embedded"] == 0

        # a second process answers from what the first one wrote
        question = "What did Bulgaria's minister say about Russia and people smuggling gangs?"
        answer = json.loads(_rag("ask", question, "--index", uri, "--json").stdout)
        assert not answer["refused"] and answer["citations"]
        with rag.Index.open(uri, create=False) as index, rag.Index.open(uri, create=False) as replica:
            for c in answer["citations"]:
                assert index.get_article(c["article_id"]).text[c["start"]:c["end"]] == c["excerpt"]
            milvus_hits = index.search(question, k=10)
            # `rag serve` replicas share the chat key through Milvus, so any of them reads a browser's chats
            assert index.store.shared_secret() == replica.store.shared_secret() != ""
        # the same articles in the embedded store rank the same passages
        embedded = tmp_path / "embedded"
        _rag("index", "seeds/", "--index", str(embedded))
        with rag.Index.open(embedded, create=False) as index:
            local_hits = index.search(question, k=10)
        key = lambda hits: [(h.article.id, h.start) for h in hits]  # noqa: E731
        assert len(milvus_hits) == len(local_hits)
        assert len(set(key(milvus_hits)) & set(key(local_hits))) / len(local_hits) >= 0.8
        assert key(milvus_hits)[0] == key(local_hits)[0]

        listed = json.loads(_rag("list", "--index", uri, "--json").stdout)["articles"]
        _rag("remove", listed[0]["id"], "--index", uri)
        assert all(a["id"] != listed[0]["id"] for a in json.loads(_rag("list", "--index", uri, "--json").stdout)["articles"])


@needs_milvus
def test_a_killed_index_run_leaves_whole_articles_and_a_rerun_completes_it(tmp_path):
    """Kill `rag index` (SIGKILL) once its first commit is visible in Milvus: readers then see only whole articles,
    and a re-run ends with exactly the chunks of a run that was never killed (no duplicates, none missing)."""
    import signal
    import time

    import rag

    data = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "corpus.json"
    if not data.is_file():
        pytest.skip("needs the MultiHop-RAG corpus beside the checkout")
    corpus = tmp_path / "mh.json"
    corpus.write_text(json.dumps(json.loads(data.read_text())[:12]))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    with milvus_server(tmp_path) as address:
        uri = f"milvus://{address}/crash"
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "index", str(corpus), "--index", uri,
                                 "--commit-every", "8"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with rag.Index.open(uri, create=False) as index:
                        if index.stats()["articles"] > 0:
                            break
                except rag.errors.RagError:
                    pass  # not created yet
                time.sleep(0.5)
            assert proc.poll() is None, "the run finished before it could be killed"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
        with rag.Index.open(uri, create=False) as index:
            n_articles, n_chunks = index.stats()["articles"], index.stats()["chunks"]
            assert 0 < n_articles < 12
            listed = {a.id: a.chunks for a in index.articles()}
            for aid in listed:  # every article a reader sees is whole: its text and all its chunks
                assert index.get_article(aid) is not None and listed[aid] > 0
        _rag("index", str(corpus), "--index", uri)
        _rag("index", str(corpus), "--index", str(tmp_path / "embedded"))
        listing = lambda where: {a["id"]: a["chunks"] for a in  # noqa: E731
                                 json.loads(_rag("list", "--index", where, "--json").stdout)["articles"]}
        assert listing(uri) == listing(str(tmp_path / "embedded"))
