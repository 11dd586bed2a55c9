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
#rag-header .rag-sub { color: var(--body-text-color-subdued); font-size: 0.92rem; }
.rag-stats { display: flex; gap: 14px; flex-wrap: wrap; font-size: 0.9rem; color: var(--body-text-color-subdued); }
.rag-stats b { color: var(--body-text-color); }

/* answers */
.rag-answer { line-height: 1.6; }
a.rag-cite, .message a[href*="#src-"] { display: inline-block; font-size: 0.78em; font-weight: 700;
  text-decoration: none !important; color: #1d4ed8 !important; background: #dbeafe; border-radius: 5px;
  padding: 0 4px; margin: 0 1px; vertical-align: super; line-height: 1.3; cursor: pointer; }
a.rag-cite:hover, .message a[href*="#src-"]:hover { background: #1d4ed8; color: #fff !important; }
.rag-cursor { animation: rag-blink 1s steps(1) infinite; color: var(--body-text-color-subdued); }
@keyframes rag-blink { 50% { opacity: 0; } }
.rag-unsupported { background: #fef3c7; border-bottom: 2px dotted #d97706; border-radius: 3px; padding: 0 2px; }
.rag-unsupported-note { margin-top: 8px; font-size: 0.85rem; color: #92400e; background: #fffbeb;
  border: 1px solid #fde68a; border-radius: 8px; padding: 6px 10px; }
.rag-searched { margin-top: 8px; font-size: 0.82rem; color: var(--body-text-color-subdued); }
.rag-refusal { border: 1px solid #fca5a5; border-left: 5px solid #dc2626; background: #fef2f2; color: #7f1d1d;
  border-radius: 10px; padding: 10px 14px; }
.rag-refusal-title { font-weight: 700; font-size: 1.02rem; margin-bottom: 4px; }
.rag-refusal-title::before { content: "∅ "; }
.rag-refusal-hint { margin-top: 6px; font-size: 0.85rem; opacity: 0.85; }
.rag-error { border: 1px solid #fdba74; border-left: 5px solid #ea580c; background: #fff7ed; color: #7c2d12;
  border-radius: 10px; padding: 10px 14px; }

/* sources panel */
#rag-sources-col { position: sticky; top: 8px; align-self: flex-start; }
#rag-sources { max-height: 74vh; overflow-y: auto; padding-right: 4px; }
.rag-sources { display: flex; flex-direction: column; gap: 10px; }
.rag-panel-q { font-size: 0.85rem; color: var(--body-text-color-subdued); }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 10px 12px;
  background: var(--background-fill-primary); scroll-margin-top: 12px; transition: box-shadow .3s, border-color .3s; }
.rag-source-head { display: flex; gap: 10px; align-items: flex-start; margin-bottom: 6px; }
.rag-badge { flex: none; min-width: 24px; height: 24px; border-radius: 12px; background: #1d4ed8; color: #fff;
  font-weight: 700; font-size: 0.8rem; display: inline-flex; align-items: center; justify-content: center; }
.rag-badge-dim { background: #94a3b8; }
.rag-source-title { font-weight: 650; line-height: 1.3; }
.rag-source-title a { color: inherit; text-decoration: none; }
.rag-source-title a:hover { text-decoration: underline; }
.rag-meta { font-size: 0.8rem; color: var(--body-text-color-subdued); margin-top: 2px; }
.rag-context { font-size: 0.88rem; line-height: 1.55; color: var(--body-text-color-subdued);
  border-left: 3px solid var(--border-color-primary); padding-left: 10px; }
.rag-context mark { background: #fde68a; color: #111827; padding: 1px 2px; border-radius: 3px; }
.rag-source.rag-flash { border-color: #1d4ed8; box-shadow: 0 0 0 3px rgba(29, 78, 216, .35); }
.rag-sources-weak .rag-context mark { background: #e5e7eb; }
.rag-weak-note { font-size: 0.85rem; color: #7f1d1d; }
.rag-empty { color: var(--body-text-color-subdued); font-size: 0.9rem; padding: 16px 4px; }

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
.rag-model-help { font-size: 0.85rem; color: var(--body-text-color-subdued); }
.rag-model-help summary { cursor: pointer; }
.rag-model-help code { font-size: 0.75rem; word-break: break-all; }
.rag-model-help li { margin: 4px 0; }
"""

# Citation markers are links to "#src-<turn>-<n>". A plain hash link would navigate (or open a tab from inside
# the chat bubble), so clicks are caught here and scroll the sources panel instead. The panel for an older answer
# is swapped in by the Chatbot's select event on the server, so the target may appear a moment later: retry.
JS = """
() => {
  if (window.__ragCiteHandler) return;
  window.__ragCiteHandler = true;
  const flash = (el) => { el.classList.remove('rag-flash'); void el.offsetWidth; el.classList.add('rag-flash');
                          setTimeout(() => el.classList.remove('rag-flash'), 2200); };
  const go = (id, tries) => {
    const el = document.getElementById(id);
    if (el) { el.scrollIntoView({behavior: 'smooth', block: 'nearest'}); flash(el); return; }
    if (tries > 0) setTimeout(() => go(id, tries - 1), 100);
  };
  document.addEventListener('click', (ev) => {
    const a = ev.target && ev.target.closest ? ev.target.closest('a[href*="#src-"]') : null;
    if (!a) return;
    ev.preventDefault();
    go(a.getAttribute('href').split('#').pop(), 40);
  }, true);
}
"""


def make_theme():
    import gradio as gr

    # Local font stacks only: the default Google font would be fetched from the internet on every page load.
    return gr.themes.Soft(primary_hue="blue", neutral_hue="slate",
                          font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])
