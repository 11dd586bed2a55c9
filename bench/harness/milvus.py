"""A loopback Milvus Lite server for tests: the stand-in for a Milvus cluster (same gRPC API, same client code)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.harness.net import free_port, stop_process


@contextlib.contextmanager
def milvus_server(data_dir: Path, timeout: float = 60.0) -> Iterator[str]:
    """Start `milvus-lite server` on a free loopback port; yields 'HOST:PORT'; stops it (and only it) on exit."""
    port = free_port()
    exe = shutil.which("milvus-lite") or ""
    cmd = [exe] if exe else [sys.executable, "-m", "milvus_lite"]
    log = open(data_dir / "server.log", "wb")
    proc = subprocess.Popen([*cmd, "server", "--data-dir", str(data_dir / "data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited: {(data_dir / 'server.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("milvus-lite server did not listen within the timeout")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc, grace=10)
        log.close()
