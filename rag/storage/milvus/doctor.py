"""The index lines of `rag doctor` for a Milvus index: reachable, built, how big. (Milvus keeps its own
replicas and write-ahead log: there are no files here to check or repair.)"""

from __future__ import annotations

from collections.abc import Iterator

from ...errors import RagError
from ..location import MilvusLocation
from .store import MilvusStore


def milvus_checks(where: MilvusLocation) -> Iterator[tuple[str, str, str]]:
    try:
        if not MilvusStore.exists(where):
            yield "warn", f"no index at {where}", f"rag index seeds/ --index {where}"
            return
        store = MilvusStore.open(where, create=False)
    except RagError as e:
        yield "fail", f"index {where}: {e}", "start the Milvus server or check the URI"
        return
    try:
        articles, chunks = store.counts()
        yield "ok", f"index {where}: {articles} articles, {chunks} chunks in Milvus", ""
    finally:
        store.close()
