"""Evaluation test sets: our JSONL format and MultiHop-RAG's MultiHopRAG.json, read into one `Question` type.

JSONL, one object a line:
    {"id": "q1", "question": "...", "answers": ["..."], "evidence": [{"title": "...", "text": "..."}],
     "answerable": true, "type": "factual"}
`id`, `evidence`, `answerable` (default true) and `type` are optional. MultiHopRAG.json is a JSON list of
{query, answer, question_type, evidence_list: [{title, fact, ...}]}; a `null_query` is unanswerable.

Splits are defined on the 0-based position of a question in its file, so they never depend on the order in which
anything else runs: dev = position % 4 != 0, test = position % 4 == 0, all = everything. A JSONL record may name
its own split ("split": "dev" | "test"), as bench/devsets/natural_qa.jsonl does to keep whole articles held out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import TestSetError

SPLITS = ("all", "dev", "test")
FORMAT_JSONL = "jsonl"
FORMAT_MULTIHOP = "multihop-rag"


@dataclass(frozen=True)
class Evidence:
    """A gold supporting passage: `text` is verbatim text of the article called `title`."""

    title: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    answerable: bool
    qtype: str
    position: int   # 0-based position in the file; decides the split ...
    split: str = ""  # ... unless the record names its own ("dev" or "test")
    as_of: str = ""  # the reference date the question was written against ("this week"), when the set gives one


def in_split(position: int, split: str) -> bool:
    if split == "all":
        return True
    if split == "dev":
        return position % 4 != 0
    if split == "test":
        return position % 4 == 0
    raise TestSetError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")


def detect_format(path: str | Path) -> str:
    """`multihop-rag` when the file is one JSON array, `jsonl` otherwise (decided by content, not by suffix)."""
    return FORMAT_MULTIHOP if _read_text(Path(path)).lstrip().startswith("[") else FORMAT_JSONL


def load_testset(path: str | Path, split: str = "all") -> list[Question]:
    """Read a test set in either format and keep the questions of `split`; bad files raise TestSetError."""
    in_split(0, split)  # validate the split name before reading a possibly large file
    path = Path(path)
    text = _read_text(path)
    if text.lstrip().startswith("["):
        questions = _parse_multihop(path, text)
    else:
        questions = _parse_jsonl(path, text)
    if not questions:
        raise TestSetError(f"{path}: no questions in the file")
    return [q for q in questions
            if (q.split == split if q.split and split != "all" else in_split(q.position, split))]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TestSetError(f"{path}: no such test set file") from None
    except IsADirectoryError:
        raise TestSetError(f"{path}: is a directory; give a .jsonl test set or MultiHopRAG.json") from None
    except UnicodeDecodeError as exc:
        raise TestSetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise TestSetError(f"{path}: cannot be read ({exc.strerror})") from None


# --- JSONL -------------------------------------------------------------------------------------------------------

def _parse_jsonl(path: Path, text: str) -> list[Question]:
    questions: list[Question] = []
    first_line_of: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TestSetError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise TestSetError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        q = _question_from_record(obj, where, position=len(questions))
        if q.id in first_line_of:
            raise TestSetError(f"{where}: duplicate id {q.id!r} (first on line {first_line_of[q.id]})")
        first_line_of[q.id] = lineno
        questions.append(q)
    return questions


def _question_from_record(obj: dict[str, Any], where: str, position: int) -> Question:
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise TestSetError(f"{where}: 'question' must be a non-empty string")
    raw_id = obj.get("id", f"q{position:04d}")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id) == "":
        raise TestSetError(f"{where}: 'id' must be a non-empty string or an integer")
    answers = obj.get("answers", [])
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise TestSetError(f"{where}: 'answers' must be a list of strings")
    answerable = obj.get("answerable", True)
    if not isinstance(answerable, bool):
        raise TestSetError(f"{where}: 'answerable' must be true or false")
    evidence = _evidence(obj.get("evidence", []), where, text_key="text", field="evidence")
    if answerable and not answers and not evidence:
        raise TestSetError(f"{where}: an answerable question needs 'answers' or 'evidence' (nothing to score)")
    qtype = obj.get("type", "answerable" if answerable else "unanswerable")
    if not isinstance(qtype, str) or not qtype:
        raise TestSetError(f"{where}: 'type' must be a non-empty string")
    own_split = obj.get("split", "")
    if own_split not in ("", "dev", "test"):
        raise TestSetError(f"{where}: 'split' must be \"dev\" or \"test\" (or absent: then the position decides)")
    return Question(
        id=str(raw_id),
        question=question.strip(),
        answers=tuple(answers),
        evidence=evidence,
        answerable=answerable,
        qtype=qtype,
        position=position,
        split=own_split,
        as_of=obj["as_of"] if isinstance(obj.get("as_of"), str) else "",
    )


def _evidence(items: Any, where: str, *, text_key: str, field: str) -> tuple[Evidence, ...]:
    if not isinstance(items, list):
        raise TestSetError(f"{where}: '{field}' must be a list of {{\"title\", \"{text_key}\"}} objects")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise TestSetError(f"{where}: {field}[{i}] must be an object with \"title\" and \"{text_key}\"")
        title, text = item.get("title", ""), item.get(text_key)
        if not isinstance(title, str):
            raise TestSetError(f"{where}: {field}[{i}].title must be a string")
        # An empty passage would be a substring of every chunk and make every hit "relevant".
        if not isinstance(text, str) or not text.strip():
            raise TestSetError(f"{where}: {field}[{i}].{text_key} must be a non-empty string")
        out.append(Evidence(title=title, text=text))
    return tuple(out)


# --- MultiHop-RAG ------------------------------------------------------------------------------------------------

def _parse_multihop(path: Path, text: str) -> list[Question]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TestSetError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, list):
        raise TestSetError(f"{path}: expected a JSON list of MultiHop-RAG queries")
    questions = []
    for position, item in enumerate(data):
        # A JSON array has no useful line numbers once parsed; the item index finds the record instead.
        where = f"{path}: item {position}"
        if not isinstance(item, dict):
            raise TestSetError(f"{where}: expected an object with query, answer, question_type, evidence_list")
        query, answer, qtype = item.get("query"), item.get("answer"), item.get("question_type")
        if not isinstance(query, str) or not query.strip():
            raise TestSetError(f"{where}: 'query' must be a non-empty string")
        if not isinstance(answer, str):
            raise TestSetError(f"{where}: 'answer' must be a string")
        if not isinstance(qtype, str) or not qtype:
            raise TestSetError(f"{where}: 'question_type' must be a non-empty string")
        evidence = _evidence(item.get("evidence_list", []), where, text_key="fact", field="evidence_list")
        short_type = qtype[: -len("_query")] if qtype.endswith("_query") else qtype
        questions.append(Question(
            id=f"multihop-{position:04d}",
            question=query.strip(),
            answers=(answer,),
            evidence=evidence,
            answerable=short_type != "null",
            qtype=short_type,
            position=position,
        ))
    return questions
