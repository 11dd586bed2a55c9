"""The Gradio app: layout and wiring only. Behaviour lives in ui/handlers.py, markup in ui/render.py.

    import rag
    from ui.app import build_app
    build_app(rag.Index.open("index/")).launch()
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from . import render
from .handlers import DEFAULT_K, RagUI, Session, example_questions
from .theme import CSS, JS, make_theme
from .uploads import ALLOWED_SUFFIXES, DEFAULT_MAX_BYTES

# Answers are CPU-bound on a small machine: a few at once keeps every session moving without thrashing.
DEFAULT_CONCURRENCY = 4
# A session (chat history, rendered sources) costs ~0.3-0.45 MB: keep it an hour after last use, and at most
# MAX_SESSIONS of them (Gradio drops the oldest first), so memory stays bounded however many browsers come.
SESSION_TTL_S = 3600
MAX_SESSIONS = 500


class RagBlocks(gr.Blocks):
    """gr.Blocks whose launch() brings the app's theme, CSS and citation script (Gradio 6 takes those at launch,
    not in the constructor), and never shares publicly."""

    rag_max_upload_bytes: int = DEFAULT_MAX_BYTES

    def launch(self, *args, **kwargs):
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("js", JS)
        kwargs.setdefault("theme", make_theme())
        kwargs.setdefault("footer_links", [])
        # Gradio stops absurd uploads before they reach disk; our own check gives the per-file reason below that.
        kwargs.setdefault("max_file_size", 2 * self.rag_max_upload_bytes)
        kwargs.setdefault("state_session_capacity", MAX_SESSIONS)
        kwargs.setdefault("app_kwargs", {}).setdefault("middleware", []).append(self._guard())
        if kwargs.get("share"):
            raise ValueError("article-rag never creates a public share link")
        kwargs["share"] = False
        return super().launch(*args, **kwargs)


    def _guard(self):
        from starlette.middleware import Middleware

        from .guard import Guard, LoginThrottle, UploadQuota

        return Middleware(Guard, throttle=LoginThrottle(), quota=UploadQuota.from_env(self.rag_ui.upload_dir))


def build_app(index, *, model: str = "extractive", model_options: dict | None = None,
              upload_dir: Path | None = None, max_upload_bytes: int = DEFAULT_MAX_BYTES) -> gr.Blocks:
    """The chat over `index` (a rag.Index). Uploaded files are copied into `upload_dir` (default
    `<index>/uploads/`) and indexed there."""
    ui = RagUI(index, model=model, model_options=model_options, upload_dir=upload_dir,
               max_upload_bytes=max_upload_bytes)
    examples = example_questions(index)

    with RagBlocks(title="article-rag · ask the news", fill_width=True, delete_cache=(3600, 3600)) as demo:
        demo.rag_max_upload_bytes = max_upload_bytes
        demo.rag_ui = ui
        session = gr.State(None, time_to_live=SESSION_TTL_S)

        with gr.Row(elem_id="rag-header"):
            gr.HTML('<div><h1>Ask the news</h1><div class="rag-sub">Answers quote the indexed articles; click '
                    'a <b>[n]</b> marker to see the passage it comes from.</div></div>', padding=False)
            header_stats = gr.HTML(render.stats_html(index.stats()), padding=False)

        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=420):
                        chatbot = gr.Chatbot(
                            show_label=False, elem_id="rag-chat", height=560, autoscroll=True,
                            examples=[{"text": q} for q in examples] or None,
                            placeholder="### Ask a question about the articles\nEvery claim in an answer points "
                                        "at a verbatim passage. Follow-up questions understand the conversation.",
                            latex_delimiters=[], buttons=["copy"], feedback_options=None, layout="bubble")
                        with gr.Row():
                            question = gr.Textbox(placeholder="Ask about the articles… (Enter to send)",
                                                  show_label=False, scale=8, autofocus=True, max_length=2000,
                                                  submit_btn="Ask", elem_id="rag-question")
                        with gr.Row():
                            new_chat = gr.Button("New conversation", size="sm", variant="secondary", scale=0)
                        with gr.Accordion("Settings: model, passages, filters", open=False, elem_id="rag-settings"):
                            with gr.Row():
                                model_dd = gr.Dropdown(ui.choices, value=ui.model, label="Model", scale=3,
                                                       elem_id="rag-model")
                                k_slider = gr.Slider(1, 20, value=DEFAULT_K, step=1, label="Passages (k)", scale=1)
                            gr.HTML(ui.model_help(), padding=False)
                            with gr.Row():
                                outlets = gr.Dropdown(ui.outlet_choices(), value=[], multiselect=True,
                                                      label="Only these outlets", info="empty: all outlets", scale=2)
                                date_from = gr.Textbox(label="From date", placeholder="YYYY-MM-DD", scale=1,
                                                       max_length=10)
                                date_to = gr.Textbox(label="To date", placeholder="YYYY-MM-DD", scale=1,
                                                     max_length=10)
                    with gr.Column(scale=2, min_width=320, elem_id="rag-sources-col"):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(render.placeholder_sources(), elem_id="rag-sources")

            with gr.Tab("Library", id="library"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        gr.Markdown("### Add articles\nText, Markdown, HTML, PDF or JSON/JSONL records, up to "
                                    f"{max_upload_bytes // (1024 * 1024)} MB a file.")
                        files = gr.File(file_count="multiple", file_types=list(ALLOWED_SUFFIXES),
                                        label="Articles", elem_id="rag-upload")
                        add_btn = gr.Button("Add to index", variant="primary", elem_id="rag-add")
                        report = gr.HTML("", elem_id="rag-report")
                    with gr.Column(scale=3):
                        gr.Markdown("### Remove an article")
                        remove_dd = gr.Dropdown(ui.article_choices(), value=None, label="Article",
                                                elem_id="rag-remove-pick")
                        remove_btn = gr.Button("Remove this article", variant="stop", size="md",
                                               elem_id="rag-remove")
                        remove_msg = gr.HTML("")
                gr.Markdown("### Indexed articles")
                library_stats = gr.HTML(render.stats_html(index.stats()))
                articles_table = gr.HTML(render.articles_html(index.articles()), elem_id="rag-articles")

        ask_inputs = [question, session, model_dd, k_slider, outlets, date_from, date_to]
        ask_outputs = [chatbot, question, sources, session]
        question.submit(ui.respond, ask_inputs, ask_outputs, show_progress="hidden")
        chatbot.example_select(_example_text, None, question, queue=False).then(
            ui.respond, ask_inputs, ask_outputs, show_progress="hidden")
        chatbot.select(_select_message(ui), [session], [sources], queue=False, show_progress="hidden")
        new_chat.click(ui.new_conversation, [session], [chatbot, sources, session], queue=False)
        chatbot.clear(ui.new_conversation, [session], [chatbot, sources, session], queue=False)
        model_dd.change(ui.pick_model, [model_dd, session], [model_dd, session], queue=False)

        library_outputs = [header_stats, articles_table, remove_dd, outlets]

        def add(files, progress=gr.Progress()):
            report_html, files_value, stats, table, picker, outlet_dd = ui.add_files(files, progress)
            return report_html, files_value, stats, stats, table, picker, outlet_dd

        def remove(article_id):
            msg, stats, table, picker, outlet_dd = ui.remove_article(article_id)
            return msg, stats, stats, table, picker, outlet_dd

        # One writer at a time; readers (answers) keep flowing on the other workers meanwhile.
        add_btn.click(add, [files], [report, files, library_stats, *library_outputs],
                      concurrency_limit=1, concurrency_id="index-write")
        remove_btn.click(remove, [remove_dd], [remove_msg, library_stats, *library_outputs],
                         concurrency_limit=1, concurrency_id="index-write")

        def refresh():
            stats, table, picker, outlet_dd = ui.library()
            return stats, stats, table, picker, outlet_dd

        # Another session may have added or removed articles since this page was built.
        demo.load(refresh, None, [library_stats, *library_outputs], queue=False, show_progress="hidden")

    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY)
    return demo


def _example_text(evt: gr.SelectData) -> str:
    value = evt.value
    return value.get("text", "") if isinstance(value, dict) else str(value or "")


def _select_message(ui: RagUI):
    def select(session: Session | None, evt: gr.SelectData):
        panel = ui.show_sources(session, evt.index)
        return panel if panel is not None else gr.skip()

    return select
