"""HTML for the chat: answer bubbles, the sources panel, the library. Pure functions of rag's value objects.

Every piece of article or model text passes through `html.escape` before it meets markup: articles come from
anywhere (an uploaded HTML page may well contain `<script>`), and the Chatbot's sanitiser is a second line of
defence, not the first. Citation markers become links to `#src-<turn>-<n>`; a small script (ui/app.py) turns a
click on one into a scroll to that source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import urlparse

MARKER = re.compile(r"\[(\d{1,3})\]")
CONTEXT_CHARS = 260


def esc(text: object) -> str:
    return escape(str(text or ""), quote=True)


def _lines(escaped: str) -> str:
    # The bubble is an HTML block, where bare newlines would collapse; keep the model's paragraphs.
    return escaped.strip().replace("\n", "<br>")


def _paras(escaped: str) -> str:
    # Cleaned article text separates paragraphs with blank lines; in a narrow panel a pilcrow reads better.
    return re.sub(r"\s*\n\s*", " ¶ ", escaped)


def safe_url(url: str) -> str:
    """The url when it is plain http(s), else "" (a `javascript:` link in an article must not become clickable)."""
    try:
        parsed = urlparse((url or "").strip())
    except ValueError:
        return ""
    return url.strip() if parsed.scheme in ("http", "https") and parsed.netloc else ""


def _markers_to_links(escaped: str, turn: int, known: set[int] | None) -> str:
    def link(m: re.Match) -> str:
        n = int(m.group(1))
        if known is not None and n not in known:
            return m.group(0)
        return f'<a class="rag-cite" href="#src-{turn}-{n}" data-turn="{turn}" data-n="{n}">[{n}]</a>'

    return MARKER.sub(link, escaped)


def streaming_html(text: str, turn: int) -> str:
    """The answer while it is still arriving: escaped, markers already clickable, a cursor at the end."""
    body = _markers_to_links(_lines(esc(text)), turn, None)
    return f'<div class="rag-answer">{body}<span class="rag-cursor">▍</span></div>'


def answer_html(answer, turn: int) -> str:
    """The finished answer bubble: refusals boxed, unsupported sentences flagged, the searched query shown."""
    searched = ""
    if answer.query and answer.query.strip() != answer.question.strip():
        searched = f'<div class="rag-searched">Searched for: <q>{esc(answer.query)}</q></div>'
    if answer.refused:
        body = esc(answer.text).strip() or "The indexed articles do not contain enough to answer this."
        return (f'<div class="rag-refusal"><div class="rag-refusal-title">The articles don’t say</div>'
                f"<div>{body}</div>"
                '<div class="rag-refusal-hint">The closest passages are listed under Sources. Try rephrasing, '
                "widening the filters, or adding articles.</div></div>" + searched)
    known = {c.n for c in answer.citations}
    text = esc(answer.text)
    unsupported = [s.text.strip() for s in getattr(answer, "sentences", ()) if not s.supported and s.text.strip()]
    leftovers = []
    for sentence in unsupported:
        needle = esc(sentence)
        if needle in text:
            text = text.replace(needle, f'<span class="rag-unsupported" title="No cited passage supports this '
                                        f'sentence">⚠ {needle}</span>', 1)
        else:
            leftovers.append(needle)
    text = _markers_to_links(_lines(text), turn, known)
    note = ""
    if unsupported:
        note = ('<div class="rag-unsupported-note">⚠ Sentences marked like this are not supported by the cited '
                "articles; treat them with care." + "".join(f"<br>• {s}" for s in leftovers) + "</div>")
    return f'<div class="rag-answer">{text}</div>{note}{searched}'


def error_html(message: str) -> str:
    return f'<div class="rag-error"><strong>Could not answer.</strong> {esc(message)}</div>'


def _window(text: str, start: int, end: int, span: int = CONTEXT_CHARS) -> tuple[str, str, str]:
    """(before, passage, after) around text[start:end], cut at word boundaries, with ellipses where cut."""
    a = max(0, start - span)
    b = min(len(text), end + span)
    if a > 0:
        space = text.find(" ", a, start)
        a = space + 1 if space != -1 else a
    if b < len(text):
        space = text.rfind(" ", end, b)
        b = space if space != -1 else b
    before = ("…" if a > 0 else "") + text[a:start]
    after = text[end:b] + ("…" if b < len(text) else "")
    return before, text[start:end], after


def passage_html(article, start: int, end: int, excerpt: str) -> str:
    """The excerpt marked inside its surrounding article text. Falls back to the excerpt alone when the offsets
    do not point at it (never shows the wrong words as highlighted)."""
    text = getattr(article, "text", "") or ""
    if 0 <= start < end <= len(text) and text[start:end] == excerpt:
        before, passage, after = _window(text, start, end)
    else:
        before, passage, after = "", excerpt, ""
    return (f'<div class="rag-context">{_paras(esc(before))}<mark>{esc(passage)}</mark>{_paras(esc(after))}</div>')


def _meta(article) -> str:
    bits = [esc(article.source) if article.source else "", esc(article.published_at[:10]) if article.published_at else ""]
    return " · ".join(b for b in bits if b)


def _title(article) -> str:
    title = esc(article.title or "Untitled article")
    url = safe_url(article.url)
    if url:
        return f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{title} ↗</a>'
    return title


def _source_card(turn: int, n: int | None, article, start: int, end: int, excerpt: str, extra: str = "") -> str:
    anchor = f' id="src-{turn}-{n}"' if n is not None else ""
    badge = f'<span class="rag-badge">{n}</span>' if n is not None else '<span class="rag-badge rag-badge-dim">·</span>'
    meta = _meta(article)
    return (f'<div class="rag-source"{anchor}><div class="rag-source-head">{badge}'
            f'<div><div class="rag-source-title">{_title(article)}</div>'
            + (f'<div class="rag-meta">{meta}{extra}</div>' if meta or extra else "")
            + f"</div></div>{passage_html(article, start, end, excerpt)}</div>")


def sources_html(answer, turn: int) -> str:
    """The sources panel for one answer: every cited excerpt (or, for a refusal, the closest passages)."""
    head = f'<div class="rag-panel-q">For: <q>{esc(answer.question)}</q>'
    if answer.query and answer.query.strip() != answer.question.strip():
        head += f'<br>Searched for: <q>{esc(answer.query)}</q>'
    head += "</div>"
    if answer.citations:
        cards = [_source_card(turn, c.n, c.article, c.start, c.end, c.excerpt) for c in answer.citations]
        return f'<div class="rag-sources">{head}{"".join(cards)}</div>'
    hits = list(getattr(answer, "hits", ()) or ())[:5]
    if not hits:
        return f'<div class="rag-sources">{head}<div class="rag-empty">No passages matched.</div></div>'
    cards = [_source_card(turn, None, h.article, h.start, h.end, h.text) for h in hits]
    return (f'<div class="rag-sources rag-sources-weak">{head}<div class="rag-weak-note">Closest passages — not '
            f'enough to answer from:</div>{"".join(cards)}</div>')


def placeholder_sources(message: str = "Ask a question: the passages behind each answer appear here, with the "
                                      "quoted words highlighted.") -> str:
    return f'<div class="rag-sources"><div class="rag-empty">{esc(message)}</div></div>'


def stats_html(stats: dict) -> str:
    return (f'<div class="rag-stats"><span><b>{stats.get("articles", 0)}</b> articles</span>'
            f'<span><b>{stats.get("chunks", 0)}</b> passages</span>'
            f'<span>embedder <code>{esc(stats.get("embedder", "?"))}</code></span></div>')


def articles_html(articles: Sequence) -> str:
    if not articles:
        return '<div class="rag-empty">The index is empty. Add articles above.</div>'
    rows = "".join(
        f"<tr><td>{_title(a)}</td><td>{esc(a.source)}</td><td>{esc(a.published_at[:10])}</td>"
        f'<td class="rag-num">{a.chunks}</td><td><code>{esc(a.id)}</code></td></tr>' for a in articles)
    return ('<table class="rag-table"><thead><tr><th>Title</th><th>Outlet</th><th>Date</th>'
            f'<th class="rag-num">Passages</th><th>Id</th></tr></thead><tbody>{rows}</tbody></table>')


def report_html(report, refused: Iterable, shown_name: dict[str, str] | None = None) -> str:
    """What an upload did: counts, then each file that was not indexed and why."""
    shown_name = shown_name or {}
    problems = [(r.name, r.reason) for r in refused]
    if report is not None:
        for s in report.skipped:
            file, _, rest = s.path.partition("#")
            name = shown_name.get(file, file.rsplit("/", 1)[-1])
            problems.append((name + (f"#{rest}" if rest else ""), s.reason))
    parts = []
    if report is not None:
        parts.append(f"<b>{report.added}</b> added · <b>{report.updated}</b> updated · "
                     f"<b>{report.unchanged}</b> unchanged · {report.chunks_embedded} passages embedded")
    ok = report is not None and (report.added or report.updated or report.unchanged)
    cls = "rag-report-ok" if ok and not problems else ("rag-report-mixed" if ok else "rag-report-bad")
    items = "".join(f"<li><b>{esc(n)}</b>: {esc(r)}</li>" for n, r in problems)
    skipped = f'<div class="rag-skipped">Not indexed:<ul>{items}</ul></div>' if problems else ""
    return f'<div class="rag-report {cls}">{"".join(parts)}{skipped}</div>'
