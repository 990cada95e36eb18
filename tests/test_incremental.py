"""Incremental cluster runs: only changed stories relabelled, item tokens kept in the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from builders import REAL_NOW, add_item, make_config, story_members
from test_stories import FACE, IRAQ, QINGLANG, SHUTDOWN_ZH, _three_topic_corpus

from digest import cluster_stage
from digest.records import Config, TopicConfig
from digest.store import Store, text_hash
from digest.stories.assign import assign_new, doc_features
from digest.stories.features import ClusterDoc, feature_source_hash
from digest.stories.labels import LabelDoc, label_stories, relabel
from digest.stories.linkage import cluster_stories


def test_relabel_changed_stories_like_a_full_labelling_and_keeps_discovered_topics() -> None:
    taxonomy = (TopicConfig("surveillance", "surveillance", ("facial recognition",)),)
    docs, _ = _three_topic_corpus()
    stories = {f"s{k:02d}": [LabelDoc(" ".join(words), "en")] for k, words in enumerate(docs)}
    full = label_stories(stories, taxonomy)
    previous = {sid: lab.topics for sid, lab in full.items()}
    # A story gains a report matching the taxonomy, another one without.
    stories["s00"] = [*stories["s00"], LabelDoc("facial recognition at the gates", "en")]
    stories["s01"] = [*stories["s01"], LabelDoc("more of the same words", "en")]
    part = relabel(stories, {"s00", "s01"}, previous, taxonomy)
    assert set(part) == {"s00", "s01"}
    again = label_stories(stories, taxonomy)
    assert part["s00"].topics == ["surveillance"] and not part["s00"].discovered
    assert part["s01"].topics == previous["s01"] and part["s01"].discovered
    # key terms are those a full labelling gives (weights over all stories)
    assert all(part[s].key_terms == again[s].key_terms for s in part)
    # Too many changed, or too many left without a topic: everything is labelled again.
    many = set(list(stories)[: len(stories) // 5])
    assert relabel(stories, many, previous, taxonomy) == again
    assert relabel(stories, {"s02"}, {}, taxonomy) == again


def _rights_config(tmp_path: Path) -> Config:
    return make_config(
        tmp_path,
        feeds=[f"f{k}" for k in range(30)],
        topics=[TopicConfig("Rights", "rights", ("rights",))],
    )


def _rights_store(store: Store, stories: int) -> dict[int, str]:
    """`stories` distinct two-report events, all filed under the Rights topic."""
    first: dict[int, str] = {}
    for k in range(stories):
        words = " ".join(f"{w}{chr(97 + k)}" for w in ("zorb", "quil", "mang", "dex"))
        first[k] = add_item(store, f"f{k}", f"a{k}", f"{words} rights case one", 30 - k / 2)
        add_item(store, f"f{k + 1}", f"b{k}", f"{words} rights appeal two", 29 - k / 2)
    return first


def test_incremental_run_relabels_only_changed_stories(tmp_path: Path, store: Store) -> None:
    config = _rights_config(tmp_path)
    first = _rights_store(store, 15)
    assert cluster_stage(config, store).rebuilt
    assert len(story_members(store)) == 15
    hashes = store.story_labels(), store.story_label_hashes()
    assert set(hashes[1]) == set(story_members(store))
    target = store.story_assignments()[first[3]]
    words = " ".join(f"{w}d" for w in ("zorb", "quil", "mang", "dex"))
    new = add_item(store, "f20", "c3", f"{words} rights ruling three", 2)
    second = cluster_stage(config, store)
    assert not second.rebuilt and second.joined == 1
    assert store.story_assignments()[new] == target
    after = store.story_label_hashes()
    assert {s for s in after if after[s] != hashes[1][s]} == {target}
    assert "ruling" in store.story_key_terms()[target]
    # The same store clustered from scratch gives the same stories, labels and key terms.
    incremental = story_members(store), store.story_labels(), store.story_key_terms()
    cluster_stage(config, store, rebuild=True)
    assert (story_members(store), store.story_labels()) == incremental[:2]
    assert store.story_key_terms()[target] == incremental[2][target]


def test_hidden_or_retranslated_items_and_old_stores_get_relabelled(
    tmp_path: Path, store: Store
) -> None:
    config = _rights_config(tmp_path)
    first = _rights_store(store, 15)
    cluster_stage(config, store)
    sid = store.story_assignments()[first[5]]
    headline = store.story_labels()[sid][0]
    assert "case one" in headline
    store.hide(first[5], "test", REAL_NOW)
    cluster_stage(config, store)
    assert "appeal two" in store.story_labels()[sid][0]
    # A changed translation changes the text labelled: the story is labelled again.
    item = next(it for it in store.items() if it.id == first[6])
    store.set_item_translation(
        first[6], "en", source_hash=text_hash(item.title + "\0" + item.summary), model="m",
        status="translated", note=None, title="Translated rights", summary="", now=REAL_NOW,
    )  # fmt: skip
    other = store.story_assignments()[first[6]]
    before = store.story_label_hashes()
    cluster_stage(config, store)
    after = store.story_label_hashes()
    # (the translation itself already cleared the story's fingerprint: a trigger)
    assert {s for s in after if after[s] != before.get(s)} == {other}
    # A store from before fingerprints (or any story without one) is labelled again.
    store.conn.execute("UPDATE stories SET label_hash = NULL")
    cluster_stage(config, store)
    assert store.story_label_hashes() == after


def _mixed_docs() -> list[ClusterDoc]:
    t0 = datetime(2026, 5, 28, tzinfo=UTC)
    texts = [*FACE, *QINGLANG, IRAQ, SHUTDOWN_ZH, "伊拉克考试期间全国断网"]
    return [
        ClusterDoc(f"d{k}", text, "zh" if k >= 7 else "en", t0 + timedelta(hours=k), (f"f{k % 3}",))
        for k, text in enumerate(texts)
    ]


def test_known_features_give_what_tokenising_gives() -> None:
    docs = _mixed_docs()
    rows, computed = doc_features(docs, {})
    assert computed == rows and set(rows) == {d.id for d in docs}
    features = {i: (row[1], row[2]) for i, row in rows.items()}
    assert cluster_stories(docs, features=features) == cluster_stories(docs)
    old = docs[::2]
    story_of = {d.id: f"s{k}" for k, d in enumerate(old)}
    new = [d for d in docs if d.id not in story_of]
    assert assign_new(old, story_of, new, features=features) == assign_new(old, story_of, new)
    # Partly known is fine too: the rest is tokenised.
    some = dict(list(features.items())[:4])
    assert cluster_stories(docs, features=some) == cluster_stories(docs)


def test_stored_tokens_are_used_only_while_they_match_the_text() -> None:
    docs = _mixed_docs()[:2]
    a, b = docs
    good = (feature_source_hash(a.text, a.lang), False, ["sentinel"], ["sentinel"])
    stale = (feature_source_hash("an older title", b.lang), False, ["stale"], ["stale"])
    rows, computed = doc_features(docs, {a.id: good, b.id: stale})
    assert rows[a.id] == good and a.id not in computed  # reused as stored
    assert computed[b.id] == rows[b.id] and "stale" not in rows[b.id][2]
    assert "facial" in rows[b.id][2] and "residents" in rows[b.id][3]  # stemmed / as written
    # Another language is another text: zh tokens differ from en ones.
    assert feature_source_hash(a.text, "en") != feature_source_hash(a.text, "zh")


def test_the_store_keeps_tokens_and_recomputes_changed_or_missing_ones(
    tmp_path: Path, store: Store
) -> None:
    config = _rights_config(tmp_path)
    first = _rights_store(store, 12)
    cluster_stage(config, store)
    kept = store.item_features()
    assert set(kept) == {it.id for it in store.items()}
    # Read for a window: only the items published in it.
    assert store.item_features(REAL_NOW - timedelta(days=30)) == kept
    since = REAL_NOW - timedelta(hours=24)
    assert (
        set(store.item_features(since)) == {it.id for it in store.items(since=since)} != set(kept)
    )
    assignments = store.story_assignments()
    # A translation changes the text clustered: its tokens are made again.
    item = next(it for it in store.items() if it.id == first[4])
    store.set_item_translation(
        first[4], "en", source_hash=text_hash(item.title + "\0" + item.summary), model="m",
        status="translated", note=None, title=f"{item.title} Translated", summary="", now=REAL_NOW,
    )  # fmt: skip
    cluster_stage(config, store)
    again = store.item_features()
    assert {i for i in again if again[i] != kept[i]} == {first[4]}
    assert "translat" in again[first[4]][2]  # "Translated", stemmed
    # Missing rows (a store from before the table, or a lost row) are made again.
    store.conn.execute("DELETE FROM item_features")
    cluster_stage(config, store, rebuild=True)
    assert store.item_features() == again
    assert store.story_assignments() == assignments
    # Rows go with their items.
    store.prune(REAL_NOW)
    assert store.item_features() == {}
