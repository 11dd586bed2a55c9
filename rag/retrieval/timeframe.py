"""Dates the person gives: `--since/--until/--as-of` arguments, and time words inside questions.

    parse_date("2025-10-20"), parse_date("Oct 20, 2025"), parse_date("last week", as_of=...)   # -> DateRange
    time_intent("What is the latest on the strike?", as_of=date(2025, 12, 10))   # recency preference
    time_intent("What did the Gazette report in October?", as_of=...)              # 2025-10-01 .. 2025-10-31

Relative words are resolved against a reference date `as_of` (the real date unless given), so evaluation runs and
tests are repeatable. Every resolved window is described in words ("searched 2025-10-13 to 2025-10-20") so the
surfaces can show what was searched. Bad arguments raise DateError (a UserError: exit 2) naming the accepted forms.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from ..errors import FilterError

ACCEPTED = ('YYYY-MM-DD, YYYY-MM, YYYY, "Oct 20, 2025", "20 October 2025", today, yesterday, "last week", '
            '"this month", "last month", "this year", "N days ago"')

_MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(), 1)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MON = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|" \
       r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"


DateError = FilterError

@dataclass(frozen=True)
class DateRange:
    start: date
    end: date         # inclusive

    @property
    def label(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


@dataclass(frozen=True)
class TimeIntent:
    """What a question asks about time: a window to filter on and/or a preference for the newest articles."""

    date_from: str | None = None
    date_to: str | None = None
    recency: bool = False
    phrase: str = ""          # the words that said so ("last week", "latest")
    soft: bool = False        # a relative window ("this week"): the article's own words may mean its week, so
                              # when nothing in the window answers, all dates are searched (and the note says so)

    @property
    def active(self) -> bool:
        return bool(self.date_from or self.date_to or self.recency)

    def note(self) -> str:
        if self.date_from and self.date_to:
            window = f"searched {self.date_from} to {self.date_to}" if self.date_from != self.date_to else \
                f"searched {self.date_from}"
        elif self.date_from:
            window = f"searched from {self.date_from}"
        elif self.date_to:
            window = f"searched up to {self.date_to}"
        else:
            window = ""
        parts = [p for p in (window, "newest articles first" if self.recency else "") if p]
        return f"{'; '.join(parts)} (\"{self.phrase}\")" if parts and self.phrase else "; ".join(parts)


def as_of_date(as_of: str | date | datetime | None) -> date:
    """The reference date: `as_of` (a date or one of the accepted forms), else today."""
    if as_of is None or as_of == "":
        return date.today()
    if isinstance(as_of, datetime):
        return as_of.date()
    if isinstance(as_of, date):
        return as_of
    return parse_date(str(as_of), what="--as-of").end


def _month_range(y: int, m: int) -> DateRange:
    return DateRange(date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1]))


def parse_date(value: str, *, as_of: date | None = None, what: str = "date") -> DateRange:
    """A date argument as the days it covers: '2025-10' is all of October, 'last week' the 7 days before as_of."""
    s = " ".join(str(value).strip().lower().replace(",", " ").split())
    ref = as_of or date.today()
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ][\d:.+z-]*)?", s):
            d = date(int(m[1]), int(m[2]), int(m[3]))
            return DateRange(d, d)
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})", s):
            return _month_range(int(m[1]), int(m[2]))
        if m := re.fullmatch(r"(\d{4})", s):
            return DateRange(date(int(m[1]), 1, 1), date(int(m[1]), 12, 31))
        if m := re.fullmatch(rf"({_MON})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\s+(\d{{4}})", s):
            d = date(int(m[3]), _MONTHS[m[1][:4] if m[1].startswith("sept") else m[1][:3]], int(m[2]))
            return DateRange(d, d)
        if m := re.fullmatch(rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MON})\.?\s+(\d{{4}})", s):
            d = date(int(m[3]), _MONTHS[m[2][:3]], int(m[1]))
            return DateRange(d, d)
        if m := re.fullmatch(rf"({_MON})\.?\s+(\d{{4}})", s):
            return _month_range(int(m[2]), _MONTHS[m[1][:3]])
    except ValueError:
        raise DateError(f"{what} {value!r} is not a real date; use one of: {ACCEPTED}") from None
    rel = relative_range(s, ref)
    if rel is not None:
        return rel
    raise DateError(f"cannot read {what} {value!r}; use one of: {ACCEPTED}")


def relative_range(s: str, ref: date) -> DateRange | None:
    """'today', 'yesterday', 'last week', 'this month', 'last month', 'this year', 'last year', 'N days ago'."""
    if s == "today":
        return DateRange(ref, ref)
    if s == "yesterday":
        return DateRange(ref - timedelta(days=1), ref - timedelta(days=1))
    if s in ("last week", "past week", "the last week", "the past week"):
        return DateRange(ref - timedelta(days=7), ref)
    if s == "this week":
        return DateRange(ref - timedelta(days=ref.weekday()), ref)
    if s == "this month":
        return DateRange(ref.replace(day=1), ref)
    if s in ("last month", "past month", "the past month"):
        first = ref.replace(day=1) - timedelta(days=1)
        return _month_range(first.year, first.month)
    if s == "this year":
        return DateRange(date(ref.year, 1, 1), ref)
    if s == "last year":
        return DateRange(date(ref.year - 1, 1, 1), date(ref.year - 1, 12, 31))
    if m := re.fullmatch(r"(\d{1,4}) (day|week|month)s? ago", s):
        days = int(m[1]) * {"day": 1, "week": 7, "month": 30}[m[2]]
        return DateRange(ref - timedelta(days=days), ref - timedelta(days=days))
    if m := re.fullmatch(r"(?:the )?(?:last|past) (\d{1,4}) (day|week|month)s?", s):
        days = int(m[1]) * {"day": 1, "week": 7, "month": 30}[m[2]]
        return DateRange(ref - timedelta(days=days), ref)
    return None


# ---- questions --------------------------------------------------------------------------------------------------
# "recently reported by" and "currently" describe; "the latest", "most recent", "newest" ask for the newest
_RECENT = re.compile(r"\b(?:latest|most recent|newest|recent|lately|up to date)\b", re.I)
_LATEST = re.compile(r"\b(?:latest|most recent|newest)\b", re.I)
_RELATIVE = re.compile(r"\b(?:today|yesterday|(?:this|last|past) (?:week|month|year)|the (?:last|past) (?:\d+ )?"
                       r"(?:days?|weeks?|months?)|(?:last|past) \d+ (?:days?|weeks?|months?)|\d+ (?:days?|weeks?) ago)\b",
                       re.I)
_DAY_PHRASE = rf"(?:{_MON}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MON}\.?,?\s+\d{{4}}|" \
              r"\d{4}-\d{2}-\d{2})"
_BEFORE_AFTER = re.compile(rf"\b(before|after|since|until|prior to)\s+(?P<d>{_DAY_PHRASE}|{_MON}\.?\s+\d{{4}}|\d{{4}})\b",
                           re.I)
# "Did the coverage ... before October 22 remain consistent with ... later": a comparison across dates, not a window
_COMPARES = re.compile(r"\b(?:consistent|inconsistent|change[sd]?|differ(?:s|ed|ent)?|between|compared?|both|same|"
                       r"subsequent|later|earlier|contrast|align)\b", re.I)
_ON_DAY = re.compile(rf"\b(?:on|dated)\s+(?:\w+day,?\s+)?(?P<d>{_DAY_PHRASE})", re.I)
_IN_MONTH = re.compile(rf"\b(?:in|during|from)\s+(?:early\s+|late\s+|mid-?)?(?P<m>{_MON})\.?(?:\s+(?P<y>\d{{4}}))?\b"
                       r"(?!\s+\d{1,2}\b)", re.I)


def time_intent(question: str, as_of: str | date | None = None) -> TimeIntent:
    """The time window and recency preference a question states, resolved against `as_of` (default today).

    A question that names several days ("the report on October 7 ... and the one on October 30") compares
    articles: no window is set (the retriever routes each named day instead)."""
    ref = as_of_date(as_of)
    if len(re.findall(_DAY_PHRASE, question, re.I)) > 1 or _COMPARES.search(question):
        return TimeIntent(recency=bool(_LATEST.search(question)), phrase=(_LATEST.search(question) or [""])[0])
    if m := _BEFORE_AFTER.search(question):
        r = parse_date(m["d"], as_of=ref)
        word = m[1].lower()
        if word in ("before", "until", "prior to"):
            end = r.start - timedelta(days=1) if word != "until" else r.end
            return TimeIntent(None, end.isoformat(), bool(_RECENT.search(question)), m[0])
        start = r.end + timedelta(days=1) if word == "after" else r.start
        return TimeIntent(start.isoformat(), ref.isoformat() if ref >= start else None,
                          bool(_RECENT.search(question)), m[0])
    if m := _ON_DAY.search(question):
        r = parse_date(m["d"], as_of=ref)
        return TimeIntent(r.start.isoformat(), r.end.isoformat(), False, m[0])
    if m := _RELATIVE.search(question):
        r = relative_range(m[0].lower().removeprefix("the "), ref) or relative_range(m[0].lower(), ref)
        if r is not None:
            return TimeIntent(r.start.isoformat(), r.end.isoformat(), bool(_RECENT.search(question)), m[0], True)
    if (m := _IN_MONTH.search(question)) and (m["y"] or m["m"][0].isupper()):
        # "in May" is a month only when capitalised ("in may" is the verb); without a year, the last such month
        month = _MONTHS[m["m"].lower()[:3]]
        year = int(m["y"]) if m["y"] else (ref.year if month <= ref.month else ref.year - 1)
        r = _month_range(year, month)
        return TimeIntent(r.start.isoformat(), r.end.isoformat(), False, m[0])
    if m := _RECENT.search(question):
        return TimeIntent(None, None, True, m[0])
    return TimeIntent()


def narrow(date_from: str | None, date_to: str | None, intent: TimeIntent) -> tuple[str | None, str | None]:
    """The user's bounds intersected with the question's window."""
    lo = max((d for d in (date_from, intent.date_from) if d), default=None)
    hi = min((d for d in (date_to, intent.date_to) if d), default=None)
    return lo, hi


def newest_first(hits: list) -> list:
    """Hits regrouped so the newest article comes first (rank order kept within an article and among equals)."""
    best: dict[str, int] = {}
    for i, h in enumerate(hits):
        best.setdefault(h.article.id, i)
    order = sorted(best, key=lambda aid: (_neg(hits[best[aid]].article.published_at[:10]), best[aid]))
    pos = {aid: i for i, aid in enumerate(order)}
    return [replace(h, rank=i + 1) for i, h in enumerate(sorted(hits, key=lambda h: (pos[h.article.id], h.rank)))]


def _neg(day: str) -> tuple[int, str]:
    return (0, "".join(chr(ord("9") - ord(c) + ord("0")) if c.isdigit() else c for c in day)) if day else (1, "")


def strip_time_words(question: str, intent: TimeIntent) -> str:
    """The question without the words that set its time window (they are filters, not topic words)."""
    if not intent.phrase:
        return question
    phrase = re.escape(intent.phrase)
    if _LATEST.fullmatch(intent.phrase) or _RECENT.fullmatch(intent.phrase):
        phrase = rf"(?:the\s+)?{phrase}(?:\s+(?:news|reports?|updates?|developments?))?(?:\s+(?:on|about|from|regarding))?"
    out = " ".join(re.sub(phrase, " ", question, count=1, flags=re.I).split())
    return re.sub(r"\s+([?.!,])", r"\1", re.sub(r"\b(?:the|from|of)\s*([?.!]|$)", r"\1", out)).strip()


__all__ = ["ACCEPTED", "DateError", "DateRange", "TimeIntent", "as_of_date", "parse_date", "relative_range",
           "strip_time_words", "time_intent"]
