"""Answers and whole conversations as Markdown: what Copy puts on the clipboard and what "Export chat" downloads.

The chat shows HTML, but a person pasting an answer into a note or an e-mail wants readable text whose [n]
markers still lead somewhere, so every answer carries its numbered sources (title, outlet, date, url) with the
quoted excerpt, verbatim, as a block quote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ESCAPE = re.compile(r"([\\`*_{}<>#|])")


def _inline(text: str) -> str:
    """One line of Markdown that shows `text` literally (no accidental emphasis, headings or HTML)."""
    return _ESCAPE.sub(r"\\\1", " ".join(str(text or "").split()))


def _quote(text: str) -> str:
    return "\n".join("> " + _inline(line) for line in str(text).split("\n") if line.strip()) or ">"


def _source_line(n: int, article) -> str:
    title = _inline(article.title or "Untitled article")
    meta = ", ".join(x for x in (_inline(article.source), (article.published_at or "")[:10]) if x)
    url = (article.url or "").strip()
    return f"[{n}] {title}" + (f" — {meta}" if meta else "") + (f". <{url}>" if url.startswith(("http://", "https://")) else "")


def answer_markdown(answer) -> str:
    """The answer text (markers kept) followed by its numbered sources with their verbatim excerpts."""
    if answer.refused:
        return "_The articles don't say._ " + _inline(answer.text)
    parts = [str(answer.text).strip()]
    if answer.citations:
        parts.append("Sources:")
        for c in answer.citations:
            parts.append(_source_line(c.n, c.article) + "\n" + _quote(c.excerpt))
    return "\n\n".join(parts)


def conversation_markdown(title: str, turns: Sequence) -> str:
    """A whole chat: each question as a heading, its answer's Markdown under it. `turns` have .question, .md."""
    out = [f"# {_inline(title) or 'Chat'}", ""]
    for t in turns:
        out += [f"## {_inline(t.question)}", "", (t.md or "_No answer._").strip(), ""]
    return "\n".join(out).rstrip() + "\n"
