"""Discovered topics and key terms: pure functions over texts (no I/O, no store).

Discovered topics are a coarser clustering than stories: stories are events, topics are the
broad subjects readers browse ("business", "sport", "internet shutdowns"). The texts are put
in a latent semantic space (TF-IDF, then truncated SVD), clustered with k-means, and the number
of topics is the one whose clustering is most *stable*: k-means fitted on two random subsamples
agrees with itself (adjusted Rand index over all documents) better at that k than at any
other. A real topic structure reappears in every subsample; an arbitrary split of a
continuous cloud does not.

Key terms are class-based TF-IDF: a term weighs by its frequency within the class (a story or
a topic) times log(1 + A / f), A the average class size in tokens and f the term's frequency
over all classes, so a term frequent in one class and rare elsewhere ranks first.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from itertools import chain

import numpy as np

from digest.records import TopicConfig
from digest.stories.features import CONTINUOUS_CHAR, HAN_CHAR, LETTER, normalize_text
from digest.stories.terms import displayable, term_tokens, term_words

__all__ = [
    "KEY_TERMS",
    "MIN_TOPIC_DOCS",
    "class_key_terms",
    "discover_topics",
    "key_term_tokens",
    "match_topics",
    "topic_name",
]

KEY_TERMS = 5  # key terms shown per story
# Fewer documents than this give no discovered topics: too few to tell a topic from noise.
MIN_TOPIC_DOCS = 30
MIN_TOPICS = 3  # k = 2 splits any cloud in two reproducibly, so stability cannot judge it
MAX_TOPICS = 15  # more would be stories again, not topics
DOCS_PER_TOPIC = 10  # at most n / 10 topics: a topic should hold several stories
SVD_DIMS = 50
STABILITY_RUNS = 6  # subsample pairs per k
STABILITY_SAMPLE = 3000  # documents used to judge stability (the final fit uses all)
SUBSAMPLE = 0.8
SEED = 0  # every random step is seeded: same input, same topics


def key_term_tokens(text: str, lang: str) -> list[str]:
    """Tokens for key terms and topic names: whole words (digest.stories.terms), never the
    character n-grams that score similarity."""
    return term_tokens(text, lang)


def _overlaps(term: str, kept: str) -> bool:
    """Does a term repeat one already chosen (a word of a chosen name, a Chinese word inside
    a longer chosen one)?"""
    a, b = set(term_words(term)), set(term_words(kept))
    if a <= b or b <= a:
        return True
    return bool(HAN_CHAR.search(term)) and (term in kept or kept in term)


def class_key_terms(
    classes: Sequence[Sequence[str]], top: int = KEY_TERMS, only: Collection[int] | None = None
) -> list[list[str]]:
    """The `top` class-based TF-IDF terms of each class (a class: its documents' tokens).

    With `only`, just those classes are ranked (the others get []); the weights still come
    from all classes, so a ranked class gets the terms a full call would give it.
    """
    # One count over all tokens, per-class counts only for the ranked classes.
    overall = Counter(chain.from_iterable(classes))
    sizes = [len(tokens) for tokens in classes]
    average = sum(sizes) / len(sizes) if sizes else 0.0
    return [
        rank_terms(tokens, overall, average, top) if only is None or k in only else []
        for k, tokens in enumerate(classes)
    ]


def rank_terms(
    tokens: Sequence[str], overall: Mapping[str, int], average: float, top: int = KEY_TERMS
) -> list[str]:
    """The `top` class-based TF-IDF terms of one class, given the counts over all classes.

    `overall`: each term's count over every class; `average`: tokens per class.
    """
    size = len(tokens)
    if not size:
        return []
    c = Counter(tokens)
    scored = sorted(
        (-(tf / size) * math.log(1.0 + average / overall[term]), term)
        for term, tf in c.items()
        if displayable(term)
    )
    chosen: list[str] = []
    for _, term in scored:
        if any(_overlaps(term, kept) for kept in chosen):
            continue
        chosen.append(term)
        if len(chosen) == top:
            break
    return chosen


def topic_name(terms: Sequence[str], taken: set[str]) -> str:
    """A readable, unique name for a discovered topic from its key terms."""
    base = " · ".join(terms[:3]) or "other"
    name, n = base, 2
    while name in taken:
        name = f"{base} ({n})"
        n += 1
    taken.add(name)
    return name


def discover_topics(
    token_lists: Sequence[list[str]], vectors: Sequence[np.ndarray | None] | None = None
) -> list[int]:
    """A topic number (0..k-1) per document, k chosen by stability; -1 for a document left
    out (too few documents, nothing to go by, or its group is not coherent).

    `vectors`: each document's multilingual vector (None where it has none): the latent
    space joins them to the words' LSA, half and half, so topics come from meaning too.
    """
    n = len(token_lists)
    have = [v is not None for v in vectors] if vectors is not None else [False] * n
    usable = [i for i in range(n) if token_lists[i] or have[i]]
    labels = [-1] * n
    if len(usable) < MIN_TOPIC_DOCS:
        return labels
    space = _joint_space(
        [token_lists[i] for i in usable],
        [vectors[i] for i in usable] if vectors is not None and any(have) else None,
    )
    if space is None:
        return labels
    found = _coherent(space, _kmeans_auto(space))
    for i, label in zip(usable, found, strict=True):
        labels[i] = label
    return labels


# Share of the joint space's weight given to the words (the rest to the vectors).
WORDS_SHARE = 0.5
# A group is a topic only when its members sit closer to it than to the next group: the mean
# simplified silhouette of its members reaches this, and it holds at least MIN_GROUP documents.
MIN_COHERENCE = 0.05
MIN_GROUP = 3
MIN_MEMBER_COSINE = 0.1  # a member's cosine to its group's centroid


def _joint_space(
    token_lists: Sequence[list[str]], vectors: Sequence[np.ndarray | None] | None
) -> np.ndarray | None:
    """Unit rows: the words' LSA and the documents' vectors side by side (either alone when
    the other is missing)."""
    words = _latent_space(token_lists)
    if vectors is None:
        return words
    dim = next(len(v) for v in vectors if v is not None)
    meaning = np.zeros((len(vectors), dim), dtype=np.float64)
    for k, v in enumerate(vectors):
        if v is not None:
            meaning[k] = v
    meaning = _unit_rows(meaning)
    if words is None:
        return meaning
    joined = np.hstack([words * math.sqrt(WORDS_SHARE), meaning * math.sqrt(1 - WORDS_SHARE)])
    return _unit_rows(joined)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 1e-12, norms, 1.0)


def _coherent(space: np.ndarray, labels: list[int]) -> list[int]:
    """The labels of coherent groups, renumbered in order; -1 for the members of the rest.

    Coherence is the simplified silhouette: for each member, (b - a) / max(a, b) with a its
    cosine distance to its own group's centroid and b to the nearest other centroid.
    """
    found = np.asarray(labels)
    groups = sorted(set(labels))
    if len(groups) < 2:
        return labels
    centroids = _unit_rows(np.vstack([space[found == g].mean(axis=0) for g in groups]))
    distance = 1.0 - space @ centroids.T  # n x k cosine distances
    column = {g: c for c, g in enumerate(groups)}
    own = np.array([distance[i, column[g]] for i, g in enumerate(labels)])
    masked = distance.copy()
    for i, g in enumerate(labels):
        masked[i, column[g]] = np.inf
    other = masked.min(axis=1)
    silhouette = (other - own) / np.maximum(np.maximum(own, other), 1e-12)
    keep = {
        g
        for g in groups
        if (found == g).sum() >= MIN_GROUP and float(silhouette[found == g].mean()) >= MIN_COHERENCE
    }
    # A document hardly nearer its group than to anything (nothing in common with it: a
    # story in a language no other shares, with no vector) is left out, not forced in.
    fits = (1.0 - own) >= MIN_MEMBER_COSINE
    renumber: dict[int, int] = {}
    for g in labels:
        if g in keep:
            renumber.setdefault(g, len(renumber))
    return [renumber.get(g, -1) if ok else -1 for g, ok in zip(labels, fits, strict=True)]


def _latent_space(token_lists: Sequence[list[str]]) -> np.ndarray | None:
    """Unit-length LSA vectors of the documents, or None when they share no vocabulary."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    def identity(tokens: list[str]) -> list[str]:
        return tokens

    # Terms in one document cannot relate documents; terms in most say nothing about topics.
    vectorizer = TfidfVectorizer(analyzer=identity, sublinear_tf=True, min_df=2, max_df=0.5)
    try:
        matrix = vectorizer.fit_transform(token_lists)
    except ValueError:  # no term left after the document-frequency limits
        return None
    dims = min(SVD_DIMS, matrix.shape[1] - 1, matrix.shape[0] - 1)
    if dims < 2:
        return None
    reduced = TruncatedSVD(n_components=dims, random_state=SEED).fit_transform(matrix)
    return np.asarray(normalize(reduced))


def _kmeans_auto(space: np.ndarray) -> list[int]:
    """k-means with the most stable k in [MIN_TOPICS, MAX_TOPICS]; labels in a stable order."""
    from sklearn.cluster import KMeans

    n = space.shape[0]
    top = max(MIN_TOPICS, min(MAX_TOPICS, n // DOCS_PER_TOPIC))
    rng = np.random.RandomState(SEED)
    sample = space
    if n > STABILITY_SAMPLE:
        sample = space[np.sort(rng.choice(n, STABILITY_SAMPLE, replace=False))]
    best_k, best_score = MIN_TOPICS, -math.inf
    for k in range(MIN_TOPICS, top + 1):
        score = _stability(sample, k, rng)
        # Strictly better only: on a tie the smaller k wins.
        if score > best_score + 1e-9:
            best_k, best_score = k, score
    model = KMeans(n_clusters=best_k, n_init=4, random_state=SEED).fit(space)
    raw = model.labels_.tolist()
    # Number the topics by their first document so the numbering does not depend on k-means'
    # internal order.
    renumber: dict[int, int] = {}
    for label in raw:
        renumber.setdefault(label, len(renumber))
    return [renumber[label] for label in raw]


def _stability(space: np.ndarray, k: int, rng: np.random.RandomState) -> float:
    """Mean adjusted Rand index between k-means fitted on pairs of random subsamples."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    n = space.shape[0]
    size = max(k + 1, int(n * SUBSAMPLE))
    scores = []
    for run in range(STABILITY_RUNS):
        a = rng.choice(n, size, replace=False)
        b = rng.choice(n, size, replace=False)
        left = KMeans(n_clusters=k, n_init=1, random_state=SEED + run).fit(space[a])
        right = KMeans(n_clusters=k, n_init=1, random_state=SEED + 100 + run).fit(space[b])
        scores.append(adjusted_rand_score(left.predict(space), right.predict(space)))
    return float(np.mean(scores))


# ---------------------------------------------------------------- the taxonomy


@lru_cache(maxsize=64)
def _topic_patterns(topics: tuple[TopicConfig, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    compiled = []
    for topic in topics:
        parts = []
        for keyword in topic.keywords:
            key = " ".join(normalize_text(keyword).split())
            if not key:
                continue
            body = r"\s+".join(re.escape(w) for w in key.split(" "))
            # A keyword starting a word matches at word starts only, so "censor" finds
            # "censorship" but "ban" does not find "urban"; unspaced scripts match anywhere.
            spaced = bool(LETTER.match(key[0])) and not CONTINUOUS_CHAR.match(key[0])
            if spaced or key[0].isdigit():
                body = r"(?<!\w)" + body
            parts.append(body)
        if parts:
            compiled.append((topic.name, re.compile("|".join(parts))))
    return tuple(compiled)


def match_topics(texts: Sequence[str], topics: Sequence[TopicConfig]) -> list[str]:
    """Names of the topics whose keywords occur (case-insensitive) in any text, taxonomy order."""
    normalized = [normalize_text(t) for t in texts if t]
    found = []
    for name, pattern in _topic_patterns(tuple(topics)):
        if any(pattern.search(t) for t in normalized) and name not in found:
            found.append(name)
    return found
