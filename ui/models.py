"""The model picker: every model with what it needs, whether it can run here, why not, and one command to fix it."""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from html import escape

import rag
log = logging.getLogger("rag.ui")

EXTRACTIVE = "extractive"


@dataclass(frozen=True)
class ModelInfo:
    spec: str
    name: str
    description: str
    needs: tuple[tuple[str, bool], ...] = ()   # (what, present here)
    install: str = ""                          # one command; "" when nothing is missing

    @property
    def available(self) -> bool:
        return all(ok for _, ok in self.needs)

    @property
    def reason(self) -> str:
        missing = [what for what, ok in self.needs if not ok]
        return "needs " + " and ".join(missing) if missing else ""

    @property
    def label(self) -> str:
        return f"{self.name} — {self.description}" if self.available else f"{self.name} — not installed ({self.reason})"


def list_models(current: str = EXTRACTIVE, *, base_url: str | None = None) -> list[ModelInfo]:
    out = [ModelInfo(EXTRACTIVE, "Extractive", "quotes the articles, no LLM (fast)")]
    try:
        import rag

        runtime = any(importlib.util.find_spec(m) is not None for m in ("xllamacpp", "llama_cpp"))
        for m in rag.known_models():
            size = f"{m['size_bytes'] / 1e6:,.0f} MB model file" if m.get("size_bytes") else "model file"
            needs = (("llama.cpp (xllamacpp)", runtime), (size, bool(m.get("available"))))
            info = ModelInfo(f"llamacpp:{m['name']}", m["name"], m.get("description", ""), needs)
            if not info.available:
                command = m.get("install_command") or m.get("how_to_install", "").split(";")[0]
                info = ModelInfo(info.spec, info.name, info.description, needs, command)
            out.append(info)
    except Exception as err:  # a broken optional backend must not take the chat down
        log.warning("could not list GGUF models: %s", err)
    url = base_url or os.environ.get("OPENAI_BASE_URL")
    if url:
        name = os.environ.get("OPENAI_MODEL", "")
        out.append(ModelInfo(f"openai:{name}", f"openai:{name or '(server default)'}", f"at {rag.redact(url)}"))
    if current and current not in {m.spec for m in out}:
        out.insert(0, ModelInfo(current, current, "as started"))
    return out


def status_html(models: list[ModelInfo], picked: str, fell_back_from: str | None = None) -> str:
    """The line under the picker: which model answers, and for an unavailable pick why and how to install it."""
    by_spec = {m.spec: m for m in models}
    if fell_back_from and fell_back_from in by_spec:
        m = by_spec[fell_back_from]
        return (f'<div class="rag-model-status rag-model-missing"><b>{escape(m.name)}</b> cannot run here: '
                f"{escape(m.reason)}. Answers use <b>Extractive</b> until it is installed with "
                f"<code>{escape(m.install)}</code> (then restart <code>rag serve</code>).</div>")
    m = by_spec.get(picked)
    if m is None:
        return ""
    loading = rag.model_load_state(picked)
    if loading == "loading":
        return (f'<div class="rag-model-status rag-model-loading"><b>{escape(m.name)}</b> is loading in the '
                "background; a question asked now waits for it.</div>")
    if loading and loading.startswith("failed: "):
        return (f'<div class="rag-model-status rag-model-missing"><b>{escape(m.name)}</b> could not be loaded: '
                f"{escape(loading[len('failed: '):])}</div>")
    return f'<div class="rag-model-status">Answers come from <b>{escape(m.name)}</b>: {escape(m.description)}.</div>'


def table_html(models: list[ModelInfo]) -> str:
    """Every model, what it needs (✓ present / ✗ missing) and the install command where something is missing."""
    rows = []
    for m in models:
        needs = "; ".join(f"{'✓' if ok else '✗'} {escape(what)}" for what, ok in m.needs) or "nothing extra"
        how = f"<code>{escape(m.install)}</code>" if m.install else "ready"
        rows.append(f"<tr><td><b>{escape(m.name)}</b></td><td>{needs}</td><td>{how}</td></tr>")
    return ('<details class="rag-model-help"><summary>What each model needs</summary><table class="rag-table">'
            "<thead><tr><th>Model</th><th>Needs</th><th>Install</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></details>")


def fallback_note_html(m: ModelInfo) -> str:
    """Put at the top of an answer that came from Extractive because the picked model cannot run."""
    return (f'<div class="rag-fallback">{escape(m.name)} is not installed here ({escape(m.reason)}), so this answer '
            f"comes from Extractive. Install it with <code>{escape(m.install)}</code>.</div>")
