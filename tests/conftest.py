"""Shared fixtures. The real packaged embedder is loaded once per test session and reused (as in
sentence-transformers' own tests); indexes are real SQLite + FAISS directories under tmp paths."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.harness.cli import run_cli  # noqa: F401  (tests import it from here)
from bench.harness.net import free_port, stop_process  # noqa: F401  (tests import them from here)

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


# ---- a real browser against a real `rag serve` (tests/test_browser.py, tests/test_browser_ui.py) ------------------
CHROMIUM = os.environ.get("RAG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 300          # the server loads the embedder before it prints its URL, and the machine is shared
ANSWER_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium driven by Python playwright (`playwright install` cannot download browsers here)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def wait_for_line(proc: subprocess.Popen, prefix: str, timeout: float, log: Path) -> str:
    """The first line of `proc`'s stdout that starts with `prefix`; fails the test if it exits or times out."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"server did not start: {log.read_text()[-3000:] if log.exists() else ''}")
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line.startswith(prefix):
            return line.strip()


@contextmanager
def serving(index_dir: Path, work: Path, env: dict | None = None):
    """`rag serve` on `index_dir` at a free port in a subprocess, exactly as a user starts it; yields its URL once it
    prints it. `env` adds variables (a None value removes one); the log goes to work/server.log."""
    port = free_port()
    full = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    log_path = work / "server.log"
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--index", str(index_dir), "--port",
                                 str(port), "--seeds", str(SEEDS)], cwd=ROOT, env=full, stdout=subprocess.PIPE,
                                stderr=log, text=True)
        try:
            assert wait_for_line(proc, "Running on", START_TIMEOUT_S, log_path) == f"Running on {url}"
            yield url
        finally:
            stop_process(proc)


def highlight_in_view(page) -> bool:
    """Is the reader's highlighted passage scrolled inside the reader's visible box?"""
    return page.evaluate("""() => { const m = document.querySelector('.rag-reader mark.rag-hl-target');
        const b = document.querySelector('.rag-reader-box').getBoundingClientRect();
        const r = m.getBoundingClientRect(); return r.top >= b.top && r.bottom <= b.bottom; }""")
