"""Implementations of the CLI commands (parsing lives in rag.cli, which stays import-light)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import RagError, UserError


def _out(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _open(args, *, create: bool = False):
    from ..index import Index, index_location

    return Index.open(index_location(args.index), create=create)


class _Progress:
    """A tqdm bar on stderr when it is a terminal; silent otherwise (logs stay clean)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=stage, unit="chunk", file=sys.stderr)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_index(args) -> int:
    from ..index import index_exists, index_location
    from ..ingest.indexer import check_inputs

    where = index_location(args.index)
    if not (where.exists() if isinstance(where, Path) else index_exists(where)):
        # before the index is created: a typo or an empty folder must not leave an empty index behind
        check_inputs(args.paths, follow_links=args.follow_links, include_code=args.include_code, first_only=True)
    index = _open(args, create=True)
    progress = _Progress(not args.json)
    try:
        report = index.add(args.paths, prune=args.prune, progress=progress, commit_every=args.commit_every,
                           max_file_bytes=args.max_file_mb * 1_000_000, follow_links=args.follow_links,
                           include_code=args.include_code, engine=args.engine, ray_address=args.ray_address,
                           ray_actors=args.ray_actors)
    finally:
        progress.close()
    if args.json:
        _out(report.to_json())
    else:
        for s in report.skipped:
            _err(f"skipped {s.path}: {s.reason}")
        n_articles, n_chunks = index.stats()["articles"], index.stats()["chunks"]
        print(f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, removed {report.removed}, "
              f"skipped {len(report.skipped)}; embedded {report.chunks_embedded} chunks. "
              f"Index {index.path}: {n_articles} articles, {n_chunks} chunks.")
    return 0


def hit_json(hit) -> dict:
    a = hit.article
    return {"rank": hit.rank, "chunk_id": hit.chunk_id, "article_id": a.id, "title": a.title, "source": a.source,
            "published_at": a.published_at, "url": a.url, "text": hit.text, "start": hit.start, "end": hit.end,
            "score": round(hit.score, 6)}


def _filters(args) -> dict:
    return {"sources": args.source, "date_from": args.since, "date_to": args.until}


def _as_of(args):
    from ..retrieval.timeframe import as_of_date

    return as_of_date(getattr(args, "as_of", None))   # a bad --as-of fails here with the accepted forms


def _date_span(index) -> str:
    """Why a dated search found nothing: the dates the index does hold."""
    days = sorted(a.published_at[:10] for a in index.articles() if a.published_at)
    if not days:
        return "(no article in this index has a date)"
    return f"(the index's articles are dated {days[0]} to {days[-1]})"


def cmd_search(args) -> int:
    index = _open(args)
    as_of = _as_of(args)
    filters = dict(_filters(args), include_undated=args.include_undated)
    window = index.search_window(args.query, as_of)
    hits = index.search(args.query, k=args.k, as_of=as_of, **filters)
    notes = [window.note()] if window.active else []
    if not hits and window.soft:
        hits = index.search(args.query, k=args.k, **filters)
        notes = [f"nothing in that window ({window.note()}); searched all dates"]
    if args.json:
        _out({"query": args.query, "hits": [hit_json(h) for h in hits], "notes": notes})
        return 0
    for n in notes:
        _err(f"({n})")
    if not hits:
        print("no matching passages")
        if args.since or args.until or window.active:
            _err(_date_span(index))
    for h in hits:
        a = h.article
        meta = ", ".join(x for x in (a.source, a.published_at[:10]) if x)
        print(f"[{h.rank}] {a.title}" + (f" ({meta})" if meta else "") + f"  score {h.score:.4f}")
        print("    " + " ".join(h.text.split())[:400])
    return 0


def answer_json(ans) -> dict:
    return {
        "question": ans.question, "answer": ans.text, "refused": ans.refused, "model": ans.model, "query": ans.query,
        "citations": [{"n": c.n, "article_id": c.article.id, "title": c.article.title, "source": c.article.source,
                       "published_at": c.article.published_at, "url": c.article.url, "excerpt": c.excerpt,
                       "start": c.start, "end": c.end, "score": round(c.score, 6)} for c in ans.citations],
        "sentences": [{"text": s.text, "citations": list(s.citations), "supported": s.supported} for s in ans.sentences],
        "timings_ms": {k: round(v, 1) for k, v in ans.timings_ms.items()},
        "notes": list(ans.notes),
        # non-empty when a generative model's text could not be checked and the extractive answer replaced it
        "note": getattr(ans, "note", ""),
    }


def _model_options(args) -> dict:
    opts = {}
    if getattr(args, "base_url", None):
        opts["base_url"] = args.base_url
    if getattr(args, "api_key", None):
        opts["api_key"] = args.api_key
    opts.update(dict(getattr(args, "option", None) or []))
    return opts


def print_answer(ans, *, streamed: bool = False) -> None:
    if not streamed:
        print(ans.text)
    if ans.query and ans.query != ans.question:
        print(f"\n(searched for: {ans.query})")
    for note in ans.notes:
        print(f"({note})")
    if ans.citations:
        print()
    for c in ans.citations:
        a = c.article
        meta = ", ".join(x for x in (a.source, a.published_at[:10], a.url) if x)
        print(f"[{c.n}] {a.title}" + (f" — {meta}" if meta else ""))
        print(f"    \"{' '.join(c.excerpt.split())}\"")
    unsupported = [s.text for s in ans.sentences if not s.supported]
    if unsupported:
        print("\nnot supported by the articles: " + " | ".join(unsupported))


def cmd_ask(args) -> int:
    index = _open(args)
    opts = {**_model_options(args), **_filters(args), "as_of": _as_of(args)}
    if args.json:
        _out(answer_json(index.ask(args.question, model=args.model, k=args.k, **opts)))
        return 0
    ans = None
    shown = []
    for piece in index.ask_stream(args.question, model=args.model, k=args.k, **opts):
        if isinstance(piece, str):
            sys.stdout.write(piece)
            sys.stdout.flush()
            shown.append(piece)
        else:
            ans = piece
    streamed = bool(shown)
    if streamed:
        print()
    if ans is not None:
        if streamed and " ".join("".join(shown).split()) != " ".join(ans.text.split()):
            # checking citations can drop or move markers: show what was verified, not just what streamed
            print("\nChecked answer:")
            streamed = False
        print_answer(ans, streamed=streamed)
    return 0


def cmd_chat(args) -> int:
    index = _open(args)
    chat = index.chat(model=args.model, **_model_options(args))
    filters = {**_filters(args), "as_of": _as_of(args)}
    if args.source or args.since or args.until:
        from ..retrieval.filters import check

        check(args.source, args.since, args.until, [s for s, _ in index.sources()] if args.source else [],
              as_of=filters["as_of"])   # a typo fails now, not at the first question
    print("Ask about the indexed articles. Empty line or Ctrl-D to quit.", file=sys.stderr)
    while True:
        try:
            q = input("> ").strip()
        except EOFError:
            print()
            return 0
        if not q:
            return 0
        try:
            ans = chat.ask(q, **filters)
        except RagError as e:  # a bad question or a crashed model ends this answer, not the chat
            print(f"error: {e}", file=sys.stderr)
            continue
        print_answer(ans)


def cmd_quotes(args) -> int:
    index = _open(args)
    found = index.quotes(args.query, speaker=args.speaker, sources=args.source, since=args.since, until=args.until,
                         as_of=_as_of(args), include_undated=args.include_undated, limit=args.limit)
    if args.json:
        _out({"quotes": [h.to_json() for h in found]})
        return 0
    if not found:
        print("no matching quotes")
    for h in found:
        q, a = h.quote, h.article
        who = q.speaker + (f", {q.role}" if q.role else "")
        meta = ", ".join(x for x in (a.source, a.published_at[:10]) if x)
        print(f"{who}" + (f" ({meta})" if meta else "") + f" — {a.title}")
        text = " ".join(q.quote.split())
        print(f"    \"{text}\"" if q.kind == "direct" else f"    {text} (reported)")
    return 0


def cmd_list(args) -> int:
    index = _open(args)
    arts = index.articles()
    if args.json:
        _out({"articles": [a.to_json() for a in arts]})
        return 0
    for a in arts:
        meta = ", ".join(x for x in (a.source, a.published_at[:10]) if x)
        print(f"{a.id}  {a.title}" + (f" ({meta})" if meta else "") + f"  [{a.chunks} chunks]")
    print(f"{len(arts)} articles", file=sys.stderr)
    return 0


def cmd_remove(args) -> int:
    index = _open(args)
    removed = index.remove(args.ids)
    if args.json:
        _out({"removed": removed})
    else:
        print(f"removed {len(removed)} article(s)")
    return 0


def cmd_serve(args) -> int:
    from .serve import serve

    return serve(index=args.index, host=args.host, port=args.port, model=args.model, base_url=args.base_url,
                 seeds=args.seeds, auth=args.auth, no_auth=args.no_auth, options=dict(args.option or []))


def cmd_eval(args) -> int:
    from ..evaluation.runner import check_gates, evaluate

    index = _open(args)
    result = evaluate(index, args.testset, model=args.model, k=args.k, split=args.split, limit=args.limit,
                      retrieval_only=args.retrieval_only, out_dir=args.out, progress=sys.stderr.isatty(),
                      model_options=_model_options(args))
    metrics = result.metrics
    failures = check_gates(metrics, args.fail_under)
    if args.json:
        _out(metrics)
    else:
        print(f"wrote {args.out}/metrics.json, results.jsonl and the report", file=sys.stderr)
        overall = metrics.get("overall", metrics)
        for key in sorted(overall):
            val = overall[key]
            if isinstance(val, (int, float)):
                print(f"{key:32s} {val:.4f}" if isinstance(val, float) else f"{key:32s} {val}")
    for line in failures:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failures else 0


def cmd_doctor(args) -> int:
    from .doctor import run_checks

    if args.fix:
        from ..index import index_location
        from ..storage.integrity import repair

        where = index_location(args.index)
        if not isinstance(where, Path):
            raise UserError(f"rag doctor --fix repairs the embedded store's files; {where} is a Milvus index, which "
                            "Milvus itself keeps (rebuild a lost collection with: rag index PATH --index URI)")
        rep = repair(where)
        for action in rep.actions:
            print(f"[fix ] {action}")
        print(f"[fix ] index {rep.root}: {rep.articles} articles after repair")
    ok = True
    for status, what, fix in run_checks(args.index, full=args.full):
        mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[status]
        print(f"[{mark}] {what}" + (f" — {fix}" if fix else ""))
        ok &= status != "fail"
    return 0 if ok else 1
