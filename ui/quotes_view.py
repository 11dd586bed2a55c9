"""The "Who said what" tab: the quotes and reported claims rag found in the articles, as data (speaker, role or
organisation, the quote, outlet, date), searched by topic words and speaker under the chat's outlet and date
filters. A row opens its article in the reader, scrolled to the quote, highlighted.

Everything comes from `rag.Index.quotes`; an empty result says why (nothing about those words, or the filters
left the matching quotes out, and which).
"""

from __future__ import annotations

from collections.abc import Sequence

from rag import RagError

from .filters import Filters, chips_html, filters_from
from .render import clip, esc, plural

MAX_ROWS = 50
LEFT_OUT_SHOWN = 4
TITLE_CHARS = 70

# A row (or its "Open" button, for the keyboard) asks the server for the reader overlay, like a source card does.
QUOTES_JS = """
const open = (row) => trigger('click', {article: row.dataset.article, spans: row.dataset.spans,
                                        target: row.dataset.target, what: 'quote'});
element.addEventListener('click', (ev) => {
  const row = ev.target && ev.target.closest ? ev.target.closest('tr[data-article]') : null;
  if (row && !ev.target.closest('a')) open(row);
});
"""


def _who(quote) -> str:
    """The role as the article states it, and the organisation when the role does not already name it."""
    role, org = (quote.role or "").strip(), (quote.organisation or "").strip()
    if org and org.lower() not in role.lower() and org.lower() not in (quote.speaker or "").lower():
        return f"{role}, {org}" if role else org
    return role


def _said(hit) -> str:
    q = hit.quote
    if q.kind == "direct":
        return f'<span class="rag-q-text">“{esc(q.quote)}”</span>'
    return f'<span class="rag-q-kind">Reported</span> <span class="rag-q-text">{esc(q.quote)}</span>'


def _row(hit) -> str:
    q, a = hit.quote, hit.article
    # The quote is the target; the attribution ("Mr Mitov told the Times") is marked too when it stands apart.
    spans = [f"1:{q.start}:{q.end}"]
    if q.attr_end <= q.start or q.attr_start >= q.end:
        spans.append(f"2:{q.attr_start}:{q.attr_end}")
    who = _who(q)
    # "told the Times" says where it was said; a bare "said" says nothing the row does not.
    verb = f"{q.verb} {q.addressee}" if q.verb and q.addressee else ""
    title = a.title or "Untitled article"
    short = clip(title, TITLE_CHARS + 1)
    day = (a.published_at or "")[:10]
    return (f'<tr data-article="{esc(a.id)}" data-spans="{",".join(spans)}" data-target="1" '
            f'title="Open the article at this quote">'
            f'<td data-label="Speaker"><span class="rag-q-speaker">{esc(q.speaker)}</span>'
            + (f'<span class="rag-meta rag-q-role">{esc(who)}</span>' if who else "") + "</td>"
            f'<td data-label="Quote">{_said(hit)}'
            f'<span class="rag-q-foot"><span class="rag-meta" title="{esc(title)}">{esc(verb)}'
            f'{" · " if verb else ""}{esc(short)}</span>'
            f'<button class="rag-open" type="button">Open in article</button></span></td>'
            f'<td data-label="Outlet">{esc(a.source) or "<span class=rag-meta>—</span>"}</td>'
            f'<td data-label="Date">{esc(day) or "<span class=rag-meta>undated</span>"}</td></tr>')


def _unique(hits: Sequence) -> list:
    """One row per thing said: a pull-quote repeated in the article's body is shown once (its first, best-ranked
    occurrence)."""
    seen, out = set(), []
    for h in hits:
        key = (h.article.id, h.quote.speaker.lower(), " ".join(h.quote.quote.split()).lower())
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def quotes_html(hits: Sequence, *, topic: str = "", more: bool = False) -> str:
    """The results table (cards on a phone, like the Library)."""
    order = "best match first" if topic else "newest first"
    shown = plural(len(hits), "quote") + (" shown, more match: add words to narrow them" if more else "")
    head = f'<div class="rag-q-count">{shown} · {order} · click one to read it in its article</div>'
    rows = "".join(_row(h) for h in hits)
    return (f'{head}<div class="rag-table-wrap"><table class="rag-table rag-quotes"><thead><tr><th>Speaker</th>'
            f'<th>Quote</th><th>Outlet</th><th>Date</th></tr></thead><tbody>{rows}</tbody></table></div>')


def _what(topic: str, speaker: str) -> str:
    return ("quotes" + (f" by “{esc(speaker)}”" if speaker else "") + (f" about “{esc(topic)}”" if topic else ""))


def empty_html(topic: str, speaker: str, n_articles: int, f: Filters, n_admitted: int = 0,
               left_out: Sequence = ()) -> str:
    """Why there is nothing to show: no articles, no such quotes, or the filters left them out (named)."""
    if n_articles == 0:
        return ('<div class="rag-empty rag-q-empty">The index is empty: add articles in the Library and the quotes '
                "in them appear here.</div>")
    what = _what(topic, speaker)
    if not f.active:
        msg = f"No {what} in the {plural(n_articles, 'indexed article')}."
        if topic or speaker:
            msg += " Try other or fewer words, or leave both fields empty to list every quote."
        return f'<div class="rag-empty rag-q-empty">{msg}</div>'
    in_all = f"{plural(n_articles, 'article')} indexed in all"
    msg = (f"No {what} in the {plural(n_admitted, 'article')} that the filters keep ({esc(f.describe())}; {in_all})."
           if n_admitted else f"No article matches the filters ({esc(f.describe())}; {in_all}), so no {what}.")
    if not left_out:
        return (f'<div class="rag-empty rag-q-empty">{msg} Without the filters there are none either.</div>')
    by_article: dict[str, tuple] = {}
    for h in left_out:
        art, speakers = by_article.setdefault(h.article.id, (h.article, []))
        if h.quote.speaker not in speakers:
            speakers.append(h.quote.speaker)
    items = "".join(
        f"<li>{esc(', '.join(speakers))} — {esc(a.title or 'Untitled article')}"
        + (f" ({esc(', '.join(x for x in (a.source, (a.published_at or '')[:10]) if x))})"
           if a.source or a.published_at else "") + "</li>"
        for a, speakers in list(by_article.values())[:LEFT_OUT_SHOWN])
    more = (f"<li>and {plural(len(by_article) - LEFT_OUT_SHOWN, 'more article')}</li>"
            if len(by_article) > LEFT_OUT_SHOWN else "")
    return (f'<div class="rag-empty rag-q-empty">{msg} The filters left out '
            f"{plural(len(left_out), 'matching quote')} in {plural(len(by_article), 'article')}:"
            f"<ul>{items}{more}</ul>Use <b>✕ Clear filters</b> to see them.</div>")


def _results(body: str, topic: str, speaker: str, filters: str) -> str:
    # What the panel answers, on the panel: a new search with the same words still replaces the old panel.
    return (f'<div class="rag-q-results" data-topic="{esc(topic)}" data-speaker="{esc(speaker)}" '
            f'data-filters="{esc(filters)}">{body}</div>')


def error_html(message: str) -> str:
    return f'<div class="rag-error">{esc(message)}</div>'


def filter_line(f: Filters) -> str:
    """The active filters as chips, or where to set them."""
    if f.active:
        return chips_html(f)
    return ('<div class="rag-chips"><span class="rag-chips-label">All outlets and dates (filters are set under '
            "Chat › Settings).</span></div>")


class QuotesActions:
    """Mixed into ui.handlers.RagUI: needs self.index."""

    index: object

    def find_quotes(self, topic: str | None, speaker: str | None, outlets: Sequence[str] | None,
                    date_from: str | None, date_to: str | None) -> tuple:
        """(filter line HTML, "Clear filters" update, results HTML) for the tab."""
        import gradio as gr

        topic, speaker = " ".join((topic or "").split())[:300], " ".join((speaker or "").split())[:120]
        try:
            f = filters_from(outlets, date_from, date_to)
        except RagError as err:
            shown = Filters(tuple(outlets or ()), (date_from or "").strip() or None, (date_to or "").strip() or None)
            return (filter_line(shown), gr.update(visible=shown.active),
                    _results(error_html(str(err)), topic, speaker, shown.describe()))
        try:
            hits = self._quotes(topic, speaker, f)
            if hits:
                body = quotes_html(_unique(hits[:MAX_ROWS]), topic=topic, more=len(hits) > MAX_ROWS)
            else:
                arts = self.index.articles()
                left = _unique(self._quotes(topic, speaker, Filters())) if f.active and arts else []
                body = empty_html(topic, speaker, len(arts), f, sum(1 for a in arts if f.admits(a)), left)
        except RagError as err:
            body = error_html(str(err))
        return filter_line(f), gr.update(visible=f.active), _results(body, topic, speaker, f.describe())

    def _quotes(self, topic: str, speaker: str, f: Filters) -> list:
        return self.index.quotes(topic or None, speaker=speaker or None, sources=list(f.sources) or None,
                                 since=f.date_from, until=f.date_to, limit=MAX_ROWS + 1)
