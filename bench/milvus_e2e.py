"""Milvus end to end on a small corpus: the seed article + the first 40 MultiHop-RAG articles, indexed with `rag index`
into a loopback Milvus Lite server and into the embedded store; the questions whose evidence lies in those articles
are searched in both (top-10 overlap, query p50), and one is answered by `rag ask` from a second process.

    python bench/milvus_e2e.py [--articles 40] [--questions 120] [--engine local|ray] [--out bench/results/milvus_e2e.json]

Writes a JSON file of the figures; bench/results/milvus_retrieval.md and scale_out.md quote it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "datasets" / "multihop-rag"

from bench.harness.milvus import milvus_server  # noqa: E402


def rag(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"rag {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return proc, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=40)
    ap.add_argument("--engine", default="local", choices=["local", "ray"])
    ap.add_argument("--questions", type=int, default=120, help="at most this many questions (the first ones)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "milvus_e2e.json")
    args = ap.parse_args()
    import rag as api

    corpus = json.loads((DATA / "corpus.json").read_text())[: args.articles]
    titles = {a["title"] for a in corpus}
    questions = [q["query"] for q in json.loads((DATA / "MultiHopRAG.json").read_text())
                 if q["evidence_list"] and all(e["title"] in titles for e in q["evidence_list"])][: args.questions]
    work = Path(tempfile.mkdtemp(prefix="milvus-e2e-"))
    sub = work / "corpus.json"
    sub.write_text(json.dumps(corpus))
    result: dict = {"articles": len(corpus) + 1, "questions": len(questions), "engine": args.engine}
    with milvus_server(work) as address:
        uri = f"milvus://{address}/e2e"
        extra = ["--engine", "ray"] if args.engine == "ray" else []
        proc, took = rag("index", "seeds/", str(sub), "--index", uri, "--json", *extra)
        result["milvus_index"] = {**json.loads(proc.stdout), "seconds": round(took, 1)}
        proc, took = rag("index", "seeds/", str(sub), "--index", str(work / "embedded"), "--json")
        result["embedded_index"] = {**json.loads(proc.stdout), "seconds": round(took, 1)}
        ask, took = rag("ask", questions[0], "--index", uri, "--json")
        answer = json.loads(ask.stdout)
        result["ask_second_process"] = {"question": questions[0], "refused": answer["refused"],
                                        "citations": len(answer["citations"]), "answer": answer["answer"][:300],
                                        "seconds": round(took, 1)}
        overlaps, times = [], {"embedded": [], "milvus": []}
        with api.Index.open(uri, create=False) as m, api.Index.open(work / "embedded", create=False) as e:
            m.warm()
            e.warm()
            for c in answer["citations"]:  # verbatim citations, read back through Milvus
                assert m.get_article(c["article_id"]).text[c["start"]:c["end"]] == c["excerpt"]
            for q in questions:
                t0 = time.perf_counter()
                hm = m.search(q, k=10)
                times["milvus"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                he = e.search(q, k=10)
                times["embedded"].append(time.perf_counter() - t0)
                km, ke = {(h.article.id, h.start) for h in hm}, {(h.article.id, h.start) for h in he}
                overlaps.append(len(km & ke) / max(len(ke), 1))
        result["top10_overlap_mean"] = round(statistics.mean(overlaps), 4)
        result["top10_overlap_min"] = round(min(overlaps), 4)
        result["query_p50_ms"] = {k: round(1000 * statistics.median(v), 1) for k, v in times.items()}
        result["query_p90_ms"] = {k: round(1000 * statistics.quantiles(v, n=10)[-1], 1) for k, v in times.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
