"""Load on `rag serve`, full form: N concurrent chat sessions for T seconds through Gradio's Python client against
a real server on 127.0.0.1 (never another address). Reports requests, errors, p50/p90/p99/max latency and the
server's resident memory before and after; writes the "load" section of bench/results/reliability.json (+ .md).
The reduced form (4 clients x 10 s) is tests/test_load.py.

    python bench/load_test.py                      # 20 clients x 60 s
    python bench/load_test.py --clients 8 --seconds 20 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench.harness.cli import run_cli  # noqa: E402
from bench.harness.load import Server, run_load  # noqa: E402
from bench.harness.results import update_results  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--index", default=None, help="serve a copy of this index (default: tests/data/articles + seeds)")
    ap.add_argument("--no-write", action="store_true", help="print, do not update bench/results/")
    args = ap.parse_args()
    if not (1 <= args.clients <= 64 and 1 <= args.seconds <= 600):
        ap.error("bounded on purpose: 1-64 clients, 1-600 seconds")
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        index_dir = Path(tmp) / "index"
        if args.index:
            import shutil

            shutil.copytree(args.index, index_dir)
        else:
            r = run_cli("index", str(ROOT / "tests" / "data" / "articles"), str(ROOT / "seeds"), "--index",
                        str(index_dir), timeout=1800)
            if r.returncode != 0:
                print(r.stderr, file=sys.stderr)
                return 1
        server = Server(index_dir)
        try:
            server.wait_ready()
            rss_before = server.rss()
            result = run_load(server.url, args.clients, args.seconds)
            rss_after = server.rss()
            alive = server.proc.poll() is None
        finally:
            server.stop()
        tracebacks = server.logs().count("Traceback")
    command = "python bench/load_test.py" + (f" --clients {args.clients}" if args.clients != 20 else "") + \
        (f" --seconds {args.seconds:g}" if args.seconds != 60 else "")
    out = {"command": command, **result, "rss_before_mb": round(rss_before / 2**20),
           "rss_after_mb": round(rss_after / 2**20), "server_alive_after": alive,
           "server_log_tracebacks": tracebacks}
    print(json.dumps(out, indent=2))
    if not args.no_write:
        update_results("load", out)
    return 0 if result["errors"] == 0 and alive and not tracebacks else 1


if __name__ == "__main__":
    sys.exit(main())
