"""The same-story decision for one pair of reports: a probability from what they share (pure).

Three signals, combined by logistic regression fitted on development pairs
(bench/cluster/pairmodel.py writes pairmodel.json beside this module):
- lexical: TF-IDF cosine of their words (zero across scripts unless one was translated);
- embedding: cosine of their multilingual vectors, centred on the model's mean vector (the raw
  scores of multilingual-e5 are squeezed into 0.75-0.95; centring spreads them);
- names: whether their headlines share a rare name (names.py).
Same-language and cross-language pairs have their own weights; a pair where either report has
no vector (no embedder, or a language the model cannot read) uses the lexical-only weights.

Time and outlet are not learnt (the development pairs carry neither): a pair's probability is
discounted up to TIME_DISCOUNT over the largest gap a story may span, and by SAME_FEED_FACTOR
when both reports came from one feed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "SAME_FEED_FACTOR",
    "TIME_DISCOUNT",
    "PairModel",
    "center_for",
    "pair_model",
]

# At the full gap a pair keeps (1 - TIME_DISCOUNT) of its probability: gentle, because
# follow-up reports a day or two later are the normal case.
TIME_DISCOUNT = 0.25
# One outlet rarely reports one event twice within days, but updates and corrections happen:
# discount, never forbid.
SAME_FEED_FACTOR = 0.85

_HERE = Path(__file__).resolve().parent
_MODEL_FILE = _HERE / "pairmodel.json"


@dataclass(frozen=True)
class Weights:
    """Logistic-regression weights over (sqrt(lex), emb, sqrt(lex)*emb, names, margin)."""

    bias: float
    lex: float
    emb: float = 0.0
    lex_emb: float = 0.0
    names: float = 0.0
    margin: float = 0.0


@dataclass(frozen=True)
class PairModel:
    """Weights per kind of pair, the embedding scale, and the merge threshold on probability."""

    same_language: Weights
    cross_language: Weights
    lexical_only: Weights
    emb_scale: float  # centred cosine is multiplied by this before the weights apply
    threshold: float  # a story's mean pair probability must reach this
    margin_k: int = 10  # the margin is measured over each report's k-th nearest neighbour

    def probability(
        self,
        lex: np.ndarray,
        emb: np.ndarray,
        has_vectors: np.ndarray,
        names: np.ndarray,
        same_language: np.ndarray,
        margin: np.ndarray | None = None,
    ) -> np.ndarray:
        """P(same story) for pairs, as arrays: lexical cosine, centred embedding cosine (any
        value where a side has no vector), both sides have vectors, shared rare names (0/1),
        same language, and the margin (emb minus the larger of the two reports' k-th nearest
        neighbour cosine: how much the pair stands out from each report's neighbourhood)."""
        lex_root = np.sqrt(np.clip(lex, 0.0, 1.0))
        e = np.where(has_vectors, emb, 0.0) * self.emb_scale
        m = np.zeros(lex.shape) if margin is None else np.where(has_vectors, margin, 0.0)
        m = m * self.emb_scale
        shared = (names > 0).astype(np.float64)
        out = np.empty(lex.shape, dtype=np.float64)
        for weights, mask in (
            (self.same_language, has_vectors & same_language),
            (self.cross_language, has_vectors & ~same_language),
            (self.lexical_only, ~has_vectors),
        ):
            if not mask.any():
                continue
            z = (
                weights.bias
                + weights.lex * lex_root[mask]
                + weights.emb * e[mask]
                + weights.lex_emb * lex_root[mask] * e[mask]
                + weights.names * shared[mask]
                + weights.margin * m[mask]
            )
            out[mask] = 1.0 / (1.0 + np.exp(-z))
        return out


@lru_cache(maxsize=1)
def pair_model() -> PairModel:
    """The fitted model shipped with the package (pairmodel.json)."""
    record = json.loads(_MODEL_FILE.read_text("utf-8"))
    return PairModel(
        same_language=Weights(**record["same_language"]),
        cross_language=Weights(**record["cross_language"]),
        lexical_only=Weights(**record["lexical_only"]),
        emb_scale=float(record["emb_scale"]),
        threshold=float(record["threshold"]),
        margin_k=int(record.get("margin_k", 10)),
    )


@lru_cache(maxsize=8)
def _centers() -> dict[str, np.ndarray]:
    record = json.loads(_MODEL_FILE.read_text("utf-8"))
    return {
        name: np.asarray(values, dtype=np.float32)
        for name, values in record.get("centers", {}).items()
    }


def center_for(model: str, dim: int) -> np.ndarray:
    """The mean vector of a model's news embeddings (zeros for a model we have none for)."""
    found = _centers().get(model)
    if found is None or found.shape != (dim,):
        return np.zeros(dim, dtype=np.float32)
    return found
