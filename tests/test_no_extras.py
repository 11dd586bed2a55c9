"""The base install works without the optional extras (ui, llamacpp, openai, eval, tests' playwright): each test
runs `rag` in a subprocess whose interpreter cannot see them (tests/no_extras/sitecustomize.py hides them from
every import finder), and asking for an extra's feature says in one line which extra to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, ROOT, SEEDS, run_cli

HIDDEN = ("gradio", "llama_cpp", "xllamacpp", "httpx", "matplotlib", "playwright")
BLOCKER = Path(__file__).resolve().parent / "no_extras"
NO_EXTRAS = {"PYTHONPATH": str(BLOCKER)}   # run_cli puts the checkout first, then this


def _python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([env["PYTHONPATH"]] if env else [])])
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)


_PROBE = """
import importlib.util, json
out = {}
for name in %r:
    try:
        __import__(name)
        imported = True
    except ModuleNotFoundError:
        imported = False
    out[name] = {"found": importlib.util.find_spec(name) is not None, "imported": imported}
print(json.dumps(out))
""" % (HIDDEN,)


def _seed_question() -> str:
    first = json.loads((DATA / "seed_qa.jsonl").read_text().splitlines()[0])
    return first["question"]


def test_the_blocker_really_hides_the_extras():
    hidden = json.loads(_python(_PROBE, NO_EXTRAS).stdout)
    assert all(not v["found"] and not v["imported"] for v in hidden.values()), hidden
    # the same probe without the blocker: what is installed here is found, so the hiding above is the blocker's
    seen = json.loads(_python(_PROBE).stdout)
    if not any(v["found"] for v in seen.values()):
        pytest.skip("no extra is installed here, so the blocker cannot be shown to do anything")
    assert any(v["found"] and v["imported"] for v in seen.values())


def test_import_rag_and_help_without_extras():
    code = ("import json, sys, rag, rag.index, rag.answering, rag.retrieval, rag.storage, rag.cli, rag.evaluation\n"
            "print(json.dumps({'all': sorted(rag.__all__), 'loaded': sorted(m for m in sys.modules if m.split('.')[0]"
            f" in {HIDDEN!r})}}))")
    r = _python(code, NO_EXTRAS)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "Index" in out["all"] and out["loaded"] == []
    r = run_cli("--help", env=NO_EXTRAS)
    assert r.returncode == 0 and "usage" in r.stdout.lower() and "ask" in r.stdout


@pytest.fixture(scope="module")
def bare_index(tmp_path_factory) -> Path:
    """The seed work indexed by `rag index` in an interpreter without the extras."""
    path = tmp_path_factory.mktemp("no-extras") / "index"
    r = run_cli("index", str(SEEDS), "--index", str(path), env=NO_EXTRAS)
    assert r.returncode == 0, r.stderr
    return path


def test_index_and_ask_without_extras(bare_index, seed_index):
    question = _seed_question()
    r = run_cli("ask", question, "--index", str(bare_index), "--json", env=NO_EXTRAS)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    # the same answer as the full install gives over the same seed work
    want = seed_index.ask(question)
    assert got["answer"] == want.text and not got["refused"]
    assert [c["excerpt"] for c in got["citations"]] == [c.excerpt for c in want.citations]


@pytest.mark.parametrize("args, extra", [
    (["ask", "What did Bulgaria claim?", "--model", "openai:gpt-4o-mini"], "openai"),
    (["ask", "What did Bulgaria claim?", "--model", "llamacpp:smollm2-135m"], "llamacpp"),
    (["serve"], "ui"),
])
def test_an_extras_feature_names_the_extra(bare_index, args, extra):
    r = run_cli(*args, "--index", str(bare_index), env=NO_EXTRAS)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'article-rag[{extra}]'" in lines[0], r.stderr


def test_eval_without_matplotlib_writes_the_report_and_names_the_extra(bare_index, tmp_path):
    out = tmp_path / "eval"
    r = run_cli("eval", str(DATA / "seed_qa.jsonl"), "--index", str(bare_index), "--limit", "2",
                "--out", str(out), env=NO_EXTRAS)
    assert r.returncode == 0, r.stderr
    naming = [line for line in r.stderr.splitlines() if "article-rag[eval]" in line]
    assert len(naming) == 1, r.stderr
    assert "pip install 'article-rag[eval]'" in (out / "report.md").read_text()
    assert json.loads((out / "metrics.json").read_text())
