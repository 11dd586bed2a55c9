"""Look and behaviour of the page: CSS, the citation-click script, the theme.

Kept in a Python module (not .css/.js files) so that they ship with any install of the package without
package-data configuration. Gradio 6 takes css/js/theme at launch(), not in the Blocks constructor; see
`RagBlocks` in ui/app.py.
"""

from __future__ import annotations

CSS = """
.gradio-container { max-width: 1400px !important; width: 100% !important; margin: 0 auto; }
#rag-header { display: flex; align-items: baseline; justify-content: space-between; flex-wrap: wrap; gap: 8px;
  padding: 4px 2px 8px; border-bottom: 1px solid var(--border-color-primary); margin-bottom: 4px; }
#rag-header h1 { font-size: 1.45rem; margin: 0; font-weight: 700; letter-spacing: -0.01em; }
#rag-header .rag-sub { color: #475569; font-size: 0.92rem; }
.rag-stats { display: flex; gap: 14px; flex-wrap: wrap; font-size: 0.9rem; color: #475569; }
.rag-stats b { color: var(--body-text-color); }

/* answers */
.rag-answer { line-height: 1.6; }
a.rag-cite, .message a[href*="#src-"] { display: inline-block; font-size: 0.78em; font-weight: 700; position: relative;
  text-decoration: none !important; color: #1d4ed8 !important; background: #dbeafe; border-radius: 5px;
  padding: 0 4px; margin: 0 1px; vertical-align: super; line-height: 1.3; cursor: pointer; }
a.rag-cite:hover, .message a[href*="#src-"]:hover { background: #1d4ed8; color: #fff !important; }
.rag-cursor { animation: rag-blink 1s steps(1) infinite; color: var(--body-text-color-subdued); }
@keyframes rag-blink { 50% { opacity: 0; } }
.rag-unsupported { background: #fef3c7; border-bottom: 2px dotted #d97706; border-radius: 3px; padding: 0 2px; }
.rag-unsupported-note { margin-top: 8px; font-size: 0.85rem; color: #92400e; background: #fffbeb;
  border: 1px solid #fde68a; border-radius: 8px; padding: 6px 10px; }
.rag-searched { margin-top: 8px; font-size: 0.82rem; color: #475569; }
.rag-refusal { border: 1px solid #fca5a5; border-left: 5px solid #dc2626; background: #fef2f2; color: #7f1d1d;
  border-radius: 10px; padding: 10px 14px; }
.rag-refusal-title { font-weight: 700; font-size: 1.02rem; margin-bottom: 4px; }
.rag-refusal-title::before { content: "∅ "; }
.rag-refusal-hint { margin-top: 6px; font-size: 0.85rem; }
.rag-error { border: 1px solid #fdba74; border-left: 5px solid #ea580c; background: #fff7ed; color: #7c2d12;
  border-radius: 10px; padding: 10px 14px; }

/* sources panel */
#rag-sources-col { position: sticky; top: 8px; align-self: flex-start; }
#rag-sources { max-height: 74vh; overflow-y: auto; padding-right: 4px; }
.rag-sources { display: flex; flex-direction: column; gap: 10px; }
.rag-panel-q { font-size: 0.85rem; color: #475569; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 10px 12px;
  background: var(--background-fill-primary); scroll-margin-top: 12px; transition: box-shadow .3s, border-color .3s; }
.rag-source-head { display: flex; gap: 10px; align-items: flex-start; margin-bottom: 6px; }
.rag-badge { flex: none; min-width: 24px; height: 24px; border-radius: 12px; background: #1d4ed8; color: #fff;
  font-weight: 700; font-size: 0.8rem; display: inline-flex; align-items: center; justify-content: center; }
.rag-badge-dim { background: #94a3b8; }
.rag-source-title { font-weight: 650; line-height: 1.3; }
.rag-source-title a { color: inherit; text-decoration: none; }
.rag-source-title a:hover { text-decoration: underline; }
.rag-meta { font-size: 0.8rem; color: #475569; margin-top: 2px; }
.rag-context { font-size: 0.88rem; line-height: 1.55; color: #334155;
  border-left: 3px solid var(--border-color-primary); padding-left: 10px; }
.rag-context mark { background: #fde68a; color: #111827; padding: 1px 2px; border-radius: 3px; }
.rag-source.rag-flash, .rag-excerpt.rag-flash { border-color: #1d4ed8; box-shadow: 0 0 0 3px rgba(29, 78, 216, .35); }
.rag-excerpt { border-radius: 8px; scroll-margin-top: 12px; }
.rag-excerpt + .rag-excerpt { margin-top: 8px; }
.rag-excerpt-n { font-weight: 700; color: #1d4ed8; font-size: 0.8rem; }
.rag-badges { display: inline-flex; gap: 3px; flex: none; }
.rag-source-foot { margin-top: 8px; display: flex; justify-content: flex-end; }
button.rag-open { font-size: 0.8rem; padding: 2px 10px; border-radius: 8px; cursor: pointer;
  border: 1px solid #1d4ed8; color: #1d4ed8; background: transparent; }
button.rag-open:hover { background: #1d4ed8; color: #fff; }
.rag-sources-weak .rag-context mark { background: #e5e7eb; }
.rag-weak-note { font-size: 0.85rem; color: #991b1b; }
.rag-empty { color: #475569; font-size: 0.9rem; padding: 16px 4px; }

/* library */
.rag-table { width: 100%; border-collapse: collapse; font-size: 0.9rem; border: none !important; }
.rag-table th, .rag-table td { border-left: none !important; border-right: none !important; }
.rag-table th { text-align: left; font-weight: 600; border-bottom: 2px solid var(--border-color-primary); padding: 6px; }
.rag-table td { border-bottom: 1px solid var(--border-color-primary); padding: 6px; vertical-align: top; }
.rag-table td.rag-num, .rag-table th.rag-num { text-align: right; }
.rag-table code { font-size: 0.78rem; }
.rag-table td:nth-child(3) { white-space: nowrap; }
.rag-table a { color: inherit; padding: 0 !important; margin: 0 !important; }
.rag-report { border-radius: 10px; padding: 10px 14px; font-size: 0.92rem; border: 1px solid; }
.rag-report-ok { background: #f0fdf4; border-color: #86efac; color: #14532d; }
.rag-report-mixed { background: #fffbeb; border-color: #fde68a; color: #78350f; }
.rag-report-bad { background: #fef2f2; border-color: #fca5a5; color: #7f1d1d; }
.rag-skipped ul { margin: 4px 0 0 18px; padding: 0; }
.rag-model-help { font-size: 0.85rem; color: #475569; }
.rag-model-help summary { cursor: pointer; }
.rag-model-help code { font-size: 0.75rem; word-break: break-all; }
.rag-model-help li { margin: 4px 0; }
.rag-model-status { font-size: 0.85rem; padding: 6px 10px; border-radius: 8px; }
.rag-model-missing { background: #fffbeb; border: 1px solid #fde68a; color: #78350f; }
.rag-model-loading { background: #eff6ff; border: 1px solid #bfdbfe; color: #1e3a8a; }
.rag-model-status code, .rag-fallback code { font-size: 0.78rem; word-break: break-all; }

/* things said inside an answer */
.rag-md { display: none !important; }
.rag-fallback { font-size: 0.85rem; background: #fffbeb; border: 1px solid #fde68a; color: #78350f;
  border-radius: 8px; padding: 6px 10px; margin-bottom: 8px; }
.rag-filtered { margin-top: 8px; font-size: 0.88rem; }
.rag-filtered ul { margin: 4px 0 4px 18px; padding: 0; }
.rag-stopped { margin-top: 6px; font-size: 0.82rem; font-style: italic; color: #475569; }
.rag-pop { display: none; }
#rag-pop-float { position: fixed; z-index: 1000; max-width: min(340px, 90vw); background: #ffffff; color: #111827;
  border: 1px solid #cbd5e1; border-radius: 10px; padding: 8px 10px; font-size: 0.82rem; line-height: 1.45;
  box-shadow: 0 8px 24px rgba(15, 23, 42, .18); pointer-events: none; }
#rag-pop-float .rag-pop-title { display: block; font-weight: 700; }
#rag-pop-float .rag-pop-meta { display: block; color: #475569; margin-bottom: 4px; }
#rag-pop-float .rag-pop-text { display: block; }

/* filter chips above the question */
#rag-chips-row { gap: 6px; align-items: center; min-height: 0; }
#rag-chips-row:has(#rag-clear-filters[style*="display: none"]), #rag-chips-row:not(:has(.rag-chip)) { display: none; }
.rag-chips { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; font-size: 0.85rem; }
.rag-chips-label { color: #475569; }
.rag-chip { background: #dbeafe; color: #1e3a8a; border-radius: 999px; padding: 2px 10px; }

/* who said what */
.rag-q-count { font-size: 0.85rem; color: #475569; margin: 2px 0 6px; }
.rag-quotes tbody tr { cursor: pointer; }
.rag-quotes tbody tr:hover { background: var(--background-fill-secondary); }
.rag-quotes td:first-child { width: 22%; }
.rag-quotes td:nth-child(4) { white-space: nowrap; }
.rag-q-speaker { display: block; font-weight: 650; }
.rag-q-role { display: block; }
.rag-q-text { line-height: 1.5; }
.rag-q-kind { font-size: 0.72rem; font-weight: 700; text-transform: uppercase; letter-spacing: .03em;
  background: #e2e8f0; color: #334155; border-radius: 6px; padding: 1px 6px; }
.rag-q-foot { display: flex; justify-content: space-between; align-items: center; gap: 8px; flex-wrap: wrap;
  margin-top: 4px; }
.rag-q-empty ul { margin: 4px 0 4px 18px; padding: 0; }
#rag-q-chips-row { align-items: center; gap: 6px; }

/* the full-article reader */
.rag-reader { position: fixed; inset: 0; z-index: 900; background: rgba(15, 23, 42, .55); display: flex;
  align-items: center; justify-content: center; padding: 16px; }
.rag-reader-box { position: relative; background: #ffffff; color: #111827; width: min(860px, 100%); max-height: 90vh;
  overflow-y: auto; border-radius: 14px; padding: 18px 22px; box-shadow: 0 20px 50px rgba(0, 0, 0, .35); }
.rag-reader-title { font-size: 1.25rem; margin: 0 36px 4px 0; }
.rag-reader-text { line-height: 1.65; margin-top: 10px; }
.rag-reader-text mark { background: #fde68a; color: #111827; border-radius: 3px; padding: 1px 2px; }
.rag-reader-text mark.rag-hl-target { outline: 3px solid #d97706; }
.rag-reader-close { position: absolute; top: 10px; right: 12px; border: none; background: #e2e8f0; color: #0f172a;
  border-radius: 8px; width: 32px; height: 32px; cursor: pointer; font-size: 1rem; }

/* back from a source to the answer (phones: the sources sit far below the chat) */
#rag-back { position: fixed; right: 14px; bottom: 16px; z-index: 800; display: none; border: none; border-radius: 999px;
  background: #1d4ed8; color: #fff; padding: 10px 16px; font-weight: 600; box-shadow: 0 6px 18px rgba(0,0,0,.25); }
#rag-back.rag-show { display: block; }

/* the chat's Clear button sits in the top corner: keep it off the first message */
#rag-chat .bubble-wrap { padding-top: 34px; }

/* phones */
.rag-table-wrap { width: 100%; overflow-x: auto; }
@media (max-width: 640px) {
  #rag-header h1 { font-size: 1.2rem; }
  #rag-header { flex-direction: column; align-items: stretch; }
  #rag-header > * { width: 100%; min-width: 0; }
  .rag-stats span:nth-child(3) { display: none; }
  .rag-articles thead { display: none; }
  .rag-articles, .rag-articles tbody, .rag-articles tr, .rag-articles td { display: block; width: 100%; }
  .rag-articles tr { border-bottom: 1px solid var(--border-color-primary); padding: 6px 0; }
  .rag-articles td { border: none !important; padding: 2px 6px; text-align: left !important; overflow-wrap: anywhere; }
  .rag-articles td::before { content: attr(data-label) ": "; font-weight: 600; color: #475569; }
  .rag-articles td:first-child::before { content: ""; }
  .rag-articles td:empty { display: none; }
  .rag-articles td:nth-child(3) { white-space: normal; }
  .rag-quotes thead { display: none; }
  .rag-quotes, .rag-quotes tbody, .rag-quotes tr, .rag-quotes td { display: block; width: 100% !important; }
  .rag-quotes tr { border-bottom: 1px solid var(--border-color-primary); padding: 8px 0; }
  .rag-quotes td { border: none !important; padding: 2px 6px; white-space: normal !important; overflow-wrap: anywhere; }
  .rag-quotes td:nth-child(n+3)::before { content: attr(data-label) ": "; font-weight: 600; color: #475569; }
  .rag-quotes td:nth-child(n+3) { display: inline-block; width: auto !important; }
  #rag-sources { max-height: none; }
  #rag-sources-col { position: static; }
}
"""

# Dark mode: every message style keeps >= 4.5:1 contrast (tests/test_browser_ui.py measures it). Written one
# selector per rule: Gradio scopes custom CSS under its container and only rewrites `.dark` correctly when it
# starts a rule's only selector ("`.dark .a, .dark .b`" loses the second).
_DARK = (
    (".rag-refusal", "background: #2a0f12; border-color: #7f1d1d; border-left-color: #f87171; color: #fecaca;"),
    (".rag-error", "background: #2b1608; border-color: #9a3412; border-left-color: #fb923c; color: #fed7aa;"),
    (".rag-unsupported", "background: #422006; color: #fde68a;"),
    (".rag-unsupported-note, .rag-fallback, .rag-model-missing",
     "background: #2a1a05; border-color: #92400e; color: #fde68a;"),
    (".rag-model-loading", "background: #0f1d3a; border-color: #1e3a8a; color: #bfdbfe;"),
    (".rag-searched, .rag-meta, .rag-stopped, .rag-chips-label, .rag-panel-q, .rag-empty, #rag-header .rag-sub, "
     ".rag-stats, .rag-model-help", "color: #cbd5e1;"),
    (".rag-context", "color: #e2e8f0;"),
    ('a.rag-cite, .message a[href*="#src-"]', "color: #bfdbfe !important; background: #1e3a8a;"),
    (".rag-excerpt-n", "color: #93c5fd;"),
    ("button.rag-open", "color: #bfdbfe; border-color: #60a5fa;"),
    (".rag-chip", "background: #1e3a8a; color: #dbeafe;"),
    (".rag-weak-note", "color: #fca5a5;"),
    (".rag-report-ok", "background: #052e16; border-color: #166534; color: #bbf7d0;"),
    (".rag-report-mixed", "background: #2a1a05; border-color: #92400e; color: #fde68a;"),
    (".rag-report-bad", "background: #2a0f12; border-color: #7f1d1d; color: #fecaca;"),
    (".rag-reader-box", "background: #0f172a; color: #e2e8f0;"),
    (".rag-reader-close", "background: #334155; color: #f1f5f9;"),
    ("#rag-pop-float", "background: #0f172a; color: #e2e8f0; border-color: #334155;"),
    ("#rag-pop-float .rag-pop-meta", "color: #cbd5e1;"),
    (".rag-articles td::before, .rag-quotes td::before, .rag-q-count", "color: #cbd5e1;"),
    (".rag-q-kind", "background: #334155; color: #f1f5f9;"),
)
CSS += "\n".join(f".dark {sel.strip()} {{ {decl} }}" for sels, decl in _DARK for sel in sels.split(", ")) + "\n"

# Citation markers are links to "#src-<turn>-<n>". A plain hash link would navigate (or open a tab from inside
# the chat bubble), so clicks are caught here and scroll the sources panel instead; when that scrolled the page
# (phones: the sources sit below the chat) a "Back to answer" button returns to the marker. The panel for an
# older answer is swapped in by the Chatbot's select event on the server, so the target may appear a moment
# later: retry. The same script gives the Copy button the answer's Markdown (hidden in the bubble as .rag-md)
# instead of its HTML, gives each bubble a text accessible name, shows the hover card of an [n] marker outside
# the bubble (bubbles clip overflow), and focuses the question box on wide screens only (on a phone that opens
# the keyboard and scrolls past the header).
JS = """
() => {
  if (window.__ragCiteHandler) return;
  window.__ragCiteHandler = true;
  const flash = (el) => { for (const x of [el, el.closest('.rag-source')]) { if (!x) continue;
                            x.classList.remove('rag-flash'); void x.offsetWidth; x.classList.add('rag-flash');
                            setTimeout(() => x.classList.remove('rag-flash'), 2200); } };
  const back = document.createElement('button');
  back.id = 'rag-back'; back.type = 'button'; back.textContent = '↑ Back to answer';
  document.body.appendChild(back);
  let returnTo = null;
  back.addEventListener('click', () => {
    if (returnTo) returnTo.scrollIntoView({behavior: 'smooth', block: 'center'});
    back.classList.remove('rag-show'); returnTo = null;
  });
  const go = (id, tries, from) => {
    const el = document.getElementById(id);
    if (el) {
      const y = window.scrollY;
      el.scrollIntoView({behavior: 'instant', block: 'nearest'}); flash(el);
      if (Math.abs(window.scrollY - y) > 150) { returnTo = from; back.classList.add('rag-show'); }
      return;
    }
    if (tries > 0) setTimeout(() => go(id, tries - 1, from), 100);
  };
  document.addEventListener('click', (ev) => {
    const t = ev.target;
    const copy = t && t.closest ? t.closest('#rag-chat button[aria-label="Copy message"]') : null;
    if (copy) {
      let row = copy.closest('.message-buttons');
      while (row && !(row.classList && row.classList.contains('message-row'))) row = row.previousElementSibling;
      const md = row ? row.querySelector('.rag-md') : null;
      if (md) {
        ev.preventDefault(); ev.stopImmediatePropagation();
        navigator.clipboard.writeText(md.textContent).then(() => {
          copy.setAttribute('data-rag-copied', '1'); copy.title = 'Copied as Markdown';
          setTimeout(() => { copy.removeAttribute('data-rag-copied'); copy.title = 'Copy message'; }, 2000);
        });
        return;
      }
    }
    const a = t && t.closest ? t.closest('a[href*="#src-"]') : null;
    if (!a) return;
    ev.preventDefault();
    go(a.getAttribute('href').split('#').pop(), 40, a);
  }, true);
  const pop = document.createElement('div');
  pop.id = 'rag-pop-float'; pop.style.display = 'none'; pop.setAttribute('role', 'tooltip');
  document.body.appendChild(pop);
  const showPop = (a) => {
    const src = a.querySelector('.rag-pop');
    if (!src) return;
    pop.innerHTML = src.innerHTML; pop.style.display = 'block';
    const r = a.getBoundingClientRect(), w = pop.offsetWidth, h = pop.offsetHeight;
    pop.style.left = Math.max(8, Math.min(r.left, window.innerWidth - w - 8)) + 'px';
    pop.style.top = (r.bottom + 6 + h > window.innerHeight ? r.top - h - 6 : r.bottom + 6) + 'px';
  };
  document.addEventListener('mouseover', (ev) => {
    const a = ev.target && ev.target.closest ? ev.target.closest('a.rag-cite') : null;
    if (a) showPop(a); else pop.style.display = 'none';
  });
  document.addEventListener('focusin', (ev) => {
    const a = ev.target && ev.target.closest ? ev.target.closest('a.rag-cite') : null;
    if (a) showPop(a); else pop.style.display = 'none';
  });
  const label = () => {
    for (const m of document.querySelectorAll('#rag-chat [data-testid=bot], #rag-chat [data-testid=user]')) {
      const body = m.querySelector('.message-content') || m;
      const want = (m.dataset.testid === 'bot' ? 'Answer: ' : 'Question: ') + body.innerText.trim().slice(0, 600);
      if (m.getAttribute('aria-label') !== want) m.setAttribute('aria-label', want);
    }
  };
  new MutationObserver(() => { clearTimeout(window.__ragLabel); window.__ragLabel = setTimeout(label, 60); })
    .observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true,
                             attributeFilter: ['aria-label']});
  const focus = (tries) => {
    const q = document.querySelector('#rag-question textarea');
    if (q) { if (window.matchMedia('(min-width: 700px)').matches) q.focus({preventScroll: true}); return; }
    if (tries > 0) setTimeout(() => focus(tries - 1), 200);
  };
  focus(50);
}
"""

# The sources panel: "Open article" on a card asks the server for the reader overlay (gr.HTML's trigger).
OPEN_JS = """
element.addEventListener('click', (ev) => {
  const b = ev.target && ev.target.closest ? ev.target.closest('button.rag-open') : null;
  if (!b) return;
  trigger('click', {article: b.dataset.article, spans: b.dataset.spans, target: b.dataset.target});
});
"""

# The reader overlay: scroll to the clicked excerpt when it arrives; close on ✕, a click outside, or Escape.
READER_JS = """
const close = () => { const r = element.querySelector('.rag-reader'); if (r) r.remove(); };
element.addEventListener('click', (ev) => {
  if (ev.target.closest('.rag-reader-close') || ev.target.classList.contains('rag-reader')) close();
});
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') close(); });
new MutationObserver(() => {
  const m = element.querySelector('.rag-reader:not([data-scrolled]) mark.rag-hl-target')
         || element.querySelector('.rag-reader:not([data-scrolled]) mark');
  if (!m) return;
  m.closest('.rag-reader').setAttribute('data-scrolled', '1');
  m.scrollIntoView({block: 'center'});
  const c = element.querySelector('.rag-reader-close'); if (c) c.focus({preventScroll: true});
}).observe(element, {subtree: true, childList: true});
"""


def make_theme():
    import gradio as gr

    # Local font stacks only: the default Google font would be fetched from the internet on every page load.
    theme = gr.themes.Soft(primary_hue="blue", neutral_hue="slate",
                           font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif"],
                           font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])
    # Soft's primary buttons are white on blue-500 (3.7:1); blue-700 gives white text AA contrast (6.7:1).
    return theme.set(button_primary_background_fill="*primary_700", button_primary_background_fill_hover="*primary_800",
                     button_primary_background_fill_dark="*primary_700",
                     button_primary_background_fill_hover_dark="*primary_800",
                     button_primary_text_color="white", button_primary_text_color_dark="white")
