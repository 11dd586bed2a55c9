"""Evaluation harness: read a test set, run it against an index, score retrieval, answers, citations, refusals
and latency, and write metrics.json, results.jsonl and a report (see metrics.METRIC_DEFINITIONS)."""

from .metrics import METRIC_DEFINITIONS, aggregate, score_question
from .report import write_report
from .runner import EvalResult, check_gates, evaluate
from .testsets import Evidence, Question, load_testset

__all__ = [
    "METRIC_DEFINITIONS",
    "EvalResult",
    "Evidence",
    "Question",
    "aggregate",
    "check_gates",
    "evaluate",
    "load_testset",
    "score_question",
    "write_report",
]
