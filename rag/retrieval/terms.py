"""What the retriever reads from text: the checked query, its keyword terms, and how well a passage's best sentence
matches them (the re-scoring signal)."""

from __future__ import annotations

import functools
import re

import numpy as np

from ..errors import QueryError

MAX_QUERY_CHARS = 4000

_WORD = re.compile(r"\w+", re.UNICODE)
# Function words carry no topic: dropping them keeps BM25 from rewarding chunks for "the" and "what".
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves also according article articles report
    reported reports said says say""".split()
)


def check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the query is empty; type a question or some keywords")
    query = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in query).strip()
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(query):,} characters long; the limit is {MAX_QUERY_CHARS:,} — shorten it to the question itself"
        )
    if not query:
        raise QueryError("the query holds only control characters; type a question or some keywords")
    return query


def keyword_terms(query: str) -> list[str]:
    seen: dict[str, None] = {}
    for w in _WORD.findall(query.lower()):
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
            seen.setdefault(w, None)
    return list(seen)


_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n+")


@functools.lru_cache(maxsize=200_000)
def _stem(w: str) -> str:
    # crude, but symmetric for query and passage: enough to match "claims"/"claim", "reported"/"reports"
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def sentence_match(terms: list[str], texts: list[str]) -> list[float]:
    """For each passage, how much of the query's weighted vocabulary its best sentence holds, in [0, 1].

    Questions about news are usually paraphrases of one sentence; a passage whose single sentence carries most
    of the rare query words is a better hit than one that scatters them. IDF is computed over the candidates.
    """
    q = {_stem(t) for t in terms}
    if not q or not texts:
        return [0.0] * len(texts)
    sent_sets = [[{_stem(w) for w in _WORD.findall(s.lower())} for s in _SENT_SPLIT.split(t) if s.strip()]
                 for t in texts]
    n = len(texts)
    df = {t: sum(1 for sents in sent_sets if any(t in s for s in sents)) for t in q}
    idf = {t: np.log(1.0 + n / (df[t] + 0.5)) for t in q}
    total = sum(idf.values()) or 1.0
    out = []
    for sents in sent_sets:
        best = max((sum(idf[t] for t in q if t in s) for s in sents), default=0.0)
        out.append(best / total)
    return out
