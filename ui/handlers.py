"""What the buttons do. Plain methods over rag's public API, so tests call them without a browser.

One `RagUI` serves every browser session; per-session things (the Chat with its history, the rendered sources
of each answer) live in a `Session` kept in a gr.State. Long work runs in Gradio's worker threads; index writes
are serialised by the queue (ui/app.py) and by rag.Index's own lock.
"""

from __future__ import annotations

import html
import itertools
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import rag
from rag import MissingDependencyError, ModelCrashedError, ModelTimeoutError, ModelUnavailableError, RagError

from . import chats, render
from .chats import Turn
from .filters import Filters, chips_html, filters_from, left_out, left_out_html, parse_date  # noqa: F401
from .markdown import answer_markdown, conversation_markdown
from .library import LibraryActions
from .quotes_view import QuotesActions
from .reader import reader_for
from .models import EXTRACTIVE, fallback_note_html, list_models, status_html, table_html
from .uploads import DEFAULT_MAX_BYTES

log = logging.getLogger("rag.ui")

DEFAULT_K = rag.DEFAULT_K
STOP_WAIT_S = 5.0
SEED_EXAMPLES = (
    "What did Bulgaria claim about Russia?",
    "How many people have been returned under the one in, one out deal?",
    "What did Yvette Cooper say?",
)
_SEED_MARKERS = ("Mitov", "one in, one out", "Yvette Cooper")


@dataclass
class Session:
    """One browser tab's conversation: the finished turns, the one streaming now, and the rag Chat behind them."""

    chat: object = None
    chat_model: str = ""
    chat_id: str = field(default_factory=chats.new_id)   # its key in the browser's stored chats
    title: str = ""
    turns: list[Turn] = field(default_factory=list)
    streaming: Turn | None = None
    model: str = ""                                       # the model picked last
    busy: threading.Lock = field(default_factory=threading.Lock, repr=False)
    edit: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __deepcopy__(self, memo):  # gr.State may copy; a fresh session is the right copy of a lock-holder
        return Session(model=self.model)

    @property
    def messages(self) -> list[dict]:
        """The Chatbot's value. Each answer carries its Markdown (hidden) for the Copy button."""
        out = []
        for t in self.turns + ([self.streaming] if self.streaming else []):
            out.append({"role": "user", "content": render.esc(t.question)})
            out.append({"role": "assistant", "content": t.html + (render.markdown_carrier(t.md) if t.md else "")})
        return out

    @property
    def panels(self) -> dict[int, str]:
        return {2 * i + 1: t.sources for i, t in enumerate(self.turns) if t.sources}

    def stop(self, token: Turn | None = None) -> bool:
        """Keep the answer streaming now as it stands, marked stopped. False when nothing (or not `token`) is
        streaming, so the Stop handler and the closing generator can both call it."""
        with self.edit:
            t = self.streaming
            if t is None or (token is not None and t is not token):
                return False
            html = chats.without_stream_marks(t).html
            self.turns.append(replace(t, html=html + '<div class="rag-stopped">Stopped.</div>',
                                      sources=render.placeholder_sources("Stopped before the sources were checked.")))
            self.streaming = None
            return True


def example_questions(index) -> list[str]:
    """The seed questions when the seed article is indexed, else questions from the newest titles."""
    try:
        arts = index.articles()
        if any(any(m in (a.title or "") for m in ("hostile regimes", "Illegal migration")) for a in arts):
            return list(SEED_EXAMPLES)
        for a in arts[:50]:
            full = index.get_article(a.id)
            if full is not None and sum(m in full.text for m in _SEED_MARKERS) >= 2:
                return list(SEED_EXAMPLES)
        return [f"What happened in “{a.title[:80]}”?" for a in arts[:3] if a.title]
    except RagError:
        return []


def _close(stream) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        try:
            close()
        except Exception as err:  # closing must never turn a Stop into an error
            log.warning("closing the answer stream failed: %s", err)


class RagUI(LibraryActions, QuotesActions):
    def __init__(self, index, *, model: str = "extractive", model_options: dict | None = None,
                 upload_dir: Path | None = None, max_upload_bytes: int = DEFAULT_MAX_BYTES):
        self.index = index
        self.model = model or EXTRACTIVE
        self.model_options = dict(model_options or {})
        self.upload_dir = Path(upload_dir) if upload_dir else Path(index.path) / "uploads"
        self.max_upload_bytes = max_upload_bytes
        self.models = list_models(self.model, base_url=self.model_options.get("base_url"))
        self.choices = [(m.label, m.spec) for m in self.models]
        self.missing = {m.spec: m for m in self.models if not m.available}
        self.export_dir = Path(tempfile.mkdtemp(prefix="rag-export-"))

    # ---- chat ------------------------------------------------------------------------------------------------
    def _chat_for(self, session: Session, model: str):
        if session.chat is None or session.chat_model != model:
            options = self.model_options if model != EXTRACTIVE else {}
            chat = self.index.chat(model=model, **options)
            session.chat, session.chat_model = chat, model
            self._sync_history(session)
        return session.chat

    @staticmethod
    def _sync_history(session: Session) -> None:
        """The rag Chat's history from the session's answered turns (after a restore, edit or regenerate), so a
        follow-up question leans on what is on screen."""
        from rag import Answer

        history = getattr(session.chat, "history", None)
        if isinstance(history, list):
            history[:] = [(t.question, Answer(t.question, t.text, t.refused, query=t.query))
                          for t in session.turns if t.answered][-4:]

    def respond(self, question: str, session: Session | None, model: str, k: float | None,
                outlets: Sequence[str] | None, date_from: str | None, date_to: str | None,
                store: dict | None = None) -> Iterator[tuple]:
        """Stream one answer. Yields (chatbot messages, question box, sources panel, session, browser store,
        chat list, export file, "without filters" button)."""
        import gradio as gr

        session = session if isinstance(session, Session) else Session(model=self.model)
        question = (question or "").strip()
        if not question:
            yield session.messages, gr.skip(), gr.skip(), session, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        # a stopped answer releases the lock when its generator is closed, a moment after Stop
        if not session.busy.acquire(timeout=3):
            gr.Warning("Still answering the previous question; wait for it to finish or press Stop.", duration=6)
            yield session.messages, gr.skip(), gr.skip(), session, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        try:
            yield from self._respond(question, session, model, k, outlets, date_from, date_to, store)
        finally:
            session.busy.release()

    def _respond(self, question, session, model, k, outlets, date_from, date_to, store) -> Iterator[tuple]:
        import gradio as gr

        turn_no = len(session.turns)
        token = Turn(question=question, html=render.streaming_html("", turn_no))
        session.streaming = token
        skip = gr.skip()
        yield (session.messages, "", render.placeholder_sources("Searching the articles…"), session, skip, skip,
               skip, gr.update(visible=False))
        filters, pieces = Filters(), None
        try:
            model = model or self.model
            note = ""
            if model in self.missing:
                note, model = fallback_note_html(self.missing[model]), EXTRACTIVE
            filters = filters_from(outlets, date_from, date_to)
            kwargs = {"k": int(k) if k else None, "sources": list(filters.sources) or None,
                      "date_from": filters.date_from, "date_to": filters.date_to}
            try:
                pieces = self._chat_for(session, model).ask_stream(question, **kwargs)
                first = next(pieces, None)
            except (MissingDependencyError, ModelUnavailableError, ModelCrashedError, ModelTimeoutError) as err:
                if model == EXTRACTIVE:
                    raise
                # The picked model cannot run after all (missing, or its worker died or hung before its first
                # word: SIGILL, the OOM killer): answer anyway, and say so in the answer.
                note = (f'<div class="rag-fallback">{render.esc(model)} could not run ({render.esc(err)}), so this '
                        "answer comes from Extractive.</div>")
                pieces = self._chat_for(session, EXTRACTIVE).ask_stream(question, **kwargs)
                first = next(pieces, None)
            text, answer = "", None
            for piece in itertools.chain([first] if first is not None else [], pieces):
                if isinstance(piece, str):
                    text += piece
                    with session.edit:
                        if session.streaming is not token:
                            _close(pieces)  # a local model stops generating now, not at garbage collection
                            return  # Stop was pressed; the stopped answer is kept, nothing more is shown
                        token = replace(token, html=note + render.streaming_html(text, turn_no))
                        session.streaming = token
                    yield session.messages, skip, skip, session, skip, skip, skip, skip
                else:
                    answer = piece
            if answer is None:
                raise RagError("the model stopped without an answer")
            filtered = ""
            if answer.refused and filters.active:
                filtered = left_out_html(filters, left_out(self.index, answer.query or question, filters))
            done = Turn(question=question, html=render.answer_html(answer, turn_no, note=note, filtered=filtered),
                        sources=render.sources_html(answer, turn_no), md=answer_markdown(answer), text=answer.text,
                        query=answer.query, refused=answer.refused, answered=True,
                        filters={"sources": list(filters.sources), "date_from": filters.date_from,
                                 "date_to": filters.date_to})
        except RagError as err:
            gr.Warning(rag.redact(str(err)), duration=8)
            done = Turn(question=question, html=render.error_html(rag.redact(str(err))),
                        sources=render.placeholder_sources("No sources for this question."))
        except GeneratorExit:
            session.stop(token)  # Stop pressed: the Stop handler may have kept the partial answer already
            _close(pieces)
            raise
        except Exception as err:  # never a traceback in the page; the log has it
            log.exception("answering %r failed", question)
            msg = f"unexpected {type(err).__name__}: {' '.join(str(err).split())[:200]} (details in the server log)"
            gr.Warning(msg, duration=8)
            done = Turn(question=question, html=render.error_html(msg),
                        sources=render.placeholder_sources("No sources for this question."))
        with session.edit:
            if session.streaming is not token:
                return  # stopped meanwhile; the stopped version is what stays
            session.turns.append(done)
            session.streaming = None
        store = self._save(session, store)
        yield (session.messages, skip, done.sources, session, store, self._chat_list(store, session),
               self._export(session), gr.update(visible=bool(filtered) if done.answered else False))

    def stop(self, session: Session | None, store: dict | None) -> tuple:
        """Stop pressed: keep what streamed so far. Returns (chatbot, sources, session, store, chat list, export)."""
        import gradio as gr

        if not isinstance(session, Session) or not session.stop():
            return gr.skip(), gr.skip(), session, gr.skip(), gr.skip(), gr.skip()
        # Wait (briefly) until the answering generator has noticed and let go, so that no update of its is
        # still on its way to the page after this one.
        if session.busy.acquire(timeout=STOP_WAIT_S):
            session.busy.release()
        store = self._save(session, store)
        return (session.messages, session.turns[-1].sources, session, store, self._chat_list(store, session),
                self._export(session))

    def _truncate(self, session: Session, n_turns: int) -> str | None:
        """Drop turns from `n_turns` on; the question of the first dropped one (None if there was none)."""
        with session.edit:
            if session.streaming is not None or n_turns >= len(session.turns) or n_turns < 0:
                return None
            question = session.turns[n_turns].question
            del session.turns[n_turns:]
        self._sync_history(session)
        return question

    def regenerate(self, session: Session | None, model: str, k, outlets, date_from, date_to,
                   store: dict | None = None) -> Iterator[tuple]:
        """Ask the last question again (e.g. with another model or other filters), replacing its answer."""
        import gradio as gr

        question = self._truncate(session, len(session.turns) - 1) if isinstance(session, Session) else None
        if question is None:
            yield (gr.skip(),) * 3 + (session,) + (gr.skip(),) * 4
            return
        yield from self.respond(question, session, model, k, outlets, date_from, date_to, store)

    def edit_question(self, session: Session | None, index, value) -> str | None:
        """An edited question (the message at chat position `index`, its new text `value`): the conversation is
        cut back to before it; returns the text to ask (None when there is nothing to do)."""
        index = index[0] if isinstance(index, (list, tuple)) else index
        text = value if isinstance(value, str) else str((value or {}).get("text", "") if isinstance(value, dict) else "")
        text = html.unescape(text).strip()
        if not isinstance(session, Session) or not text or not isinstance(index, int):
            return None
        return text if self._truncate(session, index // 2) is not None else None

    def show_sources(self, session: Session | None, index: int | Sequence[int] | None) -> str | None:
        """The sources panel for the answer at chat position `index` (a click on an older message)."""
        if not isinstance(session, Session):
            return None
        if isinstance(index, (list, tuple)):
            index = index[0] if index else None
        if index is None:
            return None
        panels = session.panels
        return panels.get(index) or panels.get(index + 1)  # a click on a question shows its answer's sources

    # ---- stored chats ---------------------------------------------------------------------------------------
    def _save(self, session: Session, store: dict | None) -> dict:
        if not session.title and session.turns:
            session.title = chats.title_of(session.turns[0].question)
        return chats.upsert(store, session.chat_id, session.title, session.turns)

    @staticmethod
    def _chat_list(store: dict | None, session: Session | None):
        import gradio as gr

        current = session.chat_id if isinstance(session, Session) and session.turns else None
        return gr.update(choices=chats.choices(store), value=current)

    def _export(self, session: Session) -> str | None:
        """The conversation as a Markdown file for the "Export chat" button (None while it is empty)."""
        if not session.turns:
            return None
        safe = re.sub(r"[^A-Za-z0-9]+", "-", session.title or "chat").strip("-")[:50] or "chat"
        path = self.export_dir / session.chat_id / f"{safe}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(conversation_markdown(session.title, session.turns), encoding="utf-8")
        return str(path)

    def load_chat(self, store: dict | None, chat_id: str | None, session: Session | None) -> tuple:
        """Open a stored chat (None: the current one, on page load). Returns (chatbot, sources, session, chat
        list, export, title box)."""
        model = session.model if isinstance(session, Session) else self.model
        record = chats.find(store, chat_id if chat_id is not None else (store or {}).get("current"))
        fresh = Session(model=model)
        if record is not None:
            fresh.chat_id, fresh.title = record["id"], record.get("title", "")
            fresh.turns = chats.turns_of(record)
        panel = fresh.turns[-1].sources if fresh.turns and fresh.turns[-1].sources else render.placeholder_sources()
        return (fresh.messages, panel, fresh, self._chat_list(store, fresh), self._export(fresh), fresh.title)

    def new_conversation(self, session: Session | None, store: dict | None = None) -> tuple:
        """Returns (chatbot, sources, session, chat list, export, title box)."""
        fresh = Session(model=session.model if isinstance(session, Session) else self.model)
        return [], render.placeholder_sources(), fresh, self._chat_list(store, fresh), None, ""

    def rename_chat(self, store: dict | None, session: Session | None, title: str) -> tuple:
        """Returns (store, chat list, session, export)."""
        import gradio as gr

        if not isinstance(session, Session) or not session.turns or not " ".join((title or "").split()):
            gr.Warning("Ask something first, then name the chat.", duration=5)
            return gr.skip(), gr.skip(), session, gr.skip()
        session.title = " ".join(title.split())[:120]
        store = chats.rename(self._save(session, store), session.chat_id, session.title)
        return store, self._chat_list(store, session), session, self._export(session)

    def delete_chat(self, store: dict | None, session: Session | None) -> tuple:
        """Delete the open chat. Returns (store, chatbot, sources, session, chat list, export, title box)."""
        chat_id = session.chat_id if isinstance(session, Session) else None
        store = chats.delete(store, chat_id)
        return (store, *self.new_conversation(session, store))

    # ---- model and filters ----------------------------------------------------------------------------------
    def pick_model(self, model: str, session: Session | None) -> tuple:
        """Keep the pick; say at once, under the picker, when it cannot run and answers use Extractive.
        Returns (status line, session)."""
        session = session if isinstance(session, Session) else Session(model=self.model)
        session.model = model
        return status_html(self.models, model, fell_back_from=model if model in self.missing else None), session

    def model_status(self, session: Session | None = None) -> str:
        """The line under the picker for this browser's pick (the started model before any pick)."""
        model = session.model if isinstance(session, Session) and session.model else self.model
        return status_html(self.models, model, fell_back_from=model if model in self.missing else None)

    def model_loading(self) -> bool:
        """Is the started model still loading in the background (rag.providers.warmup)?"""
        return rag.model_load_state(self.model) == "loading"

    def model_help(self) -> str:
        return table_html(self.models)

    @staticmethod
    def chips(outlets, date_from, date_to) -> tuple:
        """(chips HTML, clear button update) for the current filter fields; bad dates show as typed."""
        import gradio as gr

        f = Filters(tuple(outlets or ()), (date_from or "").strip() or None, (date_to or "").strip() or None)
        return chips_html(f), gr.update(visible=f.active)

    @staticmethod
    def clear_filters() -> tuple:
        """(outlets, from, to, chips, clear button)."""
        import gradio as gr

        return [], "", "", "", gr.update(visible=False)

    def open_article(self, evt) -> str:
        """The reader overlay for an "Open article" click (event data: article, spans "n:s:e,...", target)."""
        self._nonce = getattr(self, "_nonce", 0) + 1
        return reader_for(self.index, getattr(evt, "_data", None) or {}, self._nonce)


def _upload_path(f) -> tuple[str, str]:
    """(temporary path, the user's file name) from whatever gr.File hands over."""
    path = getattr(f, "path", None) or getattr(f, "name", None) or str(f)
    orig = getattr(f, "orig_name", None) or getattr(getattr(f, "meta", None), "orig_name", None)
    return str(path), orig or os.path.basename(str(path))
