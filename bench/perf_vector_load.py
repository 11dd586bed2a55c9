"""Vector index of a big synthetic index: rebuild-and-save time, then load-from-file time and memory in a fresh process.

    python bench/perf_vector_load.py rebuild --index bench/cache/synth-1m   # only when no file of the right kind
    python bench/perf_vector_load.py load --index bench/cache/synth-1m
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import psutil

    from rag.storage import Store

    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["rebuild", "load"])
    ap.add_argument("--index", type=Path, required=True)
    args = ap.parse_args()
    r0 = psutil.Process().memory_info().rss
    s = Store.open(args.index, create=False)
    if args.mode == "rebuild":
        for _, f in s._faiss_files():
            f.unlink()
    t = time.perf_counter()
    vi = s.vectors()
    dt = time.perf_counter() - t
    print(json.dumps({f"{args.mode}_s": round(dt, 2), "rss_growth_mb": round((psutil.Process().memory_info().rss - r0) / 2**20, 1),
                      "kind": vi.kind, "nlist": getattr(vi.index, "nlist", None), "ntotal": vi.ntotal,
                      "file_mb": round(sum(p.stat().st_size for _, p in s._faiss_files()) / 2**20, 1),
                      "loadavg": os.getloadavg(), "at": time.strftime("%Y-%m-%d %H:%M:%S")}))


if __name__ == "__main__":
    main()
