"""Query analysis from the index's own metadata: which outlets and dates a question names.

News questions name their sources ("as reported by both The Verge and TechCrunch") and dates ("published on
October 5, 2023"). Those are the strongest retrieval signals a weak embedder has, so the retriever turns them into
routed sub-searches. Nothing here is specific to one corpus: outlet names and their aliases come from the index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ..lexicon import MONTHS

_DATE_PATTERNS = [
    # October 5, 2023 / Oct 5 2023 / October 5th, 2023
    re.compile(r"\b(?P<m>[A-Za-z]{3,9})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>(?:19|20)\d\d)\b"),
    # 5 October 2023
    re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?P<m>[A-Za-z]{3,9})\.?,?\s+(?P<y>(?:19|20)\d\d)\b"),
    # 2023-10-05
    re.compile(r"\b(?P<y>(?:19|20)\d\d)-(?P<m>\d\d)-(?P<d>\d\d)\b"),
]


@dataclass(frozen=True)
class QueryAnalysis:
    outlets: tuple[str, ...] = ()     # exact `source` values of the index that the query names
    dates: tuple[str, ...] = ()       # ISO dates the query names
    core: str = ""                    # the query with outlet names removed (what the topic words are)


def outlet_aliases(source: str) -> set[str]:
    """Ways a question may name an outlet: 'Cnbc | World Business News Leader' -> {'cnbc | world ...', 'cnbc'};
    'The Independent - Life and Style' -> {..., 'the independent', 'independent'}; 'CBSSports.com' -> {'cbssports'}."""
    base = " ".join(source.lower().split())
    names = {base}
    for sep in (" | ", " - ", ": "):
        if sep in base:
            names.add(base.split(sep, 1)[0].strip())
    for n in list(names):
        if n.startswith("the ") and len(n) > 8:
            names.add(n[4:])
        for suffix in (".com", ".org", ".net", ".co.uk"):
            if n.endswith(suffix):
                names.add(n[: -len(suffix)])
    return {n for n in names if len(n) >= 3}


class OutletMatcher:
    """Finds outlet names in a query; built once per set of sources (cheap to keep per index generation)."""

    def __init__(self, sources: list[str]):
        alias_to_sources: dict[str, set[str]] = {}
        for s in sources:
            for a in outlet_aliases(s):
                alias_to_sources.setdefault(a, set()).add(s)
        # An alias shared by many outlets ('fox news' for its sections) still routes to all of them; aliases that
        # are ordinary words would route everything, so drop aliases that are single common words.
        self._aliases = {a: tuple(sorted(v)) for a, v in alias_to_sources.items() if not _is_common_word(a)}
        if self._aliases:
            alts = sorted(self._aliases, key=len, reverse=True)
            self._re = re.compile(r"(?<![\w])(" + "|".join(re.escape(a) for a in alts) + r")(?![\w])", re.IGNORECASE)
        else:
            self._re = None

    def find(self, query: str) -> tuple[tuple[str, ...], str]:
        if self._re is None:
            return (), query
        found: dict[str, None] = {}
        for m in self._re.finditer(query):
            text = m.group(1)
            if not _named(text, query):
                continue
            for s in self._aliases[text.lower()]:
                found.setdefault(s, None)
        core = self._re.sub(" ", query)
        return tuple(found), " ".join(core.split())


def _named(text: str, query: str) -> bool:
    """Is this alias match a name? 'Fortune', 'Wired', 'the independent commission' are ordinary words unless
    capitalised as a name; in an all-lower-case query capitals say nothing, so a multi-word alias still counts."""
    # A web address's suffix is written in lower case ('CBSSports.com'): it says nothing about capitals.
    words = [w for w in re.findall(r"[^\W\d_]+", text)
             if w.lower() not in {"the", "of", "and", "a", "com", "org", "net", "co", "uk"}]
    if all(w[0].isupper() for w in words):
        return True
    return " " in text and not any(ch.isupper() for ch in query)


def _is_common_word(alias: str) -> bool:
    # A section name reduced to a bare generic word would route every question that uses the word.
    return alias in {"news", "time", "daily", "world", "business", "science", "sport", "sports", "post"}


def find_dates(query: str) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for pat in _DATE_PATTERNS:
        for m in pat.finditer(query):
            mon = m.group("m").lower()
            month = int(mon) if mon.isdigit() else MONTHS.get(mon.rstrip("."))
            if not month:
                continue
            try:
                out.setdefault(date(int(m.group("y")), month, int(m.group("d"))).isoformat(), None)
            except ValueError:
                continue
    return tuple(out)


def analyze(query: str, matcher: OutletMatcher | None) -> QueryAnalysis:
    outlets, core = matcher.find(query) if matcher else ((), query)
    return QueryAnalysis(outlets=outlets, dates=find_dates(query), core=core)
