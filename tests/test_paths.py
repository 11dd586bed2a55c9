"""Hostile paths and user mistakes with the real index: file names that are not UTF-8, symbolic links out of
the indexed folder and twice to one file, source code, size limits, missing paths, empty folders and k < 1."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

import rag
from conftest import run_cli
from bench.harness.corpus import write_corpus

pytestmark = pytest.mark.slow


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "d"
    write_corpus(d, n_articles=3, sentences=6)
    return d


def _origins(index_dir: Path) -> list[str]:
    con = sqlite3.connect(index_dir / "index.sqlite3")
    try:
        return sorted(r[0] for r in con.execute("SELECT origin FROM articles"))
    finally:
        con.close()


def test_non_utf8_file_name_is_indexed_and_shown_safely(folder, tmp_path, embedder):
    good = (folder / "00_ferry_terminal.txt").read_bytes()
    with open(os.fsencode(folder) + b"/b\xffname.txt", "wb") as f:  # the red-team case: not valid UTF-8
        f.write(good.replace(b"ferry", b"barge"))
    index_dir = tmp_path / "index"
    r = run_cli("index", str(folder), "--index", str(index_dir), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["added"] == 4 and report["skipped"] == []   # the batch committed, the odd name included
    assert any(o.endswith("/b\\xffname.txt") for o in _origins(index_dir))  # escaped, never a lone surrogate
    again = run_cli("index", str(folder), "--index", str(index_dir), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"] == 4  # a stable id
    listed = run_cli("list", "--json", "--index", str(index_dir))
    assert listed.returncode == 0 and len(json.loads(listed.stdout)["articles"]) == 4
    hits = run_cli("search", "barge terminal", "--json", "-k", "1", "--index", str(index_dir))
    assert "barge" in json.loads(hits.stdout)["hits"][0]["title"].lower()


def test_invalid_unicode_record_never_breaks_the_batch(folder, tmp_path, embedder):
    (folder / "feed.jsonl").write_text(
        '{"title": "Broken", "text": "A record whose text holds a lone surrogate \\ud800 and nothing else."}\n'
        '{"title": "Dock workers vote", "text": "Dock workers voted on Tuesday to accept the new pay offer."}\n')
    index = rag.Index.open(tmp_path / "index")
    report = index.add([folder])
    assert report.added == 5 and not report.skipped  # the surrogate is dropped by cleaning; nothing breaks
    broken = next(a for a in index.articles() if a.title == "Broken")
    assert "\ud800" not in index.get_article(broken.id).text


def test_symlinks_stay_inside_the_indexed_folders(folder, tmp_path, embedder):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Root password notice. The administrator password is hunter2, keep it safe.")
    (folder / "link_out.txt").symlink_to(outside / "secret.txt")
    (folder / "link_in.txt").symlink_to(folder / "01_cardiac_wing.txt")
    (folder / "sub").mkdir()
    (folder / "sub" / "again.txt").symlink_to(folder / "01_cardiac_wing.txt")
    index = rag.Index.open(tmp_path / "index")
    report = index.add([folder])
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert report.added == 3  # the cardiac wing article once, not three times; the secret not at all
    assert "not followed" in reasons["link_out.txt"] and "--follow-links" in reasons["link_out.txt"]
    assert reasons["link_in.txt"].startswith("the same file as") and reasons["again.txt"].startswith("the same file")
    assert not any("hunter2" in h.text for h in index.search("administrator password", k=5))
    followed = index.add([folder], follow_links=True)
    assert followed.added == 1
    assert any("hunter2" in h.text for h in index.search("administrator password", k=5))


def test_source_code_is_not_an_article_unless_asked(folder, tmp_path, embedder):
    (folder / "script.py").write_text("print(1)\n")
    index = rag.Index.open(tmp_path / "index")
    report = index.add([folder])
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("script.py", "source code, not an article (index it with --include-code)")]
    assert report.added == 3
    assert index.add([folder], include_code=True).added == 1
    assert any(a.title == "print(1)" for a in index.articles())


def test_size_limit_is_explicit_and_can_be_raised(folder, tmp_path, embedder):
    index = rag.Index.open(tmp_path / "index")
    big = folder / "01_cardiac_wing.txt"
    big.write_text(big.read_text() + "\n\nThe wing opens to patients in spring, the board said.\n" * 40)
    limit = big.stat().st_size - 1  # the other two files are far smaller
    report = index.add([folder], max_file_bytes=limit)
    too_large = [s for s in report.skipped if s.reason.startswith("file too large")]
    assert [Path(s.path).name for s in too_large] == ["01_cardiac_wing.txt"]
    assert index.add([folder], max_file_bytes=big.stat().st_size).added == 1


def test_missing_path_and_empty_folder_are_user_errors(tmp_path, seed_index):
    missing = tmp_path / "missing.txt"
    r = run_cli("index", str(missing), "--index", str(tmp_path / "ix"))
    assert r.returncode == 2 and "no such file or directory" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "ix").exists()  # no empty index left behind
    (tmp_path / "empty").mkdir()
    r = run_cli("index", str(tmp_path / "empty"), "--index", str(tmp_path / "ix"))
    assert r.returncode == 2 and "nothing to index" in r.stderr
    assert not (tmp_path / "ix").exists()
    with pytest.raises(rag.UserError, match="no such file"):
        seed_index.add([missing])
    with pytest.raises(rag.UserError, match="nothing to index"):
        seed_index.add([tmp_path / "empty"])


@pytest.mark.parametrize("k", [0, -3])
def test_k_below_one_is_an_error_everywhere(seed_index, k):
    for args in (["search", "Bulgaria"], ["ask", "What did Bulgaria claim?"], ["eval", "tests/data/seed_qa.jsonl"]):
        r = run_cli(*args, "-k", str(k), "--index", str(seed_index.path))
        assert r.returncode == 2 and "-k" in r.stderr and "at least 1" in r.stderr, r.stderr
    with pytest.raises(rag.UserError, match="at least 1"):
        seed_index.search("Bulgaria", k=k)
    with pytest.raises(rag.UserError, match="at least 1"):
        seed_index.ask("What did Bulgaria claim?", k=k)
    with pytest.raises(rag.UserError, match="at least 1"):
        next(iter(seed_index.ask_stream("What did Bulgaria claim?", k=k)))
