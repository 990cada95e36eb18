"""Clustering scores: pairwise precision/recall/F1, BCubed F1, NMI (labels as dicts id -> label)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence


def _pairs(counts: Counter[object]) -> int:
    return sum(c * (c - 1) // 2 for c in counts.values())


def pairwise(truth: Mapping[str, object], found: Mapping[str, object]) -> dict[str, float]:
    """Precision, recall and F1 over all pairs of items: a pair counts when grouped together."""
    ids = sorted(truth)
    both = Counter((truth[i], found[i]) for i in ids)
    tp = _pairs(both)
    predicted = _pairs(Counter(found[i] for i in ids))
    actual = _pairs(Counter(truth[i] for i in ids))
    p = tp / predicted if predicted else 1.0
    r = tp / actual if actual else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def bcubed(truth: Mapping[str, object], found: Mapping[str, object]) -> dict[str, float]:
    """BCubed precision, recall and F1 (per-item averages, Amigo et al. 2009)."""
    ids = sorted(truth)
    both = Counter((truth[i], found[i]) for i in ids)
    by_found = Counter(found[i] for i in ids)
    by_truth = Counter(truth[i] for i in ids)
    p = sum(both[(truth[i], found[i])] / by_found[found[i]] for i in ids) / len(ids)
    r = sum(both[(truth[i], found[i])] / by_truth[truth[i]] for i in ids) / len(ids)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def nmi(truth: Mapping[str, object], found: Mapping[str, object]) -> float:
    """Normalised mutual information, arithmetic mean of the entropies (scikit-learn's default)."""
    ids = sorted(truth)
    n = len(ids)
    both = Counter((truth[i], found[i]) for i in ids)
    a = Counter(truth[i] for i in ids)
    b = Counter(found[i] for i in ids)
    mi = sum(c / n * math.log(c * n / (a[x] * b[y])) for (x, y), c in both.items())
    ha = -sum(c / n * math.log(c / n) for c in a.values())
    hb = -sum(c / n * math.log(c / n) for c in b.values())
    if ha == 0 and hb == 0:
        return 1.0
    return mi / ((ha + hb) / 2) if ha + hb else 0.0


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation of two equally long sequences."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else 0.0
