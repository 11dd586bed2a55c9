"""`rag index --engine ray`: read -> clean -> chunk -> embed as a Ray Data pipeline; the driver writes.

The driver walks the paths (cheap, and it decides skip rules and order exactly as the local engine:
rag.ingest.inputs.iter_files), Ray tasks read and clean the files (`read_file`), the driver drops duplicates and
unchanged articles by content hash (rag.ingest.indexer), Ray tasks chunk, a pool of embedding actors embeds, and the
driver writes each article once all its chunks are back, committing whole articles every `commit_every` chunks.
So ids, chunks, skips and the report are the local engine's, and a driver killed mid-run leaves only whole
articles (the store's write order sees to that; see rag/storage/milvus/store.py): a re-run writes the rest.

Sizing: actors ask for a fraction of a CPU, so that with `actors` of them at least one CPU stays free for the read
and chunk tasks. On 2 CPUs, actors asking for a whole CPU each took both and the read task never ran (the job hung).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..chunking import ChunkSettings, chunk_article
from ..errors import MissingDependencyError, RagError, UserError
from ..schema import Article, Chunk, Skipped
from .indexer import ProgressFn, embedding_text
from .inputs import iter_files, read_file

EMBED_BATCH = 32
LOCAL_START_WAIT_S = 120  # seconds a local Ray start may wait for its GCS (Ray's default: 30)


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401 - the [data] extra
    except ImportError:
        raise MissingDependencyError("ray[data]", "ray", "rag index --engine ray") from None
    return ray


def _read_rows(row: dict, max_file_bytes: int) -> list[dict]:
    """Ray task: the articles (or Skipped) of one file, as JSON rows."""
    out = []
    for item in read_file(row["path"], max_file_bytes):
        kind = "skipped" if isinstance(item, Skipped) else "article"
        out.append({"i": row["i"], "kind": kind, "json": json.dumps(dataclasses.asdict(item))})
    return out


def _chunk_rows(row: dict, chunk_tokens: int, overlap_tokens: int) -> list[dict]:
    """Ray task: an article's chunks with the text the embedder sees; one empty row for an article with none."""
    a = Article(**json.loads(row["json"]))
    chunks = chunk_article(a, ChunkSettings(chunk_tokens, overlap_tokens))
    if not chunks:
        return [{"article_id": a.id, "n": 0, "ordinal": -1, "start": 0, "end": 0, "n_tokens": 0, "embed": ""}]
    return [{"article_id": a.id, "n": len(chunks), "ordinal": c.ordinal, "start": c.start, "end": c.end,
             "n_tokens": c.n_tokens, "embed": embedding_text(a, c)} for c in chunks]


class _Embed:
    """Ray actor: holds the embedder (loaded once per actor) and embeds batches of chunk rows."""

    def __init__(self, name: str, precision: str, threads: int):
        import torch

        from ..embedding import get_embedder

        torch.set_num_threads(threads)  # the CPUs this actor was given, not every core of the node
        self.embedder = get_embedder(name, precision=precision)
        self.embedder.model  # load now (and learn the dimension), not in the first batch

    def __call__(self, batch: dict) -> dict:
        texts = [str(t) for t in batch["embed"]]
        real = [i for i, t in enumerate(texts) if t]  # the marker rows of articles without chunks embed nothing
        vecs = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        if real:
            vecs[real] = self.embedder.embed([texts[i] for i in real], batch_size=EMBED_BATCH)
        return {**batch, "vec": vecs}


class RayEngine:
    def __init__(self, address: str | None = None, actors: int | None = None):
        if actors is not None and actors < 1:
            raise UserError("--ray-actors must be at least 1")
        self.ray = _ray()
        if not self.ray.is_initialized():
            kw = {"address": address} if address else {"num_cpus": os.cpu_count()}
            if not address:
                # A local start waits a fixed 30 s for the GCS to publish its port; on a busy 2-core machine (a Milvus
                # server and a test suite beside it) that has run out. The operator's own setting wins.
                os.environ.setdefault("RAY_gcs_server_port_wait_time_s", str(LOCAL_START_WAIT_S))
            try:
                try:
                    self.ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)
                except Exception as e:  # noqa: BLE001 - see below
                    # Ray's other startup waits (raylet registration, 30 s) cannot be set; a second start usually
                    # finds the machine warmer (files cached, page cache hot). A cluster gets no retry.
                    if address or "timed out" not in str(e).lower():
                        raise
                    self.ray.shutdown()
                    self.ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)
            except Exception as e:  # noqa: BLE001 - ray raises bare Exception/ConnectionError/RuntimeError here
                where = f"the Ray cluster at {address}" if address else "Ray on this machine"
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                raise RagError(f"could not start {where} ({first}); check `ray status`, free memory, or run without "
                               "--engine ray") from None
        ctx = self.ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # the local engine's order: first of two duplicates wins
        ctx.enable_progress_bars = False
        cpus = float(self.ray.cluster_resources().get("CPU", 1))
        self.actors = actors or max(1, math.floor(cpus / 2))
        # leave one CPU to read and chunk tasks; never more than one CPU per actor
        self.actor_cpus = max(0.25, min(1.0, (cpus - 1) / self.actors))
        self.threads = max(1, int(round(self.actor_cpus)))

    def read(self, paths: Sequence[Path], *, max_file_bytes: int, follow_links: bool,
             include_code: bool) -> list[Article | Skipped]:
        missing = [str(p) for p in paths if not os.path.lexists(p)]
        if missing:
            raise UserError(f"no such file or directory: {', '.join(missing)}")
        walked = list(iter_files(paths, follow_links=follow_links, include_code=include_code))
        files = [{"i": i, "path": p} for i, p in enumerate(walked) if not isinstance(p, Skipped)]
        rows = []
        if files:
            ds = self.ray.data.from_items(files, override_num_blocks=min(len(files), 64))
            rows = ds.flat_map(_read_rows, fn_kwargs={"max_file_bytes": max_file_bytes}).take_all()
        by_file: dict[int, list] = {}
        for r in rows:
            data = json.loads(r["json"])
            by_file.setdefault(r["i"], []).append(Article(**data) if r["kind"] == "article" else Skipped(**data))
        items = []
        for i, p in enumerate(walked):
            items.extend([p] if isinstance(p, Skipped) else by_file.get(i, []))
        if not items:
            raise UserError(f"nothing to index in {', '.join(map(str, paths))}: no article files found (.txt, .md, "
                            ".html, .pdf, .json, .jsonl; hidden files are never read)")
        return items

    def chunk_embed_write(self, todo: list[Article], chunking: ChunkSettings, embedder,
                          write: Callable[[list[tuple[Article, list[Chunk], np.ndarray]]], None],
                          commit_every: int, progress: ProgressFn | None
                          ) -> tuple[list[Article], int, list[Article]]:
        if not todo:
            return [], 0, []
        by_id = {a.id: a for a in todo}
        ds = self.ray.data.from_items([{"json": json.dumps(dataclasses.asdict(a))} for a in todo],
                                      override_num_blocks=min(len(todo), 64))
        ds = ds.flat_map(_chunk_rows, fn_kwargs={"chunk_tokens": chunking.chunk_tokens,
                                                 "overlap_tokens": chunking.overlap_tokens})
        ds = ds.map_batches(_Embed, fn_constructor_kwargs={"name": embedder.id, "precision": embedder.precision,
                                                           "threads": self.threads},
                            batch_size=EMBED_BATCH, compute=self.ray.data.ActorPoolStrategy(size=self.actors),
                            num_cpus=self.actor_cpus, batch_format="numpy")
        pending: dict[str, list] = {}
        ready: list[tuple[Article, list[Chunk], np.ndarray]] = []
        written, empty, done = [], [], 0
        for batch in ds.iter_batches(batch_size=EMBED_BATCH, batch_format="numpy"):
            for j in range(len(batch["article_id"])):
                aid, n = str(batch["article_id"][j]), int(batch["n"][j])
                if n == 0:
                    empty.append(by_id[aid])
                    continue
                got = pending.setdefault(aid, [])
                got.append((int(batch["ordinal"][j]), int(batch["start"][j]), int(batch["end"][j]),
                            int(batch["n_tokens"][j]), np.asarray(batch["vec"][j], dtype=np.float32)))
                if len(got) == n:  # every chunk of the article is back: it can be written whole
                    a = by_id[aid]
                    got.sort()
                    chunks = [Chunk(aid, o, s, e, a.text[s:e], t) for o, s, e, t, _ in got]
                    ready.append((a, chunks, np.stack([v for *_, v in got])))
                    del pending[aid]
                    done += n
            if progress:
                progress("embed", done, None)  # the total is known only when the pipeline has chunked everything
            if sum(len(c) for _, c, _ in ready) >= commit_every:
                write(ready)
                written += [a for a, _, _ in ready]
                ready = []
        if ready:
            write(ready)
            written += [a for a, _, _ in ready]
        if pending:  # cannot happen unless a task lost rows; say so rather than write half an article
            print(f"warning: {len(pending)} articles came back incomplete from Ray and were not written",
                  file=sys.stderr)
        order = {a.id: i for i, a in enumerate(todo)}
        return sorted(written, key=lambda a: order[a.id]), done, sorted(empty, key=lambda a: order[a.id])


__all__ = ["RayEngine"]
