"""Index build cost: `rag index` (the real Index.add) vs the bare minimum pipeline vs LlamaIndex, in ONE run.

    python bench/perf_build.py --out bench/results/perf_build.json                 # whole MultiHop-RAG corpus
    python bench/perf_build.py --articles 120 --no-peer --out /tmp/b.json          # a quick subset
    python bench/perf_build.py --peer-eval ...                                     # + LlamaIndex query p50, Hits@10

Each pipeline runs as its own child process, one after the other, on the same articles; the parent measures wall
time, CPU time and peak RSS of each child with os.wait4 (ru_maxrss covers model weights and FAISS too).
- ours:  `python -m rag.cli index CORPUS --index DIR --json` (ingest, clean, chunk, embed, SQLite+FTS5, FAISS).
- bare:  read the JSON, tiktoken-encode each body, 200-token windows with 48 overlap (rag's defaults), each with
         the same title/outlet/date header rag embeds, model.encode(batch_size=32), IndexFlatIP.add. No cleaning,
         no sentence boundaries, no storage: the floor for "embed this corpus with MiniLM on this CPU".
- peer:  LlamaIndex as MultiHop-RAG used it: SentenceSplitter(chunk_size=256), VectorStoreIndex, the same MiniLM
         through llama-index-embeddings-huggingface from the packaged path; similarity_top_k=10.
The machine is shared: the load average is recorded before and after every child. CPU-time ratios move much less
with other people's load than wall-time ratios do; both are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "corpus.json"
TESTSET = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"
# The same OpenMP wait policy for every child (rag.embedding sets PASSIVE for itself; a bare script would spin).
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false",
       "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
D_MODEL, LAYERS, FFN = 384, 6, 1536


def flops_per_token(seq_len: int) -> float:
    """MiniLM-L6 forward FLOPs per token for a sequence of seq_len wordpieces (2 FLOPs per multiply-add):
    Q,K,V,O projections 4*d^2 and the FFN 2*d*ffn MACs per token per layer, plus attention scores and the
    weighted sum 2*L*d MACs. 23.6 MFLOP at L=256."""
    d = D_MODEL
    return LAYERS * 2 * (4 * d * d + 2 * d * FFN + 2 * seq_len * d)


def run_child(cmd: list[str], stdout_path: Path) -> dict:
    """Run one child; return wall, user+sys CPU and peak RSS of that child alone."""
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    with open(stdout_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
        _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed:\n{err[-3000:]}")
    return {"cmd": " ".join(cmd), "wall_s": round(wall, 2), "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
            "peak_rss_mb": round(ru.ru_maxrss / 1024, 1), "loadavg_before": load0, "loadavg_after": os.getloadavg()}


def last_json(path: Path) -> dict:
    """The JSON object a child printed last (libraries may print other lines to stdout first)."""
    return json.loads([line for line in path.read_text().splitlines() if line.startswith("{")][-1])


# ---- children ------------------------------------------------------------------------------------------------------

def child_bare(corpus: Path) -> None:
    t0 = time.perf_counter()
    import faiss
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from rag.embedding import resolve_embedder
    from rag.tokens import encoding

    _, path = resolve_embedder("default")
    model = SentenceTransformer(path, device="cpu")
    t_load = time.perf_counter()
    from rag.chunking import ChunkSettings

    size, overlap = ChunkSettings().chunk_tokens, ChunkSettings().overlap_tokens  # rag's defaults
    enc = encoding()
    texts = []
    for art in json.loads(corpus.read_text()):
        toks = enc.encode_ordinary(art["body"])
        head = f"{art['title']} ({art['source']}, {art['published_at'][:10]})"
        for s in range(0, max(1, len(toks)), size - overlap):
            texts.append(head + "\n" + enc.decode(toks[s : s + size]))
            if s + size >= len(toks):
                break
    t_chunk = time.perf_counter()
    vecs = model.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    t_enc = time.perf_counter()
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(np.ascontiguousarray(vecs, dtype=np.float32))
    t_end = time.perf_counter()
    print(json.dumps({"chunks": len(texts), "t_load_s": t_load - t0, "t_chunk_s": t_chunk - t_load,
                      "t_encode_s": t_enc - t_chunk, "t_faiss_s": t_end - t_enc, "t_total_s": t_end - t0,
                      **wordpiece_stats(model, texts)}))


def wordpiece_stats(model, texts: list[str]) -> dict:
    """Wordpieces MiniLM reads (truncated at its 256 limit) and the FLOPs that implies, unpadded."""
    tok = model.tokenizer
    lens = [min(len(ids), 256) for ids in tok(texts, add_special_tokens=True, truncation=False)["input_ids"]]
    return {"wordpieces": sum(lens), "flops": float(sum(n * flops_per_token(n) for n in lens)),
            "truncated_share": round(sum(1 for n in lens if n >= 256) / max(1, len(lens)), 3)}


def child_ours_stats(index_dir: Path) -> None:
    """After `rag index`: the texts it embedded (recomputed from the stored chunks) and their wordpieces."""
    import rag
    from rag.index import embedding_text
    from rag.schema import Chunk

    index = rag.Index.open(index_dir, create=False)
    store = index.store
    texts = []
    rows = store.conn.execute('SELECT article_id, ordinal, start, "end", n_tokens FROM chunks ORDER BY id').fetchall()
    arts = store.get_articles(r[0] for r in rows)
    for aid, ordinal, start, end, n in rows:
        a = arts[aid]
        texts.append(embedding_text(a, Chunk(aid, ordinal, start, end, a.text[start:end], n)))
    print(json.dumps({"chunks": len(texts), **wordpiece_stats(index.embedder.model, texts)}))


def child_peer(corpus: Path, persist: Path, eval_n: int) -> None:
    t0 = time.perf_counter()
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from rag.embedding import resolve_embedder

    _, path = resolve_embedder("default")
    embed = HuggingFaceEmbedding(model_name=path, device="cpu")
    Settings.embed_model = embed
    Settings.llm = None
    docs = [Document(text=a["body"], metadata={"title": a["title"], "source": a["source"],
                                               "published_at": a["published_at"]})
            for a in json.loads(corpus.read_text())]
    t_load = time.perf_counter()
    index = VectorStoreIndex.from_documents(docs, transformations=[SentenceSplitter(chunk_size=256)])
    t_built = time.perf_counter()
    n_nodes = len(index.docstore.docs)
    out = {"nodes": n_nodes, "t_load_s": t_load - t0, "t_build_s": t_built - t_load, "t_total_s": t_built - t0}
    import resource as r

    out["rss_after_build_mb"] = r.getrusage(r.RUSAGE_SELF).ru_maxrss / 1024
    if eval_n:
        retriever = index.as_retriever(similarity_top_k=10)
        out.update(score_retriever(lambda q: [n.node.get_content() for n in retriever.retrieve(q)], eval_n))
    print(json.dumps(out))


def score_retriever(fn, limit: int) -> dict:
    """Query p50/p95 and fact-level Hits@k on the answerable MultiHop-RAG questions (rag's scoring functions)."""
    import numpy as np

    from rag.evaluation.metrics import score_facts
    from rag.evaluation.testsets import load_testset

    qs = [q for q in load_testset(TESTSET) if q.answerable and q.evidence][:limit]
    lat, scores = [], []
    for q in qs:
        t = time.perf_counter()
        texts = fn(q.question)
        lat.append((time.perf_counter() - t) * 1000)
        s = score_facts(texts, [e.text for e in q.evidence])
        if s is not None:
            scores.append(s)
    return {"eval_questions": len(qs), "query_p50_ms": float(np.percentile(lat, 50)),
            "query_p95_ms": float(np.percentile(lat, 95)),
            **{f"hits@{k}": round(float(np.mean([s.hits_at(k) for s in scores])), 4) for k in (1, 4, 10)},
            "mrr@10": round(float(np.mean([s.reciprocal_rank for s in scores])), 4)}


def child_ours_eval(index_dir: Path, eval_n: int) -> None:
    import rag

    index = rag.Index.open(index_dir, create=False)
    index.search("warm up", k=10)
    print(json.dumps(score_retriever(lambda q: [h.text for h in index.search(q, k=10)], eval_n)))


# ---- driver --------------------------------------------------------------------------------------------------------

def gemm_peak() -> dict:
    """fp32 GEMM peak with torch on all cores (best of several 2048^3 matmuls)."""
    code = ("import os,time,torch,json; torch.set_num_threads(os.cpu_count()); a=torch.randn(2048,2048); b=torch.randn(2048,2048);"
            "[a@b for _ in range(2)]; best=min((lambda t:(a@b,time.perf_counter()-t)[1])(time.perf_counter()) for _ in range(8));"
            "print(json.dumps({'gemm_fp32_gflops': 2*2048**3/best/1e9, 'threads': torch.get_num_threads()}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=0, help="only the first N articles (0: all 609)")
    ap.add_argument("--out", type=Path, help="results JSON (required unless --child)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "cache" / "perf-build")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--rounds", type=int, default=2, help="alternate bare and ours over this many parts of the corpus")
    ap.add_argument("--peer-eval", type=int, default=0, help="score LlamaIndex and ours on the first N answerable questions")
    ap.add_argument("--child", choices=["bare", "peer", "ours-stats", "ours-eval"], help=argparse.SUPPRESS)
    ap.add_argument("--arg", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "bare":
        return child_bare(Path(args.arg))
    if args.child == "ours-stats":
        return child_ours_stats(Path(args.arg))
    if args.child == "ours-eval":
        return child_ours_eval(Path(args.arg), args.peer_eval)
    if args.child == "peer":
        corpus, persist = args.arg.split("|")
        return child_peer(Path(corpus), Path(persist), args.peer_eval)

    import shutil

    if args.out is None:
        ap.error("--out is required")

    args.work.mkdir(parents=True, exist_ok=True)
    arts = json.loads(CORPUS.read_text())
    corpus = CORPUS
    if args.articles:
        corpus = args.work / f"corpus-{args.articles}.json"
        corpus.write_text(json.dumps(arts[: args.articles]))
    ours_dir = args.work / "ours-index"
    shutil.rmtree(ours_dir, ignore_errors=True)
    me = [sys.executable, str(Path(__file__).resolve())]
    result = {"articles": args.articles or len(arts), "corpus": str(corpus), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "machine": machine(), "gemm_before": gemm_peak()}
    log = lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m} (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    # Alternate the two pipelines over consecutive parts of the corpus (bare, ours, bare, ours ...), so that a
    # change in other people's load over the run falls on both about equally. Ours adds each part to one index.
    parts = []
    subset = json.loads(corpus.read_text())
    step = -(-len(subset) // args.rounds)
    for r in range(args.rounds):
        part = args.work / f"part-{r}.json"
        part.write_text(json.dumps(subset[r * step : (r + 1) * step]))
        parts.append(part)
    result["rounds"] = args.rounds
    result["bare"], result["ours"] = {"rounds": []}, {"rounds": []}
    for r, part in enumerate(parts):
        log(f"round {r + 1}/{args.rounds}: bare pipeline")
        b = run_child([*me, "--child", "bare", "--arg", str(part)], args.work / "bare.out")
        b.update(json.loads((args.work / "bare.out").read_text()))
        result["bare"]["rounds"].append(b)
        log(f"round {r + 1}/{args.rounds}: ours (rag index)")
        o = run_child([sys.executable, "-m", "rag.cli", "index", str(part), "--index", str(ours_dir), "--json"],
                      args.work / "ours.out")
        o["report"] = json.loads((args.work / "ours.out").read_text())
        result["ours"]["rounds"].append(o)
    for side in ("bare", "ours"):
        rs = result[side]["rounds"]
        result[side].update({"wall_s": round(sum(x["wall_s"] for x in rs), 2), "cpu_s": round(sum(x["cpu_s"] for x in rs), 2),
                             "peak_rss_mb": max(x["peak_rss_mb"] for x in rs),
                             "loadavg_before": rs[0]["loadavg_before"], "loadavg_after": rs[-1]["loadavg_after"]})
    for key in ("chunks", "t_encode_s", "wordpieces", "flops"):
        result["bare"][key] = sum(x[key] for x in result["bare"]["rounds"])
    run_child([*me, "--child", "ours-stats", "--arg", str(ours_dir)], args.work / "ours-stats.out")
    result["ours"].update(json.loads((args.work / "ours-stats.out").read_text()))
    if not args.no_peer:
        log("peer: LlamaIndex")
        result["peer"] = run_child([*me, "--child", "peer", "--arg", f"{corpus}|{args.work / 'llama'}",
                                    "--peer-eval", str(args.peer_eval)], args.work / "peer.out")
        result["peer"].update(last_json(args.work / "peer.out"))
        if args.peer_eval:
            log("ours: eval")
            result["ours_eval"] = run_child([*me, "--child", "ours-eval", "--arg", str(ours_dir),
                                             "--peer-eval", str(args.peer_eval)], args.work / "ours-eval.out")
            result["ours_eval"].update(json.loads((args.work / "ours-eval.out").read_text()))
    result["gemm_after"] = gemm_peak()
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    b, o = result["bare"], result["ours"]
    peak = max(result["gemm_before"]["gemm_fp32_gflops"], result["gemm_after"]["gemm_fp32_gflops"])
    result["summary"] = {
        "wall_ratio_ours_over_bare": round(o["wall_s"] / b["wall_s"], 3),
        "cpu_ratio_ours_over_bare": round(o["cpu_s"] / b["cpu_s"], 3),
        "cpu_per_wordpiece_ratio": round((o["cpu_s"] / o["wordpieces"]) / (b["cpu_s"] / b["wordpieces"]), 3),
        "wall_per_wordpiece_ratio": round((o["wall_s"] / o["wordpieces"]) / (b["wall_s"] / b["wordpieces"]), 3),
        "ours_chunks_per_s": round(o["chunks"] / o["wall_s"], 2), "bare_chunks_per_s": round(b["chunks"] / b["wall_s"], 2),
        "ours_wordpieces_per_s": round(o["wordpieces"] / o["wall_s"], 1),
        "bare_wordpieces_per_s": round(b["wordpieces"] / b["wall_s"], 1),
        "bare_encode_gflops_wall": round(b["flops"] / b["t_encode_s"] / 1e9, 1),
        "gemm_peak_gflops": round(peak, 1),
        "bare_encode_share_of_peak": round(b["flops"] / b["t_encode_s"] / 1e9 / peak, 3),
    }
    if "peer" in result:
        p = result["peer"]
        result["summary"].update({"peer_wall_over_ours": round(p["wall_s"] / o["wall_s"], 3),
                                  "peer_cpu_over_ours": round(p["cpu_s"] / o["cpu_s"], 3)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["summary"], indent=2))


def machine() -> dict:
    import platform

    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "avx2": " avx2" in flags, "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
            "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


if __name__ == "__main__":
    main()
