"""Stories: average-linkage agglomeration of same-story probabilities (pure, no I/O).

Candidate pairs come from two places: reports sharing words (a sparse TF-IDF product) and
reports close in the multilingual embedding space (nearest neighbours), both limited to
reports within DEFAULT_MAX_GAP_DAYS of each other. Each candidate pair gets a probability of
reporting one event (pairs.py: words, vectors, shared rare names; then a time and a same-feed
discount), and clusters merge, closest first, while the mean probability over all their cross
pairs reaches the model's threshold (pairs never scored count as 0).
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
from digest.stories.neighbours import (
    EMB_FLOOR,
    KTH_FLOOR,
    LEX_FLOOR,
    Neighbours,
    drop_common_terms,
    embedding_neighbours,
    lexical_neighbours,
)
from digest.stories.pairs import SAME_FEED_FACTOR, TIME_DISCOUNT, PairModel, pair_model

__all__ = [
    "DEFAULT_MAX_GAP_DAYS",
    "SAME_FEED_FACTOR",
    "TIME_DISCOUNT",
    "PairFeatures",
    "cluster_stories",
    "feed_codes",
    "neighbour_kth",
    "pair_probabilities",
]

# No two reports of one story are further apart than this.
DEFAULT_MAX_GAP_DAYS = 4.0


def feed_codes(feeds: Sequence[Sequence[str]]) -> tuple[np.ndarray, dict[int, frozenset[str]]]:
    """A code per document for same-feed tests: its feed's number, or a unique negative
    number for a document from several feeds (those are compared as sets)."""
    index: dict[str, int] = {}
    code = np.full(len(feeds), -1, dtype=np.int64)
    multi: dict[int, frozenset[str]] = {}
    for i, ids in enumerate(feeds):
        if len(ids) == 1:
            code[i] = index.setdefault(ids[0], len(index))
        else:
            code[i] = -2 - i  # never equal to another document's code
            if ids:
                multi[i] = frozenset(ids)
    return code, multi


class PairFeatures:
    """Per-document arrays the pair probability reads, for documents numbered 0..n-1."""

    def __init__(self, docs: Sequence[ClusterDoc], dim: int) -> None:
        n = len(docs)
        self.seconds = np.array([utc_seconds(d.published) for d in docs], dtype=np.float64)
        self.feeds: list[frozenset[str]] = [frozenset(d.feed_ids) for d in docs]
        self.code, self.multi = feed_codes([d.feed_ids for d in docs])
        langs: dict[str, int] = {}
        self.lang = np.array([langs.setdefault(d.language, len(langs)) for d in docs], np.int64)
        self.names = [d.names for d in docs]
        self.has_vector = np.array([d.vector is not None for d in docs], dtype=bool)
        self.kth = np.full(n, KTH_FLOOR, dtype=np.float64)  # set from the neighbour search
        self.vectors = np.zeros((n, dim), dtype=np.float32)
        for i, d in enumerate(docs):
            if d.vector is not None:
                self.vectors[i] = d.vector

    def same_feed(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Do documents i and j (arrays) share a feed?"""
        same = self.code[i] == self.code[j]
        if self.multi:
            for k in np.flatnonzero((self.code[i] < -1) | (self.code[j] < -1)).tolist():
                same[k] = bool(self.feeds[int(i[k])] & self.feeds[int(j[k])])
        return same

    def shared_names(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """1 where the two headlines share a rare name, else 0."""
        count: dict[str, int] = {}
        for names in self.names:
            for name in names:
                count[name] = count.get(name, 0) + 1
        # A "name" in hundreds of reports says little. Only the given pairs are looked at:
        # listing every pair sharing a name would cost its number of reports squared.
        rare = frozenset(name for name, c in count.items() if 1 < c <= 200)
        out = np.zeros(i.size, dtype=np.float64)
        if not rare:
            return out
        kept = [names & rare for names in self.names]
        has = np.array([bool(k) for k in kept], dtype=bool)
        for k in np.flatnonzero(has[i] & has[j]).tolist():
            if kept[int(i[k])] & kept[int(j[k])]:
                out[k] = 1.0
        return out


def pair_probabilities(
    model: PairModel,
    lex: np.ndarray,
    emb: np.ndarray,
    has_vectors: np.ndarray,
    names: np.ndarray,
    same_language: np.ndarray,
    margin: np.ndarray,
    gap: np.ndarray,
    same_feed: np.ndarray,
    max_gap: float,
) -> np.ndarray:
    """The model's probabilities, discounted for time apart and for one shared feed."""
    p = model.probability(lex, emb, has_vectors, names, same_language, margin)
    if max_gap > 0 and math.isfinite(max_gap):
        p = p * (1.0 - TIME_DISCOUNT * np.minimum(gap, max_gap) / max_gap)
    return np.where(same_feed, p * SAME_FEED_FACTOR, p)


def _average_linkage(
    n: int,
    edges: Mapping[tuple[int, int], float],
    seconds: np.ndarray,
    threshold: float,
    max_gap: float,
) -> list[list[int]]:
    """Merge the closest pair of clusters while their mean pairwise score >= threshold.

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
    threshold: float | None = None,
    max_gap_days: float = DEFAULT_MAX_GAP_DAYS,
    features: Features | None = None,
    model: PairModel | None = None,
    kth: dict[str, float] | None = None,
) -> list[list[str]]:
    """Group docs reporting one event: pair probabilities, average linkage, deterministic.

    Pairs further apart than max_gap_days never share a group. `threshold`: the mean pair
    probability a merge needs (default: the model's). Every doc id appears in exactly one
    group. Within a group ids are ordered by (published, id), oldest first; groups are
    ordered by their first doc the same way. `features`: tokens already known for some docs
    (saves tokenising them again). `kth`, when given, receives each doc's k-th nearest
    neighbour cosine (what sketches keep for incremental runs). Raises ValueError on
    duplicate ids.
    """
    with collector_off():
        return _cluster_stories(docs, threshold, max_gap_days, features, model or pair_model(), kth)


def neighbour_kth(
    docs: Sequence[ClusterDoc],
    *,
    max_gap_days: float = DEFAULT_MAX_GAP_DAYS,
    model: PairModel | None = None,
) -> dict[str, float]:
    """Each doc's k-th nearest neighbour cosine among these docs (as cluster_stories sees it)."""
    k = (model or pair_model()).margin_k
    max_gap = max(0.0, float(max_gap_days)) * 86400.0
    dim = next((d.vector.shape[0] for d in docs if d.vector is not None), 0)
    pf = PairFeatures(docs, dim)
    _vector_neighbours(pf, max_gap, k)
    return {d.id: float(pf.kth[n]) for n, d in enumerate(docs)}


def _vector_neighbours(pf: PairFeatures, max_gap: float, k: int) -> tuple[np.ndarray, Neighbours]:
    """Embedding neighbours of the docs with a vector (positions among those), and each
    one's k-th nearest cosine set in pf.kth."""
    with_vector = np.flatnonzero(pf.has_vector)
    near = embedding_neighbours(
        pf.vectors[with_vector],
        pf.seconds[with_vector],
        max_gap,
        EMB_FLOOR,
        k,
        pf.lang[with_vector],
    )
    pf.kth[with_vector] = near.kth
    return with_vector, near


def _candidates(
    docs: Sequence[ClusterDoc],
    known: Mapping[str, tuple[bool, list[str]]],
    pf: PairFeatures,
    max_gap: float,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs (i < j) and their lexical cosine (0 across scripts or without words)."""
    import scipy.sparse as sp

    n = len(docs)
    family = np.array([known[d.id][0] for d in docs], dtype=bool)
    has_words = np.array([bool(known[d.id][1]) for d in docs], dtype=bool)
    lex_keys, lex_values = [np.zeros(0, np.int64)], [np.zeros(0)]
    rows: dict[bool, tuple[np.ndarray, Any]] = {}
    for flag in (False, True):
        idx = np.flatnonzero((family == flag) & has_words)
        if idx.size < 2:
            continue
        # Each script family gets its own IDF: it then reflects only documents that could
        # ever share a word (a long English window does not flatten the Chinese weights).
        x = drop_common_terms(tfidf([known[docs[int(d)].id][1] for d in idx]))
        rows[flag] = (idx, x)
        near_i, near_j, sims = lexical_neighbours(x, pf.seconds[idx], max_gap, LEX_FLOOR)
        a, b = idx[near_i], idx[near_j]
        lex_keys.append(np.minimum(a, b) * n + np.maximum(a, b))
        lex_values.append(sims)
    with_vector, near = _vector_neighbours(pf, max_gap, k)
    a, b = with_vector[near.i], with_vector[near.j]
    emb_keys = np.minimum(a, b) * n + np.maximum(a, b)
    keys_lex = np.concatenate(lex_keys)
    values_lex = np.concatenate(lex_values)
    keys = np.union1d(keys_lex, emb_keys)
    values = np.zeros(keys.size)
    values[np.searchsorted(keys, keys_lex)] = values_lex
    i, j = (keys // n, keys % n) if n else (keys, keys)
    # Neighbours by vector only, of one script family: their (small) word overlap, exactly.
    missing = ~np.isin(keys, keys_lex) & (family[i] == family[j]) & has_words[i] & has_words[j]
    for flag, (idx, x) in rows.items():
        mine = np.flatnonzero(missing & (family[i] == flag))
        if mine.size:
            position = np.full(n, -1, dtype=np.int64)
            position[idx] = np.arange(idx.size)
            left = x[position[i[mine]]]
            right = x[position[j[mine]]]
            values[mine] = np.asarray(sp.csr_matrix(left).multiply(right).sum(axis=1)).ravel()
    return i, j, values


def _cluster_stories(
    docs: Sequence[ClusterDoc],
    threshold: float | None,
    max_gap_days: float,
    features: Features | None,
    model: PairModel,
    kth_out: dict[str, float] | None,
) -> list[list[str]]:
    ordered = sorted(docs, key=lambda d: d.id)
    for prev, cur in pairwise(ordered):
        if prev.id == cur.id:
            raise ValueError(f"duplicate document id: {cur.id!r}")
    threshold = model.threshold if threshold is None else threshold
    if math.isnan(max_gap_days) or math.isnan(threshold):
        raise ValueError("threshold and max_gap_days must be numbers")
    max_gap = max(0.0, float(max_gap_days)) * 86400.0
    known = {doc.id: doc_tokens(doc, features) for doc in ordered}
    dim = next((d.vector.shape[0] for d in ordered if d.vector is not None), 0)
    pf = PairFeatures(ordered, dim)
    i, j, lex = _candidates(ordered, known, pf, max_gap, model.margin_k)
    if kth_out is not None:
        kth_out.update({d.id: float(pf.kth[n]) for n, d in enumerate(ordered)})
    edges: dict[tuple[int, int], float] = {}
    if i.size:
        emb = np.einsum("ij,ij->i", pf.vectors[i], pf.vectors[j]) if dim else np.zeros(i.size)
        p = pair_probabilities(
            model,
            lex,
            emb,
            pf.has_vector[i] & pf.has_vector[j],
            pf.shared_names(i, j),
            pf.lang[i] == pf.lang[j],
            emb - np.maximum(pf.kth[i], pf.kth[j]),
            np.abs(pf.seconds[i] - pf.seconds[j]),
            pf.same_feed(i, j),
            max_gap,
        )
        # Pairs far below the threshold barely move a mean: dropping them keeps it sparse.
        keep = p >= threshold * 0.5
        edges = dict(
            zip(zip(i[keep].tolist(), j[keep].tolist(), strict=True), p[keep].tolist(), strict=True)
        )
    clusters = _average_linkage(len(ordered), edges, pf.seconds, threshold, max_gap)

    def when(k: int) -> tuple[float, str]:
        return (float(pf.seconds[k]), ordered[k].id)

    groups = [sorted(c, key=when) for c in clusters]
    groups.sort(key=lambda g: when(g[0]))
    return [[ordered[k].id for k in g] for g in groups]
