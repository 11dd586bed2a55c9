"""Run a test set against an index and score it: `evaluate(...)` and the `--fail-under` gates.

The runner only needs two methods of the index, `search(query, k=)` and `ask(question, model=, k=)`, so it can be
driven by anything with that shape. Questions run one at a time in file order: the results rows are then in a
stable order and the only randomness is the seeded choice of questions when `limit` is smaller than the split.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence

from rag.errors import ModelError, TestSetError
from rag.schema import Answer, Hit

from .metrics import LOWER_IS_BETTER, METRIC_DEFINITIONS, aggregate, aggregate_by_type, score_question
from .testsets import Question, detect_format, load_testset


class SearchesAndAnswers(Protocol):
    def search(self, query: str, k: int = 10) -> list[Hit]: ...

    def ask(self, question: str, model: str = "extractive", k: int = 10) -> Answer: ...


@dataclass(frozen=True)
class EvalResult:
    metrics: dict[str, Any]                  # {"overall": {name: value}, "by_type": {type: {name: value}}}
    rows: tuple[dict[str, Any], ...]         # one per question, in file order (see metrics.score_question)
    settings: dict[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None

    @property
    def overall(self) -> dict[str, Any]:
        return self.metrics["overall"]


def evaluate(
    index: SearchesAndAnswers,
    testset_path: str | Path,
    *,
    model: str = "extractive",
    k: int = 10,
    split: str = "all",
    limit: int | None = None,
    retrieval_only: bool = False,
    out_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
    model_options: dict | None = None,
) -> EvalResult:
    """Ask every question of the split, score it, and (with `out_dir`) write metrics.json, results.jsonl, report.md.

    Retrieval-only runs call `index.search(question, k=max(k, 10))` so that @10 metrics are always measurable;
    full runs call `index.ask(question, model=model, k=k)` and score the answer and its retrieved `hits`.
    """
    if k < 1:
        raise TestSetError(f"k must be at least 1, got {k}")
    questions = _select(load_testset(testset_path, split=split), limit, seed)
    warm = getattr(index, "warm", None)
    if callable(warm):
        warm()  # load the embedder and vectors before the clock starts, so p95 is not the model load
    rows = [_run_one(index, q, model=model, k=k, retrieval_only=retrieval_only, model_options=model_options or {})
            for q in _progress(questions, enabled=progress)]
    metrics = {"overall": aggregate(rows), "by_type": aggregate_by_type(rows)}
    testset_path = Path(testset_path)
    settings = {
        "testset": str(testset_path),
        "testset_format": detect_format(testset_path),
        "split": split,
        "limit": limit,
        "seed": seed,
        "mode": "retrieval-only" if retrieval_only else "full",
        "model": None if retrieval_only else model,
        "k": k,
        "search_k": max(k, 10) if retrieval_only else None,
        "n_questions": len(rows),
        "version": _version(),
    }
    out = Path(out_dir) if out_dir is not None else None
    result = EvalResult(metrics=metrics, rows=tuple(rows), settings=settings, out_dir=out)
    if out is not None:
        write_outputs(result, out, testset_name=testset_path.name)
    return result


def write_outputs(result: EvalResult, out_dir: str | Path, *, testset_name: str) -> None:
    """metrics.json and results.jsonl first, so a failing report (e.g. no matplotlib) never loses the numbers."""
    from .report import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"testset": testset_name, "settings": result.settings, **result.metrics}
    _write_atomic(out / "metrics.json", json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    _write_atomic(out / "results.jsonl",
                  "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.rows))
    write_report(result, out, testset_name=testset_name, settings=result.settings)


def check_gates(metrics: Mapping[str, Any], gates: Iterable[str]) -> list[str]:
    """One line per failed `name=threshold` gate; [] when all pass. Unknown names or bad syntax -> TestSetError.

    `metrics` may be EvalResult.metrics (its "overall" part is used) or a flat {name: value} dict. For metrics
    where lower is better (latency, false_refusal_rate) the threshold is a ceiling instead of a floor.
    """
    values = metrics.get("overall", metrics)
    failures = []
    for gate in gates:
        name, threshold = _parse_gate(gate)
        value = values.get(name)
        if value is None:
            failures.append(f"metric {name} was not measured in this run, so it cannot meet the --fail-under "
                            f"threshold {threshold:.3f}")
        elif name in LOWER_IS_BETTER and value > threshold:
            failures.append(f"metric {name} = {value:.3f} is above the --fail-under threshold {threshold:.3f} "
                            "(lower is better)")
        elif name not in LOWER_IS_BETTER and value < threshold:
            failures.append(f"metric {name} = {value:.3f} is below the --fail-under threshold {threshold:.3f}")
    return failures


def _parse_gate(gate: str) -> tuple[str, float]:
    name, sep, raw = gate.partition("=")
    name = name.strip().rstrip(">").strip()  # also accept "hits@10>=0.9"
    if not sep or not name:
        raise TestSetError(f"gate {gate!r} must look like NAME=THRESHOLD, e.g. hits@10=0.9")
    if name not in METRIC_DEFINITIONS:
        raise TestSetError(f"unknown metric {name!r} in gate {gate!r}; valid names: {', '.join(METRIC_DEFINITIONS)}")
    try:
        return name, float(raw)
    except ValueError:
        raise TestSetError(f"gate {gate!r}: threshold {raw.strip()!r} is not a number") from None


def _select(questions: list[Question], limit: int | None, seed: int) -> list[Question]:
    if limit is None or limit >= len(questions):
        return questions
    if limit < 1:
        raise TestSetError(f"limit must be at least 1, got {limit}")
    # A seeded sample spreads a small run over the whole file (which may be grouped by type); re-sorting keeps
    # the output order stable and equal to file order.
    picked = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in picked]


def _run_one(index: SearchesAndAnswers, q: Question, *, model: str, k: int, retrieval_only: bool,
             model_options: dict) -> dict:
    start = time.perf_counter()
    if retrieval_only:
        hits = index.search(q.question, k=max(k, 10))
        elapsed = (time.perf_counter() - start) * 1000.0
        return score_question(q, hits, None, {"retrieve": elapsed, "total": elapsed})
    try:
        extra = {"as_of": q.as_of} if q.as_of else {}
        answer = index.ask(q.question, model=model, k=k, **model_options, **extra)
    except ModelError as exc:
        # One flaky model call should not throw away a long run; it is counted (n_errors) and scored as wrong.
        elapsed = (time.perf_counter() - start) * 1000.0
        failed = Answer(question=q.question, text="", refused=False, model=model)
        return score_question(q, (), failed, {"total": elapsed}, error=str(exc) or type(exc).__name__)
    timings = dict(answer.timings_ms)
    timings.setdefault("total", (time.perf_counter() - start) * 1000.0)
    return score_question(q, answer.hits, answer, timings)


def _progress(questions: Sequence[Question], *, enabled: bool) -> Iterator[Question] | Sequence[Question]:
    if not enabled:
        return questions
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety; never fail a run over it
        return questions
    return tqdm(questions, desc="eval", unit="q", file=sys.stderr, dynamic_ncols=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("article-rag")
    except Exception:  # not installed (running from a checkout)
        return "unknown"
