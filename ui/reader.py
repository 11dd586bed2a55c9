"""The full article behind a source card, with the cited excerpts highlighted, in an overlay over the chat.

It shows the article's cleaned text, the text every citation offset points into, so it works the same for .txt,
.md, HTML, PDF and JSON records; the page script scrolls the overlay to the excerpt that was clicked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from .render import safe_url


def _marked(text: str, spans: Sequence[tuple[int, int, int]], target: int) -> str:
    """text with <mark>s over valid, non-overlapping (n, start, end) spans; paragraphs as <p>."""
    ok = sorted((s, e, n) for n, s, e in spans if 0 <= s < e <= len(text))
    pieces, pos = [], 0
    for s, e, n in ok:
        if s < pos:
            continue  # overlapping excerpts: the first one is marked
        cls = ' class="rag-hl-target"' if n == target else ""
        pieces.append(escape(text[pos:s]))
        # A span over a paragraph break (a long quote) is closed and reopened there, so each <p> stays whole.
        body = re.sub(r"(\n\s*\n)", rf'</mark>\1<mark{cls} data-n="{n}">', escape(text[s:e]))
        pieces.append(f'<mark id="rag-hl-{n}"{cls} data-n="{n}">{body}</mark>')
        pos = e
    pieces.append(escape(text[pos:]))
    html = "".join(pieces)
    paras = [p.strip() for p in re.split(r"\n\s*\n", html) if p.strip()]
    return "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paras)


def reader_html(article, spans: Sequence[tuple[int, int, int]], target: int, nonce: int = 0,
                quote: bool = False) -> str:
    """The overlay. `spans` are (n, start, end) of this article's citations; `target` is the n to scroll to.
    `nonce` makes reopening the same article a new value, so the page re-renders and scrolls again."""
    if article is None:
        return (f'<div class="rag-reader" data-nonce="{nonce}"><div class="rag-reader-box" role="dialog" '
                'aria-label="Article"><button class="rag-reader-close" aria-label="Close article">✕</button>'
                '<p class="rag-empty">This article is no longer in the index.</p></div></div>')
    meta = " · ".join(escape(x) for x in (article.source, (article.published_at or "")[:10]) if x)
    url = safe_url(article.url)
    link = (f' · <a href="{escape(url)}" target="_blank" rel="noopener noreferrer">original ↗</a>' if url else "")
    n = sum(1 for _, s, e in spans if 0 <= s < e <= len(article.text or ""))
    if quote:  # from "Who said what": the quote, and the attribution when it stands apart
        count = "the quote and who said it highlighted" if n > 1 else "the quote highlighted"
    else:
        count = f"{n} cited passage{'s' if n != 1 else ''} highlighted"
    return (f'<div class="rag-reader" data-nonce="{nonce}"><div class="rag-reader-box" role="dialog" '
            f'aria-label="Article: {escape(article.title or "Untitled article")}">'
            '<button class="rag-reader-close" aria-label="Close article">✕</button>'
            f'<h2 class="rag-reader-title">{escape(article.title or "Untitled article")}</h2>'
            f'<div class="rag-meta">{meta}{link} · {count}</div>'
            f'<div class="rag-reader-text">{_marked(article.text or "", spans, target)}</div></div></div>')


def reader_for(index, data: dict, nonce: int = 0) -> str:
    """The overlay for an "Open article" click; `data` comes from the page (article id, spans "n:s:e,...",
    target n), so it is bounded and checked before use."""
    article = index.get_article(str(data.get("article", ""))[:200])
    spans = []
    for part in str(data.get("spans", ""))[:4000].split(","):
        bits = part.split(":")
        if len(bits) == 3 and all(re.fullmatch(r"-?\d{1,9}", b) for b in bits):
            spans.append(tuple(int(b) for b in bits))
    try:
        target = int(data.get("target", 0))
    except (TypeError, ValueError):
        target = 0
    return reader_html(article, spans, target, nonce, quote=data.get("what") == "quote")
