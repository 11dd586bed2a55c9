"""Readers for text, PDF and JSON inputs (HTML is in rag.ingest.html). Each turns bytes into `Draft`s (raw text +
metadata) or raises IngestError with a one-line reason; `rag.ingest` cleans the drafts into Articles. pypdf is
imported inside the reader that uses it so that `import rag` stays fast."""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .cleaning import normalize_date, strip_header_lines
from ..errors import IngestError


@dataclass
class Draft:
    """An article before cleaning. `record` is the record's position in a JSON/JSONL file, None for a whole file."""

    text: str
    title: str = ""
    source: str = ""
    author: str = ""
    published_at: str = ""
    url: str = ""
    record: int | None = None


@dataclass
class BadRecord:
    """One unusable record inside a JSON/JSONL file; `where` is "#3" or ":line 4" appended to the file's path."""

    where: str
    reason: str


# ---- bytes -> str -----------------------------------------------------------------------------------------------

_MAGIC = (
    (b"\x89PNG", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"GIF8", "GIF image"), (b"RIFF", "RIFF media"),
    (b"PK\x03\x04", "ZIP archive or Office document"), (b"\x1f\x8b", "gzip archive"), (b"\x7fELF", "executable"),
    (b"BZh", "bzip2 archive"), (b"7z\xbc\xaf", "7-Zip archive"), (b"\xfd7zXZ", "xz archive"),
    (b"SQLite format 3", "SQLite database"), (b"\x00\x00\x00", "binary data"), (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"), (b"\xd0\xcf\x11\xe0", "legacy Office document"),
)
# Bytes that are control characters in every ASCII-compatible encoding (tab, newlines, form feed excluded).
_CONTROL_BYTES = bytes([*range(0, 9), 11, *range(14, 32), 127])
_NON_CONTROL_BYTES = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
_LOW_BYTES = bytes(range(128))


def _looks_binary(data: bytes, sample: bytes) -> str:
    """Why `data` is not text, or "" when it may be; `sample` (its head) stands for it in the ratio test."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return f"binary file ({what})"
    if b"\x00" in data:
        return "binary file (contains NUL bytes)"
    controls = len(sample.translate(None, _NON_CONTROL_BYTES))
    if controls > max(2, len(sample) // 20):
        return "binary file (too many control characters)"
    return ""


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text written without a BOM shows NUL in every other byte; decode it if so."""
    if len(data) < 4 or len(data) % 2:
        return None
    half = len(data) // 2
    for codec, zeros in (("utf-16-le", data[1::2]), ("utf-16-be", data[0::2])):
        if zeros.count(0) >= 0.9 * half:
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                return None
    return None


def decode_text(data: bytes) -> str:
    """Decode a text file: UTF-8 (BOM optional), UTF-16/32 with a BOM, else cp1252/latin-1 when it looks like
    text. Raises IngestError("binary file (...)") for anything else."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        try:
            return data.decode("utf-32")
        except UnicodeDecodeError:
            pass  # FF FE 00 00 is also UTF-16-LE text that starts with NUL; try that next
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    sample = data[:65536]
    if b"\x00" in data:
        text = _utf16_without_bom(data)
        if text is not None:
            return text
    why = _looks_binary(data, sample)
    if why:
        raise IngestError(why)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Legacy single-byte text is mostly ASCII with a few accented letters; random bytes are half high bytes.
    high = len(sample.translate(None, _LOW_BYTES))
    if high > len(sample) * 0.3:
        raise IngestError("binary file (not valid UTF-8, UTF-16 or Windows-1252 text)")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# ---- plain text and markdown ------------------------------------------------------------------------------------

_FRONT_KEYS = {
    "title": "title", "headline": "title",
    "author": "author", "authors": "author", "by": "author", "byline": "author",
    "date": "published_at", "published": "published_at", "published_at": "published_at", "pubdate": "published_at",
    "source": "source", "outlet": "source", "site": "source", "publisher": "source", "sitename": "source",
    "url": "url", "link": "url", "canonical": "url", "canonical_url": "url",
}
_FRONT_LINE = re.compile(r"([A-Za-z_][\w-]{0,40})\s*:\s*(.*)")


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split YAML-style front matter (--- key: value ... ---) off the top; ({}, text) when there is none."""
    head = text.lstrip("\ufeff")
    if not head.startswith("---"):
        return {}, text
    lines = head.split("\n", 80)
    if lines[0].strip() != "---":
        return {}, text
    meta: dict[str, str] = {}
    for i in range(1, min(len(lines), 80)):
        line = lines[i].strip()
        if line in ("---", "..."):
            return meta, "\n".join(lines[i + 1:])
        m = _FRONT_LINE.fullmatch(line)
        if m:
            key = _FRONT_KEYS.get(m[1].lower())
            value = m[2].strip().strip("[]").strip().strip("\"'")
            if key and value and key not in meta:
                meta[key] = value
        elif line and not line.startswith(("#", "- ")):
            return {}, text  # not front matter after all: a horizontal rule followed by prose
    return {}, text


def parse_text(text: str) -> Draft:
    """Plain text or markdown. The text keeps every line of the body, its first line (the title) included, so
    offsets and excerpts match the file; front matter, a dateline and a byline near the top become metadata."""
    meta, body = _front_matter(text)
    body, dated, byline = strip_header_lines(body)
    return Draft(
        text=body,
        title=meta.get("title", ""),
        source=meta.get("source", ""),
        author=meta.get("author", "") or byline,
        published_at=normalize_date(meta.get("published_at")) or dated,
        url=meta.get("url", ""),
    )


# ---- PDF --------------------------------------------------------------------------------------------------------

_JUNK_PDF_TITLE = re.compile(r"(?i)^(untitled|microsoft word - .*|.*\.(docx?|pdf|odt|rtf|indd|tex))$")


def _short(err: BaseException) -> str:
    msg = " ".join(str(err).split())[:160]
    return f"{type(err).__name__}: {msg}" if msg else type(err).__name__


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs every repair it makes on a damaged file; the Skipped reason already says what went wrong, so a
    folder of broken PDFs should not flood stderr."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def parse_pdf(data: bytes) -> Draft:
    """Text of every page (pages separated by a blank line); title from the PDF metadata or the first line."""
    with _quiet_pypdf():
        return _parse_pdf(data)


def _parse_pdf(data: bytes) -> Draft:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as err:  # pypdf raises many types for broken files; all mean "cannot read it"
        raise IngestError(f"unreadable PDF ({_short(err)})") from None
    if encrypted:
        try:
            opened = reader.decrypt("")
        except DependencyError:
            raise IngestError("encrypted PDF (opening it needs the cryptography package)") from None
        except Exception as err:
            raise IngestError(f"encrypted PDF ({_short(err)})") from None
        if not opened:
            raise IngestError("encrypted PDF (a password is required)")
    pages: list[str] = []
    failed = 0
    try:
        for page in reader.pages:
            try:
                pages.append(page.extract_text() or "")
            except Exception:
                failed += 1  # one damaged page should not lose the rest of the document
    except Exception as err:
        if not any(p.strip() for p in pages):
            raise IngestError(f"unreadable PDF ({_short(err)})") from None
    text = "\n\n".join(pages)
    if not text.strip():
        why = f"{failed} page(s) could not be read" if failed else "scanned pages need OCR"
        raise IngestError(f"no text found in PDF ({why})")
    title = author = ""
    try:
        info = reader.metadata
        if info is not None:
            title = " ".join(str(info.title or "").split())
            author = " ".join(str(info.author or "").split())
    except Exception:
        pass  # a broken Info dictionary only costs the metadata; the text is what matters
    if _JUNK_PDF_TITLE.match(title):
        title = ""
    text, dated, byline = strip_header_lines(text)
    return Draft(text=text, title=title, author=author or byline, published_at=dated)


# ---- JSON / JSONL -----------------------------------------------------------------------------------------------

_TEXT_KEYS = ("body", "text", "content")
_SOURCE_KEYS = ("source", "outlet", "site", "source_name", "publisher")
_AUTHOR_KEYS = ("author", "authors", "byline")
_DATE_KEYS = ("published_at", "date", "published", "publishedAt", "pubDate", "published_date")
_URL_KEYS = ("url", "link")
_CONTAINER_KEYS = ("articles", "records", "items", "data")
_NULLISH = frozenset({"none", "null", "nan", "n/a", "unknown"})


def _field(value: object) -> str:
    """A metadata value as one line of text: lists join with ", ", {"name": ...} objects give their name."""
    if isinstance(value, dict):
        value = value.get("name") or value.get("title") or ""
    if isinstance(value, (list, tuple)):
        return ", ".join(s for s in (_field(v) for v in value) if s)
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    text = " ".join(str(value).split())
    return "" if text.lower() in _NULLISH else text


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
             bool: "a boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _first(rec: dict, keys: tuple[str, ...]) -> object:
    for key in keys:
        if rec.get(key) is not None:
            return rec[key]
    return None


def record_to_draft(rec: object, index: int | None) -> Draft:
    """One JSON record -> Draft; IngestError names what is wrong with it."""
    if not isinstance(rec, dict):
        raise IngestError(f"record is {_json_type(rec)}, not an object")
    body = _first(rec, _TEXT_KEYS)
    if body is None:
        raise IngestError("record has no text field (expected body, text or content)")
    if isinstance(body, list) and all(isinstance(p, str) for p in body):
        body = "\n\n".join(body)
    if not isinstance(body, str):
        raise IngestError(f"record's text field is {_json_type(body)}, not a string")
    if not body.strip():
        raise IngestError("record's text is empty")
    return Draft(
        text=body,
        title=_field(rec.get("title") or rec.get("headline")),
        source=_field(_first(rec, _SOURCE_KEYS)),
        author=_field(_first(rec, _AUTHOR_KEYS)),
        published_at=normalize_date(_first(rec, _DATE_KEYS)),
        url=_field(_first(rec, _URL_KEYS)),
        record=index,
    )


def parse_json(text: str) -> Iterator[Draft | BadRecord]:
    """A list of records, one record, or {"articles": [...]}. A file that does not parse raises IngestError."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise IngestError(f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise IngestError("invalid JSON: nested too deeply") from None
    if isinstance(doc, dict):
        container = next((doc[k] for k in _CONTAINER_KEYS if isinstance(doc.get(k), list)), None)
        if container is None:
            yield record_to_draft(doc, None)
            return
        doc = container
    if not isinstance(doc, list):
        raise IngestError(f"JSON holds {_json_type(doc)}, not article records (expected a list of objects, "
                          'one object, or {"articles": [...]})')
    if not doc:
        raise IngestError("JSON file has no records")
    for i, rec in enumerate(doc):
        try:
            yield record_to_draft(rec, i)
        except IngestError as err:
            yield BadRecord(f"#{i}", str(err))


def parse_jsonl(text: str) -> Iterator[Draft | BadRecord]:
    """One record per line; a bad line becomes a BadRecord naming the line, the good lines still load."""
    index = 0
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        i, index = index, index + 1
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            yield BadRecord(f":line {n}", f"invalid JSON: {err.msg} at column {err.colno}")
            continue
        except RecursionError:
            yield BadRecord(f":line {n}", "invalid JSON: nested too deeply")
            continue
        try:
            yield record_to_draft(rec, i)
        except IngestError as err:
            yield BadRecord(f":line {n}", str(err))
