"""The human report of an evaluation run: report.md with tables, metric definitions and PNG plots."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from rag.errors import MissingDependencyError

from .metrics import CURVE_KS, LATENCY_STAGES, METRIC_DEFINITIONS

if TYPE_CHECKING:
    from .runner import EvalResult

# Tang & Yang, "MultiHop-RAG" (COLM 2024), Table 5, best rows; fact-level, all 2,255 answerable queries.
# Columns: MRR@10, MAP@10, Hits@10, Hits@4, then the same four after bge-reranker-large over the top 20.
PAPER_TABLE5: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("text-embedding-ada-002", (.4203, .3431, .6381, .5040, .5477, .4625, .7059, .6169)),
    ("bge-large-en-v1.5", (.4298, .3423, .6718, .5221, .5630, .4759, .7183, .6364)),
    ("voyage-02", (.3934, .3143, .6506, .4619, .5860, .4795, .7467, .6625)),
    ("e5-base-v2", (.1843, .1161, .3556, .2334, .3237, .2165, .4176, .3716)),
)
_TABLE5_METRICS = ("mrr@10", "map@10", "hits@10", "hits@4")

_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Retrieval, fact level (MultiHop-RAG scoring)", ("hits@1", "hits@4", "hits@10", "mrr@10", "map@10")),
    ("Retrieval, article level", ("article_hits@1", "article_hits@4", "article_hits@10", "article_mrr@10",
                                  "article_map@10")),
    ("Answers", ("answer_accuracy", "paper_accuracy", "exact_match", "f1", "contains_answer")),
    ("Citations", ("citation_verbatim_rate", "citation_precision", "citation_recall", "supported_sentence_rate")),
    ("Refusals", ("refusal_precision", "refusal_recall", "null_refusal_rate", "false_refusal_rate")),
    ("Latency (ms)", tuple(f"latency_{s}_{p}_ms" for s in LATENCY_STAGES for p in ("p50", "p95"))),
    ("Counts", ("n_questions", "n_answerable", "n_unanswerable", "n_retrieval_scored", "n_citations", "n_errors")),
)
_BY_TYPE_COLUMNS = ("n_questions", "hits@4", "hits@10", "mrr@10", "map@10", "article_hits@10", "answer_accuracy",
                    "paper_accuracy", "exact_match",
                    "f1", "contains_answer", "citation_precision", "citation_recall", "refusal_recall",
                    "false_refusal_rate", "latency_total_p50_ms")
_PLOTTED_BY_TYPE = ("hits@10", "mrr@10", "article_hits@10", "contains_answer", "citation_recall")


def write_report(result: EvalResult, out_dir: str | Path, *, testset_name: str, settings: dict) -> Path:
    """Write report.md and its PNG plots into out_dir; returns the path of report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    overall, by_type = result.metrics["overall"], result.metrics["by_type"]
    try:
        plots = _plots(result.rows, overall, by_type, out)
        no_plots = ""
    except MissingDependencyError as err:
        # The numbers are the point of an evaluation; plots are a nicety that must not cost the report.
        plots, no_plots = [], f"Plots were left out: {err}, then run `rag eval` again."
        logging.getLogger("rag.eval").warning("report written without plots: %s", err)

    lines = [f"# Evaluation report: {testset_name}", ""]
    lines += ["## Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in settings.items()]
    lines.append("")
    lines += ["## Overall", ""]
    for title, names in _SECTIONS:
        shown = [n for n in names if overall.get(n) is not None]
        if not shown:
            continue
        lines += [f"### {title}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {n} | {_fmt(overall[n])} |" for n in shown]
        lines.append("")
    if _is_multihop(testset_name, settings) and overall.get("hits@10") is not None:
        lines += _table5(overall, settings)
    lines += _by_type_table(by_type)
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{caption}]({name})" + "\n" for name, caption in plots]
    elif no_plots:
        lines += ["## Plots", "", no_plots, ""]
    lines += ["## Metric definitions", ""]
    lines += [f"- **{name}**: {text}" for name, text in METRIC_DEFINITIONS.items()]
    lines.append("")

    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _is_multihop(testset_name: str, settings: Mapping[str, Any]) -> bool:
    return settings.get("testset_format") == "multihop-rag" or "multihop" in testset_name.lower().replace("-", "")


def _table5(overall: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    lines = ["## Beside the MultiHop-RAG paper (Table 5, fact level)", ""]
    scope = f"split={settings.get('split', 'all')}, limit={settings.get('limit')}"
    lines += [f"The paper scores all 2,255 answerable queries with 256-token chunks and cosine top-k; this run: "
              f"{overall.get('n_retrieval_scored')} questions ({scope}).", ""]
    lines += ["| system | MRR@10 | MAP@10 | Hits@10 | Hits@4 |", "|---|---|---|---|---|"]
    lines.append("| **this run** | " + " | ".join(_fmt(overall.get(m)) for m in _TABLE5_METRICS) + " |")
    for name, values in PAPER_TABLE5:
        lines.append(f"| paper: {name} | " + " | ".join(f"{v:.4f}" for v in values[:4]) + " |")
    for name, values in PAPER_TABLE5:
        lines.append(f"| paper: {name} + rerank | " + " | ".join(f"{v:.4f}" for v in values[4:]) + " |")
    lines.append("")
    return lines


def _by_type_table(by_type: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if not by_type:
        return []
    cols = [c for c in _BY_TYPE_COLUMNS if any(m.get(c) is not None for m in by_type.values())]
    lines = ["## By question type", "", "| type | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for qtype, m in by_type.items():
        lines.append(f"| {qtype} | " + " | ".join(_fmt(m.get(c)) for c in cols) + " |")
    lines.append("")
    return lines


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.4f}"
    return str(value)


def _cell(value: Any) -> str:
    return "n/a" if value is None else str(value).replace("|", "\\|")


# --- plots -------------------------------------------------------------------------------------------------------

def _figure(width: float = 6.0, height: float = 4.0) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("matplotlib", "eval", "plots") from None
    # A bare Figure on the Agg canvas touches no pyplot state, so this is safe inside a running GUI/server process.
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _plots(rows: Sequence[Mapping[str, Any]], overall: Mapping[str, Any],
           by_type: Mapping[str, Mapping[str, Any]], out: Path) -> list[tuple[str, str]]:
    """Draw the plots that have data; returns [(file name, caption)]."""
    made: list[tuple[str, str]] = []
    fig = _figure()  # fails early (MissingDependencyError) before any file is written
    curves = [(label, [overall.get(f"{prefix}hits@{k}") for k in CURVE_KS])
              for label, prefix in (("fact level", ""), ("article level", "article_"))]
    curves = [(label, ys) for label, ys in curves if all(y is not None for y in ys)]
    if curves:
        ax = fig.add_subplot()
        for label, ys in curves:
            ax.plot(CURVE_KS, ys, marker="o", label=label)
        ax.set(xlabel="k", ylabel="Hits@k", title="Hits@k", xticks=list(CURVE_KS), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "hits_at_k.png")
        made.append(("hits_at_k.png", "Hits@k for k = 1..10"))

    stages = [(s, [float(r["timings_ms"][s]) for r in rows if r.get("timings_ms", {}).get(s) is not None])
              for s in LATENCY_STAGES]
    stages = [(s, v) for s, v in stages if v]
    if stages:
        fig = _figure(6.0, 2.2 * len(stages))
        for i, (stage, values) in enumerate(stages, start=1):
            ax = fig.add_subplot(len(stages), 1, i)
            ax.hist(values, bins=min(30, max(5, len(values) // 3)), color=f"C{i - 1}")
            ax.set(ylabel="questions", title=f"{stage} latency (ms)")
        fig.tight_layout()
        fig.savefig(out / "latency.png")
        made.append(("latency.png", "latency histogram per stage"))

    names = [n for n in _PLOTTED_BY_TYPE if any(m.get(n) is not None for m in by_type.values())]
    if by_type and names:
        types = list(by_type)
        fig = _figure(max(6.0, 1.2 * len(types) * len(names) / 2), 4.0)
        ax = fig.add_subplot()
        width = 0.8 / len(names)
        for j, name in enumerate(names):
            xs = [i + j * width for i in range(len(types))]
            # NaN draws no bar, so "not measured for this type" is not shown as a score of 0.
            ys = [float("nan") if by_type[t].get(name) is None else by_type[t][name] for t in types]
            ax.bar(xs, ys, width=width, label=name)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(types))], types)
        ax.set(ylim=(0, 1.05), ylabel="score", title="metrics by question type")
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(out / "by_type.png")
        made.append(("by_type.png", "metrics by question type"))
    return made
