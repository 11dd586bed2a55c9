"""Shared fixtures. The real packaged embedder is loaded once per test session and reused (as in
sentence-transformers' own tests); indexes are real SQLite + FAISS directories under tmp paths."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Nothing in the test suite may reach a model hub: the packaged files must be enough.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "datasets" / "multihop-rag" / "corpus.json"


@pytest.fixture(scope="session")
def embedder():
    from rag.embedding import get_embedder

    emb = get_embedder()
    emb.embed_query("warm up")
    return emb


@pytest.fixture(scope="session")
def articles_dir() -> Path:
    return DATA / "articles"


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder):
    """An index of seeds/, built once per session. Tests must not modify it (copy it first)."""
    import rag

    path = tmp_path_factory.mktemp("seed-index")
    index = rag.Index.open(path)
    index.add([SEEDS])
    return index


@pytest.fixture(scope="session")
def small_index_dir(tmp_path_factory, embedder) -> Path:
    """The small test articles plus the seed, indexed once; copy it with `fresh_index` to modify."""
    import rag

    path = tmp_path_factory.mktemp("small-index")
    index = rag.Index.open(path)
    index.add([DATA / "articles", SEEDS])
    index.close()
    return path


@pytest.fixture
def fresh_index(small_index_dir, tmp_path):
    """A private, writable copy of the small index."""
    import rag

    dst = tmp_path / "index"
    shutil.copytree(small_index_dir, dst)
    index = rag.Index.open(dst)
    yield index
    index.close()


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run `rag ...` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout, input=input)


def without_modules(folder: Path, *names: str) -> dict:
    """Environment for `run_cli` in which these modules are not installed, as far as the subprocess can tell:
    a sitecustomize (run at interpreter start-up) puts None in sys.modules for each, so `import` raises
    ModuleNotFoundError and importlib.util.find_spec returns None, as on a machine that never installed them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(f"import sys\nfor _m in {list(names)!r}:\n    sys.modules[_m] = None\n")
    return {"PYTHONPATH": str(folder) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture
def cli():
    return run_cli
