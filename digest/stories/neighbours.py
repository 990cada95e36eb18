"""Stories: nearest neighbours of a window's reports, by words and by embedding (pure, no I/O).

Both searches compare only reports within a time gap of each other and keep a bounded number
of neighbours per report, so a window costs about its length times its daily volume.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "CHUNK",
    "COMMON_DF",
    "EMB_FLOOR",
    "KTH_FLOOR",
    "LEX_FLOOR",
    "Neighbours",
    "drop_common_terms",
    "embedding_neighbours",
    "lexical_neighbours",
]

# Neighbours kept per document and per kind of candidate: bounds memory and time when many
# documents look alike. A story with more reports than this in one window may come out in
# pieces (measured: 3,000 copies of one text give groups of 128-160).
TOP_K = 100
# Documents per block of a similarity product: bounds the size of one block.
CHUNK = 512
# Terms found in more than this many documents of one window are left out of the similarity
# product: its cost grows with the sum of squared document frequencies, so common terms would
# make it quadratic in the window size. Vectors keep their full norm, so a similarity only
# loses those terms' (low-IDF) share. Windows of up to this many documents (a week of a few
# dozen feeds) are not affected at all.
COMMON_DF = 500
# Below these a pair is not a candidate by that signal alone (it may still be by the other):
# a lexical cosine of 0.1 and a centred embedding cosine of 0.2 give probabilities below
# half the merge threshold when nothing else is shared (pairs.py: a cross-language pair
# needs about 0.35 to reach the threshold by itself, a same-language one without shared
# words about 0.6), so they could not move a story's mean.
LEX_FLOOR = 0.1
EMB_FLOOR = 0.2
# A report with fewer than k neighbours has its k-th neighbour cosine counted as this (the
# margin feature was fitted so: bench/cluster/pairmodel.py).
KTH_FLOOR = 0.2
# Up to this many vectors (a week of a few dozen feeds) neighbours are found exactly; beyond,
# through an inverted file of k-means cells, each cell searched with its IVF_PROBE nearest,
# so a large window costs about n^1.5 instead of n^2. The cells are made on vectors with
# each language's mean taken out: multilingual vectors cluster by language first, and cells
# of plain vectors found 12 of 72 same-story cross-language SemEval pairs at 8 probes (58 at
# 32); language-centred cells find 61 at 16 (exact search: 72).
EMB_EXACT_MAX = 8000
IVF_PROBE = 16
# Embedding neighbours kept per document: the margin needs the 10th; merges need far fewer.
TOP_K_EMB = 30
SEED = 0


def drop_common_terms(x: Any) -> Any:
    """The matrix without terms in more than COMMON_DF documents (cost control, see there)."""
    import scipy.sparse as sp

    m = sp.csc_matrix(x)
    df = np.diff(m.indptr)
    common = df > COMMON_DF
    if not common.any():
        return sp.csr_matrix(m)
    return sp.csr_matrix(m[:, np.flatnonzero(~common)])


def lexical_neighbours(
    x: Any, seconds: np.ndarray, max_gap: float, floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosines >= floor between rows i < j within max_gap, at most TOP_K per row: (i, j, s)."""
    n = x.shape[0]
    xt = x.T.tocsc()
    # Rows in time order, so each block is compared only with the documents within max_gap
    # of it: a window spread over many days costs in proportion to its length, not squared.
    order = np.lexsort((np.arange(n), seconds))
    when = seconds[order]
    found_i, found_j, found_s, found_at = [], [], [], []
    for start in range(0, n, CHUNK):
        rows = order[start : start + CHUNK]
        first = int(np.searchsorted(when, when[start : start + CHUNK].min() - max_gap, "left"))
        last = int(np.searchsorted(when, when[start : start + CHUNK].max() + max_gap, "right"))
        span = order[first:last]
        block = (x[rows] @ xt[:, span]).tocsr()
        # The whole block at once (a loop over its rows cost more than the product itself).
        at = np.repeat(np.arange(rows.size), np.diff(block.indptr))
        i = rows[at]
        cols = span[block.indices]
        sims = block.data
        keep = (cols != i) & (sims >= floor) & (np.abs(seconds[cols] - seconds[i]) <= max_gap)
        at, i, cols, sims = at[keep], i[keep], cols[keep], sims[keep]
        # Each row's TOP_K best, ties broken by column (deterministic).
        best = np.lexsort((cols, -sims, at))
        at, i, cols, sims = at[best], i[best], cols[best], sims[best]
        rank = np.arange(at.size) - np.searchsorted(at, at, "left")
        keep = rank < TOP_K
        found_i.append(i[keep])
        found_j.append(cols[keep])
        found_s.append(sims[keep])
        found_at.append(at[keep] + start)
    if not found_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    sims, at = np.concatenate(found_s), np.concatenate(found_at)
    keys = np.minimum(i, j) * n + np.maximum(i, j)
    # A pair found from both of its rows keeps the value of the row compared last.
    latest = np.lexsort((-at, keys))
    keys, sims = keys[latest], sims[latest]
    unique = np.ones(keys.size, dtype=bool)
    unique[1:] = keys[1:] != keys[:-1]
    keys, sims = keys[unique], sims[unique]
    return keys // n, keys % n, sims.astype(np.float64)


def _language_centred(vectors: np.ndarray, langs: np.ndarray | None) -> np.ndarray:
    """The vectors with each language's mean taken out (languages of 5+ vectors), renormalised."""
    if langs is None:
        return vectors
    out = vectors.astype(np.float32, copy=True)
    for lang in np.unique(langs):
        mine = langs == lang
        if mine.sum() >= 5:
            out[mine] -= out[mine].mean(axis=0)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def _cells(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k-means cells of the vectors (k about sqrt(n)): (cell of each vector, centroids)."""
    n = vectors.shape[0]
    k = max(2, int(math.sqrt(n)))
    rng = np.random.RandomState(SEED)
    sample = vectors[rng.choice(n, size=min(n, 20 * k), replace=False)]
    centroids = sample[rng.choice(sample.shape[0], size=k, replace=False)].copy()
    for _ in range(5):
        assign = np.argmax(sample @ centroids.T, axis=1)
        for c in range(k):
            members = sample[assign == c]
            if len(members):
                mean = members.sum(axis=0)
                centroids[c] = mean / max(float(np.linalg.norm(mean)), 1e-9)
    return np.argmax(vectors @ centroids.T, axis=1), centroids


class Neighbours:
    """Embedding neighbours as arrays: pairs (i < j) with their cosines, and each document's
    k-th nearest cosine (the floor when it has fewer neighbours)."""

    def __init__(self, i: np.ndarray, j: np.ndarray, sims: np.ndarray, kth: np.ndarray) -> None:
        self.i, self.j, self.sims, self.kth = i, j, sims, kth


def embedding_neighbours(
    vectors: np.ndarray,
    seconds: np.ndarray,
    max_gap: float,
    floor: float,
    k: int,
    langs: np.ndarray | None = None,
) -> Neighbours:
    """Cosines >= floor between documents within max_gap, at most TOP_K_EMB per document.

    `langs` (a code per document) lets the approximate search of a large window cell the
    vectors by meaning rather than by language."""
    n = vectors.shape[0]
    kth = np.full(n, KTH_FLOOR, dtype=np.float64)
    empty = np.zeros(0, dtype=np.int64)
    if n < 2:
        return Neighbours(empty, empty, np.zeros(0), kth)
    if n <= EMB_EXACT_MAX:
        groups = [(np.arange(n), np.arange(n))]
    else:
        cell, centroids = _cells(_language_centred(vectors, langs))
        near = np.argsort(-(centroids @ centroids.T), axis=1)[:, :IVF_PROBE]
        members = [np.flatnonzero(cell == c) for c in range(centroids.shape[0])]
        groups = [
            (members[c], np.concatenate([members[d] for d in near[c]]))
            for c in range(centroids.shape[0])
            if members[c].size
        ]
    top = min(TOP_K_EMB, n - 1)
    found_i, found_j, found_s = [], [], []
    for rows_all, cols_all in groups:
        for start in range(0, rows_all.size, CHUNK):
            rows = rows_all[start : start + CHUNK]
            sims = vectors[rows] @ vectors[cols_all].T
            invalid = np.abs(seconds[rows][:, None] - seconds[cols_all][None, :]) > max_gap
            invalid |= rows[:, None] == cols_all[None, :]
            sims[invalid] = -np.inf
            width = min(top, cols_all.size)
            if width < cols_all.size:
                pick = np.argpartition(-sims, width - 1, axis=1)[:, :width]
            else:
                pick = np.broadcast_to(np.arange(cols_all.size), sims.shape)
            picked = np.take_along_axis(sims, pick, axis=1)
            # Each row's picks best first, ties by column: deterministic.
            order = np.lexsort((cols_all[pick], -picked), axis=1)
            pick = np.take_along_axis(pick, order, axis=1)
            picked = np.take_along_axis(picked, order, axis=1)
            if k <= width:
                kth[rows] = np.maximum(picked[:, k - 1], KTH_FLOOR)
            keep = picked >= floor
            found_i.append(np.repeat(rows, keep.sum(axis=1)))
            found_j.append(cols_all[pick][keep])
            found_s.append(picked[keep])
    i = np.concatenate(found_i) if found_i else empty
    j = np.concatenate(found_j) if found_j else empty
    sims_all = np.concatenate(found_s) if found_s else np.zeros(0)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keys, first = np.unique(lo * n + hi, return_index=True)
    return Neighbours(keys // n, keys % n, sims_all[first].astype(np.float64), kth)
