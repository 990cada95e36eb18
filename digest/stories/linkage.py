"""Stories: average-linkage agglomeration of TF-IDF cosine similarities (pure, no I/O).

Cosine similarity between nearby documents, a time penalty and a mild same-feed penalty,
then average-linkage agglomeration with a threshold.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from digest.collector import collector_off
from digest.stories.features import ClusterDoc, Features, doc_tokens, tfidf, utc_seconds

__all__ = [
    "COMMON_DF",
    "DEFAULT_MAX_GAP_DAYS",
    "DEFAULT_THRESHOLD",
    "SAME_FEED_FACTOR",
    "TIME_DISCOUNT",
    "cluster_stories",
    "drop_common_terms",
]

# Chosen on the SemEval-2022 Task 8 training pairs (overall <= 1.5 same story, >= 3 not):
# at 0.2, en-en precision 0.86 / recall 0.89 (37 pairs joined, 32 right, of 36 same-story
# pairs) and zh-zh precision 1.00 / recall 0.81; with texts cut to 300 characters (closer to
# title + summary) en-en 0.84 / 0.72, zh-zh 1.00 / 0.81. Lower values gain recall quickly
# but merge neighbouring stories on a topical window; higher ones split wire rewrites.
DEFAULT_THRESHOLD = 0.2
DEFAULT_MAX_GAP_DAYS = 4.0

# At the full gap a pair keeps (1 - TIME_DISCOUNT) of its similarity: gentle, because
# follow-up reports a day or two later are the normal case.
TIME_DISCOUNT = 0.25
# One outlet rarely reports one event twice within days, but updates and corrections happen:
# discount, never forbid.
SAME_FEED_FACTOR = 0.85
# Neighbours kept per document: bounds memory and time when many documents look alike. A
# story with more reports than this in one window may come out in pieces (measured: 3,000
# copies of one text give groups of 128-160).
TOP_K = 100
# Documents per block of the sparse similarity product: bounds the size of one block.
CHUNK = 512
# Terms found in more than this many documents of one window are left out of the similarity
# product: its cost grows with the sum of squared document frequencies, so common terms would
# make it quadratic in the window size. Vectors keep their full norm, so a similarity only
# loses those terms' (low-IDF) share. Windows of up to this many documents (a week of a few
# dozen feeds) are not affected at all.
COMMON_DF = 500


def _edges(
    matrix: object,
    seconds: np.ndarray,
    feeds: Sequence[frozenset[str]],
    floor: float,
    max_gap: float,
) -> dict[tuple[int, int], float]:
    """Penalised similarities >= floor between documents i < j, at most TOP_K per document."""
    import scipy.sparse as sp

    x = drop_common_terms(sp.csr_matrix(matrix))
    n = x.shape[0]
    xt = x.T.tocsc()
    seconds = np.asarray(seconds, dtype=np.float64)
    # Most documents come from one feed: compare feed codes, and sets only for the rest.
    feed_index: dict[str, int] = {}
    code = np.full(n, -1, dtype=np.int64)
    multi: dict[int, frozenset[str]] = {}
    for i, ids in enumerate(feeds):
        if len(ids) == 1:
            code[i] = feed_index.setdefault(next(iter(ids)), len(feed_index))
        elif ids:
            multi[i] = ids
            code[i] = -2 - i  # never equal to another document's code
    edges: dict[tuple[int, int], float] = {}
    # Rows in time order, so each block is compared only with the documents within max_gap
    # of it: a window spread over many days costs in proportion to its length, not squared.
    order = np.lexsort((np.arange(n), seconds))
    when = seconds[order]
    for start in range(0, n, CHUNK):
        rows_ = order[start : start + CHUNK]
        first = int(np.searchsorted(when, when[start : start + CHUNK].min() - max_gap, "left"))
        last = int(np.searchsorted(when, when[start : start + CHUNK].max() + max_gap, "right"))
        span = order[first:last]
        block = (x[rows_] @ xt[:, span]).tocsr()
        for row in range(block.shape[0]):
            i = int(rows_[row])
            lo, hi = block.indptr[row], block.indptr[row + 1]
            cols = span[block.indices[lo:hi]]
            sims = block.data[lo:hi]
            keep = (cols != i) & (sims >= floor)
            cols, sims = cols[keep], sims[keep]
            if cols.size == 0:
                continue
            gap = np.abs(seconds[cols] - seconds[i])
            near = gap <= max_gap
            cols, sims, gap = cols[near], sims[near], gap[near]
            if max_gap > 0 and math.isfinite(max_gap):
                sims = sims * (1.0 - TIME_DISCOUNT * gap / max_gap)
            same = code[cols] == code[i]
            if multi:
                # Pairs where either side came from several feeds: compare the sets.
                check = np.ones(cols.size, bool) if i in multi else code[cols] < -1
                for pos in np.flatnonzero(check).tolist():
                    same[pos] = bool(feeds[i] & feeds[int(cols[pos])])
            sims = np.where(same, sims * SAME_FEED_FACTOR, sims)
            keep = sims >= floor
            cols, sims = cols[keep], sims[keep]
            if cols.size > TOP_K:
                # Sorting on (-similarity, column) keeps the choice deterministic.
                order = np.lexsort((cols, -sims))[:TOP_K]
                cols, sims = cols[order], sims[order]
            for j, s in zip(cols.tolist(), sims.tolist(), strict=True):
                key = (i, j) if i < j else (j, i)
                edges[key] = max(edges.get(key, 0.0), s)
    return edges


def drop_common_terms(x: Any) -> Any:
    """The matrix without terms in more than COMMON_DF documents (cost control, see there)."""
    import scipy.sparse as sp

    m = sp.csc_matrix(x)
    df = np.diff(m.indptr)
    common = df > COMMON_DF
    if not common.any():
        return sp.csr_matrix(m)
    return sp.csr_matrix(m[:, np.flatnonzero(~common)])


def _average_linkage(
    n: int,
    edges: Mapping[tuple[int, int], float],
    seconds: np.ndarray,
    threshold: float,
    max_gap: float,
) -> list[list[int]]:
    """Merge the closest pair of clusters while their mean pairwise similarity >= threshold.

    Missing pairs count as 0. A merge whose time span would exceed max_gap is refused, so no
    two documents of one story are further apart than that.
    """
    size = [1] * n
    tmin = [float(s) for s in seconds]
    tmax = list(tmin)
    members: list[list[int]] = [[i] for i in range(n)]
    links: list[dict[int, float]] = [{} for _ in range(n)]
    for (i, j), s in sorted(edges.items()):
        links[i][j] = s
        links[j][i] = s
    alive = [True] * n
    heap: list[tuple[float, int, int]] = []
    for (i, j), s in sorted(edges.items()):
        if s >= threshold:
            heap.append((-s, i, j))
    heapq.heapify(heap)
    while heap:
        _, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]):
            continue
        if max(tmax[a], tmax[b]) - min(tmin[a], tmin[b]) > max_gap:
            continue
        c = len(size)
        alive[a] = alive[b] = False
        alive.append(True)
        size.append(size[a] + size[b])
        tmin.append(min(tmin[a], tmin[b]))
        tmax.append(max(tmax[a], tmax[b]))
        members.append(members[a] + members[b])
        merged: dict[int, float] = {}
        for source in (links[a], links[b]):
            for other, total in source.items():
                if other not in (a, b):
                    merged[other] = merged.get(other, 0.0) + total
        links.append(merged)
        links[a] = links[b] = {}
        members[a] = members[b] = []
        for other in sorted(merged):
            neighbour = links[other]
            neighbour.pop(a, None)
            neighbour.pop(b, None)
            neighbour[c] = merged[other]
            mean = merged[other] / (size[c] * size[other])
            if mean >= threshold:
                heapq.heappush(heap, (-mean, other, c))
    return [members[k] for k in range(len(size)) if alive[k]]


def cluster_stories(
    docs: Sequence[ClusterDoc],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    max_gap_days: float = DEFAULT_MAX_GAP_DAYS,
    features: Features | None = None,
) -> list[list[str]]:
    """Group docs reporting one event: TF-IDF cosine, time penalty, deterministic.

    Word tokens for spaced scripts and character 1-3-grams for CJK-like text; pairs further
    apart than max_gap_days never share a group, closer ones are discounted gently.
    Every doc id appears in exactly one group. Within a group ids are ordered by
    (published, id), oldest first; groups are ordered by their first doc the same way.
    `features`: tokens already known for some docs (saves tokenising them again).
    Raises ValueError on duplicate ids.
    """
    with collector_off():
        return _cluster_stories(docs, threshold, max_gap_days, features)


def _cluster_stories(
    docs: Sequence[ClusterDoc], threshold: float, max_gap_days: float, features: Features | None
) -> list[list[str]]:
    ordered = sorted(docs, key=lambda d: d.id)
    for prev, cur in pairwise(ordered):
        if prev.id == cur.id:
            raise ValueError(f"duplicate document id: {cur.id!r}")
    if math.isnan(max_gap_days) or math.isnan(threshold):
        raise ValueError("threshold and max_gap_days must be numbers")
    max_gap = max(0.0, float(max_gap_days)) * 86400.0

    # Documents in spaced and unspaced scripts share no features, so each family gets its
    # own vectorizer: IDF then reflects only the documents that could ever match (and a
    # long English window does not flatten the weights of the few Chinese n-grams).
    families: dict[bool, list[ClusterDoc]] = {False: [], True: []}
    known = {doc.id: doc_tokens(doc, features) for doc in ordered}
    for doc in ordered:
        families[known[doc.id][0]].append(doc)

    groups: list[list[ClusterDoc]] = []
    for family in (False, True):
        members = families[family]
        if not members:
            continue
        tokens = [known[d.id][1] for d in members]
        seconds = np.array([utc_seconds(d.published) for d in members], dtype=np.float64)
        with_text = [k for k, t in enumerate(tokens) if t]
        index: list[list[int]] = [[k] for k, t in enumerate(tokens) if not t]
        if len(with_text) > 1:
            matrix = tfidf([tokens[k] for k in with_text])
            sub_seconds = seconds[with_text]
            feeds = [frozenset(members[k].feed_ids) for k in with_text]
            # Pairs far below the threshold barely move a mean: dropping them keeps it sparse.
            floor = threshold * 0.5
            edges = _edges(matrix, sub_seconds, feeds, floor, max_gap)
            for cluster in _average_linkage(len(with_text), edges, sub_seconds, threshold, max_gap):
                index.append([with_text[k] for k in cluster])
        else:
            index.extend([k] for k in with_text)
        groups.extend([members[k] for k in cluster] for cluster in index)

    def when(doc: ClusterDoc) -> tuple[float, str]:
        return (utc_seconds(doc.published), doc.id)

    sorted_groups = [sorted(g, key=when) for g in groups]
    sorted_groups.sort(key=lambda g: when(g[0]))
    return [[d.id for d in g] for g in sorted_groups]
