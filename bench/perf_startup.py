"""Start-up: `import rag`, `rag --help`, and `rag serve` until it answers, as repeated subprocess timings.

    python bench/perf_startup.py --out bench/results/perf_startup.json [--serve-index DIR]

`rag --help` is timed as `python -m rag.cli --help` (what the console script runs, without needing an install).
Each command runs `--runs` times; min and median are reported next to a bare `python -c pass`, which is the
interpreter's own start-up on this machine (site-packages .pth hooks included) that no library can go below.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness.net import free_port  # noqa: E402
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def timeit(cmd: list[str], runs: int) -> dict:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    return {"cmd": " ".join(cmd[1:]) if cmd[0] == sys.executable else " ".join(cmd),
            "min_s": round(min(times), 3), "median_s": round(float(np.median(times)), 3), "runs": runs}


def importtime_top(n: int = 8) -> list[dict]:
    """The slowest modules (cumulative) when importing rag, from python -X importtime."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import rag"], cwd=ROOT, env=ENV,
                         capture_output=True, text=True, check=True).stderr
    rows = []
    for line in out.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append({"module": m.group(4), "self_ms": int(m.group(1)) / 1000, "cumulative_ms": int(m.group(2)) / 1000,
                         "depth": len(m.group(3)) // 2})
    heavy = [r for r in rows if r["module"] not in ("site",)]
    rag_total = next((r["cumulative_ms"] for r in rows if r["module"] == "rag"), None)
    return {"rag_cumulative_ms": rag_total,
            "top": sorted(heavy, key=lambda r: -r["cumulative_ms"])[:n],
            "heavy_modules_loaded": sorted({r["module"].split(".")[0] for r in rows} &
                                           {"torch", "faiss", "numpy", "sentence_transformers", "transformers",
                                            "gradio", "tiktoken"})}


def serve_ready(index: Path, timeout: float = 300) -> dict:
    """Seconds from launching `rag serve` on a built index until it says it is ready (embedder loaded, one
    extractive answer done) and until its page answers HTTP."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--index", str(index), "--port", str(port)],
                            cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ready = http = None
    warm = None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        while time.perf_counter() - t0 < timeout and proc.poll() is None:
            buf = "".join(lines)
            if ready is None and "Ready for questions" in buf:
                ready = time.perf_counter() - t0
                m = re.search(r"warmed up \(([\d.]+) s\)", buf)
                warm = float(m.group(1)) if m else None
            if ready is not None and http is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                        if r.status == 200:
                            http = time.perf_counter() - t0
                            break
                except OSError:
                    pass
            time.sleep(0.05)
        if proc.poll() is not None and http is None:
            time.sleep(0.5)
            return {"error": "".join(lines)[-2000:]}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"ready_s": round(ready, 2) if ready else None, "warm_up_s": warm,
            "http_200_s": round(http, 2) if http else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--serve-index", type=Path, help="a built index (copied first) to time `rag serve` on")
    args = ap.parse_args()
    res = {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "loadavg_start": os.getloadavg()}
    res["python_pass"] = timeit([sys.executable, "-c", "pass"], args.runs)
    res["import_rag"] = timeit([sys.executable, "-c", "import rag"], args.runs)
    res["rag_help"] = timeit([sys.executable, "-m", "rag.cli", "--help"], args.runs)
    res["import_rag_over_python_s"] = round(res["import_rag"]["median_s"] - res["python_pass"]["median_s"], 3)
    res["importtime"] = importtime_top()
    if args.serve_index:
        work = ROOT / "bench" / "cache" / "serve-index"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(args.serve_index, work)
        res["serve"] = serve_ready(work)
        shutil.rmtree(work, ignore_errors=True)
    res["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
