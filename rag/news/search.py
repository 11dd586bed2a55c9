"""`Index.quotes(...)` / `rag quotes`: the stored quotes, filtered by speaker, outlet and date, ranked by a query.

Quotes are extracted at index time (rag.quotes) and stored beside the chunks. An index built before quotes existed
still answers: articles without stored quotes are read on the fly (and stored by the next `rag index`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UserError
from ..retrieval.filters import check
from ..schema import Article
from .quotes import QUOTES_VERSION, Quote, extract_quotes

_SPEAKER_STOP = frozenset("mr mrs ms miss dr prof sir dame lord lady the of".split())


@dataclass(frozen=True)
class QuoteHit:
    """A quote with its article; `quote == article.text[start:end]`."""

    quote: Quote
    article: Article
    score: float = 0.0

    @property
    def attribution(self) -> str:
        return self.article.text[self.quote.attr_start:self.quote.attr_end]

    def to_json(self) -> dict:
        q, a = self.quote, self.article
        return {"speaker": q.speaker, "role": q.role, "organisation": q.organisation, "quote": q.quote,
                "article_id": a.id, "title": a.title, "source": a.source, "published_at": a.published_at,
                "url": a.url, "start": q.start, "end": q.end, "kind": q.kind, "verb": q.verb,
                "addressee": q.addressee, "attribution": {"text": self.attribution, "start": q.attr_start,
                                                          "end": q.attr_end}}


def speaker_terms(name: str) -> list[str]:
    from ..answering.citations import terms   # imported here: rag.answering imports this module

    return [t for t in terms(name) if t not in _SPEAKER_STOP]


def speaker_matches(q: Quote, wanted: str) -> bool:
    """'Mitov', 'Daniel Mitov' and 'Mr Mitov' name Daniel Mitov; 'Bulgaria' names the officials whose role or
    organisation says Bulgaria/Bulgarian; 'the Home Office' names that body."""
    from ..answering.citations import terms_match

    want = speaker_terms(wanted)
    if not want:
        return False
    name = speaker_terms(q.speaker)
    if all(any(terms_match(w, n) for n in name) for w in want):
        return True
    about = speaker_terms(f"{q.role} {q.organisation}")
    return all(any(terms_match(w, n) or (len(w) >= 5 and n.startswith(w[:5])) for n in about) for w in want)


def _quote_from_row(r) -> Quote:
    return Quote(r["speaker"], r["role"], r["organisation"], "", r["start"], r["end"], r["attr_start"],
                 r["attr_end"], r["kind"], r["verb"], r["addressee"], r["role_start"], r["role_end"])


def load_quotes(store, article_ids: Sequence[str] | None = None) -> list[tuple[Quote, Article]]:
    """Quotes of these articles (or all) in `store`, stored ones read back, missing ones extracted now."""
    rows = store.quote_rows(article_ids)
    unscanned = set(store.quote_unscanned(QUOTES_VERSION))
    wanted = set(article_ids) if article_ids is not None else None
    ids = {r["article_id"] for r in rows or ()} | (unscanned if wanted is None else unscanned & wanted)
    arts = store.get_articles(sorted(ids))
    out: list[tuple[Quote, Article]] = []
    for r in rows or ():
        a = arts.get(r["article_id"])
        if a is not None and r["article_id"] not in unscanned:
            q = _quote_from_row(r)
            out.append((Quote(**{**q.__dict__, "quote": a.text[q.start:q.end]}), a))
    for aid in sorted(ids & unscanned):
        if aid in arts:
            out.extend((q, arts[aid]) for q in extract_quotes(arts[aid].text))
    return out


def rank(pairs: list[tuple[Quote, Article]], query: str) -> list[tuple[float, Quote, Article]]:
    """IDF-weighted share of the query's terms found in each quote (with its speaker, role and attribution)."""
    from ..answering.citations import terms

    want = list(dict.fromkeys(terms(query)))
    if not want:
        return [(0.0, q, a) for q, a in pairs]
    bags = [frozenset(terms(f"{q.quote} {q.speaker} {q.role} {q.organisation} {a.text[q.attr_start:q.attr_end]}"))
            for q, a in pairs]
    n = len(bags)
    idf = {t: math.log(1 + (n + 1) / (sum(1 for b in bags if _has(b, t)) + 0.5)) for t in want}
    total = sum(idf.values()) or 1.0
    scored = [(sum(idf[t] for t in want if _has(b, t)) / total, q, a) for b, (q, a) in zip(bags, pairs)]
    return [s for s in scored if s[0] > 0]


def _has(bag: frozenset[str], t: str) -> bool:
    from ..answering.citations import terms_match

    return t in bag or any(terms_match(t, b) for b in bag if b[:3] == t[:3])


def find_quotes(store, query: str | None = None, *, speaker: str | None = None, sources=None, since=None,
                until=None, as_of=None, include_undated: bool = False, limit: int = 50) -> list[QuoteHit]:
    if limit < 1:
        raise UserError("limit must be at least 1")
    known = [s for s, _ in store.sources()] if sources is not None else []
    f = check(sources, since, until, known, as_of=as_of, include_undated=include_undated)
    pairs = load_quotes(store)
    keep = []
    for q, a in pairs:
        if f.sources and a.source not in f.sources:
            continue
        day = a.published_at[:10]
        if (f.date_from or f.date_to) and not day and not f.include_undated:
            continue
        if day and ((f.date_from and day < f.date_from) or (f.date_to and day > f.date_to)):
            continue
        if speaker and not speaker_matches(q, speaker):
            continue
        keep.append((q, a))
    scored = rank(keep, query) if query and query.strip() else [(0.0, q, a) for q, a in keep]
    scored.sort(key=lambda s: (-s[0], _neg_date(s[2].published_at), s[2].id, s[1].start))
    return [QuoteHit(q, a, round(s, 4)) for s, q, a in scored[:limit]]


def _neg_date(iso: str) -> str:
    # newest first among equal scores; undated last
    return "".join(chr(0x10FFFF - ord(c)) for c in iso) if iso else "\U0010ffff"


__all__ = ["QuoteHit", "find_quotes", "load_quotes", "rank", "speaker_matches", "speaker_terms"]
