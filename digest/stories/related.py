"""Related stories: each story's nearest other stories by meaning (pure, no I/O).

A reader who finds a story told from one side can reach the likely same event that the
clustering kept apart, and the neighbouring stories on the same subject. Nearness is the
cosine of the stories' centroid vectors (the mean of their reports' centred embeddings).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

__all__ = ["RELATED", "RELATED_FLOOR", "merge_related", "nearest_stories"]

# Stories listed per story page.
RELATED = 3
# Below this centred cosine two stories are not related enough to show (unrelated news
# scores about 0.0-0.3 on multilingual-e5 once centred; reports of one event 0.4-0.8).
RELATED_FLOOR = 0.45
_BLOCK = 1024


def nearest_stories(
    ids: Sequence[str],
    matrix: np.ndarray,
    wanted: Collection[str] | None = None,
    *,
    k: int = RELATED,
    floor: float = RELATED_FLOOR,
) -> dict[str, list[tuple[str, float]]]:
    """For each wanted story (default: all), its k nearest others with their cosines."""
    position = {sid: n for n, sid in enumerate(ids)}
    rows = [position[s] for s in sorted(wanted if wanted is not None else ids) if s in position]
    out: dict[str, list[tuple[str, float]]] = {}
    if not rows or matrix.shape[0] < 2:
        return {ids[r]: [] for r in rows}
    for start in range(0, len(rows), _BLOCK):
        block = rows[start : start + _BLOCK]
        sims = matrix[block] @ matrix.T
        sims[np.arange(len(block)), block] = -np.inf
        for r, row in zip(block, sims, strict=True):
            top = np.argsort(-row, kind="stable")[:k]
            out[ids[r]] = [(ids[int(c)], float(row[c])) for c in top if row[c] >= floor]
    return out


def merge_related(
    stored: Mapping[str, Sequence[tuple[str, float]]],
    fresh: Mapping[str, Sequence[tuple[str, float]]],
    gone: Collection[str] = (),
    *,
    k: int = RELATED,
) -> dict[str, list[tuple[str, float]]]:
    """Stored lists updated with fresh ones: a fresh story also enters its neighbours' lists
    when it is nearer than their weakest; stories gone from the window drop out."""
    out = {sid: [p for p in pairs if p[0] not in gone] for sid, pairs in stored.items()}
    out.update({sid: list(pairs) for sid, pairs in fresh.items()})
    for sid, pairs in fresh.items():
        for other, sim in pairs:
            if other in fresh:
                continue
            mine = [p for p in out.get(other, []) if p[0] != sid]
            mine.append((sid, sim))
            mine.sort(key=lambda p: (-p[1], p[0]))
            out[other] = mine[:k]
    return {sid: pairs for sid, pairs in out.items() if sid not in gone}
