"""`Index.search` against the bare query pipeline, side by side in ONE process (issue 18's ratio).

    python bench/perf_query_engines.py --index /work/cache/mh-index --n 200 --out bench/results/perf_query_engines.json
    python bench/synth.py --chunks 100000 --out /work/cache/synth-100k
    python bench/perf_query_engines.py --index /work/cache/synth-100k --queries synthetic --n 200 \
        --out bench/results/perf_query_engines_100k.json

For each question, in a rotating order so that no variant always runs first:
- bare:          sentence-transformers `model.encode([q])` (torch fp32) + FAISS IndexFlatIP top-10 over the same
                 vectors (read from the index's FAISS file): the floor for "embed the question and look it up";
- search:        `Index.search(q)` as shipped (ONNX Runtime question encoder when available, keyword searches
                 beside the encoding, routing, re-scoring);
- search-torch:  the same `Index.search` with the question encoded by torch (RAG_EMBED_ENGINE=torch), to show
                 what the encoder alone changes;
- search-8000:   `Index.search` with the keyword term budget of sessions 1-4 (8,000 postings; now 4,000:
                 bench/results/keyword_budget.md), to show what the budget alone changes.
The shipped encoder's cache of recent questions is cleared before every call, so each variant encodes.
Wall and CPU time per call are recorded; the machine is shared, so the load average is written too, and CPU time
(which moves less with other people's load) is reported beside wall time. Results: the JSON file and a Markdown
table next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
MULTIHOP = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "MultiHopRAG.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--queries", choices=["multihop", "synthetic"], default="multihop",
                    help="synthetic: bench/synth.py's keyword queries, for its synthetic indexes")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import rag  # first: it sets the OpenMP wait policy before torch and faiss load (else both sides spin)
    from rag.embedding import SentenceTransformerEmbedder

    import faiss
    import torch

    if args.queries == "synthetic":
        sys.path.insert(0, str(ROOT / "bench"))
        import synth

        questions = synth.queries(args.n, seed=1)[0]
    else:
        data = json.loads(MULTIHOP.read_text())
        rng = np.random.default_rng(0)
        questions = [data[i]["query"] for i in rng.choice(len(data), size=min(args.n, len(data)), replace=False)]

    index = rag.Index.open(args.index)
    shipped = index.embedder
    os.environ["RAG_EMBED_ENGINE"] = "torch"
    torch_emb = SentenceTransformerEmbedder(precision="fp32")
    del os.environ["RAG_EMBED_ENGINE"]
    torch_index = rag.Index.open(args.index)
    torch_index._retriever.embed_query = torch_emb.embed_query  # bench only: the one seam that picks the encoder
    old_budget = rag.Index.open(args.index)
    old_budget._store.keyword.max_postings = 8000  # bench only: the budget before session 5

    files = sorted(Path(args.index).glob("vectors.*.faiss"), key=lambda p: int(p.name.split(".")[1]))
    flat = faiss.read_index(str(files[-1]))
    inner = faiss.downcast_index(flat.index) if isinstance(flat, faiss.IndexIDMap2) else flat
    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is None:
        vectors = inner.reconstruct_n(0, inner.ntotal)
    else:
        # large indexes are IVF-flat with chunk ids (no direct map): its lists hold the raw fp32 vectors
        assert ivf.code_size == 4 * ivf.d, "only IVF-flat files are read here"
        lists = [(ivf.invlists.list_size(i), ivf.invlists.get_codes(i)) for i in range(ivf.nlist)]
        vectors = np.vstack([np.frombuffer(faiss.rev_swig_ptr(codes, n * ivf.code_size), dtype=np.float32)
                             .reshape(n, ivf.d).copy() for n, codes in lists if n])
    bare_index = faiss.IndexFlatIP(vectors.shape[1])
    bare_index.add(vectors)
    st = torch_emb.model  # the same packaged MiniLM, loaded once

    def bare(q: str):
        with torch.inference_mode():
            v = st.encode([q], convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        return bare_index.search(np.asarray(v, dtype=np.float32), 10)

    variants = {"bare": bare, "search": lambda q: index.search(q, k=10),
                "search-torch": lambda q: torch_index.search(q, k=10),
                "search-8000": lambda q: old_budget.search(q, k=10)}
    for q in questions[:5]:  # load models, vectors and caches before timing
        for fn in variants.values():
            fn(q)
    times = {name: ([], []) for name in variants}
    names = list(variants)
    load0 = os.getloadavg()
    for i, q in enumerate(questions):
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            shipped._recent.clear()
            torch_emb._recent.clear()
            w0, c0 = time.perf_counter(), time.process_time()
            variants[name](q)
            times[name][1].append((time.process_time() - c0) * 1000)
            times[name][0].append((time.perf_counter() - w0) * 1000)
    load1 = os.getloadavg()

    def p50(xs):
        return round(float(np.percentile(xs, 50)), 2)

    rows = {name: {"wall_p50_ms": p50(w), "wall_p95_ms": round(float(np.percentile(w, 95)), 2), "cpu_p50_ms": p50(c)}
            for name, (w, c) in times.items()}
    result = {"index": args.index, "chunks": int(bare_index.ntotal), "questions": len(questions),
              "question_engine": shipped.engine, "rows": rows,
              "ratio_search_to_bare_wall": round(rows["search"]["wall_p50_ms"] / rows["bare"]["wall_p50_ms"], 3),
              "ratio_search_to_bare_cpu": round(rows["search"]["cpu_p50_ms"] / rows["bare"]["cpu_p50_ms"], 3),
              "ratio_search_torch_to_bare_wall": round(rows["search-torch"]["wall_p50_ms"] / rows["bare"]["wall_p50_ms"], 3),
              "ratio_search_8000_to_bare_wall": round(rows["search-8000"]["wall_p50_ms"] / rows["bare"]["wall_p50_ms"], 3),
              "loadavg_before": load0, "loadavg_after": load1, "cpus": os.cpu_count(),
              "at": time.strftime("%Y-%m-%d %H:%M:%S")}
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=1))
    kind = "MultiHop-RAG questions" if args.queries == "multihop" else "synthetic keyword queries (bench/synth.py)"
    lines = [f"# Index.search vs the bare query pipeline ({result['chunks']} chunks, {len(questions)} {kind}, one "
             f"process, rotating order)", "",
             f"Command: `python bench/perf_query_engines.py --index {args.index} --queries {args.queries} --n {args.n} "
             f"--out {args.out}`; "
             f"load average before/after {load0[0]:.1f}/{load1[0]:.1f} on {os.cpu_count()} CPUs.", "",
             "| variant | wall p50 ms | wall p95 ms | CPU p50 ms |", "|---|---|---|---|"]
    lines += [f"| {n} | {r['wall_p50_ms']} | {r['wall_p95_ms']} | {r['cpu_p50_ms']} |" for n, r in rows.items()]
    lines += ["", f"search / bare p50: wall {result['ratio_search_to_bare_wall']}, CPU {result['ratio_search_to_bare_cpu']}"
              f" (question encoder: {shipped.engine}); search with the torch encoder / bare, wall: "
              f"{result['ratio_search_torch_to_bare_wall']}; search with the old keyword budget (8,000) / bare, wall: "
              f"{result['ratio_search_8000_to_bare_wall']}."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
