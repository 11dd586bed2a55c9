"""How fast the local GGUF models run here: load time, prompt tokens/s and generation tokens/s.

    python bench/llm_speed.py [--models smollm2-135m qwen2.5-0.5b] [--prompt-tokens 600] [--runs 3]

Writes bench/results/llm_speed.json. The prompt is the seed article cut to about --prompt-tokens tokens in the
model's own vocabulary, sent through the chat template the way `rag ask` sends it. Speeds come from llama.cpp's
own counters (prompt eval vs. token eval), so Python overhead is not counted in either; wall-clock time to first
token and total time are reported too.
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

import llama_cpp  # noqa: E402

from rag.providers.gguf import resolve_gguf  # noqa: E402

SYSTEM = "Answer the question using only the numbered sources. Cite sources as [n]. Be brief."


def article_text() -> str:
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    return "\n".join(p.read_text(encoding="utf-8") for p in seeds)


def build_messages(llama: llama_cpp.Llama, text: str, target: int) -> tuple[list[dict], int]:
    """Messages whose source passage is cut so the templated prompt is about `target` tokens."""
    ids = llama.tokenize(text.encode("utf-8"), add_bos=False)
    overhead = 60  # system text, question and chat-template markers
    passage = llama.detokenize(ids[: max(1, target - overhead)]).decode("utf-8", "ignore")
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"[1] {passage}\n\nQuestion: What did the minister warn about?"},
    ]
    return messages, len(ids[: target - overhead])


def measure(name: str, prompt_tokens: int, runs: int, max_tokens: int, threads: int, flash_attn: bool = True) -> dict:
    path = resolve_gguf(name)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    llama = llama_cpp.Llama(model_path=str(path), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                            flash_attn=flash_attn, verbose=False)
    load_s = time.perf_counter() - started

    messages, _ = build_messages(llama, article_text(), prompt_tokens)
    llama.create_chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=4)  # warm-up

    samples = []
    for _ in range(runs):
        llama.reset()  # no prefix reuse: every run evaluates the whole prompt
        llama_cpp.llama_perf_context_reset(llama.ctx)
        t0 = time.perf_counter()
        first = None
        pieces = 0
        for chunk in llama.create_chat_completion(messages=messages, temperature=0.0, max_tokens=max_tokens,
                                                  stream=True, seed=0):
            if chunk["choices"][0]["delta"].get("content"):
                pieces += 1
                if first is None:
                    first = time.perf_counter() - t0
        total = time.perf_counter() - t0
        perf = llama_cpp.llama_perf_context(llama.ctx)
        samples.append({
            "prompt_tokens": perf.n_p_eval,
            "prompt_ms": perf.t_p_eval_ms,
            "generated_tokens": perf.n_eval,
            "generate_ms": perf.t_eval_ms,
            "first_token_s": first,
            "total_s": total,
        })

    def med(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    return {
        "model": name,
        "n_threads": threads,
        "flash_attn": flash_attn,
        "file": path.name,
        "file_bytes": path.stat().st_size,
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
                    "llama_cpp_python": llama_cpp.__version__},
        "settings": {"prompt_tokens": args.prompt_tokens, "max_tokens": args.max_tokens, "runs": args.runs,
                     "n_ctx": 4096, "temperature": 0.0},
        "models": [
            measure(m, args.prompt_tokens, args.runs, args.max_tokens, t, args.flash_attn == "on")
            for m in args.models for t in args.threads
        ],
    }
    if args.append and args.out.exists():
        results["models"] = json.loads(args.out.read_text(encoding="utf-8"))["models"] + results["models"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for m in results["models"][-len(args.models) * len(args.threads):]:
        sys.stderr.write(
            f"{m['model']} ({m['n_threads']} threads): load {m['load_s']} s, "
            f"prompt {m['prompt_tokens']} tok at {m['prompt_tokens_per_s']} tok/s, "
            f"generation {m['generated_tokens']} tok at {m['generation_tokens_per_s']} tok/s, "
            f"first token {m['first_token_s']} s\n"
        )


if __name__ == "__main__":
    main()
