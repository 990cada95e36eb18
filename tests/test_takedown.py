"""`digest hide` / `digest unhide`: hidden items and stories leave the site and stay hidden."""

from __future__ import annotations

import gzip
import html
import json
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from builders import NOW, copy_demo, make_config, make_item, newsletter_workspace, run_digest

import digest
from digest.edition import site_data
from digest.newsletter.snapshot import content_from_json
from digest.records.newsletter import SENT
from digest.site.build import render_files
from digest.site.serve import make_server
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


# ---------------------------------------------------------------- every published surface

NEWSLETTER = """
newsletter:
  from: "Digest <digest@example.org>"
  to: [reader@example.org]
  smtp: {host: 127.0.0.1, port: 1, security: none}
"""


def published_texts(folder: Path) -> dict[str, str]:
    """Every file of every site version beside the `site` link (the search index included),
    as text: pagefind's compressed files decompressed, its zero-width word breaks removed.
    Keys: "site/PATH" for the version the link names, "VERSION-DIR/PATH" for the others."""
    current = (folder / "site").resolve()
    texts = {}
    for version in sorted(folder.glob("site.v*")):
        prefix = "site" if version == current else version.name
        for path in sorted(p for p in version.rglob("*") if p.is_file()):
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            text = data.decode("utf-8", errors="replace").replace("\u200b", "")
            texts[f"{prefix}/{path.relative_to(version).as_posix()}"] = html.unescape(text)
    return texts


def mark_sent(store: Store, issue_id: str) -> None:
    """Record the issue as accepted by the server for its one recipient (no SMTP here)."""
    store.queue_newsletter_deliveries(issue_id, {"reader@example.org": "<m@x>"}, NOW, reset=False)
    store.set_newsletter_delivery(issue_id, "reader@example.org", SENT, NOW)


def test_takedown_reaches_every_published_surface(tmp_path: Path) -> None:
    config = copy_demo(tmp_path)
    config.write_text(config.read_text("utf-8") + NEWSLETTER, encoding="utf-8")
    assert run_digest(*CONFIG, "run", cwd=tmp_path).returncode == 0
    assert run_digest(*CONFIG, "newsletter", cwd=tmp_path).returncode == 0  # a dry run
    state = tmp_path / ".digest"
    with Store.open(state / "digest.db") as store:
        (issue,) = store.newsletter_issues()
        mark_sent(store, issue.id)
        assert issue.content is not None
        content = content_from_json(issue.content)
    assert content is not None and len(content.top) >= 2
    lead, second = content.top[0], content.top[1]
    hidden_headline = lead.headline.value
    assert hidden_headline in issue.subject
    with Store.open(state / "digest.db") as store:
        titles = [i.title for i in store.items(ids=[r.id for r in lead.covered])]
    assert run_digest(*CONFIG, "build", cwd=tmp_path).returncode == 0
    before = published_texts(tmp_path)
    page = f"site/newsletter/{issue.id}.html"
    assert before[page].count(hidden_headline) >= 2  # its <title> and the story itself
    assert hidden_headline in before["site/newsletter/index.html"]
    fragments = [rel for rel in before if rel.endswith(".pf_fragment")]
    assert any(hidden_headline in before[rel] for rel in fragments)  # the grep can fail

    done = run_digest(*CONFIG, "hide", lead.id, "--reason", "takedown request", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "search index" in done.stdout and "newsletter's web archive" in done.stdout
    assert f"1 sent issue(s) carried it ({issue.id})" in done.stdout
    assert "emails already sent cannot be recalled" in done.stdout

    after = published_texts(tmp_path)
    assert any(rel.endswith(".pf_fragment") for rel in after)
    assert f"site/stories/{lead.id}.html" not in after
    for rel, text in after.items():
        for hidden in [hidden_headline, *titles]:
            assert hidden not in text, (rel, hidden)
    # Only the current version is left beside the link: the one before held the story.
    assert {rel.split("/")[0] for rel in after} == {"site"}
    # The archive's issue is rendered again without the story; the next one names it.
    assert second.headline.value in after[page]
    assert f"<title>{issue.subject.split(': ')[0]}: {second.headline.value}</title>" in after[page]
    assert second.headline.value in after["site/newsletter/index.html"]
    # The store keeps what was mailed, byte for byte.
    with Store.open(state / "digest.db") as store:
        (kept,) = store.newsletter_issues()
    assert kept.html == issue.html and kept.text == issue.text and kept.subject == issue.subject
    # Future issues leave it out.
    later = run_digest(*CONFIG, "newsletter", "--since", "2000-01-01", cwd=tmp_path)
    assert later.returncode == 0, later.stderr
    with Store.open(state / "digest.db") as store:
        draft = next(i for i in store.newsletter_issues() if not i.started)
    assert lead.id not in draft.stories and hidden_headline not in draft.html

    assert run_digest(*CONFIG, "unhide", lead.id, cwd=tmp_path).returncode == 0
    shown = published_texts(tmp_path)
    assert hidden_headline in shown[page] and hidden_headline in shown["site/newsletter/index.html"]


# ---------------------------------------------------------------- the preview follows the link


def test_serve_follows_the_link_across_hide_unhide_and_rebuilds(tmp_path: Path) -> None:
    cfg, ws = newsletter_workspace(tmp_path)
    out = tmp_path / "site"
    digest.run_build(cfg, ws, out=out)
    first_version = out.resolve()
    with ws.open_store() as store:
        target = next(i for i in store.items() if i.title == "Internet shutdown in the capital")
    assert target.story is not None
    story_page = f"/stories/{target.story}.html"
    server = make_server(out, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as answer:
                return answer.status, answer.read().decode("utf-8")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode("utf-8")

    try:
        assert get(story_page)[0] == 200
        assert target.title in get("/index.html")[1]
        digest.hide(cfg, ws, target.story, "a request", out=out)
        status, front = get("/index.html")
        assert status == 200 and target.title not in front
        assert get(story_page)[0] == 404
        digest.unhide(cfg, ws, target.story, out=out)
        assert get(story_page)[0] == 200 and target.title in get("/index.html")[1]
        for _ in range(2):
            digest.run_build(cfg, ws, out=out)
        assert not first_version.exists()  # removed by the later builds
        status, front = get("/index.html")
        assert status == 200 and target.title in front
        assert get("/static/style.css")[0] == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_story_that_lost_its_headline_report_shows_nothing_of_it_before_reclustering(
    tmp_path: Path, store: Store
) -> None:
    secret = make_item(1, feed="a", title="Named activist Li Mingyuan detained in Urumqi")
    other = make_item(2, feed="b", title="Activist detained in western city")
    ids = [store.upsert_item(it, NOW)[0] for it in (secret, other)]
    store.save_stories({"s-1": ids}, {"s-1": (secret.title, [])}, NOW)
    store.save_story_extras({"s-1": ["mingyuan", "urumqi", "detained"]}, {}, NOW)
    store.hide(ids[0], "endangers a source", NOW)
    config = make_config(tmp_path, feeds=["a", "b"], window_days=36500)
    data = site_data(config, store, NOW)
    (story,) = data.stories
    assert story.headline == other.title
    assert story.key_terms == ["detained"]
    files = render_files(data)
    for rel, content in files.items():
        text = content.decode("utf-8", errors="replace")
        for word in ("Mingyuan", "Urumqi", "mingyuan", "urumqi"):
            assert word not in text, (rel, word)
