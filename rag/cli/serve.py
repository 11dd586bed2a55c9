"""`rag serve`: the browser chat (ui/app.py) on a local port.

Safe by default: binds to 127.0.0.1, never creates a public share link, and refuses a non-loopback address
unless the caller either sets a login (`--auth user:password`) or says explicitly that none is wanted
(`--no-auth`). The index is built from the seed articles when it is missing or empty, and the embedder is
loaded before the URL is printed, so the first question is answered in seconds rather than after a model load.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import sys
import tempfile
import time
from pathlib import Path

from ..errors import MissingDependencyError, UserError


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (also written [::1] or as an IPv4-mapped IPv6 address)."""
    h = (host or "").strip().strip("[]").lower()
    if h in ("localhost", "localhost."):
        return True
    try:
        ip = ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return False  # any other name may resolve to a public interface
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    if auth is None:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise UserError("--auth takes USER:PASSWORD, both non-empty")
    return user, password


def check_bind(host: str, auth: str | None, no_auth: bool) -> tuple[str, str] | None:
    """The login pair to use; UserError when a non-loopback bind has neither a login nor --no-auth."""
    pair = parse_auth(auth)
    if pair is None and not no_auth and not is_loopback(host):
        raise UserError(f"--host {host} is reachable from other machines: add --auth USER:PASSWORD "
                        "(or --no-auth to serve without a login)")
    return pair


def _url(host: str, port: int) -> str:
    h = host.strip("[]")
    if h in ("0.0.0.0", "::", ""):
        h = "127.0.0.1"
    return f"http://[{h}]:{port}" if ":" in h else f"http://{h}:{port}"


class _StderrBar:
    def __init__(self) -> None:
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"indexing seeds ({stage})", unit="chunk", file=sys.stderr)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _ensure_built(index, seeds: str | os.PathLike) -> None:
    if index.stats()["articles"]:
        return
    seeds = Path(seeds)
    if not seeds.exists():
        raise UserError(f"the index at {index.path} is empty and there is no {seeds}/ to build it from; "
                        f"build it with `rag index PATH --index {index.path}` or pass --seeds DIR")
    print(f"Index {index.path} is empty: indexing {seeds}/ ...", file=sys.stderr, flush=True)
    bar = _StderrBar()
    try:
        report = index.add([seeds], progress=bar)
    finally:
        bar.close()
    for s in report.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    print(f"Indexed {report.added} article(s), {report.chunks_embedded} chunks.", file=sys.stderr, flush=True)


def _warm(index, model: str, options: dict) -> float:
    """Load the embedder and the vectors (and a local model) now, not on the first question. Seconds spent."""
    from ..errors import RagError

    t0 = time.perf_counter()
    index.warm()  # both encoders (questions, and sentences for the evidence check) and the vectors
    index.search("warm up the embedder", k=1)
    if model == "extractive":
        try:  # also loads the answering path (tokenizer, sentence splitting); a refusal is fine
            index.ask("What happened?", model="extractive")
        except RagError:
            pass
    else:
        try:
            from ..providers.base import get_model

            instance = get_model(model, **options)
        except Exception as err:  # reported again, clearly, on the first question
            from ..redact import redact

            print(f"warning: model {model} is not ready: {redact(str(err))}", file=sys.stderr)
        else:
            from ..answering.prompting import SYSTEM
            from ..providers import warmup

            # a local model loads while the page comes up; the settings panel shows its state
            warmup.start(model, options, prefix=[{"role": "system", "content": SYSTEM}], model=instance)
    return time.perf_counter() - t0


def _share_secret(idx, uploads: Path) -> None:
    """Replicas on one Milvus index encrypt the browser's saved chats with one key, kept in Milvus: whichever
    replica a browser reaches reads them (ui/chats.py reads the key from `<uploads>/.ui-secret`)."""
    uploads.mkdir(parents=True, exist_ok=True)
    secret = uploads / ".ui-secret"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(idx.store.shared_secret())


def serve(index: str | os.PathLike | None = None, host: str = "127.0.0.1", port: int = 7860,
          model: str = "extractive", base_url: str | None = None, seeds: str | os.PathLike = "seeds",
          auth: str | None = None, no_auth: bool = False, options: dict | None = None) -> int:
    """Open (or build) the index and serve the chat until interrupted (`options`: the model's, as `-o` gives them).
    Returns the exit status."""
    from ..index import Index, index_location

    login = check_bind(host, auth, no_auth)
    where = index_location(index)
    # uploads are files on this machine: beside an embedded index; for a Milvus index (replicas share nothing but
    # Milvus) in a local scratch folder, whose files are indexed into Milvus like any other
    path = where if isinstance(where, Path) else Path(tempfile.gettempdir()) / f"rag-{where.collection}"
    if importlib.util.find_spec("gradio") is None:
        raise MissingDependencyError("gradio", "ui", "the browser chat")

    idx = Index.open(where, create=True)
    _ensure_built(idx, seeds)
    options = {**(options or {}), **({"base_url": base_url} if base_url else {})}
    took = _warm(idx, model, options)
    stats = idx.stats()
    print(f"Ready for questions: {stats['articles']} articles, {stats['chunks']} chunks; embedder "
          f"{stats['embedder']} warmed up ({took:.1f} s), so the first answer takes seconds.", file=sys.stderr,
          flush=True)

    # Uploads pass through Gradio's cache before we copy them into <index>/uploads; keep that cache in the index
    # folder too (unless the user chose one), so the server writes nowhere else.
    os.environ.setdefault("GRADIO_TEMP_DIR", str((path / "uploads" / ".incoming").resolve()))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home from an offline tool
    from ui.app import build_app

    if not isinstance(where, Path):
        _share_secret(idx, path / "uploads")
    demo = build_app(idx, model=model, model_options=options, upload_dir=path / "uploads")
    try:
        demo.launch(server_name=host, server_port=port, auth=login, share=False, inbrowser=False, quiet=True,
                    show_error=False, prevent_thread_lock=True)
    except OSError as err:
        raise UserError(f"cannot listen on {host}:{port} ({err}); pick another port with --port") from None
    # Printed only once the server accepts connections, so whoever waits for this line can connect at once.
    print(f"Running on {_url(host, port)}", flush=True)
    try:
        demo.block_thread()  # the blocking half of launch(prevent_thread_lock=False)
    finally:
        idx.close()
    return 0
