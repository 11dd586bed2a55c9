"""How fast the local GGUF models run here, on each llama.cpp runtime: load time, time to first token, prompt
tokens/s and generation tokens/s.

    python bench/llm_speed.py [--models smollm2-135m qwen2.5-0.5b] [--runtimes xllamacpp llama-cpp-python]
                              [--prompt-tokens 600] [--runs 3]

Writes bench/results/llm_speed.json. Every figure is taken through the product's own path (`LlamaCppModel`, its
worker process), so it is what `rag ask` gets. The prompt is the seed article cut to about --prompt-tokens tokens in
the model's own vocabulary, sent through the chat template the way `rag ask` sends it, with an empty KV cache every
run. Speeds come from llama.cpp's own counters (prompt eval vs. token eval), so Python overhead is not counted in
either; wall-clock time to first token (streamed) and total time are reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.providers.base import Prompt  # noqa: E402
from rag.providers.llamacpp import (  # noqa: E402
    LlamaCppModel, close_all, installed_runtimes, reset_all, runtime_versions,
)

SYSTEM = "Answer the question using only the numbered sources. Cite sources as [n]. Be brief."
QUESTION = "Question: What did the minister warn about?"


def article_text() -> str:
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    return "\n".join(p.read_text(encoding="utf-8") for p in seeds)


def build_messages(model: LlamaCppModel, text: str, target: int) -> list[dict]:
    """Messages whose source passage is cut so the passage is about `target` - 60 tokens (60: system text,
    question and chat-template markers), found by bisecting on the model's own token count."""
    want = max(1, target - 60)
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if model.count_tokens(text[:mid]) <= want:
            lo = mid
        else:
            hi = mid - 1
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"[1] {text[:lo]}\n\n{QUESTION}"}]


def measure(name: str, runtime: str, prompt_tokens: int, runs: int, max_tokens: int, threads: int,
            flash_attn: bool = True) -> dict:
    load_before = os.getloadavg()[0]
    model = LlamaCppModel(name, n_ctx=4096, n_threads=threads, flash_attn=flash_attn, runtime=runtime)
    started = time.perf_counter()
    model.load()
    load_s = time.perf_counter() - started
    messages = build_messages(model, article_text(), prompt_tokens)
    warm = Prompt(question="hi", sources=(), max_tokens=4, temperature=0.0,
                  messages=({"role": "user", "content": "hi"},))
    "".join(model.generate(warm))

    samples = []
    for _ in range(runs):
        reset_all(prime=False)  # no prefix reuse: every run evaluates the whole prompt
        prompt = Prompt(question=QUESTION, sources=(), max_tokens=max_tokens, temperature=0.0,
                        messages=tuple(messages))
        t0 = time.perf_counter()
        first = None
        for piece in model.generate(prompt, stream=True):
            if piece and first is None:
                first = time.perf_counter() - t0
        total = time.perf_counter() - t0
        t = model.last_timings
        samples.append({"prompt_tokens": t["prompt_eval_tokens"], "prompt_ms": t["prompt_ms"],
                        "generated_tokens": t["generated_tokens"], "generate_ms": t["generate_ms"],
                        "first_token_s": first, "total_s": total})
    close_all()

    def med(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    return {
        "model": name,
        "runtime": model.runtime or runtime,
        "n_threads": threads,
        "flash_attn": flash_attn,
        "file": model.path.name,
        "file_bytes": model.path.stat().st_size,
        "load_s": round(load_s, 3),
        "prompt_tokens": int(med("prompt_tokens")),
        "prompt_tokens_per_s": round(statistics.median(s["prompt_tokens"] / s["prompt_ms"] * 1000 for s in samples), 1),
        "generated_tokens": int(med("generated_tokens")),
        "generation_tokens_per_s": round(
            statistics.median(s["generated_tokens"] / s["generate_ms"] * 1000 for s in samples if s["generate_ms"]), 1
        ),
        "first_token_s": round(med("first_token_s"), 3),
        "total_s": round(med("total_s"), 3),
        # Other work on the machine skews every figure (llama.cpp threads spin-wait on each other), so each entry
        # says how busy the machine was while it ran.
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "runs": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "qwen2.5-0.5b"])
    parser.add_argument("--runtimes", nargs="+", default=installed_runtimes(),
                        help="llama.cpp runtimes to compare (default: every installed one)")
    parser.add_argument("--prompt-tokens", type=int, default=600)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[os.cpu_count() or 1],
                        help="llama.cpp thread counts to compare (default: every CPU, as the provider uses)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "llm_speed.json")
    parser.add_argument("--append", action="store_true", help="add to the models already in --out")
    parser.add_argument("--flash-attn", choices=["on", "off"], default="on",
                        help="llama.cpp flash attention (on: as the llamacpp provider runs by default)")
    args = parser.parse_args()

    results = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "runtimes": runtime_versions()},
        "settings": {"prompt_tokens": args.prompt_tokens, "max_tokens": args.max_tokens, "runs": args.runs,
                     "n_ctx": 4096, "temperature": 0.0},
        "models": [
            measure(m, r, args.prompt_tokens, args.runs, args.max_tokens, t, args.flash_attn == "on")
            for m in args.models for r in args.runtimes for t in args.threads
        ],
    }
    if args.append and args.out.exists():
        results["models"] = json.loads(args.out.read_text(encoding="utf-8"))["models"] + results["models"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for m in results["models"][-len(args.models) * len(args.runtimes) * len(args.threads):]:
        sys.stderr.write(
            f"{m['model']} on {m['runtime']} ({m['n_threads']} threads): load {m['load_s']} s, "
            f"prompt {m['prompt_tokens']} tok at {m['prompt_tokens_per_s']} tok/s, "
            f"generation {m['generated_tokens']} tok at {m['generation_tokens_per_s']} tok/s, "
            f"first token {m['first_token_s']} s\n"
        )


if __name__ == "__main__":
    main()
