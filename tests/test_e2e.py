"""The whole digest through its real CLI: loopback feeds in, a built site and an export out."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from builders import entries, rss, run_digest, write_feeds_config
from httpserver import LoopbackServer
from needs import real_feeds

LINK = "https://example.org/"  # the channels' <link>
CLEANUP = (
    "Cyberspace Administration clean-up campaign closes 40,000 self-media accounts",
    "China's internet regulator said its Qinglang clean-up campaign closed 40,000 self-media "
    "accounts accused of spreading rumours about the economy.",
)
IPLOC = (
    "Platforms ordered to show every user's IP location on profiles",
    "Weibo, Douyin and Zhihu must display the province of each user's IP location on posts "
    "and profiles under new rules from the Cyberspace Administration.",
)


def feeds_fixture(srv: LoopbackServer) -> None:
    """Register the good and bad feeds of the end-to-end test."""
    cdt = entries(
        [
            ("cdt-1", "https://cdt.example/cleanup?utm_source=rss", CLEANUP[0], CLEANUP[1]),
            ("cdt-2", "https://cdt.example/iploc", IPLOC[0], IPLOC[1]),
        ]
    )
    rfa = entries(
        [
            (
                "rfa-1",
                "https://rfa.example/a1",
                "Regulator's clean-up campaign shuts 40,000 self-media accounts",
                "The Cyberspace Administration's clean-up campaign has shut 40,000 self-media "
                "accounts for spreading economic rumours, the regulator said.",
            ),
            (
                "rfa-2",
                "https://rfa.example/a2",
                "Weibo shows IP location of every user as platforms obey new rules",
                "Platforms including Weibo and Douyin now display each user's IP location "
                "province on profiles and posts under Cyberspace Administration rules.",
            ),
            # the same CDT article, syndicated: one item, two sources
            ("rfa-3", "https://cdt.example/cleanup", CLEANUP[0], CLEANUP[1]),
        ]
    )
    zh = entries(
        [
            (
                "zh-1",
                "https://zh.example/1",
                "网信办清朗行动关闭四万个自媒体账号",
                "国家网信办表示，清朗行动已关闭四万个自媒体账号，称其散布经济谣言。",
            ),
            (
                "zh-2",
                "https://zh.example/2",
                "网信办清朗行动再关闭自媒体账号四万个",
                "清朗行动中，网信办关闭了四万个散布经济谣言的自媒体账号。",
            ),
        ]
    )
    srv.route(
        "/cdt.xml",
        body=rss("CDT", cdt, lang="en", link=LINK),
        headers={"Content-Type": "application/rss+xml"},
        etag='"cdt-v1"',
    )
    srv.route(
        "/rfa.xml",
        body=rss("RFA", rfa, lang="en", link=LINK),
        last_modified="Thu, 19 Nov 2026 10:00:00 GMT",
    )
    srv.route("/zh.xml", body=rss("自由亚洲电台", zh, link=LINK), etag='"zh-v1"')
    srv.route("/down.xml", status=500, body=b"oops")
    srv.route(
        "/malformed.xml",
        body=b"this is not a feed <<<&&& at all",
        headers={"Content-Type": "application/xml"},
    )


def write_config(tmp: Path, srv: LoopbackServer, extra: str = "", embedder: str = "auto") -> Path:
    """A feeds.yaml pointing at the loopback server (`embedder`: stories.embedder)."""
    cfg = tmp / "feeds.yaml"
    cfg.write_text(
        f"""site:
  title: Test Digest
  language: en
  window_days: 36500
translation:
  engine: argos
  packages_dir: {tmp / "packages"}
stories:
  embedder: {embedder}
topics:
  censorship: {{keywords: [clean-up, 清朗, self-media]}}
  platform rules: {{keywords: [IP location, IP属地]}}
feeds:
  - {{id: cdt, name: CDT, url: "{srv.url("/cdt.xml")}", language: en}}
  - {{id: rfa, name: RFA, url: "{srv.url("/rfa.xml")}"}}
  - {{id: rfa-zh, name: RFA Mandarin, url: "{srv.url("/zh.xml")}"}}
  - {{id: down, name: Down, url: "{srv.url("/down.xml")}"}}
  - {{id: malformed, name: Malformed, url: "{srv.url("/malformed.xml")}"}}
{extra}""",
        encoding="utf-8",
    )
    return cfg


class Links(HTMLParser):
    """Collects href/src values of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


def export(tmp: Path, cfg: Path) -> list[dict[str, object]]:
    """The export of the test's store, as records."""
    res = run_digest("--config", str(cfg), "export", cwd=tmp)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def test_run_end_to_end(tmp_path: Path, srv: LoopbackServer) -> None:
    feeds_fixture(srv)
    cfg = write_config(tmp_path, srv)
    first = run_digest("--config", str(cfg), "run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("fetch: 5 feeds, 3 ok"), first.stdout
    # Cron mail names each failed feed and why on the stage's one line.
    assert "2 failed (down: " in lines[0] and "; malformed: " in lines[0], lines[0]
    assert "HTTP 500" in lines[0] and srv.url("/") not in lines[0]
    assert "2 items in zh: no zh→en model installed" in first.stdout

    records = export(tmp_path, cfg)
    # 7 entries served in good feeds, one of them a repeat of another: 6 items
    assert len(records) == 6
    by_title = {r["title"]: r for r in records}
    syndicated = by_title[CLEANUP[0]]
    assert syndicated["feed"] == ["cdt", "rfa"]
    assert syndicated["url"] == "https://cdt.example/cleanup"
    assert {r["lang"] for r in records} == {"en", "zh"}
    zh = [r for r in records if r["lang"] == "zh"]
    assert all(r["translation"] == "no-model" for r in zh)
    # the same event told by two outlets is one story; the two Chinese reports join
    stories = {r["title"]: r["story"] for r in records}
    assert (
        stories[CLEANUP[0]]
        == stories["Regulator's clean-up campaign shuts 40,000 self-media accounts"]
    )
    assert (
        stories[IPLOC[0]]
        == stories["Weibo shows IP location of every user as platforms obey new rules"]
    )
    assert stories[CLEANUP[0]] != stories[IPLOC[0]]
    assert len({r["story"] for r in zh}) == 1
    # ... and with the multilingual model, the Chinese reports of the clean-up join the
    # English ones (no translation model is installed here).
    assert zh[0]["story"] == stories[CLEANUP[0]]
    assert "censorship" in syndicated["topics"]

    site = tmp_path / "site"
    assert site.is_symlink()
    index = (site / "index.html").read_text(encoding="utf-8")
    assert CLEANUP[0] in index or "Regulator&#39;s clean-up" in index
    cleanup_page = (site / "stories" / f"{stories[CLEANUP[0]]}.html").read_text("utf-8")
    assert "网信办清朗行动" in cleanup_page and 'lang="zh"' in cleanup_page
    sources = (site / "sources.html").read_text(encoding="utf-8")
    # Readers see that two feeds are not updating, not the operator's error text.
    assert sources.count("Not updating: no successful fetch yet") == 2
    assert "HTTP 500" not in sources and "Internal Server Error" not in sources
    parser = Links()
    parser.feed(index)
    story_links = [h for h in parser.links if h.startswith("stories/")]
    assert story_links and all((site / h).is_file() for h in story_links)

    # second run: validators sent, nothing new, the broken feeds backing off
    srv_requests_before = len(srv.requests)
    second = run_digest("--config", str(cfg), "run", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 new items" in second.stdout
    assert second.stdout.startswith("fetch: 3 feeds, 3 ok (3 not modified), 0 failed")
    assert srv.requests_for("/cdt.xml")[-1].headers.get("if-none-match") == '"cdt-v1"'
    assert (
        srv.requests_for("/rfa.xml")[-1].headers.get("if-modified-since")
        == "Thu, 19 Nov 2026 10:00:00 GMT"
    )
    assert srv.requests_for("/down.xml").__len__() == 1  # backing off, not hammered
    assert len(srv.requests) - srv_requests_before == 3
    assert len(export(tmp_path, cfg)) == 6

    # --force ignores validators and backoff; still adds nothing
    forced = run_digest("--config", str(cfg), "fetch", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "fetch: 5 feeds" in forced.stdout and "0 new items" in forced.stdout
    assert "if-none-match" not in srv.requests_for("/cdt.xml")[-1].headers

    check = run_digest("--config", str(cfg), "feeds", "check", cwd=tmp_path)
    assert check.returncode == 0
    assert "down: FAILING (2 in a row)" in check.stdout
    assert "HTTP 500" in check.stdout


def test_bad_config_exit_1(tmp_path: Path) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text("fetch:\n  timout: 3\nfeeds: []\n", encoding="utf-8")
    res = run_digest("--config", str(cfg), "run", cwd=tmp_path)
    assert res.returncode == 1
    assert "feeds.yaml:2" in res.stderr and "timeout" in res.stderr
    assert "Traceback" not in res.stderr


def test_usage_error_exit_2(tmp_path: Path) -> None:
    assert run_digest("frobnicate", cwd=tmp_path).returncode == 2


def test_lock_held_exit_3(tmp_path: Path) -> None:
    import fcntl

    cfg = tmp_path / "feeds.yaml"
    cfg.write_text("feeds: []\n", encoding="utf-8")
    state = tmp_path / ".digest"
    state.mkdir()
    with open(state / "run.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        res = run_digest("--config", str(cfg), "fetch", cwd=tmp_path)
    assert res.returncode == 3
    assert "another digest run holds the lock" in res.stderr


def test_real_feeds(tmp_path: Path, srv: LoopbackServer) -> None:
    files = real_feeds()
    feeds, names = {}, {}
    for path in files:
        # served as a plain XML type without a charset, as many servers do
        srv.route(
            f"/{path.name}", body=path.read_bytes(), headers={"Content-Type": "application/xml"}
        )
        feed_id = path.stem.replace("_", "-").lower()
        feeds[feed_id], names[feed_id] = srv.url("/" + path.name), path.stem
    cfg = write_feeds_config(tmp_path, feeds, names=names)
    res = run_digest("--config", str(cfg), "run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    records = export(tmp_path, cfg)
    per_feed: dict[str, int] = {}
    for r in records:
        for f in r["feed"]:  # type: ignore[union-attr]
            per_feed[f] = per_feed.get(f, 0) + 1
    well_formed = [p for p in files if "illformed" not in p.name]
    for path in well_formed:
        assert per_feed.get(path.stem.replace("_", "-").lower(), 0) > 0, path.name
    titles = {r["title"] for r in records}
    assert "不归移民漫画系列：专业工作" in titles  # GB2312 with no declared encoding
    # RFA English and its category feed overlap: 15 distinct articles, 6 seen in both
    rfa = [r for r in records if {"rfa-nuus-english", "rfa-nuus-english-cat2"} & set(r["feed"])]  # type: ignore[arg-type]
    assert len(rfa) == 15
    assert sum(1 for r in rfa if len(r["feed"]) == 2) == 6  # type: ignore[arg-type]
    langs = {r["feed"][0]: r["lang"] for r in records}  # type: ignore[index]
    assert langs["rfa-nuus-mandarin"] == "zh"
    assert langs["rfa-nuus-uyghur"] == "ug"
    assert langs["rssatomkit-rfa-tibetan"] == "bo"
    assert langs["rssatomkit-bbcpersian"] == "fa"

    from digest.store import Store

    with Store.open(tmp_path / ".digest" / "digest.db") as store:
        row = store.conn.execute(
            "SELECT title FROM feeds WHERE id = 'feedparser-illformed-big5'"
        ).fetchone()
    assert row["title"].startswith("我希望??很容易?其翻?成中文")  # Big5, undeclared
    sources = (tmp_path / "site" / "sources.html").read_text(encoding="utf-8")
    assert "rfa-nuus-uyghur" in sources or "rfa_nuus_uyghur" in sources


def test_run_translates_through_an_installed_model(tmp_path: Path, srv: LoopbackServer) -> None:
    import unicodedata

    import tinymodel

    archive = tinymodel.build_copy_model(tmp_path / "build", "zh", "en")
    feeds_fixture(srv)
    # Words alone: the Chinese reports keep a story of their own, its headline translated.
    cfg = write_config(tmp_path, srv, embedder="none")
    installed = run_digest(
        "--config", str(cfg), "models", "install-file", str(archive), cwd=tmp_path
    )
    assert installed.returncode == 0, installed.stderr
    listed = run_digest("--config", str(cfg), "models", "list", cwd=tmp_path)
    assert "installed: translate-zh_en" in listed.stdout
    first = run_digest("--config", str(cfg), "run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "translate: 2 items, 4 texts translated, 0 from cache" in first.stdout
    records = [r for r in export(tmp_path, cfg) if r["lang"] == "zh"]
    assert len(records) == 2
    for r in records:
        # the copy model gives back its input (after SentencePiece's NFKC normalisation)
        assert r["translation"] == "translated"
        assert r["title_translated"] == unicodedata.normalize("NFKC", str(r["title"]))
    story = (tmp_path / "site" / "stories" / f"{records[0]['story']}.html").read_text("utf-8")
    assert "machine translation" in story.lower()
    index = (tmp_path / "site" / "index.html").read_text("utf-8")
    # a machine-translated headline is labelled on the cards too, not only on story pages
    assert "Machine translation: the original is on the story page" in index
    again = run_digest("--config", str(cfg), "translate", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("translate: 0 items, 0 texts translated")
