"""The `rag` command line. Every command works on the same `rag.Index` the Python API gives.

Output: `--json` prints exactly one JSON object on stdout; progress and logs go to stderr. Errors print one line,
`error: ...`, and exit with status 2 for user mistakes and 1 for everything else. No tracebacks for user mistakes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .. import __version__
from ..errors import RagError, UserError

EXAMPLES = """\
examples:
  rag index seeds/                      build or update the index from a folder
  rag search "Bulgaria Russia intelligence" -k 5
  rag ask "What did Bulgaria claim about Russia?"
  rag serve                             chat in the browser on http://127.0.0.1:7860
  rag eval tests/data/seed_qa.jsonl --out eval-out/
"""


def _index_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", metavar="DIR", default=None,
                   help="index directory (default: $RAG_INDEX or ./index)")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=os.environ.get("RAG_MODEL", "extractive"), metavar="SPEC",
                   help="extractive (default), llamacpp:NAME_OR_PATH or openai:MODEL")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible server URL (or $OPENAI_BASE_URL)")
    p.add_argument("--api-key", default=None, help="API key for --base-url (or $OPENAI_API_KEY)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Question answering over news articles with verified, verbatim citations.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"article-rag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="add or update articles (txt, md, html, pdf, json, jsonl, folders)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    _index_arg(p)
    p.add_argument("--prune", action="store_true", help="remove articles whose files under PATH are gone")
    p.add_argument("--commit-every", type=int, default=256, metavar="N",
                   help="commit after about N embedded chunks (default 256); an interrupted run keeps what was committed")
    p.add_argument("--json", action="store_true", help="print a JSON report")

    p = sub.add_parser("search", help="show the passages that best match a query")
    p.add_argument("query")
    _index_arg(p)
    p.add_argument("-k", type=int, default=10, help="number of passages (default 10)")
    p.add_argument("--source", action="append", metavar="OUTLET", help="only this outlet (repeatable)")
    p.add_argument("--since", metavar="DATE", help="only articles published on or after DATE (YYYY-MM-DD)")
    p.add_argument("--until", metavar="DATE", help="only articles published on or before DATE (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question")
    _index_arg(p)
    _model_args(p)
    p.add_argument("-k", type=int, default=None, help="passages given to the model")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("chat", help="interactive chat in the terminal (follow-ups understood)")
    _index_arg(p)
    _model_args(p)

    p = sub.add_parser("list", help="list indexed articles")
    _index_arg(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("remove", help="remove articles by id (see rag list)")
    p.add_argument("ids", nargs="+", metavar="ID")
    _index_arg(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("serve", help="chat in the browser (Gradio); builds the index from seeds/ if missing")
    _index_arg(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--model", default=os.environ.get("RAG_MODEL", "extractive"), metavar="SPEC")
    p.add_argument("--base-url", default=None)
    p.add_argument("--seeds", default="seeds", metavar="DIR", help="articles to index when the index is missing")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require a login (needed for a non-loopback --host)")
    p.add_argument("--no-auth", action="store_true", help="allow a non-loopback --host without a login")

    p = sub.add_parser("eval", help="evaluate retrieval and answers against a test set")
    p.add_argument("testset", help="JSONL test set or MultiHop-RAG's MultiHopRAG.json")
    _index_arg(p)
    _model_args(p)
    p.add_argument("--out", default="eval-out", metavar="DIR", help="where metrics.json, results.jsonl and the report go")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
    p.add_argument("--split", choices=["dev", "test", "all"], default="all")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--retrieval-only", action="store_true", help="score retrieval only (no answers)")
    p.add_argument("--fail-under", nargs="+", default=[], metavar="METRIC=VALUE",
                   help="exit 1 when a metric is below VALUE, e.g. hits@10=0.9")
    p.add_argument("--json", action="store_true")

    sub.add_parser("doctor", help="check models, tokenizer and index; say how to fix what is missing").add_argument(
        "--index", metavar="DIR", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    from . import commands

    try:
        return getattr(commands, f"cmd_{args.command}")(args) or 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
