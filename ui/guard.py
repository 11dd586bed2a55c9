"""Limits in front of the Gradio app: login throttling with back-off, and upload quotas per client and in total.

An ASGI middleware (Gradio 6 hands `app_kwargs` to FastAPI, so it is installed at launch, see ui/app.py), because
both things happen before any of our handlers run: Gradio's own /login route checks `--auth`, and its upload
route writes files into its cache (inside `<index>/uploads/.incoming`) before anyone clicks "Add to index".

- Login: the first FREE_FAILURES wrong passwords from one address cost nothing; after that each attempt must wait
  BASE_DELAY_S * 2^(failures - FREE_FAILURES) seconds (at most MAX_DELAY_S) after the last failure, or it is
  refused with 429 and Retry-After, right password or not. A success clears the address's record.
- Uploads: a request must say its size (Content-Length); it is refused with 413 when the client's uploads in the
  last hour plus this one exceed the per-client quota, or when the uploads folder plus this one exceed the total.
  Quotas: RAG_UPLOAD_CLIENT_MB (default 200 per hour) and RAG_UPLOAD_TOTAL_MB (default 2000).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import deque
from pathlib import Path

FREE_FAILURES = 5
BASE_DELAY_S = 1.0
MAX_DELAY_S = 300.0
MAX_TRACKED = 10_000          # addresses remembered; the oldest are forgotten first
UPLOAD_WINDOW_S = 3600.0


class LoginThrottle:
    def __init__(self, free: int = FREE_FAILURES, base: float = BASE_DELAY_S, cap: float = MAX_DELAY_S):
        self.free, self.base, self.cap = free, base, cap
        self._failures: dict[str, tuple[int, float]] = {}   # address -> (failures, time of the last one)
        self._lock = threading.Lock()

    def wait(self, client: str, now: float | None = None) -> float:
        """Seconds `client` must still wait before its next attempt (0: go ahead)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            n, last = self._failures.get(client, (0, 0.0))
        if n < self.free:
            return 0.0
        return max(0.0, last + min(self.cap, self.base * 2 ** (n - self.free)) - now)

    def record(self, client: str, ok: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if ok:
                self._failures.pop(client, None)
                return
            n, _ = self._failures.pop(client, (0, 0.0))
            self._failures[client] = (n + 1, now)
            while len(self._failures) > MAX_TRACKED:
                self._failures.pop(next(iter(self._failures)))


class UploadQuota:
    def __init__(self, folder: Path, per_client_bytes: int, total_bytes: int):
        self.folder = Path(folder)
        self.per_client, self.total = per_client_bytes, total_bytes
        self._recent: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, folder: Path) -> "UploadQuota":
        mb = lambda name, default: int(float(os.environ.get(name, default)) * 1024 * 1024)  # noqa: E731
        return cls(folder, mb("RAG_UPLOAD_CLIENT_MB", 200), mb("RAG_UPLOAD_TOTAL_MB", 2000))

    def used(self) -> int:
        total = 0
        for dirpath, _, names in os.walk(self.folder):
            for name in names:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:
                    pass
        return total

    def admit(self, client: str, size: int, now: float | None = None) -> str | None:
        """Why this upload is refused, or None (then it is counted against the client)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = self._recent.setdefault(client, deque())
            while recent and recent[0][0] < now - UPLOAD_WINDOW_S:
                recent.popleft()
            mine = sum(n for _, n in recent)
            if mine + size > self.per_client:
                return (f"upload quota reached: {_mb(mine)} uploaded in the last hour, the limit is "
                        f"{_mb(self.per_client)} per hour; try again later")
            if self.used() + size > self.total:
                return f"the server's upload space is full (limit {_mb(self.total)}); remove files or ask the admin"
            recent.append((now, size))
            while len(self._recent) > MAX_TRACKED:
                self._recent.pop(next(iter(self._recent)))
        return None


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


class Guard:
    """ASGI middleware: `app_kwargs={"middleware": [Middleware(Guard, throttle=..., quota=...)]}`."""

    def __init__(self, app, throttle: LoginThrottle | None = None, quota: UploadQuota | None = None):
        self.app, self.throttle, self.quota = app, throttle, quota

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = scope.get("path", "").rstrip("/")
        client = (scope.get("client") or ("?", 0))[0]
        if self.throttle is not None and path.endswith("/login"):
            wait = self.throttle.wait(client)
            if wait > 0:
                return await _reply(send, 429, f"Too many failed logins: try again in {math.ceil(wait)} s.",
                                    math.ceil(wait))
            status = {}

            async def watch(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            await self.app(scope, receive, watch)
            self.throttle.record(client, ok=status.get("code", 500) < 400)
            return
        if self.quota is not None and path.endswith("/upload"):
            headers = dict(scope.get("headers") or [])
            try:
                size = int(headers.get(b"content-length", b""))
            except ValueError:
                return await _reply(send, 411, "An upload must state its size (Content-Length).")
            reason = self.quota.admit(client, size)
            if reason:
                return await _reply(send, 413, reason[0].upper() + reason[1:] + ".")
        return await self.app(scope, receive, send)


async def _reply(send, status: int, detail: str, retry_after: int | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
