"""Synthetic news items for the speed benchmark: events told by several outlets, Zipfian words."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from digest.stories.features import ClusterDoc

START = datetime(2026, 5, 1, tzinfo=UTC)
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def common_words() -> frozenset[str]:
    """The 2,000 most frequent words of the vocabulary (event words never come from them)."""
    return frozenset(_vocabulary(random.Random(0), 20000)[:2000])


def synthetic_docs(
    n: int, *, seed: int = 1, days: float = 7.0, prefix: str = "d"
) -> list[ClusterDoc]:
    """n English-like docs: events of 1-6 reports sharing 6 specific words, spread over `days`.

    Each report is 30 words: 4-6 of its event's words plus Zipf-distributed common words (a
    vocabulary of 20,000), from one of 40 feeds, published within a day of its event.
    """
    return [doc for doc, _ in labelled_docs(n, seed=seed, days=days, prefix=prefix)]


def labelled_docs(
    n: int, *, seed: int = 1, days: float = 7.0, prefix: str = "d"
) -> list[tuple[ClusterDoc, int]]:
    """synthetic_docs with each doc's true event (its number), the same docs for the same args."""
    rng = random.Random(seed)
    vocab = _vocabulary(random.Random(0), 20000)
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    docs: list[tuple[ClusterDoc, int]] = []
    event = 0
    while len(docs) < n:
        event_words = rng.sample(vocab[2000:], 6)
        when = START + timedelta(days=rng.uniform(0, days))
        for _ in range(min(rng.randint(1, 6), n - len(docs))):
            words = rng.sample(event_words, rng.randint(4, 6))
            words += rng.choices(vocab, weights=weights, k=30 - len(words))
            rng.shuffle(words)
            doc = ClusterDoc(
                id=f"{prefix}{len(docs):06d}",
                text=" ".join(words),
                lang="en",
                published=when + timedelta(hours=rng.uniform(0, 24)),
                feed_ids=(f"feed{rng.randrange(40)}",),
            )
            docs.append((doc, event))
        event += 1
    return docs
