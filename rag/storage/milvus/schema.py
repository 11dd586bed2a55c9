"""The Milvus side of the store: collection layouts, keyword text, and Filters as Milvus boolean expressions.

Three collections per index, named `<prefix>_chunks`, `<prefix>_articles`, `<prefix>_meta`:
- chunks: one row per chunk: auto id (the chunk id), article id, offsets, the outlet and date (so filters need no
  join), the dense vector, and three analysed text fields (title, 'outlet date', body) each with a BM25 `Function`
  into its own sparse field, so keyword search can weight them as the embedded store's FTS5 columns are weighted;
- articles: the cleaned article text in parts of at most TEXT_PART characters (a VARCHAR holds 65,535 bytes and
  articles are longer), every part carrying the metadata, part 0 also the quotes;
- meta: the manifest and the generation counter.
Milvus wants a vector field in every collection: articles and meta carry a 2-d placeholder.

Keyword text is stemmed here, in Python (rag.lexicon.stem, the same as the retriever's sentence matching), before
Milvus sees it: Milvus Lite's analyzer has no stemmer, and doing it client-side makes Lite and a real cluster agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ...lexicon import WORD, stem
from ..base import Filters

TEXT_PART = 16_000           # characters: at most 64,000 bytes of UTF-8, under Milvus's 65,535-byte VARCHAR
VARCHAR_MAX = 65_535
KEYWORD_FIELDS = ("title", "header", "body")
PLACEHOLDER = [0.0, 0.0]     # the vector of rows in collections that need none
MAX_TOPK = 16_384            # Milvus's limit on one search's `limit` (and on one query's result window)


def names(prefix: str) -> dict[str, str]:
    return {kind: f"{prefix}_{kind}" for kind in ("chunks", "articles", "meta")}


def keyword_text(text: str) -> str:
    """Lower-cased, stemmed words joined by spaces (cut to what one VARCHAR holds)."""
    out = " ".join(stem(w) for w in WORD.findall(text.lower()))
    raw = out.encode()
    return out if len(raw) <= VARCHAR_MAX else raw[:VARCHAR_MAX].decode(errors="ignore").rsplit(" ", 1)[0]


def keyword_query(terms: Sequence[str]) -> str:
    return " ".join(dict.fromkeys(stem(w) for term in terms for w in WORD.findall(term.lower())))


def literal(value: str) -> str:
    """A Milvus string literal (Milvus Lite parses no expression templates, so escape by hand)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


def filter_expr(f: Filters | None) -> str:
    """The expression over chunk rows that admits exactly what `Filters.admits` admits ('' for no filter)."""
    if f is None or not f.active:
        return ""
    parts = []
    if f.sources:
        parts.append(f"source in {literal_list(f.sources)}")
    if f.date_from:
        parts.append(f"published_at >= {literal(f.date_from)}")
    if f.date_to:
        # published_at[:len(date_to)] <= date_to, i.e. below date_to followed by a character greater than any in
        # a timestamp ('~' sorts after digits, '-', ':', '+', 'T', 'Z'): a bare date keeps that whole day
        parts.append(f"published_at < {literal(f.date_to + '~')}")
        if not f.include_undated:
            parts.append('published_at != ""')
    if f.dates:
        parts.append(f"day in {literal_list(f.dates)}")
    return " and ".join(f"({p})" for p in parts)


def create_collections(client, prefix: str, dim: int, manifest: dict, *, index_type: str = "AUTOINDEX") -> None:
    from pymilvus import DataType, Function, FunctionType

    n = names(prefix)
    chunks = client.create_schema(auto_id=True, enable_dynamic_field=False)
    chunks.add_field("id", DataType.INT64, is_primary=True)
    chunks.add_field("article_id", DataType.VARCHAR, max_length=1024)
    for field in ("ordinal", "start", "end"):
        chunks.add_field(field, DataType.INT64)
    chunks.add_field("source", DataType.VARCHAR, max_length=VARCHAR_MAX)
    chunks.add_field("published_at", DataType.VARCHAR, max_length=256)
    chunks.add_field("day", DataType.VARCHAR, max_length=16)
    chunks.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    for field in KEYWORD_FIELDS:
        chunks.add_field(f"{field}_kw", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True)
        chunks.add_field(f"{field}_sp", DataType.SPARSE_FLOAT_VECTOR)
        chunks.add_function(Function(name=f"bm25_{field}", function_type=FunctionType.BM25,
                                     input_field_names=[f"{field}_kw"], output_field_names=[f"{field}_sp"]))
    idx = client.prepare_index_params()
    idx.add_index("vec", index_type=index_type, metric_type="IP")
    for field in KEYWORD_FIELDS:
        idx.add_index(f"{field}_sp", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    for field in ("article_id", "source"):  # delete-by-article and outlet filters without a scan on a cluster
        idx.add_index(field, index_type="INVERTED")
    _create(client, n["chunks"], chunks, idx)

    arts = client.create_schema(auto_id=False, enable_dynamic_field=False)
    arts.add_field("key", DataType.VARCHAR, is_primary=True, max_length=1100)
    arts.add_field("article_id", DataType.VARCHAR, max_length=1024)
    arts.add_field("part", DataType.INT64)
    arts.add_field("n_parts", DataType.INT64)
    for field in ("title", "source", "author", "url", "origin", "text"):
        arts.add_field(field, DataType.VARCHAR, max_length=VARCHAR_MAX)
    arts.add_field("published_at", DataType.VARCHAR, max_length=256)
    arts.add_field("content_hash", DataType.VARCHAR, max_length=256)
    arts.add_field("added_at", DataType.DOUBLE)
    arts.add_field("quotes", DataType.JSON)  # {"version": n, "hash": content hash read, "rows": [...]} or {}
    arts.add_field("_v", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    _create(client, n["articles"], arts, _placeholder_index(client))

    meta = client.create_schema(auto_id=False, enable_dynamic_field=False)
    meta.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
    meta.add_field("value", DataType.VARCHAR, max_length=VARCHAR_MAX)
    meta.add_field("_v", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    _create(client, n["meta"], meta, _placeholder_index(client))
    # the manifest last: a meta collection with a manifest is the mark of a complete index
    client.upsert(n["meta"], [{"key": "generation", "value": "0", "_v": PLACEHOLDER},
                              {"key": "manifest", "value": json.dumps(manifest), "_v": PLACEHOLDER}])
    client.flush(n["meta"])


def _create(client, name: str, schema, index_params) -> None:
    # index_params given to create_collection make pymilvus poll each index build in 0.5 s sleeps (seconds per
    # index for an empty collection): ask for the indexes without waiting, then load
    client.create_collection(name, schema=schema, consistency_level="Strong")
    client.create_index(name, index_params, sync=False)
    client.load_collection(name)


def _placeholder_index(client):
    idx = client.prepare_index_params()
    idx.add_index("_v", index_type="FLAT", metric_type="L2")
    return idx


__all__ = ["KEYWORD_FIELDS", "MAX_TOPK", "PLACEHOLDER", "TEXT_PART", "create_collections", "filter_expr",
           "keyword_query", "keyword_text", "literal", "literal_list", "names"]
