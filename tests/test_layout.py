"""The package's shape, checked: the public API resolves, FAISS stays inside its backend, ui/ uses only the
public API, modules stay small, and `import rag` stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rag

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def test_every_public_name_resolves():
    assert len(set(rag.__all__)) == len(rag.__all__)
    for name in rag.__all__:
        assert getattr(rag, name) is not None, name
    for name in ("Index", "ArticleInfo", "Answer", "Hit", "get_model", "origin_file", "known_models", "DEFAULT_K",
                 "REFUSAL", "RagError", "UserError"):
        assert name in rag.__all__


def test_faiss_is_imported_only_inside_its_backend_folder():
    backend = ROOT / "rag" / "storage" / "vectors"
    offenders = [str(p.relative_to(ROOT)) for folder in ("rag", "ui", "tests") for p in (ROOT / folder).rglob("*.py")
                 if "faiss" in _imports(p) and backend not in p.parents]
    assert offenders == []


def test_ui_uses_only_the_public_api():
    used = {m for p in (ROOT / "ui").rglob("*.py") for m in _imports(p) if m == "rag" or m.startswith("rag.")}
    assert used <= {"rag"}, used


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for folder in ("rag", "ui") for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}


def test_import_rag_stays_light():
    code = "import sys, rag; print(sorted(m for m in ('numpy', 'faiss', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
