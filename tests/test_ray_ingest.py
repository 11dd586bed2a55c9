"""`rag index --engine ray`: a small corpus indexed through local Ray (fractional-CPU embedding actors) into a loopback
Milvus Lite server has the local engine's article ids, chunks and report, re-runs skip by content hash, and a second
process answers from it with verbatim citations. Slow (Ray starts in ~10-20 s and takes ~700 MiB): one test; a slow
local start (CI's 2 busy cores) is retried, shown with a fake at the `_ray()` seam."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness.milvus import milvus_server

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "corpus.json"
HAVE = all(importlib.util.find_spec(m) is not None for m in ("ray", "pymilvus", "milvus_lite"))
needs_ray = pytest.mark.skipif(not HAVE, reason="needs the ray and milvus extras: pip install 'article-rag[ray,milvus]'")


def _rag(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "rag.cli", *args, "--json"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _corpus(tmp_path: Path) -> Path:
    """The seed article, a few MultiHop-RAG articles (when the data set is there), a duplicate and an empty file."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for f in (ROOT / "seeds").iterdir():
        (docs / f.name).write_bytes(f.read_bytes())
    if DATA.is_file():
        (docs / "mh.json").write_text(json.dumps(json.loads(DATA.read_text())[:3]))
    (docs / "copy.txt").write_bytes(next((ROOT / "seeds").iterdir()).read_bytes())  # the same id: skipped
    (docs / "empty.txt").write_text("\n")
    return docs


def test_a_missing_ray_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"  # as if ray were not installed
            "import rag\n"
            "try:\n"
            f"    rag.Index.open({str(tmp_path / 'i')!r}, embedder=None).add(['seeds/'], engine='ray')\n"
            "except rag.errors.MissingDependencyError as e:\n"
            "    print(e)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=300).stdout
    assert "is needed for rag index --engine ray" in out and "pip install 'article-rag[ray]'" in out


@needs_ray
def test_ray_ingestion_into_a_milvus_server_matches_the_local_engine(tmp_path):
    import rag

    docs = _corpus(tmp_path)
    local = _rag("index", str(docs), "--index", str(tmp_path / "embedded"))
    with milvus_server(tmp_path) as address:
        uri = f"milvus://{address}/ray"
        report = _rag("index", str(docs), "--index", uri, "--engine", "ray")
        assert report == local  # same counts and the same skipped entries, in the same order
        assert report["added"] >= 1 and report["skipped"]
        again = _rag("index", str(docs), "--index", uri, "--engine", "ray")
        assert again["unchanged"] == report["added"] and again["chunks_embedded"] == 0

        with rag.Index.open(uri, create=False) as m, rag.Index.open(tmp_path / "embedded", create=False) as e:
            ids = sorted(a.id for a in e.articles())
            assert sorted(a.id for a in m.articles()) == ids
            chunks = lambda store: sorted((r[0], r[1], r[2]) for r in store.locate(  # noqa: E731
                [c for c, _ in store.dense_search(e.embedder.embed_query("news"), 10_000)]).values())
            assert chunks(m.store) == chunks(e.store)

        answer = _rag("ask", "What did Bulgaria's minister say about Russia and people smuggling?", "--index", uri)
        assert not answer["refused"] and answer["citations"]
        with rag.Index.open(uri, create=False) as m:
            for c in answer["citations"]:
                assert m.get_article(c["article_id"]).text[c["start"]:c["end"]] == c["excerpt"]


class _FlakyRay:
    """Ray's module surface that RayEngine touches, whose first local start fails the way a busy machine's did in CI."""

    def __init__(self, error: str):
        self.error, self.inits, self.shutdowns, self.up = error, [], 0, False
        ctx = type("Ctx", (), {"execution_options": type("Opts", (), {})(), "enable_progress_bars": True})()
        self.data = type("Data", (), {"DataContext": type("DC", (), {"get_current": staticmethod(lambda: ctx)})})

    def is_initialized(self):
        return self.up

    def init(self, **kw):
        self.inits.append(kw)
        if len(self.inits) == 1:
            raise Exception(self.error)
        self.up = True

    def shutdown(self):
        self.shutdowns += 1

    def cluster_resources(self):
        return {"CPU": 2.0}


@pytest.mark.parametrize("error", ["Timed out waiting for file /tmp/ray/session_x/gcs_server_port_y",
                                   "The current node timed out during startup."])
def test_a_slow_local_ray_start_is_retried_with_a_longer_gcs_wait(monkeypatch, error):
    from rag.ingest import ray_engine

    fake = _FlakyRay(error)
    monkeypatch.setattr(ray_engine, "_ray", lambda: fake)
    monkeypatch.setenv("RAY_gcs_server_port_wait_time_s", "")  # records the real state so undo restores it
    monkeypatch.delenv("RAY_gcs_server_port_wait_time_s")
    engine = ray_engine.RayEngine()
    assert len(fake.inits) == 2 and fake.shutdowns == 1 and engine.actors == 1
    assert os.environ["RAY_gcs_server_port_wait_time_s"] == str(ray_engine.LOCAL_START_WAIT_S)


def test_a_cluster_start_is_not_retried_and_names_the_fix(monkeypatch):
    from rag.errors import RagError
    from rag.ingest import ray_engine

    fake = _FlakyRay("Timed out waiting for file /tmp/ray/x")
    monkeypatch.setattr(ray_engine, "_ray", lambda: fake)
    with pytest.raises(RagError, match=r"could not start the Ray cluster at 10\.0\.0\.1:6379 .*ray status"):
        ray_engine.RayEngine(address="10.0.0.1:6379")
    assert len(fake.inits) == 1
