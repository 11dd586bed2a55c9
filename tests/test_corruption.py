"""A corrupted index is detected by `rag doctor` and repaired by the command it prints (real index, real files).

Four corruptions, each applied to a copy of a 30-article index built with `rag index`: the SQLite file truncated
to half, replaced by random bytes, 16 KB of random bytes written inside it, and the FAISS file's vector data
zeroed with its header intact. Every command on the damaged index must print one line naming the repair
command (no traceback); `rag doctor` must exit non-zero; the printed command must bring back all 30 articles,
with the same text, and keep the damaged file beside the new one.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from bench.harness.corpus import write_corpus

pytestmark = pytest.mark.slow

N_ARTICLES = 30


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("corruption")
    corpus = base / "corpus"
    write_corpus(corpus, n_articles=N_ARTICLES, sentences=16)
    index = base / "index"
    r = run_cli("index", str(corpus), "--index", str(index))
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(index / "index.sqlite3")
    texts = dict(con.execute("SELECT id, text FROM articles"))
    con.close()
    assert len(texts) == N_ARTICLES
    return corpus, index, texts


def _copy(built, tmp_path: Path) -> Path:
    dst = tmp_path / "index"
    shutil.copytree(built[1], dst)
    return dst


def truncate_half(index: Path) -> None:
    db = index / "index.sqlite3"
    with open(db, "r+b") as f:
        f.truncate(db.stat().st_size // 2)


def random_bytes(index: Path) -> None:
    db = index / "index.sqlite3"
    db.write_bytes(random.Random(1).randbytes(db.stat().st_size))


def random_inside(index: Path) -> None:
    db = index / "index.sqlite3"
    data = bytearray(db.read_bytes())
    at = len(data) // 2
    data[at : at + 16384] = random.Random(2).randbytes(16384)
    db.write_bytes(bytes(data))


def zero_vectors(index: Path) -> None:
    from rag.storage.vectors.faiss_index import VectorIndex

    path = next(index.glob("vectors.*.faiss"))
    vi = VectorIndex.read(path)
    _, vecs = vi.sample(None)
    raw = np.ascontiguousarray(vecs, dtype=np.float32).tobytes()
    data = bytearray(path.read_bytes())
    at = bytes(data).find(raw)
    assert at > 0, "vector data not found in the FAISS file"
    data[at : at + len(raw)] = bytes(len(raw))
    path.write_bytes(bytes(data))
    # still a valid FAISS file: same count and ids, every vector zero
    again = VectorIndex.read(path)
    ids, zeroed = again.sample(None)
    assert again.ntotal == vi.ntotal and not np.any(zeroed)


def _one_line_error(r, index: Path) -> None:
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode != 0 and len(lines) == 1, r.stderr
    assert "damaged" in lines[0] and f"rag doctor --fix --index {index}" in lines[0], lines[0]


def _doctor_detects(index: Path) -> list[str]:
    r = run_cli("doctor", "--index", str(index))
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr
    fails = [line for line in r.stdout.splitlines() if line.startswith("[FAIL]") and str(index) in line]
    assert fails, r.stdout
    commands = {m for line in fails for m in re.findall(r"rag doctor --fix --index \S+", line)}
    assert len(commands) == 1, fails  # one repair command for the index
    return commands.pop().split()[1:]


def _repair(index: Path, command: list[str]) -> str:
    r = run_cli(*command)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    again = run_cli("doctor", "--index", str(index))
    assert again.returncode == 0, again.stdout
    return r.stdout


def _listed(index: Path) -> dict[str, str]:
    r = run_cli("list", "--json", "--index", str(index))
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(index / "index.sqlite3")
    texts = dict(con.execute("SELECT id, text FROM articles"))
    con.close()
    assert {a["id"] for a in json.loads(r.stdout)["articles"]} == set(texts)
    return texts


def _fixed_counts(stdout: str) -> tuple[int, int]:
    salvaged = re.search(r"salvaged (\d+) articles", stdout)
    back = re.search(r"(\d+) articles brought back", stdout)
    return int(salvaged.group(1)) if salvaged else 0, int(back.group(1)) if back else 0


@pytest.mark.parametrize("damage", [truncate_half, random_bytes, random_inside])
def test_damaged_sqlite_detected_and_repaired(built, tmp_path, damage):
    _, _, original = built
    index = _copy(built, tmp_path)
    damage(index)
    # every command: one line that names the damage and the repair command, never a traceback
    extra = [["ask", "What happened at the ferry terminal?"], ["remove", "0000"]] if damage is random_bytes else []
    for args in (["list"], ["search", "ferry terminal"], ["index", str(built[0])], *extra):
        _one_line_error(run_cli(*args, "--index", str(index)), index)
    command = _doctor_detects(index)
    assert command == ["doctor", "--fix", "--index", str(index)]
    out = _repair(index, command)
    salvaged, brought_back = _fixed_counts(out)
    recovered = _listed(index)
    assert len(recovered) == N_ARTICLES and salvaged + brought_back == N_ARTICLES, out
    assert recovered == original  # same articles, same text
    if damage is not random_bytes:
        assert salvaged > 0, out  # part of the file was readable and was used
    assert [p for p in index.glob("index.sqlite3.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    search = run_cli("search", "ferry terminal", "--json", "--index", str(index))
    assert search.returncode == 0 and json.loads(search.stdout)["hits"]


def test_salvage_without_sources_keeps_what_reads_back_whole(built, tmp_path):
    """With the source files gone only SQLite's readable rows come back: each one byte-identical."""
    _, _, original = built
    index = _copy(built, tmp_path)
    (index / "sources.json").unlink()
    random_inside(index)
    damaged_bytes = (index / "index.sqlite3").read_bytes()
    out = _repair(index, _doctor_detects(index))
    salvaged, brought_back = _fixed_counts(out)
    recovered = _listed(index)
    assert brought_back == 0 and 0 < salvaged == len(recovered) < N_ARTICLES, out
    assert all(original[aid] == text for aid, text in recovered.items())
    kept = [p for p in index.glob("index.sqlite3.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and kept[0].read_bytes() == damaged_bytes  # the damaged copy is untouched


def test_zeroed_vectors_detected_and_rebuilt(built, tmp_path):
    _, _, original = built
    index = _copy(built, tmp_path)
    zero_vectors(index)
    command = _doctor_detects(index)
    out = _repair(index, command)
    assert "rebuilt it from SQLite" in out
    assert _listed(index) == original
    from rag.storage.integrity import check

    report = check(index, full=True)
    assert report.ok and report.compared == report.chunks  # every vector equals SQLite's again


def test_zeroed_vectors_never_used_for_search(built, tmp_path):
    """Opening an index whose FAISS file was zeroed rebuilds it from SQLite rather than ranking by zeros."""
    index = _copy(built, tmp_path)
    zero_vectors(index)
    r = run_cli("search", "ferry terminal", "--json", "-k", "3", "--index", str(index))
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert hits and "ferry" in hits[0]["title"].lower()
    from rag.storage.integrity import check

    assert check(index, full=True).ok


def test_empty_sqlite_file_names_the_repair(built, tmp_path):
    index = _copy(built, tmp_path)
    (index / "index.sqlite3").write_bytes(b"")
    r = run_cli("list", "--index", str(index))
    _one_line_error(r, index)
    assert "empty file (0 bytes)" in r.stderr and "disk space" not in r.stderr
    _repair(index, _doctor_detects(index))
    assert len(_listed(index)) == N_ARTICLES


def test_manifest_and_leftover_temp_file(built, tmp_path):
    index = _copy(built, tmp_path)
    (index / "manifest.json").write_text('{"embedder": "other"}')
    leftover = index / ".vectors.1.faiss.999999999.1.tmp"  # a writer killed mid-write (pid gone)
    leftover.write_bytes(b"partial")
    _repair(index, _doctor_detects(index))
    assert not leftover.exists()
    assert json.loads((index / "manifest.json").read_text())["embedder"] != "other"
