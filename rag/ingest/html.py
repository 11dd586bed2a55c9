"""HTML -> Draft: main text and metadata by trafilatura, with a linear-time stdlib fallback for pages trafilatura
cannot read (script-heavy, deeply nested, broken). trafilatura is imported on first use."""

from __future__ import annotations

import html as html_lib
import json
import re

from .cleaning import normalize_date, strip_header_lines
from ..errors import IngestError
from .formats import Draft


_META_KEYS = {
    "og:title": "title", "twitter:title": "title", "dc.title": "title",
    "author": "author", "article:author": "author", "byl": "author", "parsely-author": "author",
    "dc.creator": "author", "sailthru.author": "author",
    "og:site_name": "source", "application-name": "source", "publisher": "source",
    "article:published_time": "published_at", "datepublished": "published_at", "date": "published_at",
    "pubdate": "published_at", "publish-date": "published_at", "dc.date": "published_at",
    "parsely-pub-date": "published_at", "og:published_time": "published_at", "sailthru.date": "published_at",
    "og:url": "url",
}
# Not "form": ASP.NET pages wrap the whole body in one.
_SKIP_TAGS = frozenset({"nav", "footer", "aside", "button", "select", "textarea", "svg", "object", "iframe"})
# Elements whose content is never visible text; skipped up to their closing tag (or the end of the page).
_RAW_TAGS = re.compile(r"<(script|style|noscript|template|head)\b", re.I)
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
                         "section", "article", "header", "blockquote", "pre", "figure", "figcaption", "hr",
                         "main", "dd", "dt", "dl", "body", "html", "td", "th"})
# One tag, comment opener or declaration. "[^<>]" keeps every match attempt short of the next "<", so a page of
# unclosed tags costs linear time (html.parser is quadratic on "<a <a <a ...").
_TAG = re.compile(r"<(?:[!?][^<>]*|(/?)([A-Za-z][\w:.-]*)([^<>]*))>")
_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")


def _attrs(raw: str) -> dict[str, str]:
    return {k.lower(): html_lib.unescape(v.strip("\"'")) for k, v in _ATTR.findall(raw)}


def _strip_raw(page: str, meta: dict[str, str]) -> str:
    """Cut comments and script/style/head contents in one left-to-right pass; <head> is read for metadata first.
    The next comment and the next raw tag are searched again only once passed, which keeps the pass linear."""
    out: list[str] = []
    pos = 0
    comment = page.find("<!--")
    raw = _RAW_TAGS.search(page)
    while True:
        if 0 <= comment < pos:
            comment = page.find("<!--", pos)
        if raw is not None and raw.start() < pos:
            raw = _RAW_TAGS.search(page, pos)
        if comment < 0 and raw is None:
            out.append(page[pos:])
            return "".join(out)
        if raw is None or 0 <= comment < raw.start():
            out.append(page[pos:comment])
            end = page.find("-->", comment + 4)
            pos = len(page) if end < 0 else end + 3
            continue
        out.append(page[pos:raw.start()])
        name = raw[1].lower()
        close = re.compile(rf"</{name}\s*>", re.I).search(page, raw.end())
        if name != "head":
            pos = len(page) if close is None else close.end()
            continue
        body = re.compile(r"<body\b", re.I).search(page, raw.end(), close.start() if close else len(page))
        head_end = body.start() if body else close.start() if close else len(page)
        _scan_tags(page[raw.end():head_end], meta)
        pos = head_end if body or close is None else close.end()


def _scan_tags(page: str, meta: dict[str, str], blocks: list[str] | None = None) -> None:
    """Collect <title>/<meta>/canonical metadata and, when `blocks` is given, visible text split at block tags."""
    buf: list[str] = []
    skip = 0
    title: list[str] | None = None
    pos = 0

    def flush() -> None:
        if buf and blocks is not None:
            block = " ".join(html_lib.unescape("".join(buf)).split())
            if block:
                blocks.append(block)
        buf.clear()

    for m in _TAG.finditer(page):
        text = page[pos:m.start()]
        pos = m.end()
        if skip:
            pass
        elif title is not None:
            title.append(text)
        else:
            buf.append(text)
        if m[2] is None:
            continue  # comment opener, doctype, processing instruction
        closing, name = bool(m[1]), m[2].lower()
        if name == "title":
            if closing and title is not None:
                meta.setdefault("html_title", " ".join(html_lib.unescape("".join(title)).split()))
                title = None
            elif not closing:
                title = []
        elif name == "meta" and not closing:
            a = _attrs(m[3])
            key = _META_KEYS.get((a.get("property") or a.get("name") or a.get("itemprop") or "").lower())
            if key and a.get("content", "").strip():
                meta.setdefault(key, a["content"].strip())
        elif name == "link" and not closing:
            a = _attrs(m[3])
            if "canonical" in a.get("rel", "").lower() and a.get("href"):
                meta.setdefault("canonical", a["href"].strip())
        if name in _SKIP_TAGS and not m[3].rstrip().endswith("/"):
            skip = max(0, skip - 1) if closing else skip + 1
        elif name in _BLOCK_TAGS:
            flush()
    if title is not None:
        buf.extend(title)  # an unclosed <title> must not swallow the page
    if not skip:
        buf.append(page[pos:])
    flush()


def _scan_page(page: str, *, head_only: bool) -> tuple[str, dict[str, str]]:
    """(visible text with blocks as paragraphs, metadata). Linear in the page size, whatever its nesting."""
    meta: dict[str, str] = {}
    if head_only:
        body_at = re.compile(r"<body\b", re.I).search(page, 0, 2_000_000)
        _scan_tags(page[:body_at.start() if body_at else 200_000], meta)
        return "", meta
    blocks: list[str] = []
    _scan_tags(_strip_raw(page, meta), meta, blocks)
    return "\n\n".join(blocks), meta


def _trafilatura(html: str) -> dict:
    import trafilatura

    try:
        out = trafilatura.extract(html, output_format="json", with_metadata=True, include_comments=False,
                                  include_tables=True)
    except Exception:  # lxml/trafilatura choke on some hostile trees (RecursionError...); the fallback reads it
        return {}
    return json.loads(out) if out else {}


def parse_html(html: str) -> Draft:
    """Main text and metadata by trafilatura; when it finds nothing, the page's visible text by `_scan_page`."""
    extracted = _trafilatura(html)
    text = (extracted.get("text") or "").strip()
    if text:
        _, meta = _scan_page(html, head_only=True)
        # trafilatura puts one block per line; blank lines keep them as paragraphs for chunking.
        text = text.replace("\n", "\n\n")
    else:
        text, meta = _scan_page(html, head_only=False)
    if not text.strip():
        raise IngestError("no article text found")
    text, dated, byline = strip_header_lines(text)
    return Draft(
        text=text,
        title=extracted.get("title") or meta.get("title") or meta.get("html_title", ""),
        source=extracted.get("source-hostname") or meta.get("source") or extracted.get("hostname") or "",
        author=extracted.get("author") or meta.get("author") or byline,
        published_at=normalize_date(meta.get("published_at")) or normalize_date(extracted.get("date")) or dated,
        url=extracted.get("source") or meta.get("canonical") or meta.get("url") or "",
    )


