"""A bounded load test on a real `rag serve` (127.0.0.1 only): concurrent chat sessions through Gradio's own Python
client. Reduced for CI (4 clients x 10 s); the full form is bench/load_test.py (20 clients x 60 s), whose figures
are in bench/results/reliability.md."""

from __future__ import annotations

import shutil

import pytest

from bench.harness.load import Server, run_load

pytestmark = pytest.mark.slow

CLIENTS, SECONDS = 4, 10


def test_concurrent_chat_sessions_get_answers_without_errors(small_index_dir, tmp_path):
    pytest.importorskip("gradio_client")
    index_dir = tmp_path / "index"
    shutil.copytree(small_index_dir, index_dir)
    server = Server(index_dir)
    try:
        server.wait_ready()
        rss_before = server.rss()
        result = run_load(server.url, CLIENTS, SECONDS)
        rss_after = server.rss()
        alive = server.proc.poll() is None
    finally:
        server.stop()
    print(f"\nload {CLIENTS}x{SECONDS}s: {result['requests']} requests, {result['errors']} errors, "
          f"p50 {result['latency_s']['p50']} s, p99 {result['latency_s']['p99']} s, "
          f"RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MB")
    assert alive, server.logs()[-3000:]
    assert result["errors"] == 0, result["error_samples"]
    assert result["requests"] >= CLIENTS  # every session got at least one answer in the time
    assert "Traceback" not in server.logs(), server.logs()[-3000:]
    # a leak would show as steady growth; 10 s of chat must not add more than a few hundred MB
    assert rss_after - rss_before < 400 * 2**20
