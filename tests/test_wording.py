"""Plain words for readers: counts that agree, the window in days or weeks, the site language
by name, when the front page was updated, and links only to what exists.

"Updated" is when the newest published report was fetched: it moves only when the content
does, so an unchanged rebuild still rewrites no page (the build time itself stays in
build.json alone).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from builders import REAL_NOW, entries, rss, write_feeds_config
from httpserver import LoopbackServer

from digest import run_build, run_fetch
from digest.config import load_config
from digest.render import make_environment
from digest.store import to_db
from digest.wording import plural, window_phrase
from digest.workspace import Workspace


@pytest.mark.parametrize(
    ("n", "word", "expected"),
    [
        (1, "feed", "1 feed"),
        (2, "feed", "2 feeds"),
        (0, "feed", "0 feeds"),
        (1, "entry", "1 entry"),
        (3, "entry", "3 entries"),
        (1, "story", "1 story"),
        (2, "story", "2 stories"),
        (2, "day", "2 days"),
        (2, "match", "2 matches"),
        (2, "new item", "2 new items"),
        (1, "hidden entry", "1 hidden entry"),
        (2, "hidden entry", "2 hidden entries"),
    ],
)
def test_plural(n: int, word: str, expected: str) -> None:
    assert plural(n, word) == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (1, "the last day"),
        (3, "the last 3 days"),
        (7, "the last 7 days"),
        (10, "the last 10 days"),
        (14, "the last 2 weeks"),
        (28, "the last 4 weeks"),
        (30, "the last 30 days"),
        (90, "the last 90 days"),
        (365, "the last year"),
        (730, "the last 2 years"),
        (3650, None),
        (36500, None),
    ],
)
def test_window_in_words(days: int, expected: str | None) -> None:
    assert window_phrase(days) == expected


def test_the_filters_in_templates() -> None:
    env = make_environment()
    text = env.from_string(
        '{{ 1 | plural("story") }}; {{ 2 | plural("story") }}; {{ 36500 | window }}|'
        '{{ 7 | window }}; {{ "zh-Hant" | language_name }}'
    ).render()
    assert text == "1 story; 2 stories; |the last 7 days; Chinese"


# ---------------------------------------------------------------- the site


def feeds_on(srv: LoopbackServer, titles: list[str]) -> None:
    rows = [(f"g-{i}", f"https://news.example/{i}", t, t) for i, t in enumerate(titles)]
    recent = entries(rows, start=REAL_NOW - timedelta(hours=6))
    srv.route("/a.xml", body=rss("A", recent, lang="en"))


def test_about_page_and_front_page_in_plain_words(tmp_path: Path, srv: LoopbackServer) -> None:
    feeds_on(srv, ["Regulator shuts accounts", "Court jails blogger"])
    cfg = write_feeds_config(tmp_path, {"a": srv.url("/a.xml")})
    # write_feeds_config keeps everything (36500 days); a week-long window is set here.
    text = cfg.read_text(encoding="utf-8").replace("window_days: 36500", "window_days: 14")
    cfg.write_text(text.replace("site: {", "site: {language: en, "), encoding="utf-8")
    config = load_config(cfg)
    ws = Workspace(cfg, tmp_path / ".digest")
    run_fetch(config, ws)
    run_build(config, ws)
    about = (tmp_path / "site" / "about.html").read_text(encoding="utf-8")
    assert "other than English are translated into English" in about
    assert "ranks the stories of the last 2 weeks" in about
    assert "other than en " not in about and "14 days" not in about
    # The demo keeps everything: no "36500 days" anywhere, on any page.
    everything = cfg.read_text(encoding="utf-8").replace("window_days: 14", "window_days: 36500")
    cfg.write_text(everything, encoding="utf-8")
    run_build(load_config(cfg), ws)
    site = tmp_path / "site"
    for page in site.rglob("*.html"):
        assert "36500" not in page.read_text(encoding="utf-8"), page
    assert "ranks every story the digest keeps" in (site / "about.html").read_text("utf-8")


def test_updated_moves_only_when_a_new_report_arrives(tmp_path: Path, srv: LoopbackServer) -> None:
    feeds_on(srv, ["Regulator shuts accounts"])
    cfg = write_feeds_config(tmp_path, {"a": srv.url("/a.xml")})
    config = load_config(cfg)
    ws = Workspace(cfg, tmp_path / ".digest")
    run_fetch(config, ws)
    run_build(config, ws)
    index = tmp_path / "site" / "index.html"
    with ws.open_store() as store:
        first_seen = store.newest_first_seen()
    assert first_seen is not None
    stamp = first_seen.strftime("%Y-%m-%d %H:%M UTC")
    assert '<p class="updated">Updated <time datetime="' in index.read_text("utf-8")
    assert f">{stamp}</time></p>" in index.read_text("utf-8")
    before = os.stat(index.resolve())

    # Nothing new: the rebuild leaves the front page (and every other page) as it was.
    run_fetch(config, ws, force=True)
    run_build(config, ws)
    again = os.stat(index.resolve())
    assert (again.st_ino, again.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    # The first report was seen an hour ago: the store's times have one-second steps, and a
    # fast run would see both reports in the same second.
    first_seen -= timedelta(hours=1)
    with ws.open_store() as store:
        store.conn.execute("UPDATE items SET first_seen = ?", (to_db(first_seen),))
        store.conn.commit()

    # A new report: the front page says so.
    feeds_on(srv, ["Regulator shuts accounts", "Court jails blogger"])
    run_fetch(config, ws, force=True)
    run_build(config, ws)
    with ws.open_store() as store:
        newest = store.newest_first_seen()
    assert newest is not None and newest > first_seen
    assert newest.strftime("%Y-%m-%d %H:%M UTC") in index.read_text("utf-8")


def test_links_only_to_what_exists(tmp_path: Path, srv: LoopbackServer) -> None:
    """sources.opml exists and is linked only when it lists a feed; the newsletter archive is
    in the navigation only when the site has one."""
    feeds_on(srv, ["Regulator shuts accounts"])
    local = tmp_path / "local.xml"
    local.write_bytes(rss("Local", entries([("l-1", "https://l.example/1", "Local news", "x")])))
    cfg = write_feeds_config(tmp_path, {"local": "local.xml"})
    config = load_config(cfg)
    ws = Workspace(cfg, tmp_path / ".digest")
    run_fetch(config, ws)
    run_build(config, ws)
    site = tmp_path / "site"
    assert not (site / "sources.opml").exists()
    for page in ("index.html", "about.html", "sources.html"):
        text = (site / page).read_text("utf-8")
        assert "sources.opml" not in text, page
        assert "newsletter/index.html" not in text, page

    # An http(s) feed: the OPML lists it and every footer links it.
    cfg = write_feeds_config(
        tmp_path,
        {"local": "local.xml", "a": srv.url("/a.xml")},
        extra='newsletter: {from: "D <d@example.org>", to: r@example.org}\n',
    )
    config = load_config(cfg)
    run_fetch(config, ws)
    run_build(config, ws)
    opml = (site / "sources.opml").read_text("utf-8")
    assert srv.url("/a.xml") in opml and "local.xml" not in opml
    for page in ("index.html", "about.html", "days/index.html"):
        text = (site / page).read_text("utf-8")
        assert 'sources.opml">sources (OPML)</a>' in text, page
        # The newsletter is configured: its archive is on the site, and in the navigation.
        assert '/index.html">Newsletter</a></li>' in text, page
    assert (site / "newsletter" / "index.html").is_file()
    assert "past issues are in the" in (site / "about.html").read_text("utf-8")
