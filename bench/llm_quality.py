"""Answer quality and speed per model on the seed questions, through the real pipeline (`rag eval`'s runner).

    python bench/llm_quality.py [--models extractive llamacpp:smollm2-135m llamacpp:qwen2.5-0.5b ...]
                                [--source-tokens 80 0] [--testset tests/data/seed_qa.jsonl]
    python bench/llm_quality.py --index MH_INDEX --testset .../MultiHopRAG.json --split dev --limit 40 \
                                --source-tokens 80 --out bench/results/llm_quality_multihop

Builds an index of seeds/ in a temporary folder (or uses --index), then for every model (and, for generative ones, every
--source-tokens setting: 80 = each source cut to the question's best sentences, 0 = whole passages) asks every
question of the test set and scores the answers with the same metrics as `rag eval`. Each model is loaded and asked
one question before the clock starts, so the latencies are answers, not model loading. Writes
bench/results/llm_quality.json (metrics, settings, every answer) and llm_quality.md (the table and the answers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag.evaluation import evaluate  # noqa: E402

COLUMNS = [
    ("answer_accuracy", "accuracy (ours)"),
    ("paper_accuracy", "paper rule"),
    ("contains_answer", "answer correct"),
    ("false_refusal_rate", "false refusals"),
    ("refusal_precision", "refusal P"),
    ("refusal_recall", "refusal R"),
    ("citation_precision", "citation P"),
    ("citation_recall", "citation R"),
    ("citation_verbatim_rate", "verbatim"),
    ("supported_sentence_rate", "supported"),
    ("latency_generate_p50_ms", "p50 ms"),
    ("latency_generate_p95_ms", "p95 ms"),
    ("answered_p50_ms", "answered p50 ms"),
    ("llama_prompt_eval_tokens_p50", "prompt tok p50"),
    ("llama_prompt_ms_p50", "prompt ms p50"),
    ("llama_generated_tokens_p50", "gen tok p50"),
    ("llama_generate_ms_p50", "gen ms p50"),
]


class ColdPrompts:
    """The index, but every question starts with an empty llama.cpp KV cache.

    llama.cpp reuses the longest prompt prefix it already evaluated. On a one-article index every question gets
    the same passages, so whole-passage prompts would mostly be skipped; on a real corpus different questions
    retrieve different passages. Clearing the cache measures what a new question costs.
    """

    def __init__(self, index, prime: bool = False) -> None:
        self.index = index
        self.prime = prime
        self.timings: list[dict | None] = []   # llama.cpp's counters per question, in asking order

    def warm(self) -> None:
        self.index.warm()

    def search(self, *args, **kwargs):
        return self.index.search(*args, **kwargs)

    def ask(self, *args, **kwargs):
        from rag.providers.llamacpp import _WORKERS, reset_all

        reset_all(prime=self.prime)
        for worker in _WORKERS.values():
            worker.last_timings = None
        answer = self.index.ask(*args, **kwargs)
        self.timings.append(next((w.last_timings for w in _WORKERS.values() if w.last_timings), None))
        return answer


def run(index, testset: Path, model: str, options: dict, k: int, split: str, limit: int | None,
        prime: bool = False) -> dict:
    index = ColdPrompts(index, prime=prime)
    if model != "extractive":
        from rag.answering.prompting import SYSTEM
        from rag.providers.base import get_model

        m = get_model(model, **options)
        loader = getattr(m, "load", None)
        if loader:
            loader()  # weights in memory before the clock starts
        runtime = getattr(m, "runtime", None)
        if prime and hasattr(m, "prepare"):
            m.prepare([{"role": "system", "content": SYSTEM}])
    else:
        runtime = None
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = evaluate(index, testset, model=model, k=k, split=split, limit=limit, progress=False,
                      model_options=options)
    wall = time.perf_counter() - started
    answers = [{"id": r["id"], "question": r["question"], "answerable": r["answerable"], "answer": r["answer"],
                "refused": r["refused"], "correct": (r["metrics"] or {}).get("contains_answer"),
                "generate_ms": round(r["timings_ms"]["generate"], 1)} for r in result.rows]
    if model != "extractive" and len(index.timings) == len(answers):
        for a, t in zip(answers, index.timings):
            a["llama"] = t  # None: refused before the model was asked
    answered = sorted(a["generate_ms"] for a in answers if not a["refused"])
    metrics = dict(result.overall, answered_p50_ms=answered[len(answered) // 2] if answered else None)
    asked = [a["llama"] for a in answers if a.get("llama")]
    for key in ("prompt_eval_tokens", "prompt_ms", "generated_tokens", "generate_ms"):
        metrics[f"llama_{key}_p50"] = median([t[key] for t in asked]) if asked else None
    return {"model": model, "options": options, "prime": prime, "runtime": runtime, "metrics": metrics,
            "wall_s": round(wall, 1),
            "load_average_1min": [round(load, 2), round(os.getloadavg()[0], 2)], "answers": answers}


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.0f}" if v >= 100 else f"{v:.2f}"
    return str(v)


def markdown(report: dict) -> str:
    st = report["settings"]
    lines = [
        f"# Answer quality and speed per model ({Path(st['testset']).name})",
        "",
        f"`{report['command']}` on {report['machine']['cpus']} CPUs, "
        + ", ".join(f"{name} {version}" for name, version in report["machine"].get("runtimes", {}).items())
        + f", {st['n_questions']} questions "
        f"({st['testset']}, split {st['split']}{', seeded sample of ' + str(st['limit']) if st['limit'] else ''}), "
        f"k={st['k']}, temperature 0. "
        "`source_tokens` 80: each source cut to the question's best sentences (the llamacpp default); 0: whole "
        "passages. Latency is the time from retrieved passages to the checked answer (model loaded, KV cache "
        "cleared before every question; prefix 'cold': nothing is reused, 'system': the fixed system prompt is "
        "evaluated again before the clock starts, as a running worker holds it); "
        "questions the evidence gate refuses never reach the model, so p50/p95 cover all questions and "
        "'answered p50' only those that got an answer.",
        "",
        "| model | runtime | source_tokens | max_sources | flash_attn | prefix | "
        + " | ".join(label for _, label in COLUMNS) + " | load |",
        "|---|---|---|---|---|---|" + "---|" * len(COLUMNS) + "---|",
    ]
    for r in report["runs"]:
        m = r["metrics"]
        st = r["options"].get("source_tokens", "-")
        load = "-".join(f"{x:.1f}" for x in r["load_average_1min"])
        prefix = "-" if r["model"] == "extractive" else ("system" if r.get("prime") else "cold")
        ms, fa = r["options"].get("max_sources", "-"), r["options"].get("flash_attn", "-")
        lines.append(f"| {r['model']} | {r.get('runtime') or '-'} | {st} | {ms} | {fa} | {prefix} | "
                     + " | ".join(fmt(m.get(key)) for key, _ in COLUMNS)
                     + f" | {load} |")
    lines += ["", "## Answers", ""]
    for r in report["runs"]:
        st = r["options"].get("source_tokens")
        lines += [f"### {r['model']}" + (f" ({', '.join(f'{k} {v}' for k, v in r['options'].items())})"
                                          if r["options"] else "")
                  + (" (system prefix cached)" if r.get("prime") else ""), ""]
        for a in r["answers"]:
            mark = "refused" if a["refused"] else ("ok" if a["correct"] else ("wrong" if a["answerable"] else "-"))
            text = " ".join(a["answer"].split())
            t = a.get("llama")
            split = f", prompt {t['prompt_eval_tokens']} tok {t['prompt_ms']:.0f} ms, answer {t['generated_tokens']} " \
                    f"tok {t['generate_ms']:.0f} ms" if t else ""
            lines.append(f"- {a['id']} [{mark}, {a['generate_ms']:.0f} ms{split}] {a['question']} -> {text}")
        lines.append("")
    return "\n".join(lines)


def parse_setting(text: str) -> tuple[dict, bool]:
    """'max_sources=5,flash_attn=false,prime=system' -> ({'max_sources': 5, 'flash_attn': False}, True)."""
    options, prime = {}, False
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if key == "prime":
            prime = value == "system"
        elif value.lower() in ("true", "false"):
            options[key] = value.lower() == "true"
        elif value.isdigit():
            options[key] = int(value)
        else:
            options[key] = value  # runtime=xllamacpp
    return options, prime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=[
        "extractive", "llamacpp:smollm2-135m", "llamacpp:qwen2.5-0.5b", "llamacpp:qwen2.5-1.5b"])
    parser.add_argument("--source-tokens", type=int, nargs="+", default=[80, 0])
    parser.add_argument("--testset", type=Path, default=ROOT / "tests" / "data" / "seed_qa.jsonl")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--index", type=Path, help="an existing index (default: seeds/ indexed in a temp folder)")
    parser.add_argument("--split", default="all", choices=["dev", "test", "all"])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--max-sources", type=int, nargs="+", default=[None],
                        help="llamacpp max_sources settings to run (default: the model's own)")
    parser.add_argument("--flash-attn", choices=["on", "off", "both"], default="on")
    parser.add_argument("--settings", nargs="+", metavar="K=V,K=V",
                        help="explicit settings per generative model instead of the grid above, e.g. "
                             "'max_sources=10,flash_attn=false,prime=cold' 'max_sources=5,prime=system'")
    parser.add_argument("--prime", choices=["cold", "system", "both"], default="cold",
                        help="cold: empty KV cache before every question; system: the fixed system prompt stays "
                             "cached (as in a worker that has answered before); both: one run each")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "llm_quality")
    args = parser.parse_args()

    from rag.providers.llamacpp import runtime_versions

    runtimes = runtime_versions()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.index:
            index = rag.Index.open(args.index)
        else:
            index = rag.Index.open(Path(tmp) / "index")
            index.add(ROOT / "seeds")
        for model in args.models:
            flash = {"on": [True], "off": [False], "both": [False, True]}[args.flash_attn]
            settings = [{}] if model == "extractive" else [
                {"source_tokens": st, **({"max_sources": ms} if ms is not None else {}), "flash_attn": fa}
                for st in args.source_tokens for ms in args.max_sources for fa in flash]
            primes = [False] if model == "extractive" else {"cold": [False], "system": [True],
                                                           "both": [False, True]}[args.prime]
            combos = [(o, p) for o in settings for p in primes]
            if args.settings and model != "extractive":
                combos = [parse_setting(text) for text in args.settings]
            for options, prime in combos:
                r = run(index, args.testset, model, options, args.k, args.split, args.limit, prime)
                m = r["metrics"]
                print(f"{model} {options}: correct {m['contains_answer']:.2f}, false refusals "
                      f"{m['false_refusal_rate']:.2f}, supported {m['supported_sentence_rate']}, "
                      f"p50 {m['latency_generate_p50_ms']:.0f} ms", flush=True)
                runs.append(r)
        n = len(runs[0]["answers"]) if runs else 0
    report = {
        "command": "python bench/llm_quality.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "runtimes": runtimes,
                    "llama_threads": os.environ.get("RAG_LLAMA_THREADS") or os.cpu_count()},
        "settings": {"testset": str(args.testset.relative_to(ROOT)) if args.testset.is_relative_to(ROOT)
                     else str(args.testset), "k": args.k, "split": args.split, "limit": args.limit,
                     "index": str(args.index) if args.index else "seeds/ (temporary)", "n_questions": n},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(report) + "\n", encoding="utf-8")
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
