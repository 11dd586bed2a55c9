"""Filters the user set (outlets, date range): the chips above the question box, and for a refusal under filters,
what the filters left out.

A refusal under filters is often the filters' doing ("No indexed passage mentions ..." although the article is
right there, in another outlet). So the same query is searched once more without them, and the best passages the
filters excluded are named, with an offer to ask again without filters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from rag import UserError

RELEVANT_SHARE = 0.5
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Filters:
    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to)

    def describe(self) -> str:
        bits = []
        if self.sources:
            bits.append("outlet " + " or ".join(self.sources))
        if self.date_from and self.date_to:
            bits.append(f"dated {self.date_from} to {self.date_to}")
        elif self.date_from:
            bits.append(f"dated from {self.date_from}")
        elif self.date_to:
            bits.append(f"dated up to {self.date_to}")
        return ", ".join(bits)

    def admits(self, article) -> bool:
        if self.sources and (article.source or "") not in self.sources:
            return False
        day = (article.published_at or "")[:10]
        if self.date_from and (not day or day < self.date_from):
            return False
        if self.date_to and (not day or day > self.date_to):
            return False
        return True


def parse_date(value: str | None, label: str) -> str | None:
    """'' -> None; 'YYYY-MM-DD' (a real date) -> itself; anything else -> UserError naming the field."""
    value = (value or "").strip()
    if not value:
        return None
    if not _DATE.match(value):
        raise UserError(f"{label} must look like 2025-10-20 (YYYY-MM-DD), not {value!r}")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{label} {value!r} is not a real date") from None
    return value


def filters_from(outlets: Sequence[str] | None, date_from: str | None, date_to: str | None) -> Filters:
    """The filter fields as set in the page; UserError for a bad date or a From date after the To date."""
    f = Filters(tuple(outlets or ()), parse_date(date_from, "From date"), parse_date(date_to, "To date"))
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise UserError("the From date is after the To date")
    return f


def chips_html(f: Filters) -> str:
    """The active filters as chips; empty when none (the row then takes no space)."""
    if not f.active:
        return ""
    chips = [f'<span class="rag-chip">Outlet: <b>{escape(s)}</b></span>' for s in f.sources]
    if f.date_from:
        chips.append(f'<span class="rag-chip">From <b>{escape(f.date_from)}</b></span>')
    if f.date_to:
        chips.append(f'<span class="rag-chip">To <b>{escape(f.date_to)}</b></span>')
    return f'<div class="rag-chips" aria-label="Active filters"><span class="rag-chips-label">Filtered:</span>{"".join(chips)}</div>'


def left_out(index, query: str, f: Filters, k: int = 10) -> list:
    """The best unfiltered hits for `query` that the filters excluded (one per article, best first)."""
    if not f.active:
        return []
    seen: set[str] = set()
    out = []
    hits = index.search(query, k=k)
    top = max((h.score for h in hits), default=0.0)
    for h in hits:
        if h.article.id in seen or f.admits(h.article):
            continue
        # Only passages that really match: a keyword hit, or a score near the best one (the nearest dense
        # neighbours of an off-topic question are not "left out" by the filters).
        if (h.signals or {}).get("keyword") is None and h.score < RELEVANT_SHARE * top:
            continue
        seen.add(h.article.id)
        out.append(h)
    return out


def left_out_html(f: Filters, hits: Sequence) -> str:
    """The note inside a refusal: which filters were on and what they left out."""
    head = f"Filters were on ({escape(f.describe())})."
    if not hits:
        return (f'<div class="rag-filtered">{head} Searching without them finds nothing better either.</div>')
    items = "".join(
        f"<li>{escape(h.article.title or 'Untitled article')}"
        + (f" — {escape(', '.join(x for x in (h.article.source, (h.article.published_at or '')[:10]) if x))}"
           if h.article.source or h.article.published_at else "") + "</li>" for h in hits[:4])
    n = len(hits)
    return (f'<div class="rag-filtered">{head} They left out {n} matching article{"s" if n != 1 else ""}:'
            f"<ul>{items}</ul>Use <b>Ask again without filters</b> below the chat to search everything.</div>")
