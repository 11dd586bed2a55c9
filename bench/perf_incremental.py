"""Incremental cost: adding one article to a 100k-chunk index vs embedding that article's chunks alone.

    python bench/perf_incremental.py --index bench/cache/synth-100k --out bench/results/perf_incremental.json

Works on a copy of the index. Two situations:
- warm (a server process: vectors already in memory): Index.add([one article]) wall time, split into embedding
  (the same texts embedded again, alone) and everything else; plus what writing the FAISS file would add (what
  the store did on every commit before: a full rewrite of ~150 MB at 100k chunks).
- cold (`rag index one.json` in a fresh process) and the next open after it, which catches the stale FAISS file
  up from SQLite instead of rewriting or rebuilding it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "corpus.json"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def one_article(i: int, work: Path) -> Path:
    art = json.loads(CORPUS.read_text())[i]
    path = work / f"article-{i}.json"
    path.write_text(json.dumps([art]))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "cache" / "incr")
    args = ap.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    import rag
    from rag.chunking import chunk_article
    from rag.index import embedding_text
    from rag.ingest import iter_inputs
    from rag.schema import Article

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    idx_dir = args.work / "index"
    t = time.perf_counter()
    shutil.copytree(args.index, idx_dir)
    res = {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "loadavg_start": os.getloadavg(),
           "copy_s": round(time.perf_counter() - t, 1)}

    index = rag.Index.open(idx_dir, create=False)
    store = index.store
    t = time.perf_counter()
    vi = store.vectors()
    res["load_vectors_s"] = round(time.perf_counter() - t, 2)
    res["chunks_before"] = vi.ntotal
    index.embedder.embed(["warm up the model"])  # model load is not part of an add in a running server

    warm = []
    for i in (3, 11, 29):
        path = one_article(i, args.work)
        art = next(a for a in iter_inputs([path]) if isinstance(a, Article))
        texts = [embedding_text(art, c) for c in chunk_article(art, index.chunking)]
        t = time.perf_counter()
        report = index.add([path])
        t_add = time.perf_counter() - t
        t = time.perf_counter()
        index.embedder.embed(texts)
        t_embed = time.perf_counter() - t
        gen = store.generation()
        t = time.perf_counter()
        store.vector_files.save(store.vectors(), gen)  # what every commit used to cost
        t_save = time.perf_counter() - t
        warm.append({"article": i, "chunks": report.chunks_embedded, "add_s": round(t_add, 3),
                     "embed_alone_s": round(t_embed, 3), "add_over_embed": round(t_add / t_embed, 3),
                     "faiss_file_write_s": round(t_save, 3),
                     "old_add_over_embed": round((t_add + t_save) / t_embed, 3)})
    res["warm"] = warm
    index.close()

    # cold: a fresh `rag index` process, then the next open of the index
    path = one_article(41, args.work)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(path), "--index", str(idx_dir), "--json"],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, check=True)
    res["cold_rag_index_one_article_s"] = round(time.perf_counter() - t, 2)
    res["cold_report"] = json.loads(out.stdout)
    from rag.storage import Store

    s = Store.open(idx_dir, create=False)
    files = s._faiss_files()
    res["after_cold_add"] = {"generation": s.generation(), "newest_faiss_file_generation": files[0][0] if files else None}
    t = time.perf_counter()
    vi = s.vectors()
    res["after_cold_add"]["next_open_vectors_s"] = round(time.perf_counter() - t, 2)
    res["after_cold_add"]["ntotal"] = vi.ntotal
    res["after_cold_add"]["agrees_with_sqlite"] = vi.ntotal == s.counts()[1]
    s.close()
    res["loadavg_end"] = os.getloadavg()
    shutil.rmtree(args.work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
