"""Citation markers in answer text: "[1]", "[1, 2]", "[2-4]", "【3†source】", "[Source 2]" read as numbers, written
back as "[n]", and renumbered while an answer streams (sources in order of first use, markers to no source dropped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_LABEL = r"(?:(?:sources?|refs?|references?|docs?|documents?|passages?|articles?)\s*:?\s*#?\s*)?"
_NUMLIST = rf"{_LABEL}\d{{1,3}}(?:\s*(?:,|;|and|-|–)\s*{_LABEL}\d{{1,3}})*"
MARKER = re.compile(rf"\^?\[\s*({_NUMLIST})\s*\]|【\s*({_NUMLIST})\s*(?:†[^】]*)?】", re.IGNORECASE)


def marker_numbers(group: str) -> list[int]:
    """'1, 2' -> [1, 2]; '2-4' -> [2, 3, 4]; 'Source 3' -> [3]."""
    out: list[int] = []
    parts = re.split(r"\s*(?:,|;|and)\s*", group, flags=re.IGNORECASE)
    for part in parts:
        nums = [int(x) for x in re.findall(r"\d+", part)]
        if len(nums) == 2 and re.search(r"[-–]", part) and 0 < nums[1] - nums[0] <= 10:
            out.extend(range(nums[0], nums[1] + 1))
        else:
            out.extend(nums)
    return out


def parse_markers(text: str) -> list[tuple[int, int, list[int]]]:
    """Every citation marker in `text` as (start, end, numbers)."""
    return [(m.start(), m.end(), marker_numbers(m.group(1) or m.group(2))) for m in MARKER.finditer(text)]


def strip_markers(text: str) -> str:
    text = MARKER.sub("", text)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def format_markers(ns: Iterable[int]) -> str:
    return "".join(f"[{n}]" for n in ns)


class MarkerStream:
    """Renumbers markers in streamed text as they arrive: sources are numbered in order of first use and
    markers pointing at no source are dropped. Text after an unclosed bracket is held back until it closes."""

    HOLD = 40

    def __init__(self, n_sources: int):
        self.n_sources = n_sources
        self.mapping: dict[int, int] = {}
        self._buf = ""

    def _render(self, text: str) -> str:
        def sub(m: re.Match) -> str:
            out = []
            for n in marker_numbers(m.group(1) or m.group(2)):
                if 1 <= n <= self.n_sources:
                    out.append(self.mapping.setdefault(n, len(self.mapping) + 1))
            return format_markers(dict.fromkeys(out))

        return MARKER.sub(sub, text)

    def feed(self, piece: str) -> str:
        self._buf += piece
        cut = max(self._buf.rfind("["), self._buf.rfind("【"))
        if cut >= 0 and not any(c in self._buf[cut:] for c in "]】") and len(self._buf) - cut < self.HOLD:
            ready, self._buf = self._buf[:cut], self._buf[cut:]
        else:
            ready, self._buf = self._buf, ""
        return self._render(ready)

    def flush(self) -> str:
        ready, self._buf = self._buf, ""
        return self._render(ready)


__all__ = ["MARKER", "MarkerStream", "format_markers", "marker_numbers", "parse_markers", "strip_markers"]
