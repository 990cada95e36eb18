"""Undated items: first-seen time for ordering, marked "date unknown", never leading."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from builders import NOW, make_config, make_item, make_stored_item, make_story

from digest.edition import site_data
from digest.newsletter.issue import plan_issue, render_issue
from digest.site.build import render_files
from digest.store import Store

UNDATED = "Undated report from three outlets"
DATED = "Dated report from one outlet"


def fill(store: Store) -> None:
    """A fresh undated story told by three feeds and a day-old dated story told by one."""
    for n, feed in enumerate(("a", "b", "c")):
        item = make_item(10 + n, feed=feed, title=f"{UNDATED} {n}", published=NOW, fallback=True)
        store.upsert_item(item, NOW)
    dated = make_item(1, feed="a", title=DATED, published=NOW - timedelta(hours=30))
    store.upsert_item(dated, NOW)
    ids = {i.title: i.id for i in store.items()}
    store.save_stories(
        {"s-undated": [ids[f"{UNDATED} {n}"] for n in range(3)], "s-dated": [ids[DATED]]},
        {"s-undated": (f"{UNDATED} 0", []), "s-dated": (DATED, [])},
        NOW,
    )


def test_the_flag_reaches_the_stored_item_and_a_dated_refetch_clears_it(store: Store) -> None:
    store.upsert_item(make_item(1, published=NOW, fallback=True), NOW)
    (item,) = store.items()
    assert item.date_is_fallback and item.published == NOW
    later = NOW + timedelta(hours=5)
    store.upsert_item(make_item(1, published=NOW - timedelta(days=1)), later)
    (item,) = store.items()
    assert not item.date_is_fallback and item.published == NOW - timedelta(days=1)


def test_undated_story_never_leads_and_is_marked(tmp_path: Path, store: Store) -> None:
    fill(store)
    config = make_config(tmp_path, feeds=["a", "b", "c"], window_days=7)
    data = site_data(config, store, NOW)
    assert [s.id for s in data.stories] == ["s-dated", "s-undated"]
    undated = data.stories[1]
    # Three outlets and fresh: it would lead on its score alone.
    assert undated.score > data.stories[0].score
    files = render_files(data)
    index = files["index.html"].decode()
    assert index.index(DATED) < index.index(UNDATED)
    assert index.count("date unknown (first seen") == 1
    page = files["stories/s-undated.html"].decode()
    assert page.count("date unknown (first seen") == 1 + 3  # the story and each report
    assert "date unknown" not in files["stories/s-dated.html"].decode()


def test_an_undated_story_never_names_an_issue(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    undated = make_stored_item("u1", title=UNDATED, published=NOW)
    undated = replace(undated, date_is_fallback=True)
    dated = make_stored_item("d1", title=DATED, published=NOW - timedelta(hours=2))
    stories = [make_story("s-u", [undated]), make_story("s-d", [dated])]
    kwargs = {"issue_id": "x", "number": 1, "date": NOW, "since": None, "until": NOW}
    content = plan_issue(stories, config, **kwargs)
    assert content.subject.endswith(f": {DATED}")
    html, text = render_issue(content)
    assert "date unknown" in text and "date unknown" in html
    alone = plan_issue(stories[:1], config, **kwargs)
    assert alone.subject == f"{config.site.title} — {NOW:%Y-%m-%d}"
