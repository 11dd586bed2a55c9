"""What the buttons do. Plain methods over rag's public API, so tests call them without a browser.

One `RagUI` serves every browser session; per-session things (the Chat with its history, the rendered sources
of each answer) live in a `Session` kept in a gr.State. Long work runs in Gradio's worker threads; index writes
are serialised by the queue (ui/app.py) and by rag.Index's own lock.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import rag
from rag import RagError, UserError

from . import render
from .uploads import DEFAULT_MAX_BYTES, Refused, Saved, save_upload

log = logging.getLogger("rag.ui")

DEFAULT_K = rag.DEFAULT_K
SEED_EXAMPLES = (
    "What did Bulgaria claim about Russia?",
    "How many people have been returned under the one in, one out deal?",
    "What did Yvette Cooper say?",
)
_SEED_MARKERS = ("Mitov", "one in, one out", "Yvette Cooper")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Session:
    """One browser tab's conversation."""

    chat: object = None
    chat_model: str = ""
    messages: list[dict] = field(default_factory=list)
    panels: dict[int, str] = field(default_factory=dict)  # message index -> sources HTML of that answer
    turns: int = 0
    model: str = ""                                       # the last model that could be picked
    busy: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __deepcopy__(self, memo):  # gr.State may copy; a fresh session is the right copy of a lock-holder
        return Session(model=self.model)


def parse_date(value: str | None, label: str) -> str | None:
    """'' -> None; 'YYYY-MM-DD' (a real date) -> itself; anything else -> UserError naming the field."""
    value = (value or "").strip()
    if not value:
        return None
    if not _DATE.match(value):
        raise UserError(f"{label} must look like 2025-10-20 (YYYY-MM-DD), not {value!r}")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{label} {value!r} is not a real date") from None
    return value


def model_choices(current: str, *, base_url: str | None = None) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Dropdown choices (label, spec) and, for models that cannot run here, how to install them."""
    choices = [("Extractive — quotes the articles, no LLM (fast)", "extractive")]
    missing: dict[str, str] = {}
    try:
        known = rag.known_models()
    except Exception as err:  # a broken optional backend must not take the chat down
        log.warning("could not list GGUF models: %s", err)
        known = []
    for m in known:
        spec = f"llamacpp:{m['name']}"
        if m.get("available"):
            choices.append((f"{m['name']} — {m.get('description', '')}", spec))
        else:
            choices.append((f"{m['name']} — not installed", spec))
            missing[spec] = m.get("how_to_install", "")
    url = base_url or os.environ.get("OPENAI_BASE_URL")
    if url:
        name = os.environ.get("OPENAI_MODEL", "")
        choices.append((f"openai:{name or '(server default)'} at {url}", f"openai:{name}"))
    if current and current not in {v for _, v in choices}:
        choices.insert(0, (current, current))
    return choices, missing


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


class RagUI:
    def __init__(self, index, *, model: str = "extractive", model_options: dict | None = None,
                 upload_dir: Path | None = None, max_upload_bytes: int = DEFAULT_MAX_BYTES):
        self.index = index
        self.model = model or "extractive"
        self.model_options = dict(model_options or {})
        self.upload_dir = Path(upload_dir) if upload_dir else Path(index.path) / "uploads"
        self.max_upload_bytes = max_upload_bytes
        self.choices, self.missing = model_choices(self.model, base_url=self.model_options.get("base_url"))

    # ---- chat ------------------------------------------------------------------------------------------------
    def _chat_for(self, session: Session, model: str):
        if session.chat is None or session.chat_model != model:
            options = self.model_options if model != "extractive" else {}
            chat = self.index.chat(model=model, **options)
            # Switching models mid-conversation keeps the history, so follow-ups still make sense.
            if session.chat is not None and isinstance(getattr(chat, "history", None), list):
                chat.history.extend(getattr(session.chat, "history", []))
            session.chat, session.chat_model = chat, model
        return session.chat

    def respond(self, question: str, session: Session | None, model: str, k: float | None,
                outlets: Sequence[str] | None, date_from: str | None, date_to: str | None) -> Iterator[tuple]:
        """Stream one answer. Yields (chatbot messages, question box, sources panel, session)."""
        import gradio as gr

        session = session if isinstance(session, Session) else Session(model=self.model)
        question = (question or "").strip()
        if not question:
            yield session.messages, gr.skip(), gr.skip(), session
            return
        if not session.busy.acquire(blocking=False):
            gr.Warning("Still answering the previous question; wait for it to finish.")
            yield session.messages, gr.skip(), gr.skip(), session
            return
        try:
            yield from self._respond(question, session, model, k, outlets, date_from, date_to)
        finally:
            session.busy.release()

    def _respond(self, question, session, model, k, outlets, date_from, date_to) -> Iterator[tuple]:
        import gradio as gr

        turn = session.turns
        session.turns += 1
        messages = session.messages
        messages.append({"role": "user", "content": render.esc(question)})
        messages.append({"role": "assistant", "content": render.streaming_html("", turn)})
        at = len(messages) - 1
        yield messages, "", render.placeholder_sources("Searching the articles…"), session
        try:
            model = model or self.model
            if model in self.missing:
                raise UserError(f"{model} is not installed here; {self.missing[model]}")
            filters = {"k": int(k) if k else None, "sources": list(outlets or []) or None,
                       "date_from": parse_date(date_from, "From date"), "date_to": parse_date(date_to, "To date")}
            if filters["date_from"] and filters["date_to"] and filters["date_from"] > filters["date_to"]:
                raise UserError("the From date is after the To date")
            chat = self._chat_for(session, model)
            text, answer = "", None
            for piece in chat.ask_stream(question, **filters):
                if isinstance(piece, str):
                    text += piece
                    messages[at] = {"role": "assistant", "content": render.streaming_html(text, turn)}
                    yield messages, gr.skip(), gr.skip(), session
                else:
                    answer = piece
            if answer is None:
                raise RagError("the model stopped without an answer")
            messages[at] = {"role": "assistant", "content": render.answer_html(answer, turn)}
            session.panels[at] = render.sources_html(answer, turn)
            yield messages, gr.skip(), session.panels[at], session
        except RagError as err:
            gr.Warning(str(err))
            messages[at] = {"role": "assistant", "content": render.error_html(str(err))}
            yield messages, gr.skip(), render.placeholder_sources("No sources for this question."), session
        except Exception as err:  # never a traceback in the page; the log has it
            log.exception("answering %r failed", question)
            msg = f"unexpected {type(err).__name__}: {' '.join(str(err).split())[:200]} (details in the server log)"
            gr.Warning(msg)
            messages[at] = {"role": "assistant", "content": render.error_html(msg)}
            yield messages, gr.skip(), render.placeholder_sources("No sources for this question."), session

    def show_sources(self, session: Session | None, index: int | Sequence[int] | None) -> str | None:
        """The sources panel for the answer at chat position `index` (a click on an older message)."""
        if not isinstance(session, Session):
            return None
        if isinstance(index, (list, tuple)):
            index = index[0] if index else None
        if index is None:
            return None
        if index in session.panels:
            return session.panels[index]
        return session.panels.get(index + 1)  # a click on a question shows its answer's sources

    def new_conversation(self, session: Session | None) -> tuple:
        fresh = Session(model=session.model if isinstance(session, Session) else self.model)
        return [], render.placeholder_sources(), fresh

    def pick_model(self, model: str, session: Session | None) -> tuple:
        """Refuse a model that cannot run here, with how to install it; keep the last usable one."""
        import gradio as gr

        session = session if isinstance(session, Session) else Session(model=self.model)
        if model in self.missing:
            gr.Warning(f"{model} is not installed. {self.missing[model]}", duration=20)
            return gr.update(value=session.model or self.model), session
        session.model = model
        return gr.skip(), session

    def model_help(self) -> str:
        if not self.missing:
            return ""
        items = "".join(f"<li><b>{render.esc(spec.split(':', 1)[1])}</b>: <code>{render.esc(how)}</code></li>"
                        for spec, how in self.missing.items())
        n = len(self.missing)
        return (f'<details class="rag-model-help"><summary>{n} model{"s" if n > 1 else ""} not installed here '
                f"(cannot be picked until installed): how to install</summary><ul>{items}</ul></details>")

    # ---- library ---------------------------------------------------------------------------------------------
    def outlet_choices(self) -> list[tuple[str, str]]:
        return [(f"{name} ({n})", name) for name, n in self.index.sources() if name]

    def article_choices(self) -> list[tuple[str, str]]:
        out = []
        for a in self.index.articles():
            meta = ", ".join(x for x in (a.source, a.published_at[:10]) if x)
            out.append((f"{a.title[:90]}" + (f" ({meta})" if meta else "") + f" — {a.id}", a.id))
        return out

    def library(self) -> tuple:
        """(stats HTML, article table HTML, remove-picker update, outlet-filter update)."""
        import gradio as gr

        return (render.stats_html(self.index.stats()), render.articles_html(self.index.articles()),
                gr.update(choices=self.article_choices(), value=None), gr.update(choices=self.outlet_choices()))

    def add_files(self, files: Sequence | None, progress: Callable | None = None) -> tuple:
        """Check and copy uploads into the uploads folder, index them, report. Returns (report HTML, file box
        value, *library())."""
        import gradio as gr

        paths = [_upload_path(f) for f in (files or [])]
        if not paths:
            gr.Warning("Choose one or more files first.")
            return ("", gr.skip(), *self.library())
        saved: list[Saved] = []
        refused: list[Refused] = []
        for src, name in paths:
            result = save_upload(src, name, self.upload_dir, max_bytes=self.max_upload_bytes)
            (saved if isinstance(result, Saved) else refused).append(result)
        report = None
        if saved:
            def on_progress(stage: str, done: int, total: int) -> None:
                if progress is not None and total:
                    progress((done, total), desc=f"{stage}: {done}/{total} passages", unit="passages")

            try:
                report = self.index.add([s.path for s in saved], progress=on_progress)
            except RagError as err:
                gr.Warning(str(err))
                refused.extend(Refused(s.name, f"not indexed: {err}") for s in saved)
            else:
                self._drop_skipped_copies(saved, report)
        html = render.report_html(report, refused, {str(s.path.resolve()): s.name for s in saved}
                                  | {str(s.path): s.name for s in saved})
        return (html, None, *self.library())

    def _drop_skipped_copies(self, saved: Sequence[Saved], report) -> None:
        # A file the index could not use should not linger in uploads/ to be re-tried by a later `rag index`.
        skipped = {s.path for s in report.skipped}
        for s in saved:
            if not s.reused and (str(s.path) in skipped or str(s.path.resolve()) in skipped):
                s.path.unlink(missing_ok=True)

    def remove_article(self, article_id: str | None) -> tuple:
        """Remove one article (and its uploaded file, if it came from the uploads folder)."""
        import gradio as gr

        if not article_id:
            gr.Warning("Pick an article to remove first.")
            return ("", *self.library())
        try:
            info = {a.id: a for a in self.index.articles()}.get(article_id)
            self.index.remove([article_id])
        except RagError as err:
            gr.Warning(str(err))
            return (render.error_html(str(err)), *self.library())
        if info is not None:
            self._drop_upload(info.origin)
        title = info.title if info else article_id
        return (f'<div class="rag-report rag-report-ok">Removed <b>{render.esc(title)}</b>.</div>', *self.library())

    def _drop_upload(self, origin: str) -> None:
        file = Path(rag.origin_file(origin))
        try:
            if file.resolve().parent != self.upload_dir.resolve():
                return
            if any(rag.origin_file(a.origin) == str(file) for a in self.index.articles()):
                return  # other records of the same JSON file are still indexed
            file.unlink(missing_ok=True)
        except OSError as err:
            log.warning("could not delete %s: %s", file, err)


def _upload_path(f) -> tuple[str, str]:
    """(temporary path, the user's file name) from whatever gr.File hands over."""
    path = getattr(f, "path", None) or getattr(f, "name", None) or str(f)
    orig = getattr(f, "orig_name", None) or getattr(getattr(f, "meta", None), "orig_name", None)
    return str(path), orig or os.path.basename(str(path))
