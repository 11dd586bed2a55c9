"""Fusing rankings: weighted reciprocal rank (each ranking contributes weight / (k + rank) to a chunk)."""

from __future__ import annotations


def rrf(rankings: list[tuple[list[int], float]], k: float) -> dict[int, float]:
    """Weighted reciprocal-rank fusion: sum over rankings of weight / (k + rank), rank from 1."""
    scores: dict[int, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, cid in enumerate(ids, 1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    return scores


def ranked(scores: dict[int, float]) -> list[tuple[int, float]]:
    """Best first; ties by chunk id, so a ranking is reproducible."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
