"""Header metadata that plain text and PDFs carry outside front matter: an outlet-and-date line
("Brackenholm Gazette, 3 December 2025"), a PDF's creation date, and the headline when the first line is a pull
quote ("'Illegal migration inflows are ...,' a minister has warned." is a quote, not the title).
"""

from __future__ import annotations

import re
from datetime import datetime

from .cleaning import normalize_date, parse_dateline

_OUTLET_DATELINE = re.compile(r"(?P<src>[A-Z][\w&.'’-]*(?:\s+(?:of|the|on|&|[A-Z][\w&.'’-]*)){0,6})\s*(?:,|\||–|—|-|·)\s*"
                              r"(?P<date>.{6,60})")
# a first line that is a quotation followed by its attribution: 'A,' a minister has warned. / "A," says X
_PULL_QUOTE = re.compile(r"^[\"'“‘].{20,}?[,.!?]?[\"'”’],?\s+(?:[\w.'’-]+\s+){1,6}?"
                         r"(?:has\s+|have\s+|had\s+)?(?:said|says|warned|warns|claimed|claims|told|tells|admitted|"
                         r"insisted|insists|declared|argued|argues)\b.{0,60}$")


def outlet_dateline(line: str) -> tuple[str, str]:
    """('Brackenholm Gazette', '2025-12-03') for 'Brackenholm Gazette, 3 December 2025'; ('', '') otherwise."""
    m = _OUTLET_DATELINE.fullmatch(line.strip())
    if not m or len(line) > 100:
        return "", ""
    iso = parse_dateline(m["date"].strip())
    return (m["src"].strip(), iso) if iso else ("", "")


def strip_outlet_dateline(text: str, *, max_lines: int = 8) -> tuple[str, str, str]:
    """Remove an outlet-and-date line among the first `max_lines` non-empty lines: (text, source, published_at)."""
    lines = text.split("\n", 64)
    seen = 0
    for i, raw in enumerate(lines[:-1] if len(lines) > 64 else lines):
        if not raw.strip():
            continue
        seen += 1
        if seen > max_lines:
            break
        source, iso = outlet_dateline(raw)
        if iso:
            lines[i] = ""
            return "\n".join(lines), source, iso
    return text, "", ""


def pdf_date(info) -> str:
    """The creation (else modification) date of a PDF's Info dictionary, ISO 8601; '' when absent or broken."""
    for attr in ("creation_date", "modification_date"):
        try:
            value = getattr(info, attr, None)
        except Exception:  # pypdf raises on malformed dates ("D:2025..." typos): that only costs the date
            value = None
        if isinstance(value, datetime):
            return value.isoformat()
    return ""


def json_date(value: object) -> str:
    """A JSON date in any common shape: ISO text, RFC 2822, epoch (ms) numbers, {"$date": ...}, {"iso": ...}."""
    if isinstance(value, dict):
        for key in ("$date", "date", "iso", "value", "datetime", "$numberLong"):
            if key in value:
                return json_date(value[key])
        return ""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) in (10, 13):
        return normalize_date(int(value.strip()))
    return normalize_date(value)


def headline(text: str) -> str:
    """The title of a text article: its first line, unless that is a pull quote; then the first sentence of the
    next paragraph that reads as prose."""
    from .cleaning import title_from_text

    first = title_from_text(text)
    if not _PULL_QUOTE.match(first):
        return first
    for line in text.split("\n")[1:40]:
        line = line.strip()
        if len(line) < 60 or not re.search(r"[.!?]", line):
            continue
        m = re.match(r"(.{30,200}?[.!?])(?:\s|$)", line)
        return (m.group(1) if m else line[:200]).strip()
    return first


__all__ = ["headline", "json_date", "outlet_dateline", "pdf_date", "strip_outlet_dateline"]
