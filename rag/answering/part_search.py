"""A second look for the part of a question whose names the retrieved passages lack.

A multi-part question ("Did CBSSports.com credit Jonathan Smith with ..., and did The New York Times describe the
Jets' offense ...?") needs one article per part, and the top passages for the whole question often hold only
some of them. The evidence check refuses when a name the question uses is missing from the passages; before
that, each missing name is searched for again with the clause of the question around it, and a passage is added
when one of its sentences holds the name and covers that clause. A question about something the articles never
mention still finds nothing: either no passage holds the name, or none speaks to what the question says about it.
Calibrated on MultiHop-RAG dev questions (bench/results/session4_answers.md): with PART_COVERAGE 0.4, 3 of 142
unanswerable dev questions with a missing name gain a passage that holds it, and 3 of 9 refused answerable ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from .citations import Passage, Pool, passages_from_hits, query_weights, terms
from .evidence_check import question_names

PART_K = 5              # passages fetched per missing name
MAX_PARTS = 3           # missing names searched for, at most (each search costs ~0.1 s)
PART_COVERAGE = 0.4     # share of the clause's weighted terms the sentence holding the name must cover
CLAUSE_WORDS = 6        # words of the question either side of the name that make up its clause


def clause(question: str, name: frozenset[str]) -> str:
    """The words of the question around a name: what the question says about it."""
    words = question.split()
    at = [i for i, w in enumerate(words) if set(terms(w)) & name]
    if not at:
        return question
    return " ".join(words[max(0, min(at) - CLAUSE_WORDS):max(at) + CLAUSE_WORDS + 1])


def complete(pool: Pool, question: str, search: Callable[[str, int], Sequence] | None,
             outlet_words: frozenset[str] = frozenset()) -> Pool:
    """`pool` plus the passages found for the names it lacks (numbered after its own), or `pool` itself."""
    if search is None or not pool.passages:
        return pool
    missing = [n for n in question_names(question, outlet_words) if not all(pool.matches(t) for t in n)]
    if not missing:
        return pool
    have = {c[0] for p in pool.passages for c in p.chunks}
    added: list[Passage] = []
    for name in missing[:MAX_PARTS]:
        part = clause(question, name)
        hits = [h for h in search(part, PART_K) if h.chunk_id not in have]
        if not hits:
            continue
        found = Pool(passages_from_hits(hits))
        weights = query_weights(part)
        keep = sorted({u.passage for u in found.units
                       if all(found.has(u.scope, t) for t in name) and found.coverage(weights, u.scope) >= PART_COVERAGE})
        for i in keep:
            p = found.passages[i]
            added.append(p)
            have.update(c[0] for c in p.chunks)
    if not added:
        return pool
    n0 = max(p.n for p in pool.passages)
    return Pool([*pool.passages, *(replace(p, n=n0 + j) for j, p in enumerate(added, 1))])


__all__ = ["complete", "clause", "PART_COVERAGE"]
