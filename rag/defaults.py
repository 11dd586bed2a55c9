"""Defaults more than one surface relies on, kept in one place."""

from __future__ import annotations

# Passages an answer is drawn from (`rag ask -k`, the UI's slider, Index.ask).
DEFAULT_K = 6
# What every answerer says when the articles do not support an answer (Answer.refused); refusal detection in
# rag.answering.citations recognises it and its paraphrases.
REFUSAL = "The articles don't say."
