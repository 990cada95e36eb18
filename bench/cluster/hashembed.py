"""A fast stand-in for the multilingual model in speed benchmarks: word vectors summed.

Real embedding costs are measured apart (embed_speed.py); this one gives the clustering
vectors with a realistic neighbourhood (reports of one event close, others far) in no time.
Words of the 2,000 most frequent of synth's vocabulary weigh little, as centring does to the
real model's common directions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from synth import common_words

from digest.stories.features import ClusterDoc

DIM = 384


class HashEmbedder:
    """Deterministic vectors from the words of a text."""

    name = "bench-hash"
    dim = DIM

    def __init__(self) -> None:
        self._cache: dict[str, np.ndarray] = {}
        self._common = common_words()

    def covers(self, lang: str) -> bool:
        return True

    def _word(self, word: str) -> np.ndarray:
        found = self._cache.get(word)
        if found is None:
            seed = int.from_bytes(hashlib.sha1(word.encode()).digest()[:4], "little")
            v = np.random.RandomState(seed).normal(size=DIM).astype(np.float32)
            found = self._cache[word] = v / np.linalg.norm(v)
        return found

    def vector(self, text: str) -> np.ndarray:
        total = np.zeros(DIM, dtype=np.float32)
        for word in text.split():
            total += self._word(word) * (0.05 if word in self._common else 1.0)
        return total / max(float(np.linalg.norm(total)), 1e-9)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vector(t) for t in texts]) if texts else np.zeros((0, DIM))


def with_vectors(docs: Sequence[ClusterDoc], embedder: HashEmbedder) -> list[ClusterDoc]:
    """The docs with their stand-in vectors."""
    return [replace(d, vector=embedder.vector(d.text)) for d in docs]
