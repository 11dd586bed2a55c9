"""Sentence segmentation on real articles: the regex splitter rag.chunking used before vs rag.sentences.

    python bench/sentences_bench.py [--seeds 7 11] [--docs 40] [--chars 3000]

1. Disagreements: on random corpus.json articles (first --chars characters each) plus seeds/, every boundary
   that one splitter makes and the other does not is written, with context, to
   bench/results/sentences_disagreements.txt for a hand check (the verdicts are in bench/results/sentences.md).
2. Line wraps (PDF, e-mail): every paragraph of the same articles is hard-wrapped at 72 columns; a segmenter
   that handles wraps finds the same boundaries as on the unwrapped text (boundaries compared by the number of
   non-space characters before them). Counted automatically.
3. Speed: characters per second over the whole corpus.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import re
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.sentences import sentence_spans as new_spans  # noqa: E402

CORPUS = ROOT.parent / "shared" / "datasets" / "multihop-rag" / "corpus.json"
RESULTS = ROOT / "bench" / "results"
# The splitter rag/chunking.py used before rag/sentences.py (kept here verbatim so the comparison stays runnable).
_OLD_BOUNDARY = re.compile(r"""(?<=[.!?…])["'”’)\]]*\s+|\n+""")


def old_spans(text: str):
    pos = 0
    for m in _OLD_BOUNDARY.finditer(text):
        end = m.start()
        while end < m.end() and not text[end].isspace():
            end += 1
        if text[pos:end].strip():
            s = pos + len(text[pos:end]) - len(text[pos:end].lstrip())
            yield s, len(text[:end].rstrip())
        pos = m.end()
    if text[pos:].strip():
        s = pos + len(text[pos:]) - len(text[pos:].lstrip())
        yield s, len(text.rstrip())


def ends(spans_fn, text: str) -> set[int]:
    return {e for _, e in spans_fn(text)}


def content_offsets(text: str, positions: set[int]) -> set[int]:
    """Each position as the count of non-space characters before it: invariant under re-wrapping."""
    out, count, wanted = set(), 0, sorted(positions)
    j = 0
    for i, ch in enumerate(text):
        while j < len(wanted) and wanted[j] == i:
            out.add(count)
            j += 1
        if not ch.isspace():
            count += 1
    out.update(count for _ in wanted[j:])
    return out


def wrap(text: str, width: int = 72) -> str:
    return "\n\n".join(textwrap.fill(p, width) for p in re.split(r"\n\s*\n", text) if p.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 11])
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--chars", type=int, default=3000)
    args = ap.parse_args()
    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))
    lines, summary = [], {}
    for seed in args.seeds:
        rnd = random.Random(seed)
        docs = [(f"corpus[{i}]", corpus[i]["body"][: args.chars]) for i in rnd.sample(range(len(corpus)), args.docs)]
        docs += [(p, Path(p).read_text(encoding="utf-8")[: args.chars]) for p in sorted(glob.glob(str(ROOT / "seeds" / "*.txt")))]
        n_old = n_new = 0
        diffs = 0
        wrap_old = wrap_new = wrap_ref = 0
        lines.append(f"## sample seed={seed}: {len(docs)} texts, first {args.chars} characters each")
        for name, text in docs:
            bo, bn = ends(old_spans, text), ends(new_spans, text)
            n_old, n_new = n_old + len(bo), n_new + len(bn)
            for e in sorted(bo ^ bn):
                diffs += 1
                ctx = text[max(0, e - 80):e].replace("\n", "⏎") + " ‖ " + text[e:e + 50].replace("\n", "⏎")
                lines.append(f"{name} | {e} | {'OLD-only' if e in bo else 'NEW-only'} | {ctx}")
            wrapped = wrap(text)
            ref = content_offsets(text, bn)
            wrap_ref += len(ref)
            wrap_old += len(content_offsets(wrapped, ends(old_spans, wrapped)) ^ content_offsets(text, bo))
            wrap_new += len(content_offsets(wrapped, ends(new_spans, wrapped)) ^ ref)
        summary[seed] = {"texts": len(docs), "old_boundaries": n_old, "new_boundaries": n_new,
                         "disagreements": diffs, "wrap_boundaries_ref": wrap_ref,
                         "wrap_changed_old": wrap_old, "wrap_changed_new": wrap_new}
    t = time.perf_counter()
    total = sum(len(a["body"]) for a in corpus)
    n = sum(1 for a in corpus for _ in new_spans(a["body"]))
    new_s = time.perf_counter() - t
    t = time.perf_counter()
    n_o = sum(1 for a in corpus for _ in old_spans(a["body"]))
    old_s = time.perf_counter() - t
    summary["speed"] = {"corpus_chars": total, "new_sentences": n, "old_sentences": n_o,
                        "new_mchars_per_s": round(total / new_s / 1e6, 2), "old_mchars_per_s": round(total / old_s / 1e6, 2)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sentences_disagreements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "sentences.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
