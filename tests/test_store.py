"""The store: schema, dedup, feed health, translations and stories."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import NOW, make_item

from digest.errors import StageError
from digest.records import FeedConfig, FetchResult
from digest.store import MIGRATIONS, Store, text_hash


@pytest.fixture
def store(store: Store) -> Store:
    """The empty store with two feeds, a and b."""
    store.sync_feeds(
        [
            FeedConfig(id="a", name="A", url="https://a/"),
            FeedConfig(id="b", name="B", url="https://b/"),
        ]
    )
    return store


def test_schema_version_and_wal(store: Store) -> None:
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.integrity_ok()


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    Store.open(path).close()
    s = Store.open(path)
    s.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    s.close()
    with pytest.raises(StageError, match="newer"):
        Store.open(path)


def test_dedup_by_guid_url_and_content(store: Store) -> None:
    one = make_item(feed="a", guid="g1", url="https://x/1", title="One", summary="s1")
    two: dict[str, Any] = {"title": "Two is long enough", "summary": "s2", "key": "K"}
    with store.transaction():
        first, new1 = store.upsert_item(one, NOW)
        again, new2 = store.upsert_item(replace(one), NOW)
        by_url, new3 = store.upsert_item(
            make_item(feed="b", guid="other-guid", url="https://x/1", title="One!", summary="s1"),
            NOW,
        )
        mirror, new4 = store.upsert_item(
            make_item(feed="b", guid="g9", url="https://mirror/1", **two), NOW
        )
        mirror2, new5 = store.upsert_item(
            make_item(feed="a", guid="g10", url="https://x/2", **two), NOW
        )
        _, new6 = store.upsert_item(
            make_item(feed="a", guid="g11", url="https://x/3", title="Three", summary="s3"), NOW
        )
    assert (new1, new2, new3, new4, new5, new6) == (True, False, False, True, False, True)
    assert first == again == by_url
    assert mirror == mirror2
    assert store.count_items() == 3
    items = {i.id: i for i in store.items()}
    assert items[first].feeds == ["a", "b"]
    assert items[mirror].feeds == ["b", "a"]


def test_refresh_keeps_identity_and_first_seen_date(store: Store) -> None:
    with store.transaction():
        iid, _ = store.upsert_item(
            make_item(feed="a", guid="g1", url="", title="Old title", summary="s", fallback=True),
            NOW,
        )
    later = NOW + timedelta(days=2)
    undated = make_item(feed="a", guid="g1", url="", title="New title", summary="s", fallback=True)
    undated.published = later
    with store.transaction():
        store.upsert_item(undated, later)
    (got,) = store.items()
    assert got.id == iid and got.title == "New title"
    assert got.published == NOW - timedelta(hours=1)  # the first-seen date stays


def test_record_fetch_failure_then_success(store: Store) -> None:
    fail = FetchResult(feed_id="a", url="https://a/", status=500, error="https://a/: HTTP 500")
    with store.transaction():
        store.record_fetch(fail, at=NOW, failed=True, next_fetch=NOW + timedelta(minutes=15))
        store.record_fetch(fail, at=NOW, failed=True, next_fetch=NOW + timedelta(minutes=30))
    state = store.feed_state("a")
    assert state is not None and state.consecutive_failures == 2
    ok = FetchResult(
        feed_id="a", url="https://a/", status=301, etag='"e"', permanent_url="https://a/new"
    )
    with store.transaction():
        store.record_fetch(ok, at=NOW, failed=False, next_fetch=None, items_seen=3, items_new=1)
    state = store.feed_state("a")
    assert state is not None
    assert (state.consecutive_failures, state.etag, state.effective_url) == (
        0,
        '"e"',
        "https://a/new",
    )
    health = {
        h.id: h
        for h in store.feed_health(
            [FeedConfig(id="a", name="A", url="https://a/")], NOW - timedelta(days=7)
        )
    }
    assert health["a"].last_success == NOW and health["a"].last_error is None
    log = store.conn.execute("SELECT COUNT(*) FROM fetch_log").fetchone()[0]
    assert log == 3


def test_gone_until_reset_and_url_change_forgets_redirect(store: Store) -> None:
    gone = FetchResult(feed_id="a", url="https://a/", status=410, gone=True, error="gone")
    with store.transaction():
        store.record_fetch(gone, at=NOW, failed=True, next_fetch=None)
    assert store.feed_state("a").gone  # type: ignore[union-attr]
    assert store.reset_feed("a") and not store.feed_state("a").gone  # type: ignore[union-attr]
    assert not store.reset_feed("nope")
    with store.transaction():
        store.record_fetch(
            FetchResult(feed_id="a", url="https://a/", status=200, permanent_url="https://a/moved"),
            at=NOW,
            failed=False,
            next_fetch=None,
        )
    store.sync_feeds([FeedConfig(id="a", name="A", url="https://a/edited")])
    state = store.feed_state("a")
    assert state is not None and state.effective_url is None and state.url == "https://a/edited"


def test_translation_tasks_and_cache(store: Store) -> None:
    zh = make_item(feed="a", guid="z", url="https://z/1", title="标题", summary="摘要")
    zh.lang = "zh"
    with store.transaction():
        iid, _ = store.upsert_item(zh, NOW)
        store.upsert_item(
            make_item(feed="a", guid="e", url="https://e/1", title="T", summary="S"), NOW
        )
    (task,) = store.translation_tasks("en")
    assert task.item_id == iid and task.done_hash is None
    with store.transaction():
        store.save_translations([(text_hash("标题"), "Title")], "zh", "en", "m1", NOW)
        store.set_item_translation(
            iid,
            "en",
            source_hash=task.source_hash,
            model="m1",
            status="translated",
            note=None,
            title="Title",
            summary="Summary",
            now=NOW,
        )
    assert store.cached_translations([text_hash("标题"), "x"], "zh", "en", "m1") == {
        text_hash("标题"): "Title"
    }
    assert store.cached_translations([text_hash("标题")], "zh", "en", "m2") == {}
    (task,) = store.translation_tasks("en")
    assert task.done_hash == task.source_hash and task.model == "m1"
    got = next(i for i in store.items() if i.id == iid)
    assert (got.translation, got.title_translated) == ("translated", "Title")
    # the outlet edits the title: the old translation no longer counts
    zh.title = "新标题"
    with store.transaction():
        store.upsert_item(zh, NOW)
    got = next(i for i in store.items() if i.id == iid)
    assert got.translation == "original" and got.title_translated is None


def test_stories_saved_and_orphans_dropped(store: Store) -> None:
    with store.transaction():
        a, _ = store.upsert_item(
            make_item(feed="a", guid="1", url="https://x/1", title="A", summary="a"), NOW
        )
        b, _ = store.upsert_item(
            make_item(feed="b", guid="2", url="https://x/2", title="B", summary="b"), NOW
        )
    store.save_stories({"s-1": [a, b]}, {"s-1": ("A", ["censorship"])}, NOW)
    assert store.story_assignments() == {a: "s-1", b: "s-1"}
    store.save_stories({"s-1": [a], "s-2": [b]}, {"s-1": ("A", []), "s-2": ("B", [])}, NOW)
    assert store.story_labels() == {"s-1": ("A", []), "s-2": ("B", [])}
    store.save_stories({"s-3": [a, b]}, {"s-3": ("AB", [])}, NOW)
    assert set(store.story_labels()) == {"s-3"}
    assert {i.topics == [] and i.story == "s-3" for i in store.items()} == {True}


def _steps_to_add(store: Store, n: int) -> int:
    """SQLite virtual-machine steps (counted by a progress handler) to store item n."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store.conn.set_progress_handler(count, 1)
    try:
        with store.transaction():
            store.upsert_item(make_item(n, feed="a"), NOW)
    finally:
        store.conn.set_progress_handler(None, 1)
    return steps


def test_adding_an_item_does_not_read_the_whole_store(store: Store) -> None:
    # Each lookup (by GUID, URL, title plus summary) must go through an index: a scan of the
    # items table makes every fetch slower as the store grows (quadratic in a first fetch).
    with store.transaction():
        for n in range(1, 101):
            store.upsert_item(make_item(n, feed="a"), NOW)
    small = _steps_to_add(store, 101)
    with store.transaction():
        for n in range(102, 2001):
            store.upsert_item(make_item(n, feed="a"), NOW)
    large = _steps_to_add(store, 2001)
    assert large < small * 2, (small, large)  # 20x the items: a scan would cost ~20x the steps
