"""The Library tab's actions: add uploads (a report naming each file), remove an article after a confirmation with
a few seconds to undo, and notice when another tab or process changed the index.

Undo works because adding is idempotent by content: removing only drops the article from the index, and its
file stays (an upload is moved aside into `uploads/.trash/`, which ingestion skips as a dot-folder) until the undo
window closes; undo puts the file back and adds it again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import rag
from rag import RagError

from . import render
from .uploads import Refused, Saved, save_upload

log = logging.getLogger("rag.ui")

UNDO_SECONDS = 10


@dataclass(frozen=True)
class Removed:
    """What undo needs: the article's id and title, the file it came from, and where that file waits meanwhile."""

    article_id: str
    title: str
    origin_file: str
    parked: str = ""        # the upload's path in uploads/.trash/ ("" when the file stayed where it was)
    at: float = 0.0


def _upload_path(f) -> tuple[str, str]:
    """(temporary path, the user's file name) from whatever gr.File hands over."""
    path = getattr(f, "path", None) or getattr(f, "name", None) or str(f)
    orig = getattr(f, "orig_name", None) or getattr(getattr(f, "meta", None), "orig_name", None)
    return str(path), orig or os.path.basename(str(path))


class LibraryActions:
    """Mixed into ui.handlers.RagUI: needs self.index, self.upload_dir, self.max_upload_bytes."""

    index: object
    upload_dir: Path
    max_upload_bytes: int

    def outlet_choices(self) -> list[tuple[str, str]]:
        return [(f"{name} ({n})", name) for name, n in self.index.sources() if name]

    def article_choices(self) -> list[tuple[str, str]]:
        out = []
        for a in self.index.articles():
            meta = ", ".join(x for x in (a.source, a.published_at[:10]) if x)
            out.append((f"{a.title[:90]}" + (f" ({meta})" if meta else "") + f" — {a.id}", a.id))
        return out

    def signature(self) -> str:
        """Changes whenever an article is added, updated or removed (by any tab or process)."""
        rows = sorted((a.id, a.chunks) for a in self.index.articles())
        return hashlib.sha1(repr(rows).encode()).hexdigest()[:16]

    def library(self) -> tuple:
        """(stats HTML, article table HTML, remove-picker update, outlet-filter update)."""
        import gradio as gr

        return (render.stats_html(self.index.stats()), render.articles_html(self.index.articles()),
                gr.update(choices=self.article_choices(), value=None), gr.update(choices=self.outlet_choices()))

    def refresh_if_changed(self, seen: str | None) -> tuple:
        """For the periodic check: (signature, *library()) when the index changed since `seen`, else skips."""
        import gradio as gr

        now = self.signature()
        if now == seen:
            return (gr.skip(),) * 5
        return (now, *self.library())

    # ---- add ------------------------------------------------------------------------------------------------
    def add_files(self, files: Sequence | None, progress: Callable | None = None) -> tuple:
        """Check and copy uploads into the uploads folder, index them, report. Returns (report HTML, file box
        value, *library())."""
        import gradio as gr

        paths = [_upload_path(f) for f in (files or [])]
        if not paths:
            gr.Warning("Choose one or more files first.", duration=6)
            return ("", gr.skip(), *self.library())
        saved: list[Saved] = []
        refused: list[Refused] = []
        for src, name in paths:
            result = save_upload(src, name, self.upload_dir, max_bytes=self.max_upload_bytes)
            (saved if isinstance(result, Saved) else refused).append(result)
        report, done = None, []
        if saved:
            before = {rag.origin_file(a.origin) for a in self.index.articles()}

            def on_progress(stage: str, n: int, total: int) -> None:
                if progress is not None and total:
                    progress((n, total), desc=f"{stage}: {n}/{total} passages", unit="passages")

            try:
                report = self.index.add([s.path for s in saved], progress=on_progress)
            except RagError as err:
                gr.Warning(str(err), duration=8)
                refused.extend(Refused(s.name, f"not indexed: {err}") for s in saved)
            else:
                self._drop_skipped_copies(saved, report)
                done = self._per_file(saved, report, before)
        html = render.report_html(report, refused, {str(s.path.resolve()): s.name for s in saved}
                                  | {str(s.path): s.name for s in saved}, done)
        return (html, None, *self.library())

    def _per_file(self, saved: Sequence[Saved], report, before: set[str]) -> list[tuple[str, str]]:
        """(file name, what happened) for each saved file the index took."""
        skipped = {s.path.partition("#")[0] for s in report.skipped}
        counts = Counter(rag.origin_file(a.origin) for a in self.index.articles())
        out = []
        for s in saved:
            path = str(s.path)
            if path in skipped or str(s.path.resolve()) in skipped:
                continue
            n = counts.get(path, 0) or counts.get(str(s.path.resolve()), 0)
            what = "unchanged (already indexed)" if path in before and s.reused else \
                ("updated" if path in before else "added")
            if n > 1:
                what += f", {render.plural(n, 'article')}"
            out.append((s.name, what))
        return out

    def _drop_skipped_copies(self, saved: Sequence[Saved], report) -> None:
        # A file the index could not use should not linger in uploads/ to be re-tried by a later `rag index`.
        skipped = {s.path for s in report.skipped}
        for s in saved:
            if not s.reused and (str(s.path) in skipped or str(s.path.resolve()) in skipped):
                s.path.unlink(missing_ok=True)

    # ---- remove, undo ---------------------------------------------------------------------------------------
    def confirm_remove(self, article_id: str | None) -> tuple:
        """(question HTML, confirm row update) before anything is removed."""
        import gradio as gr

        if not article_id:
            gr.Warning("Pick an article to remove first.", duration=6)
            return "", gr.update(visible=False)
        info = {a.id: a for a in self.index.articles()}.get(article_id)
        if info is None:
            return render.error_html("that article is no longer in the index"), gr.update(visible=False)
        return (f'<div class="rag-report rag-report-mixed">Remove <b>{render.esc(info.title)}</b> and its '
                f"{render.plural(info.chunks, 'passage')} from the index? You can undo it for "
                f"{UNDO_SECONDS} seconds.</div>", gr.update(visible=True))

    def remove_article(self, article_id: str | None) -> tuple:
        """Remove one article. Returns (message HTML, undo record or None, *library())."""
        import gradio as gr

        if not article_id:
            gr.Warning("Pick an article to remove first.", duration=6)
            return ("", None, *self.library())
        try:
            info = {a.id: a for a in self.index.articles()}.get(article_id)
            self.index.remove([article_id])
        except RagError as err:
            gr.Warning(str(err), duration=8)
            return (render.error_html(str(err)), None, *self.library())
        title = info.title if info else article_id
        undo = None
        if info is not None:
            undo = Removed(article_id, title, rag.origin_file(info.origin), self._park_upload(info.origin), time.time())
        msg = (f'<div class="rag-report rag-report-ok">Removed <b>{render.esc(title)}</b>.'
               + (" Undo brings it back." if undo else "") + "</div>")
        return (msg, undo, *self.library())

    def undo_remove(self, undo: Removed | None) -> tuple:
        """Put a removed article back. Returns (message HTML, None, *library())."""
        import gradio as gr

        if not isinstance(undo, Removed):
            return ("", None, *self.library())
        try:
            if undo.parked:
                if not Path(undo.parked).is_file():
                    raise RagError("the undo window has closed; add the file again from the Library")
                os.replace(undo.parked, undo.origin_file)
            if not Path(undo.origin_file).exists():
                raise RagError(f"its file {undo.origin_file} is gone; add the article again")
            report = self.index.add([undo.origin_file])
        except (RagError, OSError) as err:
            gr.Warning(f"could not undo: {err}", duration=8)
            return (render.error_html(f"could not undo: {err}"), None, *self.library())
        back = report.added + report.updated
        msg = (f'<div class="rag-report rag-report-ok">Restored <b>{render.esc(undo.title)}</b>.</div>' if back else
               render.error_html("nothing was restored"))
        return (msg, None, *self.library())

    def forget_undo(self, undo: Removed | None) -> None:
        """The undo window closed: the parked upload is deleted for good."""
        if isinstance(undo, Removed) and undo.parked:
            Path(undo.parked).unlink(missing_ok=True)

    def _park_upload(self, origin: str) -> str:
        """Move an upload whose last article was removed into uploads/.trash/; its new path ("" if not moved)."""
        file = Path(rag.origin_file(origin))
        try:
            if file.resolve().parent != self.upload_dir.resolve() or not file.is_file():
                return ""
            if any(rag.origin_file(a.origin) == str(file) for a in self.index.articles()):
                return ""  # other records of the same JSON file are still indexed
            trash = self.upload_dir / ".trash"
            trash.mkdir(exist_ok=True)
            for old in trash.iterdir():  # parked by a tab that closed before its undo window ended
                if old.is_file() and old.stat().st_ctime < time.time() - 3600:
                    old.unlink(missing_ok=True)
            parked = trash / f"{int(time.time() * 1000)}-{file.name}"
            shutil.move(str(file), parked)
            return str(parked)
        except OSError as err:
            log.warning("could not move %s aside: %s", file, err)
            return ""
