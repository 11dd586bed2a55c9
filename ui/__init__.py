"""The browser chat over rag's public API. `build_app(index) -> gr.Blocks`; gradio loads only when asked for."""

from __future__ import annotations


def __getattr__(name: str):
    if name == "build_app":
        from .app import build_app

        return build_app
    raise AttributeError(f"module 'ui' has no attribute {name!r}")


__all__ = ["build_app"]
