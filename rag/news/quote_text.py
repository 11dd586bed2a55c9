"""Text structure for quote finding: paragraphs, sentences that do not end inside quotation marks, and the
spans of quotation marks themselves (curly, straight, and single quotes that open at a word start)."""

from __future__ import annotations

import re

_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Sen|Rep|Gov|Gen|Col|Capt|Lt|Sgt|Jr|Sr|Inc|Ltd|Co|No|vs|etc|"
                     r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|U\.S|U\.K|[A-Z])\.)$")


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Line spans (the cleaner keeps one paragraph or line of the source per line), empty lines dropped."""
    out, pos = [], 0
    for line in text.split("\n"):
        s, e = pos, pos + len(line)
        pos = e + 1
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def sentences(text: str, lo: int, hi: int, masked: str | None = None) -> list[tuple[int, int]]:
    """Sentence spans in text[lo:hi]. Boundaries inside quotation marks are ignored when `masked` (the text with
    quoted words blanked) is given, so a multi-sentence quote stays in the sentence of its attribution."""
    src = masked if masked is not None else text
    out, s = [], lo
    for m in re.finditer(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"“‘'(A-Z0-9])", src[lo:hi]):
        end = lo + m.start() + len(m.group(0).rstrip())
        if _ABBREV.search(src[max(lo, end - 6):lo + m.start() + 1]):
            continue
        out.append((s, end))
        s = lo + m.end()
    if s < hi:
        out.append((s, hi))
    return out


_OPEN, _CLOSE = "“‘", "”’"


def quote_spans(text: str, lo: int, hi: int) -> list[tuple[int, int, bool]]:
    """(start, end, closed) of the insides of quotation marks in text[lo:hi]; curly and straight double quotes,
    and single quotes that open at a word start. An unclosed double quote runs to the end of the paragraph (a
    quote that continues in the next paragraph has no closing mark in news style)."""
    out = []
    i = lo
    while True:
        m = _OPENER.search(text, i, hi)
        if m is None:
            break
        i = m.start()
        if m.group(0) in "'‘" and ((i > lo and text[i - 1].isalnum()) or not text[i + 1:i + 2].isalpha()
                                    or _ELISION.match(text, i)):
            i += 1
            continue
        double = m.group(0) in '"“'
        close = (_DOUBLE_CLOSE if double else _SINGLE_CLOSE).search(text, i + 1, hi)
        if double and close is None:
            out.append((i + 1, hi, False))
            break
        if close is None or (not double and '"' in text[i + 1:close.start()]):
            i += 1
            continue
        out.append((i + 1, close.start(), True))
        i = close.start() + 1
    return out


_OPENER = re.compile(r"[\"“'‘]")
_DOUBLE_CLOSE = re.compile(r"[\"”]")
# a closing single quote follows punctuation or ends a word, and is not an apostrophe inside a word ("don't")
_SINGLE_CLOSE = re.compile(r"['’](?![A-Za-z])")
_ELISION = re.compile(r"'(?:s|t|re|ve|ll|d|m|em|n|cause|til|90s|80s)\b", re.I)


def _mask(text: str, spans: list[tuple[int, int, bool]], lo: int, hi: int) -> str:
    """text with the letters inside quotes replaced (same length), so rules never read a quote as narration."""
    chars = list(text[lo:hi])
    for s, e, _ in spans:
        for k in range(s - lo, e - lo):
            if not chars[k].isspace():
                chars[k] = "x"
    return text[:lo] + "".join(chars) + text[hi:]



__all__ = ["paragraphs", "quote_spans", "sentences"]
