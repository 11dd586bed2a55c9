"""A JSONL record's own "split" field decides its split; without one the position does (dev = % 4 != 0)."""

import json

import pytest

from rag.errors import TestSetError
from rag.evaluation.testsets import load_testset


def write(tmp_path, rows):
    p = tmp_path / "t.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def test_own_split_field_wins_over_position(tmp_path):
    rows = [{"id": f"q{i}", "question": f"Question {i}?", "answers": ["a"], "split": s}
            for i, s in enumerate(["dev", "dev", "test", "dev", "test"])]
    p = write(tmp_path, rows)
    assert [q.id for q in load_testset(p, "test")] == ["q2", "q4"]
    assert [q.id for q in load_testset(p, "dev")] == ["q0", "q1", "q3"]
    assert len(load_testset(p, "all")) == 5


def test_position_decides_without_a_split_field(tmp_path):
    p = write(tmp_path, [{"id": f"q{i}", "question": f"Question {i}?", "answers": ["a"]} for i in range(5)])
    assert [q.id for q in load_testset(p, "test")] == ["q0", "q4"]


def test_bad_split_value_is_one_clear_error(tmp_path):
    p = write(tmp_path, [{"question": "Q?", "answers": ["a"], "split": "train"}])
    with pytest.raises(TestSetError, match="'split' must be"):
        load_testset(p)


def test_natural_devset_loads_with_its_own_split():
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "bench" / "devsets" / "natural_qa.jsonl"
    test, dev = load_testset(path, "test"), load_testset(path, "dev")
    assert len(test) + len(dev) == len(load_testset(path, "all")) >= 110
    assert {q.qtype for q in dev} >= {"entity", "number", "unanswerable"}
    assert all(q.split == "test" for q in test)
