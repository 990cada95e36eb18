"""Stories over runs: a full clustering or new items into existing stories, redirects (pure).

The pipeline and `digest cluster-file` both go through `cluster_new_stories` (a full
clustering) or `assign_new` (new items into existing stories), then labels.py.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace

from digest.stories.features import (
    ClusterDoc,
    Features,
    doc_tokens,
    feature_source_hash,
    features,
    is_continuous_text,
    utc_seconds,
)
from digest.stories.ids import assign_story_ids, fresh_story_id
from digest.stories.linkage import DEFAULT_MAX_GAP_DAYS, cluster_stories, neighbour_kth
from digest.stories.neighbours import KTH_FLOOR
from digest.stories.pairs import pair_model
from digest.stories.sketch import (
    Entry,
    best_stories,
    build_sketches,
    members_of,
    query_of,
    window_vocab,
    with_kth,
)
from digest.stories.topics import key_term_tokens

__all__ = [
    "FeatureRow",
    "assign_new",
    "cluster_new_stories",
    "doc_features",
    "entry_of",
    "redirects_after",
]


# ---------------------------------------------------------------- full and incremental


def cluster_new_stories(
    docs: Sequence[ClusterDoc],
    previous: Mapping[str, str],
    *,
    threshold: float | None = None,
    max_gap_days: float = DEFAULT_MAX_GAP_DAYS,
    features: Features | None = None,
    kth: dict[str, float] | None = None,
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Cluster from scratch, keep old ids where possible: (story id -> items, redirects)."""
    groups = cluster_stories(
        docs, threshold=threshold, max_gap_days=max_gap_days, features=features, kth=kth
    )
    known = {d.id for d in docs}
    before = {item: story for item, story in previous.items() if item in known}
    stories = assign_story_ids(groups, previous)
    return stories, redirects_after(before, stories)


def redirects_after(
    previous: Mapping[str, str], stories: Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """Old story id -> the story now holding most of its items, for ids that disappeared.

    A merge gives the absorbed story's id a redirect; in a split the old id stays with the
    bigger part (assign_story_ids), so nothing needs one. Ties go to the lowest story id.
    """
    where = {item: story for story, items in stories.items() for item in items}
    votes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item, old in previous.items():
        new = where.get(item)
        if new is not None and old not in stories:
            votes[old][new] += 1
    return {
        old: min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        for old, counts in sorted(votes.items())
    }


def assign_new(
    existing: Sequence[ClusterDoc],
    story_of: Mapping[str, str],
    new: Sequence[ClusterDoc],
    *,
    threshold: float | None = None,
    max_gap_days: float = DEFAULT_MAX_GAP_DAYS,
    reserved: set[str] | None = None,
    features: Features | None = None,
) -> dict[str, list[str]]:
    """Put new docs into existing stories, or into new ones: story id -> the new doc ids.

    The new docs are first grouped among themselves (cluster_stories); each group then joins
    the existing story with the highest mean pair probability (average linkage, as the full
    clustering would merge them) when that mean reaches the threshold and the joined story
    spans no more than max_gap_days; otherwise it becomes a new story. IDF comes from all the
    docs given (the window, as a full clustering computes it); scoring is
    digest.stories.sketch's, as the pipeline's store-backed runs do it. Existing stories never
    merge or split here: `digest cluster --rebuild` does that.
    `reserved` are ids no new story may take (every id ever used, for stable URLs);
    `features` are tokens already known (doc_features), the same as tokenising again.
    """
    model = pair_model()
    if threshold is not None:
        model = replace(model, threshold=threshold)
    groups = cluster_stories(new, max_gap_days=max_gap_days, features=features, model=model)
    if not groups:
        return {}
    max_gap = max(0.0, float(max_gap_days)) * 86400.0
    known = {d.id: doc_tokens(d, features) for d in [*existing, *new]}
    vocab = window_vocab(known)
    by_id = {i: (idf, df) for v in vocab.values() for i, idf, df in v.values()}
    kth = neighbour_kth(existing, max_gap_days=max_gap_days, model=model)
    entries = [
        entry_of(d, story_of[d.id], known[d.id], kth[d.id]) for d in existing if d.id in story_of
    ]
    fresh = [entry_of(d, "", known[d.id]) for d in new]
    queries = {i: query_of(m, by_id) for i, m in members_of(fresh, vocab).items()}
    sketches = build_sketches(entries, vocab)
    queries = with_kth(queries, sketches, since=-math.inf, max_gap=max_gap, k=model.margin_k)
    best = best_stories(groups, queries, sketches, since=-math.inf, max_gap=max_gap, model=model)
    taken = set(story_of.values()) | (reserved or set())
    result: dict[str, list[str]] = defaultdict(list)
    for g, group in enumerate(groups):
        story = best.get(g)
        if story is None:
            story = fresh_story_id(group, taken)
            taken.add(story)
        result[story].extend(group)
    return dict(result)


def entry_of(
    doc: ClusterDoc, story: str, known: tuple[bool, Sequence[str]], kth: float = KTH_FLOOR
) -> Entry:
    """A doc as build_sketches takes it, in `story` ("" for a new doc)."""
    return Entry(
        story,
        doc.id,
        utc_seconds(doc.published),
        known[0],
        doc.feed_ids,
        known[1],
        doc.language,
        doc.names,
        doc.vector,
        kth,
    )


# (source hash, continuous script, clustering tokens, key-term tokens) of one doc's text.
FeatureRow = tuple[str, bool, list[str], list[str]]


def doc_features(
    docs: Sequence[ClusterDoc], stored: Mapping[str, FeatureRow]
) -> tuple[dict[str, FeatureRow], dict[str, FeatureRow]]:
    """Every doc's tokens, and those that had to be computed (to store).

    A stored row is used only when its source hash matches the doc's text, language and the
    tokeniser (feature_source_hash): a retranslated text or a changed tokeniser recomputes.
    """
    out: dict[str, FeatureRow] = {}
    fresh: dict[str, FeatureRow] = {}
    for d in docs:
        source = feature_source_hash(d.text, d.lang)
        row = stored.get(d.id)
        if row is None or row[0] != source:
            cont = is_continuous_text(d.text)
            row = (source, cont, features(d.text, d.lang), key_term_tokens(d.text, d.lang))
            fresh[d.id] = row
        out[d.id] = row
    return out, fresh
