"""Conversations that outlive the page: turns as plain data, kept in the browser's own storage (gr.BrowserState).

Each browser keeps its own list of chats; the server keeps nothing between visits. The stored value is
`{"current": id, "chats": [{"id", "title", "updated", "turns": [turn dicts]}]}`, newest first. Gradio encrypts a
BrowserState with a secret, so the page cannot hand the server HTML of its own making; the secret lives beside the
uploads (see `browser_secret`) so chats also survive a server restart.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

MAX_CHATS = 40
# localStorage holds about 5 MB per site and the encrypted value is base64: stay well below that.
MAX_STORE_CHARS = 1_500_000
TITLE_CHARS = 60


@dataclass(frozen=True)
class Turn:
    """One question and what came back. `html` is the answer bubble, `sources` its sources panel, `md` its
    Markdown for Copy/Export ("" when there was no answer); `text`, `query`, `refused` feed follow-up questions."""

    question: str
    html: str
    sources: str = ""
    md: str = ""
    text: str = ""
    query: str = ""
    refused: bool = False
    answered: bool = False
    filters: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "Turn":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**{"question": "", "html": "", **known})


def new_id() -> str:
    return secrets.token_hex(6)


def title_of(question: str) -> str:
    q = " ".join((question or "").split())
    return q if len(q) <= TITLE_CHARS else q[: TITLE_CHARS - 1].rstrip() + "…"


def empty_store() -> dict:
    return {"current": None, "chats": []}


def _valid(store) -> dict:
    if not isinstance(store, dict) or not isinstance(store.get("chats"), list):
        return empty_store()
    chats = [c for c in store["chats"] if isinstance(c, dict) and isinstance(c.get("id"), str)]
    return {"current": store.get("current"), "chats": chats}


def find(store, chat_id: str | None) -> dict | None:
    return next((c for c in _valid(store)["chats"] if c["id"] == chat_id), None)


def turns_of(record: dict | None) -> list[Turn]:
    if not record:
        return []
    return [Turn.from_dict(t) for t in record.get("turns", []) if isinstance(t, dict)]


def upsert(store, chat_id: str, title: str, turns: list[Turn]) -> dict:
    """The store with this chat saved (moved to the top) and made current; old chats dropped past the caps.
    A chat with no turns is not stored (a fresh "New chat" leaves no empty entry behind)."""
    store = _valid(store)
    others = [c for c in store["chats"] if c["id"] != chat_id]
    chats = others
    if turns:
        record = {"id": chat_id, "title": title or title_of(turns[0].question), "updated": time.time(),
                  "turns": [asdict(t) for t in turns]}
        chats = [record] + others
    chats = chats[:MAX_CHATS]
    while len(chats) > 1 and len(json.dumps(chats)) > MAX_STORE_CHARS:
        chats.pop()
    return {"current": chat_id, "chats": chats}


def rename(store, chat_id: str | None, title: str) -> dict:
    store = _valid(store)
    title = " ".join((title or "").split())[:120]
    if not title:
        return store
    chats = [{**c, "title": title} if c["id"] == chat_id else c for c in store["chats"]]
    return {**store, "chats": chats}


def delete(store, chat_id: str | None) -> dict:
    store = _valid(store)
    chats = [c for c in store["chats"] if c["id"] != chat_id]
    current = store["current"] if store["current"] != chat_id else None
    return {"current": current, "chats": chats}


def choices(store) -> list[tuple[str, str]]:
    """(label, id) for the chat list, newest first."""
    out = []
    for c in _valid(store)["chats"]:
        n = len(c.get("turns", []))
        when = time.strftime("%d %b %H:%M", time.localtime(c.get("updated") or 0))
        out.append((f"{c.get('title') or 'Untitled chat'} · {n} question{'s' if n != 1 else ''} · {when}", c["id"]))
    return out


def without_stream_marks(turn: Turn) -> Turn:
    """A turn cut short (Stop) as it is kept: no blinking cursor."""
    return replace(turn, html=turn.html.replace('<span class="rag-cursor">▍</span>', ""))


def browser_secret(folder: Path) -> str:
    """A per-installation secret for BrowserState encryption, created on first use (mode 0600).
    With a random secret per start, every stored chat would become unreadable after a restart."""
    path = Path(folder) / ".ui-secret"
    try:
        return path.read_text().strip() or _make_secret(path)
    except FileNotFoundError:
        return _make_secret(path)
    except OSError:
        return secrets.token_urlsafe(24)


def _make_secret(path: Path) -> str:
    value = secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
    except FileExistsError:
        return path.read_text().strip() or value
    except OSError:
        pass  # read-only index folder: chats then last as long as this server runs
    return value
