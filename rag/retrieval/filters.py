"""Search filters checked before they are used, so that a typo never silently returns nothing.

    check_sources(["riverside gazette"], known)   # -> ("Riverside Gazette",): outlets match case-insensitively
    check_dates("2024-13-45", None)               # FilterError naming the accepted forms
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ..errors import FilterError
from .routing import outlet_aliases
from .timeframe import as_of_date, parse_date


@dataclass(frozen=True)
class Checked:
    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    include_undated: bool = False


def check_sources(sources: str | Sequence[str] | None, known: Sequence[str]) -> tuple[str, ...]:
    """The index's exact outlet names for `sources`. A string is one outlet. Each name matches an outlet
    case-insensitively, or one of its short forms ('the verge', 'cnbc'); an unknown one raises FilterError with the
    closest known outlets."""
    if sources is None:
        return ()
    if isinstance(sources, str):
        sources = [sources]
    elif not isinstance(sources, (list, tuple, set, frozenset)) or not all(isinstance(s, str) for s in sources):
        raise FilterError(f"sources must be an outlet name or a list of outlet names, not {type(sources).__name__}")
    by_alias: dict[str, set[str]] = {}
    for k in known:
        by_alias.setdefault(" ".join(k.lower().split()), set()).add(k)
        for a in outlet_aliases(k):
            by_alias.setdefault(a, set()).add(k)
    out: dict[str, None] = {}
    for s in sources:
        key = " ".join(s.lower().split())
        if not key:
            raise FilterError("an empty outlet name was given; `rag list` shows the outlets")
        exact = [k for k in known if k.lower() == key]
        found = exact or sorted(by_alias.get(key, ()))
        if not found:
            raise FilterError(f"no outlet called {s!r} in this index; {_closest(key, known)}")
        out.update(dict.fromkeys(found))
    return tuple(out)


def _closest(key: str, known: Sequence[str]) -> str:
    if not known:
        return "the index has no outlet names (its articles carry no source)"
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key, list(lowered), n=5, cutoff=0.5)
    close += [lowered[k] for k in lowered if key in k and lowered[k] not in close][:5 - len(close)]
    names = [lowered.get(c, c) for c in close]
    if names:
        return "did you mean: " + ", ".join(f'"{n}"' for n in dict.fromkeys(names)) + "?"
    shown = ", ".join(f'"{k}"' for k in sorted(known)[:8])
    return f"known outlets include {shown}" + (" ..." if len(known) > 8 else "") + " (`rag list` shows all)"


def check_dates(since: str | None, until: str | None, as_of: str | date | None = None) -> tuple[str | None, str | None]:
    """ISO bounds (inclusive) for --since/--until in any accepted form; 'last week' counts back from as_of."""
    ref = as_of_date(as_of)
    date_from = parse_date(since, as_of=ref, what="--since").start.isoformat() if since else None
    date_to = parse_date(until, as_of=ref, what="--until").end.isoformat() if until else None
    if date_from and date_to and date_from > date_to:
        raise FilterError(f"--since {since} is after --until {until}; nothing can match")
    return date_from, date_to


def check(sources, since, until, known: Sequence[str], *, as_of=None, include_undated: bool = False) -> Checked:
    df, dt = check_dates(since, until, as_of)
    return Checked(check_sources(sources, known), df, dt, include_undated)


__all__ = ["Checked", "check", "check_dates", "check_sources"]
