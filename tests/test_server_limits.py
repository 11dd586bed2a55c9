"""Server limits against a real `rag serve` (Gradio, uvicorn, the real index): login throttling with back-off,
upload quotas per client and in total, bounded and expiring sessions, and credentials in --base-url never shown
(CLI errors, the browser's model list)."""

from __future__ import annotations

import shutil
import time

import pytest

from conftest import SEEDS, run_cli
from bench.harness.load import Server

pytestmark = pytest.mark.slow

SECRET = "hunter2-s3cret"


@pytest.fixture(scope="module")
def served(tmp_path_factory, seed_index):
    """`rag serve --auth` over a copy of the seed index, an OpenAI-compatible --base-url with credentials in it,
    and a 1 MB per-client / 3 MB total upload quota."""
    index_dir = tmp_path_factory.mktemp("served") / "index"
    shutil.copytree(seed_index.path, index_dir)
    server = Server(index_dir, "--auth", "admin:right-password", "--base-url",
                    f"http://bob:{SECRET}@127.0.0.1:9/v1?api_key={SECRET}",
                    env={"RAG_UPLOAD_CLIENT_MB": "1", "RAG_UPLOAD_TOTAL_MB": "3"})
    server.wait_ready()
    yield server
    server.stop()


def _login(url: str, password: str):
    import httpx

    return httpx.post(f"{url}/login", data={"username": "admin", "password": password}, timeout=30)


def test_login_is_throttled_with_back_off(served):
    for _ in range(5):  # free attempts
        assert _login(served.url, "wrong").status_code == 400
    blocked = _login(served.url, "right-password")  # even the right password waits out the back-off
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert "try again in" in blocked.json()["detail"]
    time.sleep(1.1)
    assert _login(served.url, "wrong").status_code == 400      # 6th failure: the next wait doubles
    again = _login(served.url, "wrong")
    assert again.status_code == 429 and int(again.headers["retry-after"]) == 2
    time.sleep(2.1)
    assert _login(served.url, "right-password").status_code == 200  # a success clears the record
    assert _login(served.url, "wrong").status_code == 400


def _upload(url: str, name: str, size: int, cookies=None):
    import httpx

    files = {"files": (name, b"The council met on Monday. " * (size // 27 + 1), "text/plain")}
    return httpx.post(f"{url}/gradio_api/upload", files=files, cookies=cookies, timeout=60)


def test_upload_quota_per_client(served):
    import httpx

    with httpx.Client() as c:
        assert c.post(f"{served.url}/login", data={"username": "admin", "password": "right-password"}).status_code == 200
        cookies = c.cookies
    first = _upload(served.url, "a.txt", 600_000, cookies)
    assert first.status_code == 200, first.text
    second = _upload(served.url, "b.txt", 600_000, cookies)  # 1.2 MB in the hour > 1 MB
    assert second.status_code == 413 and "upload quota reached" in second.json()["detail"].lower()


def test_upload_quota_in_total(tmp_path):
    from ui.guard import UploadQuota

    folder = tmp_path / "uploads"
    (folder / ".incoming").mkdir(parents=True)
    (folder / ".incoming" / "old.bin").write_bytes(b"x" * 900_000)   # what Gradio's cache already holds
    quota = UploadQuota(folder, per_client_bytes=10_000_000, total_bytes=1_000_000)
    assert quota.admit("1.2.3.4", 50_000) is None
    assert "upload space is full" in quota.admit("5.6.7.8", 200_000)  # another client: the total still binds


def test_sessions_are_bounded_and_expire():
    from ui.app import MAX_SESSIONS, SESSION_TTL_S, RagBlocks

    captured = {}

    class Probe(RagBlocks):
        rag_ui = type("U", (), {"upload_dir": SEEDS})()

    def fake_launch(self, *a, **kw):  # the seam: what RagBlocks hands to Gradio's launch
        captured.update(kw)

    import gradio as gr

    original = gr.Blocks.launch
    gr.Blocks.launch = fake_launch
    try:
        with Probe() as demo:
            gr.State(None, time_to_live=SESSION_TTL_S)
        demo.launch()
    finally:
        gr.Blocks.launch = original
    assert captured["state_session_capacity"] == MAX_SESSIONS <= 1000 and SESSION_TTL_S <= 3600
    assert any(m.cls.__name__ == "Guard" for m in captured["app_kwargs"]["middleware"])


def test_base_url_credentials_never_shown(served, seed_index):
    r = run_cli("ask", "What did Bulgaria claim about Russia?", "--model", "openai:gpt-x", "--base-url",
                f"http://bob:{SECRET}@127.0.0.1:9/v1?api_key={SECRET}", "--index", str(seed_index.path))
    assert r.returncode != 0 and r.stderr.startswith("error:")
    assert SECRET not in r.stderr + r.stdout, r.stderr
    config = _config(served)
    assert SECRET not in config and "127.0.0.1:9" in config  # the model list names the server, not the password
    assert SECRET not in served.logs()


def _config(served) -> str:
    import httpx

    with httpx.Client() as c:
        c.post(f"{served.url}/login", data={"username": "admin", "password": "right-password"})
        return c.get(f"{served.url}/config", timeout=30).text


def test_redact_forms():
    from rag.redact import redact

    text = ("cannot reach https://user:pa%40ss@host:8080/v1?api_key=abc123&x=1 (token=zzz); "
            "Authorization: Bearer abcdefghijkl; key sk-abcdefghijklmnopqrstu")
    out = redact(text)
    for secret in ("pa%40ss", "abc123", "zzz", "abcdefghijkl", "abcdefghijklmnopqrstu"):
        assert secret not in out, out
    assert "https://***@host:8080/v1" in out and "x=1" in out
