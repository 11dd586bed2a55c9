"""Answering: from retrieved hits to a cited Answer. answer.py's Answerer runs a question (evidence gate, model,
citation check, refusal) over a retriever; question.py reads the question once (window, filters, weighted terms);
citations.py holds the evidence pool and verifies [n] markers; prompting.py builds the prompt
and defuses injected instructions; extractive.py is the default answerer (no LLM: verbatim sentences); chat.py
rewrites follow-ups into standalone questions."""

from .answer import DEFAULT_K, GATE_COVERAGE, REFUSAL, Answerer, Evidence, answer, answer_stream, assess

__all__ = ["Answerer", "answer", "answer_stream", "assess", "Evidence", "DEFAULT_K", "GATE_COVERAGE", "REFUSAL"]
