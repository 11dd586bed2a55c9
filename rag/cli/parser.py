"""The `rag` command line. Every command works on the same `rag.Index` the Python API gives.

Output: `--json` prints exactly one JSON object on stdout; progress and logs go to stderr. Errors print one line,
`error: ...`, and exit with status 2 for user mistakes and 1 for everything else. No tracebacks for user mistakes.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path

from .. import __version__
from ..errors import RagError, UserError

EXAMPLES = """\
examples:
  rag index seeds/                      build or update the index from a folder
  rag search "Bulgaria Russia intelligence" -k 5
  rag ask "What did Bulgaria claim about Russia?"
  rag quotes --speaker Mitov            who said what
  rag ask "What is the latest on the strike?" --as-of 2025-12-10
  rag serve                             chat in the browser on http://127.0.0.1:7860
  rag eval tests/data/seed_qa.jsonl --out eval-out/
"""


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _model_option(text: str) -> tuple[str, object]:
    """-o KEY=VALUE -> (key, value): whole numbers and true/false become int and bool, the rest stays text."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r} (e.g. -o runtime=xllamacpp)")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    try:
        return key, int(value)
    except ValueError:
        return key, value


def _option_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--option", action="append", type=_model_option, default=[], metavar="KEY=VALUE",
                   help="a model option, repeatable; llamacpp: runtime (auto|xllamacpp|llama-cpp-python), n_ctx, "
                        "n_threads, n_batch, seed, source_tokens, max_sources, flash_attn; a wrong key is named")


def _index_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", metavar="DIR|URI", default=None,
                   help="index directory (default: $RAG_INDEX or ./index), or a Milvus index: "
                        "milvus://HOST:PORT/COLLECTION or milvus-lite:///path/file.db")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=os.environ.get("RAG_MODEL", "extractive"), metavar="SPEC",
                   help="extractive (default), llamacpp:NAME_OR_PATH or openai:MODEL")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible server URL (or $OPENAI_BASE_URL)")
    p.add_argument("--api-key", default=None, help="API key for --base-url (or $OPENAI_API_KEY)")
    _option_arg(p)


def _filter_args(p: argparse.ArgumentParser, *, as_of: bool = True) -> None:
    p.add_argument("--source", action="append", metavar="OUTLET",
                   help="only this outlet (repeatable; case-insensitive, e.g. 'the verge')")
    p.add_argument("--since", metavar="DATE", help="only articles published on or after DATE "
                   "(YYYY-MM-DD, YYYY-MM, 'Oct 20, 2025', 'last week', ...)")
    p.add_argument("--until", metavar="DATE", help="only articles published on or before DATE (undated ones are left "
                   "out unless --include-undated)")
    p.add_argument("--include-undated", action="store_true", help="with --until: keep articles that have no date")
    if as_of:
        p.add_argument("--as-of", metavar="DATE", default=None,
                       help="the date that 'latest', 'last week', 'in October' are resolved against (default: today)")


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
    p.add_argument("--commit-every", type=_positive_int, default=256, metavar="N",
                   help="commit after about N embedded chunks (default 256); an interrupted run keeps what was committed")
    p.add_argument("--max-file-mb", type=_positive_int, default=20, metavar="MB",
                   help="skip files larger than this (default 20 MB; a 45 MB text file takes ~45 min to embed)")
    p.add_argument("--follow-links", action="store_true",
                   help="follow symbolic links that lead out of the given folders (default: skip them)")
    p.add_argument("--include-code", action="store_true", help="also index source-code files (.py, .js, ...)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (default) or ray: read, chunk and embed as a Ray Data pipeline (extra: ray)")
    p.add_argument("--ray-address", metavar="ADDR", default=None,
                   help="with --engine ray: the Ray cluster to join (default: start Ray on this machine)")
    p.add_argument("--ray-actors", type=_positive_int, default=None, metavar="N",
                   help="with --engine ray: embedding actors (default: half the cluster's CPUs)")
    p.add_argument("--json", action="store_true", help="print a JSON report")

    p = sub.add_parser("search", help="show the passages that best match a query")
    p.add_argument("query")
    _index_arg(p)
    p.add_argument("-k", type=_positive_int, default=10, help="number of passages (default 10)")
    _filter_args(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question")
    _index_arg(p)
    _model_args(p)
    p.add_argument("-k", type=_positive_int, default=None, help="passages given to the model")
    _filter_args(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("chat", help="interactive chat in the terminal (follow-ups understood)")
    _index_arg(p)
    _model_args(p)
    _filter_args(p)

    p = sub.add_parser("quotes", help="who said what: quotes with speaker, role, outlet and date")
    p.add_argument("query", nargs="?", default=None, help="words of the quote or its topic (optional)")
    _index_arg(p)
    p.add_argument("--speaker", metavar="NAME", help="only this person or body ('Mitov', 'Bulgaria', 'Home Office')")
    _filter_args(p)
    p.add_argument("-n", "--limit", type=int, default=20, help="at most this many quotes (default 20)")
    p.add_argument("--json", action="store_true")

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
    _option_arg(p)
    p.add_argument("--seeds", default="seeds", metavar="DIR", help="articles to index when the index is missing")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require a login (needed for a non-loopback --host)")
    p.add_argument("--no-auth", action="store_true", help="allow a non-loopback --host without a login")

    p = sub.add_parser("eval", help="evaluate retrieval and answers against a test set")
    p.add_argument("testset", help="JSONL test set or MultiHop-RAG's MultiHopRAG.json")
    _index_arg(p)
    _model_args(p)
    p.add_argument("--out", default="eval-out", metavar="DIR", help="where metrics.json, results.jsonl and the report go")
    p.add_argument("--limit", type=int, default=None,
                   help="evaluate a seeded sample of N questions spread over the split (in file order)")
    p.add_argument("--split", choices=["dev", "test", "all"], default="all")
    p.add_argument("-k", type=_positive_int, default=10)
    p.add_argument("--retrieval-only", action="store_true", help="score retrieval only (no answers)")
    p.add_argument("--fail-under", nargs="+", default=[], metavar="METRIC=VALUE",
                   help="exit 1 when a metric is below VALUE, e.g. hits@10=0.9")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("doctor", help="check models, tokenizer and index; say how to fix what is missing")
    _index_arg(p)
    p.add_argument("--full", action="store_true", help="SQLite integrity_check and every vector (slower)")
    p.add_argument("--fix", action="store_true", help="repair a damaged index (damaged files are kept, renamed)")
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
        print(f"error: {_shown(e)}", file=sys.stderr)
        return 2
    except RagError as e:
        print(f"error: {_shown(e)}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as e:  # damage found while reading (a page of random bytes), not at open
        from ..errors import IndexCorruptError

        where = getattr(args, "index", None) or os.environ.get("RAG_INDEX") or "index"
        if isinstance(e, sqlite3.OperationalError):
            print(f"error: cannot read the index at {where} ({e}); check free disk space and permissions",
                  file=sys.stderr)
        else:
            print(f"error: {IndexCorruptError.damaged(where, f'SQLite: {e}')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        # a Milvus server that went away or refused a request mid-command: one line, not a gRPC traceback
        if not type(e).__module__.startswith(("pymilvus", "grpc")):
            raise
        where = getattr(args, "index", None) or os.environ.get("RAG_INDEX") or "index"
        print(f"error: Milvus at {where}: {str(e).splitlines()[0][:300]}; check that the server is up",
              file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


def _shown(err: Exception) -> str:
    from ..redact import redact  # a --base-url with user:password@ must not end up in a terminal log

    return redact(str(err))


if __name__ == "__main__":
    sys.exit(main())
