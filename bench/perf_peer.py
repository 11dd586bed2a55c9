"""Peer: LlamaIndex as MultiHop-RAG used it (SentenceSplitter(chunk_size=256), VectorStoreIndex, MiniLM through
llama-index-embeddings-huggingface from the packaged path) vs `rag index` / `Index.search`, in ONE run.

    python bench/perf_peer.py --articles 20 --latency-queries 200 --ours-index DIR --out bench/results/perf_peer_raw.json

- build: both pipelines on the same first N articles, each in its own child process (wall, CPU, peak RSS).
- query latency at full corpus size: LlamaIndex's retriever over all 609 articles' nodes. Its nodes get random
  unit vectors instead of real embeddings (embedding its ~34.5k nodes here would take hours on this shared
  machine), which does not change the cost of a query: the query is embedded for real and scored against every
  node. Ours: Index.search on a full MultiHop-RAG index built by `rag index` (--ours-index).
Hits@10 needs LlamaIndex's real embeddings of the whole corpus; run `python bench/perf_build.py --peer-eval 2255`
on a quiet machine for that.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import perf_build  # noqa: E402
from perf_build import last_json  # noqa: E402

TESTSET = perf_build.TESTSET
CORPUS = perf_build.CORPUS


def questions(n: int) -> list[str]:
    from rag.evaluation.testsets import load_testset

    return [q.question for q in load_testset(TESTSET) if q.answerable][:n]


def child_peer_latency(n: int) -> None:
    import numpy as np
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from rag.embedding import resolve_embedder

    _, path = resolve_embedder("default")
    Settings.embed_model = HuggingFaceEmbedding(model_name=path, device="cpu")
    Settings.llm = None
    docs = [Document(text=a["body"], metadata={"title": a["title"], "source": a["source"],
                                               "published_at": a["published_at"]})
            for a in json.loads(CORPUS.read_text())]
    t = time.perf_counter()
    nodes = SentenceSplitter(chunk_size=256).get_nodes_from_documents(docs)
    t_split = time.perf_counter() - t
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((len(nodes), 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for node, v in zip(nodes, vecs):
        node.embedding = v.tolist()
    index = VectorStoreIndex(nodes)  # embeddings present: nothing is embedded here
    retriever = index.as_retriever(similarity_top_k=10)
    qs = questions(n)
    retriever.retrieve(qs[0])
    wall, cpu = [], []
    for q in qs:
        w, c = time.perf_counter(), time.process_time()
        retriever.retrieve(q)
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    import resource

    print(json.dumps({"nodes": len(nodes), "split_s": round(t_split, 1), "queries": len(qs),
                      "p50_ms": float(np.percentile(wall, 50)), "p95_ms": float(np.percentile(wall, 95)),
                      "cpu_p50_ms": float(np.percentile(cpu, 50)),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child_ours_latency(index_dir: Path, n: int) -> None:
    import numpy as np

    import rag

    index = rag.Index.open(index_dir, create=False)
    qs = questions(n)
    index.search(qs[0], k=10)
    wall, cpu = [], []
    for q in qs:
        w, c = time.perf_counter(), time.process_time()
        index.search(q, k=10)
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    print(json.dumps({"chunks": index.stats()["chunks"], "queries": len(qs), "p50_ms": float(np.percentile(wall, 50)),
                      "p95_ms": float(np.percentile(wall, 95)), "cpu_p50_ms": float(np.percentile(cpu, 50))}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=20)
    ap.add_argument("--latency-queries", type=int, default=200)
    ap.add_argument("--ours-index", type=Path, help="a full MultiHop-RAG index built by rag index")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "cache" / "perf-peer")
    ap.add_argument("--child", choices=["peer-latency", "ours-latency"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "peer-latency":
        return child_peer_latency(args.latency_queries)
    if args.child == "ours-latency":
        return child_ours_latency(args.ours_index, args.latency_queries)
    if args.out is None:
        ap.error("--out is required")
    import shutil

    args.work.mkdir(parents=True, exist_ok=True)
    corpus = args.work / f"corpus-{args.articles}.json"
    corpus.write_text(json.dumps(json.loads(CORPUS.read_text())[: args.articles]))
    ours_dir = args.work / "ours-index"
    shutil.rmtree(ours_dir, ignore_errors=True)
    me = [sys.executable, str(Path(__file__).resolve())]
    pb = [sys.executable, str(Path(perf_build.__file__).resolve())]
    log = lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m} (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    res = {"articles": args.articles, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": perf_build.machine()}
    log("ours: rag index")
    res["ours_build"] = perf_build.run_child([sys.executable, "-m", "rag.cli", "index", str(corpus), "--index",
                                              str(ours_dir), "--json"], args.work / "ours.out")
    res["ours_build"]["report"] = json.loads((args.work / "ours.out").read_text())
    log("peer: LlamaIndex build")
    res["peer_build"] = perf_build.run_child([*pb, "--child", "peer", "--arg", f"{corpus}|{args.work / 'llama'}"],
                                             args.work / "peer.out")
    res["peer_build"].update(last_json(args.work / "peer.out"))
    if args.ours_index:
        log("latency: ours")
        res["ours_latency"] = perf_build.run_child([*me, "--child", "ours-latency", "--ours-index", str(args.ours_index),
                                                    "--latency-queries", str(args.latency_queries)],
                                                   args.work / "ours-lat.out")
        res["ours_latency"].update(last_json(args.work / "ours-lat.out"))
    log("latency: LlamaIndex")
    res["peer_latency"] = perf_build.run_child([*me, "--child", "peer-latency", "--latency-queries",
                                                str(args.latency_queries)], args.work / "peer-lat.out")
    res["peer_latency"].update(last_json(args.work / "peer-lat.out"))
    res["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
