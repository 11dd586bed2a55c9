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


def markdown_carrier(md: str) -> str:
    """The answer's Markdown, hidden in its bubble, for the Copy button (ui/theme.py's script reads it).
    Newlines are written as entities: a blank line would end the bubble's HTML block in the Markdown renderer."""
    return f'<span class="rag-md">{esc(md).replace(chr(10), "&#10;")}</span>'


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


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 article', '2 articles' (`many` for irregular plurals)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _preview(citation) -> str:
    """The hover card of an [n] marker: where the passage comes from and its first words."""
    a = citation.article
    meta = " · ".join(esc(x) for x in (a.source, (a.published_at or "")[:10]) if x)
    words = " ".join(str(citation.excerpt).split())
    words = clip(words, 220)
    return (f'<span class="rag-pop" role="tooltip"><span class="rag-pop-title">{esc(a.title or "Untitled article")}'
            f'</span>' + (f'<span class="rag-pop-meta">{meta}</span>' if meta else "")
            + f"<span class=\"rag-pop-text\">“{esc(words)}”</span></span>")


def _markers_to_links(escaped: str, turn: int, known: set[int] | None, previews: dict[int, str] | None = None) -> str:
    previews = previews or {}

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        if known is not None and n not in known:
            return m.group(0)
        return f'<a class="rag-cite" href="#src-{turn}-{n}">[{n}]{previews.get(n, "")}</a>'

    return MARKER.sub(link, escaped)


def streaming_html(text: str, turn: int) -> str:
    """The answer while it is still arriving: escaped, markers already clickable, a cursor at the end."""
    body = _markers_to_links(_lines(esc(text)), turn, None)
    return f'<div class="rag-answer">{body}<span class="rag-cursor">▍</span></div>'


def answer_html(answer, turn: int, *, note: str = "", filtered: str = "") -> str:
    """The finished answer bubble: refusals boxed, unsupported sentences flagged, the searched query shown.
    `note` (trusted HTML) goes on top, e.g. that the picked model could not run; `filtered` (trusted HTML) goes
    into a refusal to say what the filters left out."""
    searched = ""
    if answer.query and answer.query.strip() != answer.question.strip():
        searched = f'<div class="rag-searched">Searched for: <q>{esc(answer.query)}</q></div>'
    if answer.refused:
        body = esc(answer.text).strip() or "The indexed articles do not contain enough to answer this."
        hint = filtered or ('<div class="rag-refusal-hint">The closest passages are listed under Sources. Try '
                            "rephrasing, widening the filters, or adding articles.</div>")
        return (f'{note}<div class="rag-refusal"><div class="rag-refusal-title">The articles don’t say</div>'
                f"<div>{body}</div>{hint}</div>" + searched)
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
    text = _markers_to_links(_lines(text), turn, known, {c.n: _preview(c) for c in answer.citations})
    warn = ""
    if unsupported:
        warn = ('<div class="rag-unsupported-note">⚠ Sentences marked like this are not supported by the cited '
                "articles; treat them with care." + "".join(f"<br>• {s}" for s in leftovers) + "</div>")
    return f'{note}<div class="rag-answer">{text}</div>{warn}{searched}'


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


def _open_button(article, spans: Sequence[tuple[int, int, int]], target: int) -> str:
    # The overlay is built on the server from the article id and these offsets (ui/reader.py checks them).
    data = ",".join(f"{n}:{s}:{e}" for n, s, e in spans)
    return (f'<button class="rag-open" type="button" data-article="{esc(article.id)}" data-spans="{esc(data)}" '
            f'data-target="{target}">Open article</button>')


def _source_card(turn: int, items: Sequence[tuple[int | None, int, int, str]], article) -> str:
    """One card per article: its title once, then each cited excerpt (n, start, end, text) in context."""
    numbered = [n for n, *_ in items if n is not None]
    badges = "".join(f'<span class="rag-badge">{n}</span>' for n in numbered) or \
        '<span class="rag-badge rag-badge-dim">·</span>'
    meta = _meta(article)
    # uncited passages (a refusal's closest ones) get negative numbers: still distinct targets in the reader
    spans = [(n if n is not None else -(i + 1), s, e) for i, (n, s, e, _) in enumerate(items)]
    blocks = [_excerpts_html(turn, article, cluster, len(items) > 1) for cluster in _clusters(article, items)]
    return (f'<div class="rag-source"><div class="rag-source-head"><span class="rag-badges">{badges}</span>'
            f'<div><div class="rag-source-title">{_title(article)}</div>'
            + (f'<div class="rag-meta">{meta}</div>' if meta else "")
            + f"</div></div>{''.join(blocks)}"
            f'<div class="rag-source-foot">{_open_button(article, spans, spans[0][0])}</div></div>')


def _clusters(article, items: Sequence[tuple[int | None, int, int, str]]) -> list[list]:
    """Excerpts close enough that their context windows would overlap share one block (the same words are not
    shown twice); excerpts whose offsets do not check out stay alone."""
    text = getattr(article, "text", "") or ""
    good = sorted((it for it in items if 0 <= it[1] < it[2] <= len(text) and text[it[1]:it[2]] == it[3]),
                  key=lambda it: it[1])
    out: list[list] = []
    for it in good:
        if out and out[-1][-1][2] <= it[1] and it[1] - out[-1][-1][2] <= 2 * CONTEXT_CHARS:
            out[-1].append(it)
        else:
            out.append([it])
    return out + [[it] for it in items if it not in good]


def _excerpts_html(turn: int, article, cluster: Sequence, numbered: bool) -> str:
    """One context block with each excerpt of `cluster` marked; a lone or unverifiable excerpt via passage_html."""
    def label(n):
        return f'<span class="rag-excerpt-n">[{n}]</span> ' if n is not None and numbered else ""

    if len(cluster) == 1:
        n, s, e, excerpt = cluster[0]
        anchor = f' id="src-{turn}-{n}"' if n is not None else ""
        return f'<div class="rag-excerpt"{anchor}>{label(n)}{passage_html(article, s, e, excerpt)}</div>'
    text = article.text
    before, _, _ = _window(text, cluster[0][1], cluster[0][2])
    _, _, after = _window(text, cluster[-1][1], cluster[-1][2])
    parts, pos = [_paras(esc(before))], cluster[0][1]
    for n, s, e, _ in cluster:
        parts.append(_paras(esc(text[pos:s])))
        anchor = f' id="src-{turn}-{n}"' if n is not None else ""
        parts.append(f'{label(n)}<mark class="rag-excerpt"{anchor}>{esc(text[s:e])}</mark>')
        pos = e
    parts.append(_paras(esc(after)))
    return f'<div class="rag-context">{"".join(parts)}</div>'


def _grouped(items: Iterable[tuple[int | None, object, int, int, str]]) -> list[tuple[object, list]]:
    groups: dict[str, tuple[object, list]] = {}
    for n, article, s, e, text in items:
        groups.setdefault(article.id, (article, []))[1].append((n, s, e, text))
    return list(groups.values())


def sources_html(answer, turn: int) -> str:
    """The sources panel for one answer: every cited excerpt (or, for a refusal, the closest passages), one card
    per article."""
    head = f'<div class="rag-panel-q">For: <q>{esc(answer.question)}</q>'
    if answer.query and answer.query.strip() != answer.question.strip():
        head += f'<br>Searched for: <q>{esc(answer.query)}</q>'
    head += "</div>"
    if answer.citations:
        groups = _grouped((c.n, c.article, c.start, c.end, c.excerpt) for c in answer.citations)
        cards = [_source_card(turn, items, article) for article, items in groups]
        return f'<div class="rag-sources">{head}{"".join(cards)}</div>'
    hits = list(getattr(answer, "hits", ()) or ())[:5]
    if not hits:
        return f'<div class="rag-sources">{head}<div class="rag-empty">No passages matched.</div></div>'
    groups = _grouped((None, h.article, h.start, h.end, h.text) for h in hits)
    cards = [_source_card(turn, items, article) for article, items in groups]
    return (f'<div class="rag-sources rag-sources-weak">{head}<div class="rag-weak-note">Closest passages — not '
            f'enough to answer from:</div>{"".join(cards)}</div>')


def placeholder_sources(message: str = "Ask a question: the passages behind each answer appear here, with the "
                                      "quoted words highlighted.") -> str:
    return f'<div class="rag-sources"><div class="rag-empty">{esc(message)}</div></div>'


def stats_html(stats: dict) -> str:
    a, c = int(stats.get("articles", 0)), int(stats.get("chunks", 0))
    return (f'<div class="rag-stats"><span><b>{a:,}</b> {"article" if a == 1 else "articles"}</span>'
            f'<span><b>{c:,}</b> {"passage" if c == 1 else "passages"}</span>'
            f'<span>embedder <code>{esc(stats.get("embedder", "?"))}</code></span></div>')


def articles_html(articles: Sequence) -> str:
    if not articles:
        return '<div class="rag-empty">The index is empty. Add articles above.</div>'
    # data-label lets the narrow-screen CSS show each row as a small card with its field names.
    rows = "".join(
        f'<tr><td data-label="Title">{_title(a)}</td><td data-label="Outlet">{esc(a.source)}</td>'
        f'<td data-label="Date">{esc(a.published_at[:10])}</td>'
        f'<td class="rag-num" data-label="Passages">{a.chunks}</td><td data-label="Id"><code>{esc(a.id)}</code></td>'
        "</tr>" for a in articles)
    return ('<div class="rag-table-wrap"><table class="rag-table rag-articles"><thead><tr><th>Title</th><th>Outlet</th>'
            f'<th>Date</th><th class="rag-num">Passages</th><th>Id</th></tr></thead><tbody>{rows}</tbody></table></div>')


def report_html(report, refused: Iterable, shown_name: dict[str, str] | None = None,
                files: Sequence[tuple[str, str]] = ()) -> str:
    """What an upload did: counts, each file that was indexed (name, what happened), then each file that was not
    indexed and why."""
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
                     f"<b>{report.unchanged}</b> unchanged · {plural(report.chunks_embedded, 'passage')} embedded")
    if files:
        parts.append('<ul class="rag-files">' + "".join(f"<li><b>{esc(n)}</b>: {esc(what)}</li>" for n, what in files)
                     + "</ul>")
    ok = report is not None and (report.added or report.updated or report.unchanged)
    cls = "rag-report-ok" if ok and not problems else ("rag-report-mixed" if ok else "rag-report-bad")
    items = "".join(f"<li><b>{esc(n)}</b>: {esc(r)}</li>" for n, r in problems)
    skipped = f'<div class="rag-skipped">Not indexed:<ul>{items}</ul></div>' if problems else ""
    return f'<div class="rag-report {cls}">{"".join(parts)}{skipped}</div>'
