"""Filing by meaning: stories the taxonomy's keywords miss, matched to its topics (pure).

Each taxonomy topic is embedded by the multilingual model twice, as "name: description" and as
"name: keyword, keyword, ..."; a story's vector (the mean of its reports' centred vectors) is
compared with both (centred the same way) and the better score counts. A story is filed under
the best topic only when the score clears FILE_THRESHOLD and beats the second topic by
FILE_MARGIN: a story that fits nothing stays unfiled (and may join a discovered topic).

The threshold is calibrated (bench/cluster/filing.py, bench/results/filing.md): against the
digital-rights taxonomy of feeds.yaml, BBC business, entertainment and sport articles (which fit
none of its topics) score below it with few exceptions, while reports its keywords found score
mostly above it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from digest.records import TopicConfig

__all__ = [
    "FILE_MARGIN",
    "FILE_THRESHOLD",
    "file_by_meaning",
    "mean_vector",
    "topic_texts",
]

# Centred cosine between a story and a topic's texts (see bench/results/filing.md).
FILE_THRESHOLD = 0.30
FILE_MARGIN = 0.02
_KEYWORDS_EMBEDDED = 24  # a topic's first keywords: a long list says no more and costs more


def topic_texts(topic: TopicConfig) -> list[str]:
    """What is embedded of a taxonomy topic: its description and keywords, each with its name."""
    texts = []
    if topic.description.strip():
        texts.append(f"{topic.name}: {topic.description.strip()}")
    keywords = [k for k in topic.keywords if k.strip()][:_KEYWORDS_EMBEDDED]
    if keywords:
        texts.append(f"{topic.name}: {', '.join(keywords)}")
    return texts


def mean_vector(vectors: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """The normalised mean of the vectors there are, None when there is none."""
    present = [np.asarray(v, dtype=np.float32) for v in vectors if v is not None]
    if not present:
        return None
    total = np.sum(present, axis=0)
    norm = float(np.linalg.norm(total))
    return total / norm if norm > 1e-9 else None


def topic_scores(vector: np.ndarray, topics: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Each topic's score for a story vector: the best cosine over the topic's text vectors."""
    return {name: float(np.max(rows @ vector)) for name, rows in topics.items() if len(rows)}


def file_by_meaning(
    vector: np.ndarray | None,
    topics: Mapping[str, np.ndarray],
    threshold: float = FILE_THRESHOLD,
    margin: float = FILE_MARGIN,
) -> str | None:
    """The topic a story's vector belongs to, or None when nothing fits well enough.

    `topics`: topic name -> its texts' centred, normalised vectors (one row each).
    """
    if vector is None or not topics:
        return None
    scores = sorted(topic_scores(vector, topics).items(), key=lambda kv: (-kv[1], kv[0]))
    if not scores or scores[0][1] < threshold:
        return None
    if len(scores) > 1 and scores[0][1] - scores[1][1] < margin:
        return None
    return scores[0][0]
