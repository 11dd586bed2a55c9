"""A question read once: checked, its time words turned into a date window, its filters checked, its weighted
content terms computed. Every stage of answering (retrieval, the evidence gate, the answer layer, the prompt, the
refusal) takes this analysis instead of recomputing it.

    asked = analyse("What did Mitov say last week?", known_outlets=catalog_outlets, as_of="2025-10-27")
    asked.question   # "What did Mitov say?"  (the topic: time words are a filter, not topic words)
    asked.filters    # Filters(date_from="2025-10-20", date_to="2025-10-26")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import FilterError
from ..retrieval import check_query
from ..retrieval.filters import check as check_filters
from ..storage import Filters
from .citations import query_weights
from .news import TimePlan, plan_time


@dataclass(frozen=True)
class AskedQuestion:
    asked: str                      # the question as the person typed it (checked)
    question: str                   # its topic: without the words that set the time window
    query: str                      # what is searched: a chat follow-up's rewrite, else the topic
    weights: Mapping[str, float]    # the topic's weighted content terms (rag.answering.citations.query_weights)
    plan: TimePlan
    filters: Filters                # the person's filters narrowed by the time window
    fallback: Filters | None        # the person's own filters, when a soft window may find nothing


def analyse(question: str, *, known_outlets: Callable[[], Sequence[str]], query: str | None = None, sources=None,
            date_from: str | None = None, date_to: str | None = None, as_of=None) -> AskedQuestion:
    """`question` and `query` come checked (rag.retrieval.check_query). Bad filters (unknown outlet, unreadable
    date, a window that holds no day) raise here, before anything is searched."""
    search_q = query or question
    checked = check_filters(sources, date_from, date_to, known_outlets() if sources else [], as_of=as_of)
    plan = plan_time(question, dict(sources=checked.sources, date_from=checked.date_from,
                                    date_to=checked.date_to), as_of)
    topic = question
    if plan.question != question:   # time words set the window: the topic is what is left
        topic = check_query(plan.question)
        search_q = topic if search_q == question else search_q
    lo, hi = plan.filters.get("date_from"), plan.filters.get("date_to")
    if lo and hi and lo > hi:
        # the person's own bounds were checked above; the time words may narrow them to nothing
        raise FilterError(f"--since {lo} is after --until {hi}; nothing can match")
    return AskedQuestion(question, topic, search_q, query_weights(topic, search_q), plan, _filters(plan.filters),
                         _filters(plan.fallback) if plan.fallback is not None else None)


def _filters(f: Mapping) -> Filters:
    return Filters(tuple(f.get("sources") or ()), f.get("date_from"), f.get("date_to"))


__all__ = ["AskedQuestion", "analyse"]
