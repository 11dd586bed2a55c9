"""The Gradio app: layout and wiring only. Behaviour lives in ui/handlers.py, markup in ui/render.py.

    import rag
    from ui.app import build_app
    build_app(rag.Index.open("index/")).launch()
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from . import chats, render
from .handlers import DEFAULT_K, RagUI, Session, example_questions
from .library import UNDO_SECONDS
from .quotes_view import QUOTES_JS
from .theme import CSS, JS, OPEN_JS, READER_JS, make_theme
from .uploads import ALLOWED_SUFFIXES, DEFAULT_MAX_BYTES

# Answers are CPU-bound on a small machine: a few at once keeps every session moving without thrashing.
DEFAULT_CONCURRENCY = 4
# A session (chat history, rendered sources) costs ~0.3-0.45 MB: keep it an hour after last use, and at most
# MAX_SESSIONS of them (Gradio drops the oldest first), so memory stays bounded however many browsers come.
SESSION_TTL_S = 3600
MAX_SESSIONS = 500
LIBRARY_POLL_S = 5
MODEL_POLL_S = 2          # the model status line, while a local model loads in the background


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
        store = gr.BrowserState(chats.empty_store(), storage_key="article-rag-chats",
                                secret=chats.browser_secret(ui.upload_dir))
        undo_state = gr.State(None)
        library_seen = gr.State(None)

        with gr.Sidebar(open=False, label="Chats", elem_id="rag-chats"):
            gr.Markdown("### Chats\nKept in this browser.")
            sidebar_new = gr.Button("＋ New chat", size="sm", variant="primary", elem_id="rag-new-chat")
            chat_list = gr.Radio([], value=None, show_label=False, elem_id="rag-chat-list")
            title_box = gr.Textbox(label="Name of this chat", max_length=120, elem_id="rag-chat-title")
            with gr.Row():
                rename_btn = gr.Button("Rename", size="sm", elem_id="rag-rename")
                delete_btn = gr.Button("Delete chat", size="sm", variant="stop", elem_id="rag-delete-chat")

        with gr.Row(elem_id="rag-header"):
            gr.HTML('<div><h1>Ask the news</h1><div class="rag-sub">Answers quote the indexed articles; click '
                    'a <b>[n]</b> marker to see the passage it comes from.</div></div>', padding=False)
            header_stats = gr.HTML(render.stats_html(index.stats()), padding=False)

        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=300):
                        chatbot = gr.Chatbot(
                            show_label=False, elem_id="rag-chat", height=560, autoscroll=True,
                            examples=[{"text": q} for q in examples] or None,
                            placeholder="### Ask a question about the articles\nEvery claim in an answer points "
                                        "at a verbatim passage. Follow-up questions understand the conversation.",
                            latex_delimiters=[], buttons=["copy"], feedback_options=None, layout="bubble",
                            editable="user")
                        with gr.Row(elem_id="rag-chips-row", equal_height=True):
                            chips = gr.HTML("", padding=False, elem_id="rag-chips")
                            clear_filters = gr.Button("✕ Clear filters", size="sm", variant="secondary", scale=0,
                                                      visible=False, elem_id="rag-clear-filters")
                        question = gr.Textbox(placeholder="Ask about the articles… (Enter to send)",
                                              show_label=False, max_length=2000, submit_btn="Ask",
                                              stop_btn=False, elem_id="rag-question")
                        with gr.Row(elem_id="rag-chat-actions"):
                            new_chat = gr.Button("New conversation", size="sm", variant="secondary", scale=0)
                            export = gr.DownloadButton("Export chat", value=None, size="sm", variant="secondary",
                                                       scale=0, elem_id="rag-export")
                            no_filters = gr.Button("Ask again without filters", size="sm", variant="primary",
                                                   scale=0, visible=False, elem_id="rag-no-filters")
                        with gr.Accordion("Settings: model, passages, filters", open=False, elem_id="rag-settings"):
                            with gr.Row():
                                model_dd = gr.Dropdown(ui.choices, value=ui.model, label="Model", scale=3,
                                                       elem_id="rag-model")
                                k_slider = gr.Slider(1, 20, value=DEFAULT_K, step=1, label="Passages (k)", scale=1)
                            model_status = gr.HTML(ui.model_status(), padding=False, elem_id="rag-model-status")
                            gr.HTML(ui.model_help(), padding=False)
                            with gr.Row():
                                outlets = gr.Dropdown(ui.outlet_choices(), value=[], multiselect=True,
                                                      label="Only these outlets", info="empty: all outlets", scale=2,
                                                      elem_id="rag-outlets")
                                date_from = gr.Textbox(label="From date", placeholder="YYYY-MM-DD", scale=1,
                                                       max_length=10, elem_id="rag-from")
                                date_to = gr.Textbox(label="To date", placeholder="YYYY-MM-DD", scale=1,
                                                     max_length=10, elem_id="rag-to")
                    with gr.Column(scale=2, min_width=300, elem_id="rag-sources-col"):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(render.placeholder_sources(), elem_id="rag-sources", js_on_load=OPEN_JS)
                reader = gr.HTML("", elem_id="rag-reader-host", padding=False, js_on_load=READER_JS)

            with gr.Tab("Who said what", id="quotes") as quotes_tab:
                gr.Markdown("### Who said what\nQuotes and reported claims in the articles, with who made them. "
                            "Click one to read it in its article.")
                with gr.Row(equal_height=True, elem_id="rag-q-search"):
                    q_topic = gr.Textbox(label="About", placeholder="topic words, e.g. migration", scale=3,
                                         max_length=300, elem_id="rag-q-topic")
                    q_speaker = gr.Textbox(label="Said by", placeholder="a person or body, e.g. Mitov", scale=2,
                                           max_length=120, elem_id="rag-q-speaker")
                    q_find = gr.Button("Find quotes", variant="primary", scale=0, min_width=120,
                                       elem_id="rag-q-find")
                with gr.Row(equal_height=True, elem_id="rag-q-chips-row"):
                    q_chips = gr.HTML("", padding=False, elem_id="rag-q-chips")
                    q_clear = gr.Button("✕ Clear filters", size="sm", variant="secondary", scale=0, visible=False,
                                        elem_id="rag-q-clear")
                q_results = gr.HTML("", elem_id="rag-quotes", js_on_load=QUOTES_JS)
                q_reader = gr.HTML("", elem_id="rag-q-reader-host", padding=False, js_on_load=READER_JS)

            with gr.Tab("Library", id="library"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=300):
                        gr.Markdown("### Add articles\nText, Markdown, HTML, PDF or JSON/JSONL records, up to "
                                    f"{max_upload_bytes // (1024 * 1024)} MB a file.")
                        files = gr.File(file_count="multiple", file_types=list(ALLOWED_SUFFIXES),
                                        label="Articles", elem_id="rag-upload")
                        add_btn = gr.Button("Add to index", variant="primary", elem_id="rag-add")
                        report = gr.HTML("", elem_id="rag-report")
                    with gr.Column(scale=3, min_width=300):
                        gr.Markdown("### Remove an article")
                        remove_dd = gr.Dropdown(ui.article_choices(), value=None, label="Article",
                                                elem_id="rag-remove-pick")
                        remove_btn = gr.Button("Remove this article…", variant="stop", size="md",
                                               elem_id="rag-remove")
                        remove_msg = gr.HTML("", elem_id="rag-remove-msg")
                        with gr.Row(visible=False, elem_id="rag-confirm") as confirm_row:
                            confirm_yes = gr.Button("Yes, remove it", variant="stop", size="sm",
                                                    elem_id="rag-confirm-yes")
                            confirm_no = gr.Button("Cancel", size="sm", elem_id="rag-confirm-no")
                        with gr.Row(visible=False, elem_id="rag-undo-row") as undo_row:
                            undo_btn = gr.Button("Undo", size="sm", variant="primary", elem_id="rag-undo")
                gr.Markdown("### Indexed articles")
                library_stats = gr.HTML(render.stats_html(index.stats()))
                articles_table = gr.HTML(render.articles_html(index.articles()), elem_id="rag-articles")
        undo_timer = gr.Timer(UNDO_SECONDS, active=False)
        library_timer = gr.Timer(LIBRARY_POLL_S)
        model_timer = gr.Timer(MODEL_POLL_S, active=ui.model_loading())  # until a background load ends

        # ---- chat ----------------------------------------------------------------------------------------------
        filter_inputs = [k_slider, outlets, date_from, date_to]
        ask_inputs = [question, session, model_dd, *filter_inputs, store]
        again_inputs = [session, model_dd, *filter_inputs, store]
        chat_outputs = [chatbot, question, sources, session, store, chat_list, export, no_filters]

        def streaming_on():
            return gr.update(submit_btn=False, stop_btn="Stop")

        def streaming_off():
            return gr.update(submit_btn="Ask", stop_btn=False)

        def edit(session, evt: gr.EditData):
            # Event data reaches only the first function of a chain: cut the chat back here, then ask normally.
            text = ui.edit_question(session, evt.index, evt.value)
            if text is None:
                return gr.skip(), gr.skip()
            return text, session.messages

        runs = []

        def streamed(trigger, fn, inputs, *, pre=None, pre_inputs=None, pre_outputs=None):
            first = trigger(pre or streaming_on, pre_inputs, pre_outputs or question, queue=False,
                            show_progress="hidden")
            if pre is not None:
                first = first.then(streaming_on, None, question, queue=False, show_progress="hidden")
            run = first.then(fn, inputs, chat_outputs, show_progress="hidden")
            runs.append(run)
            run.then(streaming_off, None, question, queue=False, show_progress="hidden")

        streamed(question.submit, ui.respond, ask_inputs)
        streamed(chatbot.example_select, ui.respond, ask_inputs, pre=_example_text, pre_outputs=question)
        streamed(chatbot.retry, ui.regenerate, again_inputs)
        streamed(chatbot.edit, ui.respond, ask_inputs, pre=edit, pre_inputs=[session],
                 pre_outputs=[question, chatbot])
        streamed(no_filters.click, ui.regenerate, again_inputs, pre=ui.clear_filters,
                 pre_outputs=[outlets, date_from, date_to, chips, clear_filters])
        question.stop(ui.stop, [session, store], [chatbot, sources, session, store, chat_list, export],
                      cancels=runs, queue=False).then(streaming_off, None, question, queue=False)

        chatbot.select(_select_message(ui), [session], [sources], queue=False, show_progress="hidden")
        reset_outputs = [chatbot, sources, session, chat_list, export, title_box]
        for trigger in (new_chat.click, sidebar_new.click, chatbot.clear):
            trigger(ui.new_conversation, [session, store], reset_outputs, queue=False)
        chat_list.input(ui.load_chat, [store, chat_list, session], reset_outputs, queue=False)
        rename_btn.click(ui.rename_chat, [store, session, title_box], [store, chat_list, session, export],
                         queue=False)
        delete_btn.click(ui.delete_chat, [store, session], [store, *reset_outputs], queue=False)
        demo.load(lambda st, se: ui.load_chat(st, None, se), [store, session], reset_outputs, queue=False,
                  show_progress="hidden")

        model_dd.change(ui.pick_model, [model_dd, session], [model_status, session], queue=False)

        def model_tick(se):
            return ui.model_status(se), gr.Timer(active=ui.model_loading())

        model_timer.tick(model_tick, [session], [model_status, model_timer], queue=False, show_progress="hidden")
        demo.load(model_tick, [session], [model_status, model_timer], queue=False, show_progress="hidden")
        gr.on([outlets.change, date_from.change, date_to.change], ui.chips, [outlets, date_from, date_to],
              [chips, clear_filters], queue=False, show_progress="hidden")
        clear_filters.click(ui.clear_filters, None, [outlets, date_from, date_to, chips, clear_filters], queue=False)

        def open_article(evt: gr.EventData):
            return ui.open_article(evt)

        sources.click(open_article, None, reader, queue=False, show_progress="hidden")

        # ---- who said what -------------------------------------------------------------------------------------
        # Filters are set in the chat's settings; opening the tab (or searching) applies the current ones.
        q_inputs = [q_topic, q_speaker, outlets, date_from, date_to]
        q_outputs = [q_chips, q_clear, q_results]
        gr.on([quotes_tab.select, q_find.click, q_topic.submit, q_speaker.submit], ui.find_quotes, q_inputs,
              q_outputs, show_progress="minimal", show_progress_on=[q_results])

        def clear_quote_filters(topic, speaker):
            return (*ui.clear_filters(), *ui.find_quotes(topic, speaker, [], "", ""))

        q_clear.click(clear_quote_filters, [q_topic, q_speaker],
                      [outlets, date_from, date_to, chips, clear_filters, *q_outputs], queue=False)
        q_results.click(open_article, None, q_reader, queue=False, show_progress="hidden")

        # ---- library -------------------------------------------------------------------------------------------
        library_outputs = [library_seen, library_stats, header_stats, articles_table, remove_dd, outlets]

        def library_values():
            stats, table, picker, outlet_dd = ui.library()
            return ui.signature(), stats, stats, table, picker, outlet_dd

        def add(files, progress=gr.Progress()):
            report_html, files_value, *_ = ui.add_files(files, progress)
            return report_html, files_value, *library_values()

        def remove(article_id):
            msg, undo, *_ = ui.remove_article(article_id)
            return (msg, undo, gr.update(visible=False), gr.update(visible=undo is not None),
                    gr.Timer(active=undo is not None), *library_values())

        def undo(record):
            msg, *_ = ui.undo_remove(record)
            return (msg, None, gr.update(visible=False), gr.Timer(active=False), *library_values())

        def undo_expired(record):
            ui.forget_undo(record)
            return None, gr.update(visible=False), gr.Timer(active=False)

        def poll(seen):
            now = ui.signature()
            return (gr.skip(),) * len(library_outputs) if now == seen else library_values()

        # One writer at a time; readers (answers) keep flowing on the other workers meanwhile.
        add_btn.click(add, [files], [report, files, *library_outputs], concurrency_limit=1,
                      concurrency_id="index-write")
        remove_btn.click(ui.confirm_remove, [remove_dd], [remove_msg, confirm_row], queue=False)
        confirm_no.click(lambda: ("", gr.update(visible=False)), None, [remove_msg, confirm_row], queue=False)
        confirm_yes.click(remove, [remove_dd], [remove_msg, undo_state, confirm_row, undo_row, undo_timer,
                                                *library_outputs], concurrency_limit=1, concurrency_id="index-write")
        undo_btn.click(undo, [undo_state], [remove_msg, undo_state, undo_row, undo_timer, *library_outputs],
                       concurrency_limit=1, concurrency_id="index-write")
        undo_timer.tick(undo_expired, [undo_state], [undo_state, undo_row, undo_timer], queue=False,
                        show_progress="hidden")
        # Another tab or process may add or remove articles: this tab notices within a few seconds.
        library_timer.tick(poll, [library_seen], library_outputs, queue=False, show_progress="hidden")
        demo.load(library_values, None, library_outputs, queue=False, show_progress="hidden")

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
