"""The quotes table of the embedded store: who said what (rag.news.quotes), kept beside the chunks.

Rows are written by the same `Writer` transaction as the article's chunks and deleted with the article, so quotes
share the store's crash safety. `quote_scans` records, per article, the extractor version and the article's
content hash it read: an index built before quotes existed (or changed by a version that knew no quotes) lists
those articles in `unscanned`, and the next `rag index` fills them in (text only, no embedding).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from ..schema import Article

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS quotes (article_id TEXT NOT NULL, speaker TEXT NOT NULL, role TEXT NOT NULL,
    organisation TEXT NOT NULL, kind TEXT NOT NULL, verb TEXT NOT NULL, addressee TEXT NOT NULL, start INTEGER NOT NULL,
    "end" INTEGER NOT NULL, attr_start INTEGER NOT NULL, attr_end INTEGER NOT NULL, role_start INTEGER NOT NULL,
    role_end INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS quotes_article ON quotes(article_id)",
    "CREATE TABLE IF NOT EXISTS quote_scans (article_id TEXT PRIMARY KEY, version INTEGER NOT NULL, "
    "content_hash TEXT NOT NULL)",
)
SCHEMA_SQL = ";\n".join(SCHEMA) + ";\n"


def ensure(conn: sqlite3.Connection) -> None:
    """Create the tables inside the caller's open transaction (an older index gains them on its next write)."""
    for stmt in SCHEMA:
        conn.execute(stmt)


def delete(conn: sqlite3.Connection, article_id: str) -> None:
    conn.execute("DELETE FROM quotes WHERE article_id=?", (article_id,))
    conn.execute("DELETE FROM quote_scans WHERE article_id=?", (article_id,))


def put(conn: sqlite3.Connection, article: Article, quotes: Sequence, version: int) -> None:
    """Replace the quotes of an article (rag.news.quotes.Quote objects) and record what was read."""
    conn.execute("DELETE FROM quotes WHERE article_id=?", (article.id,))
    conn.executemany(
        "INSERT INTO quotes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(article.id, q.speaker, q.role, q.organisation, q.kind, q.verb, q.addressee, q.start, q.end,
          q.attr_start, q.attr_end, q.role_start, q.role_end) for q in quotes])
    conn.execute("INSERT OR REPLACE INTO quote_scans VALUES (?,?,?)", (article.id, version, article.content_hash))


def rows(conn: sqlite3.Connection, article_ids: Iterable[str] | None = None) -> list[sqlite3.Row] | None:
    """Stored quotes (of these articles, or all); None when the index has no quote table yet."""
    sql, args = "SELECT q.* FROM quotes q", []
    if article_ids is not None:
        args = list(dict.fromkeys(article_ids))
        sql += f" WHERE q.article_id IN ({','.join('?' * len(args))})"
    try:
        return conn.execute(sql + " ORDER BY q.article_id, q.start", args).fetchall()
    except sqlite3.OperationalError:
        return None


def unscanned(conn: sqlite3.Connection, version: int) -> list[str]:
    """Articles whose quotes were never read, or by another extractor version, or from other text."""
    try:
        return [r[0] for r in conn.execute(
            "SELECT a.id FROM articles a LEFT JOIN quote_scans s ON s.article_id = a.id"
            " WHERE s.version IS NULL OR s.version != ? OR s.content_hash != a.content_hash", (version,))]
    except sqlite3.OperationalError:
        return [r[0] for r in conn.execute("SELECT id FROM articles")]


__all__ = ["SCHEMA", "SCHEMA_SQL", "delete", "ensure", "put", "rows", "unscanned"]
