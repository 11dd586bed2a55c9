"""Ingestion throughput, local engine vs Ray Data (1 and 2 embedding actors), on the same small corpus into the same
kind of store (a fresh collection of one loopback Milvus Lite server each), plus the query figures of
bench/milvus_e2e.py (run that first). Writes bench/results/scale_out.md.

    python bench/milvus_e2e.py --engine ray
    python bench/scale_out.py [--articles 40]

Each run is a separate `rag index` process, timed whole (model load and `ray.init` included) and by the chunks
it embedded; the machine is shared, so the figures carry its load at the time (`uptime` is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets" / "multihop-rag"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench.harness.milvus import milvus_server  # noqa: E402


def index(paths: list[str], uri: str, extra: list[str]) -> tuple[dict, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "index", *paths, "--index", uri, "--json", *extra],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    took = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout), took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=40)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scale-out-"))
    sub = work / "corpus.json"
    sub.write_text(json.dumps(json.loads((DATA / "corpus.json").read_text())[: args.articles]))
    paths = ["seeds/", str(sub)]
    runs = [("local engine", []), ("Ray Data, 1 actor", ["--engine", "ray", "--ray-actors", "1"]),
            ("Ray Data, 2 actors", ["--engine", "ray", "--ray-actors", "2"])]
    rows = []
    with milvus_server(work) as address:
        for i, (name, extra) in enumerate(runs):
            load = os.getloadavg()[0]
            report, took = index(paths, f"milvus://{address}/run{i}", extra)
            rows.append((name, report["chunks_embedded"], took, load))
            print(name, report["chunks_embedded"], round(took, 1), file=sys.stderr, flush=True)
    e2e = json.loads((RESULTS / "milvus_e2e.json").read_text()) if (RESULTS / "milvus_e2e.json").is_file() else {}
    lines = [
        "# Scale-out: ingestion local vs Ray, query latency embedded vs Milvus Lite server",
        "",
        f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), shared with other jobs; "
        f"corpus: seeds/ + the first {args.articles} MultiHop-RAG articles; store: a fresh collection on one "
        "loopback `milvus-lite server` per run. Commands: `python bench/milvus_e2e.py --engine ray` then "
        "`python bench/scale_out.py`.",
        "",
        "## Ingestion (`rag index seeds/ corpus.json --index milvus://... [--engine ray --ray-actors N]`)",
        "",
        "| engine | chunks embedded | wall s (whole process) | chunks/s | load average at start |",
        "|---|---|---|---|---|",
    ]
    for name, n, took, load in rows:
        lines.append(f"| {name} | {n} | {took:.1f} | {n / took:.1f} | {load:.1f} |")
    lines += ["", "Wall time includes loading the embedder (and for Ray, `ray.init` and starting the actors, each of "
              "which loads its own embedder). On 2 shared cores Ray cannot be faster than the local engine: its value "
              "is that the same pipeline spreads over a cluster's nodes (docs/scale-out.md).", ""]
    if e2e:
        p50, p90 = e2e["query_p50_ms"], e2e["query_p90_ms"]
        lines += [
            "## Query latency (`Index.search(q, k=10)`, warm, in one process)",
            "",
            f"{e2e['questions']} MultiHop-RAG questions whose evidence lies in the indexed articles "
            f"({e2e['articles']} articles).",
            "",
            "| store | p50 ms | p90 ms |",
            "|---|---|---|",
            f"| embedded (SQLite + FTS5 + FAISS) | {p50['embedded']} | {p90['embedded']} |",
            f"| Milvus Lite server on loopback | {p50['milvus']} | {p90['milvus']} |",
            "",
            f"Top-10 overlap Milvus vs embedded: mean {e2e['top10_overlap_mean']}, min {e2e['top10_overlap_min']}. "
            f"Milvus index built with `--engine {e2e['engine']}`; `rag ask` from a second process: "
            f"refused={e2e['ask_second_process']['refused']}, {e2e['ask_second_process']['citations']} citations.",
            "",
        ]
    (RESULTS / "scale_out.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
