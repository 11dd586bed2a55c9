"""Put on PYTHONPATH, this hides the optional extras from the interpreter, as if `pip install article-rag` had been
run without them: `import gradio` raises ModuleNotFoundError and `importlib.util.find_spec("gradio")` is None.

The extras are installed in the test environment, so hiding them needs every finder on sys.meta_path wrapped (a
finder put first could only raise, and `find_spec` would then raise instead of answering None). Used by
tests/test_no_extras.py; RAG_HIDE_MODULES overrides the list.
"""

import os
import sys

HIDDEN = tuple(os.environ.get("RAG_HIDE_MODULES", "gradio,llama_cpp,xllamacpp,httpx,matplotlib,playwright").split(","))


def _hidden(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in HIDDEN)


class _Hiding:
    def __init__(self, finder):
        self._finder = finder

    def find_spec(self, name, path=None, target=None):
        if _hidden(name):
            return None
        return self._finder.find_spec(name, path, target)

    def __getattr__(self, attr):   # invalidate_caches, find_distributions, ... go to the wrapped finder
        return getattr(self._finder, attr)


class _Guard(list):
    """sys.meta_path that wraps finders added later too (setuptools' editable-install finders, for one)."""

    def insert(self, i, finder):
        super().insert(i, finder if isinstance(finder, _Hiding) else _Hiding(finder))

    def append(self, finder):
        super().append(finder if isinstance(finder, _Hiding) else _Hiding(finder))


for _name in [m for m in sys.modules if _hidden(m)]:
    del sys.modules[_name]
sys.meta_path = _Guard(_Hiding(f) for f in sys.meta_path)
