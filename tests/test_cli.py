"""The CLI as a user runs it: subprocesses, JSON contracts from DESIGN.md, one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import DATA, SEEDS, without_modules

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from conftest import run_cli

    path = tmp_path_factory.mktemp("cli") / "idx"
    r = run_cli("index", str(SEEDS), "--index", str(path), "--json")
    assert r.returncode == 0, r.stderr
    return path, json.loads(r.stdout)


def test_index_json_shape(built):
    _, report = built
    assert set(report) == {"added", "updated", "unchanged", "removed", "chunks_embedded", "skipped"}
    assert report["added"] == 1 and report["chunks_embedded"] > 0 and report["skipped"] == []


def test_reindex_is_a_noop(built, cli):
    path, _ = built
    r = cli("index", str(SEEDS), "--index", str(path), "--json")
    report = json.loads(r.stdout)
    assert report["chunks_embedded"] == 0 and report["unchanged"] == 1


def test_search_json_shape_and_verbatim(built, cli):
    path, _ = built
    r = cli("search", "Bulgaria Russia intelligence", "--index", str(path), "--json", "-k", "3")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["query"] == "Bulgaria Russia intelligence"
    assert len(out["hits"]) == 3
    keys = {"rank", "chunk_id", "article_id", "title", "source", "published_at", "text", "start", "end", "score"}
    assert keys <= set(out["hits"][0])
    assert "intelligence" in out["hits"][0]["text"]
    original = " ".join(next(SEEDS.glob("*.txt")).read_text().split())
    for h in out["hits"]:
        # cleaning drops whole boilerplate lines (captions), so each paragraph of a hit is in the original file
        for para in h["text"].split("\n\n"):
            assert " ".join(para.split()) in original


def test_list_and_remove(built, cli, tmp_path):
    path, _ = built
    copy = tmp_path / "idx"
    shutil.copytree(path, copy)
    out = json.loads(cli("list", "--index", str(copy), "--json").stdout)
    (art,) = out["articles"]
    assert set(art) == {"id", "title", "source", "published_at", "url", "chunks"}
    r = cli("remove", art["id"], "--index", str(copy))
    assert r.returncode == 0
    assert json.loads(cli("list", "--index", str(copy), "--json").stdout)["articles"] == []
    r = cli("remove", "doesnotexist", "--index", str(copy))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "rag list" in r.stderr


def test_missing_index_one_line(cli, tmp_path):
    for cmd in (["search", "x"], ["list"], ["ask", "x"]):
        r = cli(*cmd, "--index", str(tmp_path / "missing"))
        assert r.returncode == 2
        assert r.stderr.startswith("error: no index at") and r.stderr.count("\n") == 1
        assert "rag index" in r.stderr and "Traceback" not in r.stderr


def test_empty_query_one_line(built, cli):
    path, _ = built
    r = cli("search", "  ", "--index", str(path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "empty" in r.stderr


def test_bad_files_are_skipped_with_reasons(cli, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "empty.txt").write_text("")
    (src / "blob.bin").write_bytes(bytes(range(256)) * 10)
    (src / "broken.json").write_text('{"title": "x", ')
    shutil.copy(DATA / "articles" / "lunar_probe.md", src)
    r = cli("index", str(src), "--index", str(tmp_path / "idx"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["added"] == 1
    reasons = {s["path"].split("/")[-1]: s["reason"] for s in out["skipped"]}
    assert set(reasons) == {"empty.txt", "blob.bin", "broken.json"}
    assert all(reasons.values()) and "Traceback" not in r.stderr


def test_help_is_quick_and_lists_commands(cli):
    r = cli("--help")
    for cmd in ("index", "search", "ask", "chat", "list", "remove", "serve", "eval", "doctor"):
        assert cmd in r.stdout


def test_doctor(built, cli):
    path, _ = built
    r = cli("doctor", "--index", str(path))
    assert "all-MiniLM-L6-v2" in r.stdout and "cl100k_base" in r.stdout
    assert f"index {path}" in r.stdout


@pytest.mark.parametrize("hidden, needed_by", [("gradio", "rag serve"), ("torch", None), ("matplotlib", None)])
def test_doctor_exits_non_zero_when_a_readme_command_needs_something_missing(built, cli, tmp_path, hidden,
                                                                             needed_by):
    path, _ = built
    env = without_modules(tmp_path / "site", hidden)
    healthy = cli("doctor", "--index", str(path))
    r = cli("doctor", "--index", str(path), env=env)
    assert healthy.returncode == 0, healthy.stdout
    line = next(x for x in r.stdout.splitlines() if x[len("[FAIL] "):].startswith(hidden))
    if hidden == "matplotlib":   # optional: `rag eval` writes its report without plots
        assert r.returncode == 0 and line.startswith("[warn]") and "pip install 'article-rag[eval]'" in line, line
    else:
        assert r.returncode != 0 and line.startswith("[FAIL]"), r.stdout
        assert "pip install" in line and "Traceback" not in r.stderr
    if needed_by:
        assert needed_by in line and "pip install 'article-rag[ui]'" in line, line
