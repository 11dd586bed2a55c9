"""Copy an embedded index (SQLite + FAISS) into a Milvus index without re-embedding, through the store API.

Re-embedding MultiHop-RAG's 609 articles costs ~8 minutes of this machine's 2 cores; the vectors are the same
whichever store holds them, so the retrieval comparison (bench/results/milvus_retrieval.md) copies them:

    cp -r /work/cache/mh-index /tmp/mh-copy        # opening SQLite writes -shm/-wal: never touch the cache itself
    python bench/milvus_copy.py /tmp/mh-copy milvus-lite:///tmp/mh-milvus/mh.db
    rag eval ../shared/datasets/multihop-rag/MultiHopRAG.json --split test --retrieval-only \
        --index milvus-lite:///tmp/mh-milvus/mh.db --out DIR

Chunks are read with their stored offsets, token counts and float32 vectors; quotes are copied as they were
extracted. Prints articles, chunks and seconds as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.news.quotes import QUOTES_VERSION, extract_quotes  # noqa: E402
from rag.schema import Chunk  # noqa: E402
from rag.storage import Store  # noqa: E402
from rag.storage.location import parse_location  # noqa: E402
from rag.storage.milvus.store import MilvusStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="an embedded index folder (a copy: opening it writes to it)")
    ap.add_argument("target", help="milvus://HOST:PORT/COLLECTION or milvus-lite:///path/file.db")
    args = ap.parse_args()
    src = Store.open(args.source, create=False)
    manifest = {k: v for k, v in src.manifest.items() if k not in ("format_version", "created_at")}
    dst = MilvusStore.open(parse_location(args.target), manifest=manifest, create=True)
    t0 = time.perf_counter()
    n_chunks = 0
    articles = [a for a, _ in src.list_articles()]
    batch = []
    with dst.writer() as w:
        for i, head in enumerate(articles, 1):
            article = src.get_article(head.id)
            rows = src.conn.execute('SELECT ordinal, start, "end", n_tokens, vector FROM chunks WHERE article_id=?'
                                    " ORDER BY ordinal", (article.id,)).fetchall()
            chunks = [Chunk(article.id, r[0], r[1], r[2], article.text[r[1]:r[2]], r[3]) for r in rows]
            vecs = np.stack([np.frombuffer(r[4], dtype=np.float32) for r in rows])
            batch.append((article, chunks, vecs, (extract_quotes(article.text), QUOTES_VERSION)))
            n_chunks += len(chunks)
            if sum(len(c) for _, c, _, _ in batch) >= 256 or i == len(articles):  # as the indexer commits
                w.put_articles(batch)
                w.commit()
                batch = []
                print(f"{i}/{len(articles)} articles", file=sys.stderr, flush=True)
    took = time.perf_counter() - t0
    print(json.dumps({"articles": len(articles), "chunks": n_chunks, "seconds": round(took, 1),
                      "milvus_counts": dst.counts()}))
    dst.close()
    src.close()


if __name__ == "__main__":
    main()
