"""Answer accuracy as issue 13 defines it, and the MultiHop-RAG paper's looser rule beside it.

- `answer_accuracy` (ours): a yes/no gold answer counts only when the answer LEADS with the right "Yes"/"No"
  (its first word); any other gold answer must appear in the answer, case-insensitive. An unanswerable question
  counts when it was refused. A refusal of an answerable question counts as wrong.
- `paper_accuracy` (MultiHop-RAG's qa_evaluate.py): correct when the lower-cased answer and gold answer share
  at least one whitespace-separated token (punctuation around a token dropped: "Yes." is "yes"). A refusal is read as "Insufficient information.", the paper's gold
  answer for unanswerable questions, so a refused null query counts and a refused answerable one almost never does.
"""

from __future__ import annotations

import re

YES_NO = ("yes", "no")
PAPER_REFUSAL = "Insufficient information."


def leading_yes_no(text: str) -> str | None:
    m = re.match(r"\W*(yes|no)\b", text, re.IGNORECASE)
    return m.group(1).lower() if m else None


def answer_correct(answer: str, refused: bool, golds: tuple[str, ...] | list[str], answerable: bool) -> bool:
    if not answerable:
        return refused
    if refused:
        return False
    for gold in golds:
        g = gold.strip().rstrip(".").strip()
        if not g:
            continue
        if g.lower() in YES_NO:
            if leading_yes_no(answer) == g.lower():
                return True
        elif g.lower() in answer.lower():
            return True
    return False


def paper_correct(answer: str, refused: bool, golds: tuple[str, ...] | list[str], answerable: bool) -> bool:
    pred = PAPER_REFUSAL if refused else answer
    gold_list = list(golds) if answerable else [PAPER_REFUSAL]
    p = _words(pred)
    return any(p & _words(g) for g in gold_list)


def _words(text: str) -> set[str]:
    # the paper's answers were extracted from 'The answer to the question is "X"', so bare; ours end sentences
    # ("Yes.", "Google."), so punctuation around a word is dropped before comparing
    return {w.strip(".,;:!?\"'()[]") for w in text.lower().split()} - {""}


__all__ = ["answer_correct", "paper_correct", "leading_yes_no"]
