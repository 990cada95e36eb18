"""Labelling some or all of the window's stories after an incremental run (store-backed)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

from digest.records import StoredItem
from digest.store.sketches import FeatureRow
from digest.stories.context import ClusterRun, window_members
from digest.stories.labels import (
    RELABEL_ALL_SHARE,
    StoryLabels,
    label_changed,
    label_fingerprint,
    label_stories,
)
from digest.stories.rank import pick_headline
from digest.stories.topics import KEY_TERMS

__all__ = ["label_all", "label_some", "save_labels"]


def label_some(
    run: ClusterRun,
    story_ids: Collection[str],
    rows: Mapping[str, FeatureRow],
    key_tokens: int,
    window_stories: int,
) -> bool:
    """Label these stories with window-wide key-term weights; False: label them all instead.

    As relabel(): all stories are labelled again (with topic discovery) when more than
    RELABEL_ALL_SHARE of them changed or have no topic.
    """
    share = RELABEL_ALL_SHARE * window_stories
    if len(story_ids) > share:
        return False
    config, store, since = run.config, run.store, run.since
    site_lang = config.site.language
    grouped = window_members(store, story_ids, since, site_lang)
    known = {**store.features_of([it.id for ms in grouped.values() for it in ms]), **rows}
    docs = run.docs([it for members in grouped.values() for it in members], count=False)
    label_docs = {
        sid: [
            run.label_doc(it, known[it.id][3] if it.id in known else None, docs[it.id].vector)
            for it in members
        ]
        for sid, members in grouped.items()
    }
    terms = {t for docs in label_docs.values() for d in docs for t in (d.terms or ())}
    overall = {t: n for t, (_, n) in store.term_stats(KEY_TERMS, terms).items()}
    # A term of a member tokenised just now but not counted (should not happen) counts once.
    overall = defaultdict(lambda: 1, overall)
    average = key_tokens / window_stories if window_stories else 0.0
    previous = store.story_topics(grouped) if config.stories.discover_topics else {}
    found = label_changed(
        label_docs, overall, average, previous, config.topics, site_lang,
        topic_vectors=run.topic_vectors(),
    )  # fmt: skip
    save_labels(run, grouped, found)
    return store.unfiled_stories(since.timestamp()) <= share


def label_all(run: ClusterRun) -> None:
    """Label every story of the window again, with topic discovery (as label_stories)."""
    config, store, since = run.config, run.store, run.since
    site_lang = config.site.language
    items = store.items(since=since, site_lang=site_lang)
    rows = store.item_features(since)
    grouped: dict[str, list[StoredItem]] = defaultdict(list)
    for it in items:
        if it.story:
            grouped[it.story].append(it)
    docs = run.docs(items, count=False)
    label_docs = {
        sid: [
            run.label_doc(it, rows[it.id][3] if it.id in rows else None, docs[it.id].vector)
            for it in members
        ]
        for sid, members in grouped.items()
    }
    found = label_stories(
        label_docs, config.topics, site_lang, discover=config.stories.discover_topics,
        topic_vectors=run.topic_vectors(),
    )  # fmt: skip
    run.settle_topics(found, {sid: topics for sid, (_, topics) in store.story_labels().items()})
    save_labels(run, grouped, found)


def save_labels(
    run: ClusterRun,
    members: Mapping[str, Sequence[StoredItem]],
    found: Mapping[str, StoryLabels],
) -> None:
    """Write the labels found (headline, topics, key terms, coverage, fingerprint)."""
    store, site_lang = run.store, run.config.site.language
    context = run.label_context()
    labels = {
        sid: (pick_headline(members[sid], site_lang), lab.topics) for sid, lab in found.items()
    }
    store.save_stories({}, labels, run.now, drop_empty=False)
    store.save_story_extras(
        {sid: lab.key_terms for sid, lab in found.items()},
        {},
        run.now,
        coverage={sid: (lab.coverage.gap, lab.coverage.note) for sid, lab in found.items()},
    )
    store.save_story_summaries(
        run.summaries({sid: members[sid] for sid in found}, {s: h for s, (h, _) in labels.items()})
    )
    store.save_label_hashes({sid: label_fingerprint(members[sid], context) for sid in found})
