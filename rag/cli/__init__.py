"""The `rag` command line: parser.py (arguments, import-light), commands.py (what each command does), serve.py
(`rag serve`), doctor.py (`rag doctor`)."""

from .parser import main

__all__ = ["main"]
