"""`digest hide` / `digest unhide`: hidden items and stories leave the site and stay hidden."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from builders import NOW, copy_demo, make_item, run_digest

from digest.store import Store

CONFIG = ("--config", "feeds.yaml")


def visible_ids(store: Store) -> set[str]:
    return {i.id for i in store.items(include_hidden=False)}


def test_hidden_item_and_story_survive_refetch_and_recluster(store: Store) -> None:
    ids = [store.upsert_item(make_item(n, feed="eff"), NOW)[0] for n in range(4)]
    store.save_stories({"s-a": ids[:2], "s-b": ids[2:]}, {"s-a": ("A", []), "s-b": ("B", [])}, NOW)

    assert store.hide(ids[0], "a request", NOW) == ("item", 1)
    assert visible_ids(store) == set(ids[1:])
    # A re-fetch (the same GUID again, even with a corrected title) keeps it hidden.
    again = make_item(0, feed="eff")
    again.title = "Corrected title"
    assert store.upsert_item(again, NOW + timedelta(hours=1)) == (ids[0], False)
    assert visible_ids(store) == set(ids[1:])

    # Hiding a story hides its items too, so re-clustering under a new id cannot bring them back.
    assert store.hide("s-b", "people at risk", NOW) == ("story", 2)
    assert visible_ids(store) == {ids[1]}
    store.save_stories({"s-new": ids[1:]}, {"s-new": ("New", [])}, NOW + timedelta(hours=2))
    assert visible_ids(store) == {ids[1]}
    hidden = {entry[0]: entry for entry in store.hidden_entries()}
    assert set(hidden) == {ids[0], "s-b", ids[2], ids[3]}
    assert hidden[ids[2]][1:] == ("people at risk", NOW, "s-b")

    # Unhiding the story shows its items again; the item hidden on its own stays hidden.
    assert store.unhide("s-b") == 3
    assert visible_ids(store) == set(ids[1:])
    assert store.unhide(ids[0]) == 1
    assert visible_ids(store) == set(ids)
    assert store.hide("no-such-id", "x", NOW) is None
    assert store.unhide("no-such-id") == 0


def site_text(site: Path) -> str:
    return "".join(
        p.read_text("utf-8")
        for p in sorted(site.resolve().rglob("*"))
        if p.is_file() and p.suffix in (".html", ".atom", ".json") and "pagefind" not in p.parts
    )


def test_hide_and_unhide_through_the_cli(tmp_path: Path) -> None:
    copy_demo(tmp_path)
    assert run_digest(*CONFIG, "run", cwd=tmp_path).returncode == 0
    records = [
        json.loads(line) for line in run_digest(*CONFIG, "export", cwd=tmp_path).stdout.splitlines()
    ]
    face = next(r for r in records if "刷脸" in r["title"])
    story_id = face["story"]
    members = [r for r in records if r["story"] == story_id]
    page = f"stories/{story_id}.html"
    site = tmp_path / "site"
    assert (site / page).is_file() and "刷脸" in site_text(site)

    done = run_digest(*CONFIG, "hide", story_id, "--reason", "takedown request", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{story_id}: story hidden with its {len(members)} items; site rebuilt" in done.stdout
    assert not (site / page).exists()
    assert "刷脸" not in site_text(site)
    # Still hidden after a forced re-fetch, a re-cluster and a rebuild.
    for step in (["fetch", "--force"], ["cluster", "--rebuild"], ["build"]):
        assert run_digest(*CONFIG, *step, cwd=tmp_path).returncode == 0
    assert not (site / page).exists()
    assert "刷脸" not in site_text(site)
    exported = [
        json.loads(line) for line in run_digest(*CONFIG, "export", cwd=tmp_path).stdout.splitlines()
    ]
    assert all(r["hidden"] for r in exported if r["id"] in {m["id"] for m in members})

    shown = run_digest(*CONFIG, "unhide", story_id, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "刷脸" in site_text(site)

    missing = run_digest(*CONFIG, "hide", "no-such-id", "--reason", "x", cwd=tmp_path)
    assert missing.returncode == 1
    assert "error: no item or story has the id 'no-such-id'" in missing.stderr
    assert "hint:" in missing.stderr
    no_reason = run_digest(*CONFIG, "hide", story_id, cwd=tmp_path)
    assert no_reason.returncode == 2  # --reason is required
