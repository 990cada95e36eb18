"""The static site: pages, escaping, languages, links, and the atomic incremental output."""

from __future__ import annotations

import copy
import dataclasses
import gc
import json
import os
import re
import shutil
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jinja2
import pytest
from builders import make_item, make_stored_item, make_story
from needs import missing

import digest
from digest import build_data, build_stage
from digest.collector import collector_paused
from digest.errors import ConfigError, StageError
from digest.records import (
    Config,
    FeedConfig,
    FeedHealth,
    SiteConfig,
    SiteData,
    StoredItem,
    Story,
    TopicConfig,
    TopicView,
)
from digest.render import make_environment, templates_root
from digest.site.build import MANIFEST, BuildReport, build_site
from digest.site.fingerprint import code_fingerprint, story_signature
from digest.store import Store, text_hash

T0 = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "base-uri 'none'; form-action 'self'"
)
SEARCH_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self' 'wasm-unsafe-eval'; base-uri 'none'; form-action 'self'"
)

# ---------------------------------------------------------------- a tiny DOM over html.parser

VOID = {"meta", "link", "br", "img", "input", "hr", "source", "area", "base", "col", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]  # a valueless attribute maps to ""
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        out = list(self.parts)
        for child in self.children:
            out.append(child.text)
        return "".join(out)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for node in self.walk():
            if tag is not None and node.tag != tag:
                continue
            if "class_" in attrs and attrs["class_"] not in (node.attrs.get("class") or "").split():
                continue
            if any(node.attrs.get(k) != v for k, v in attrs.items() if k != "class_"):
                continue
            found.append(node)
        return found


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].parts.append(data)
        # Keep text order roughly right for .text: data after a child goes to a fresh text node.
        if self.stack[-1].children:
            self.stack[-1].parts.pop()
            self.stack[-1].children.append(Node("#text", {}, parts=[data]))


def parse(path: Path) -> Node:
    builder = TreeBuilder()
    builder.feed(path.read_text("utf-8"))
    builder.close()
    return builder.root


# ---------------------------------------------------------------- data


def ago(minutes: int) -> datetime:
    return T0 - timedelta(minutes=minutes)


def make_data() -> SiteData:
    en = make_stored_item(
        "en1",
        lang="en",
        title="Court blocks spyware sale",
        summary="A court ruled on Tuesday.",
        feeds=["eff"],
        link="https://www.eff.org/deeplinks/1",
        published=T0,
    )
    hostile = make_stored_item(
        "bad1",
        lang="en",
        title=HOSTILE,
        summary=f"summary {HOSTILE} & more",
        feeds=["evil"],
        link="javascript:alert(1)",
        published=ago(3),
    )
    zh = make_stored_item(
        "zh1",
        lang="zh",
        title="微博删除维权帖子",
        summary="多名用户的帖子被删除。",
        feeds=["cdt-zh"],
        link="https://chinadigitaltimes.net/chinese/1",
        title_translated="Weibo deletes rights posts",
        summary_translated="Posts by several users were deleted.",
        published=ago(10),
    )
    zh_raw = make_stored_item(
        "zh2",
        lang="zh",
        title="网络审查加强",
        summary="审查范围扩大。",
        feeds=["voa-zh", "cdt-zh"],
        link="https://www.voachinese.com/a/2",
        translation="no-model",
        note="no zh→en model installed",
        published=ago(20),
    )
    ug = make_stored_item(
        "ug1",
        lang="ug",
        title="ئۇيغۇر ئاپتونوم رايونىدا نازارەت",
        summary="يېڭى خەۋەر",
        feeds=["rfa-ug"],
        link="https://www.rfa.org/uyghur/1",
        translation="no-model",
        published=ago(30),
    )
    odd = make_stored_item(
        "odd1",
        lang="en",
        title="A story with an awkward id",
        summary="Nothing odd in the text.\ud800",  # a lone surrogate, as hostile text may carry
        feeds=["eff"],
        link="",
        published=ago(40),
    )
    only_topic = make_stored_item(
        "ot1",
        lang="en",
        title="Only listed under a topic",
        summary="Filed away.",
        feeds=["eff"],
        link="https://www.eff.org/deeplinks/2",
        published=ago(50),
    )

    s_en = make_story("s-en", [en, hostile], topics=["surveillance"], outlets=["EFF", "Evil"])
    s_zh = make_story(
        "s-zh", [zh, zh_raw], topics=["censorship"], outlets=["CDT Chinese", "VOA Chinese"]
    )
    s_ug = make_story("s-ug", [ug], topics=["censorship", "unknown topic"], outlets=["RFA Uyghur"])
    s_odd = make_story("../../etc/passwd", [odd], topics=[HOSTILE], outlets=["EFF"])
    s_topic_only = make_story(
        "s-topic-only", [only_topic], topics=["surveillance"], outlets=["EFF"]
    )

    feeds = [
        FeedHealth(
            "eff",
            "EFF Deeplinks",
            "https://www.eff.org/rss/updates.xml",
            "en",
            ["global"],
            True,
            last_success=T0,
            last_status=200,
            items_total=40,
            items_in_window=5,
        ),
        FeedHealth(
            "cdt-zh",
            "CDT Chinese",
            "https://chinadigitaltimes.net/chinese/feed/",
            "zh",
            ["china"],
            True,
            last_success=T0,
            last_status=304,
            items_total=12,
            items_in_window=12,
        ),
        FeedHealth(
            "voa-zh",
            "VOA Chinese",
            "https://www.voachinese.com/api/old",
            None,
            ["china"],
            True,
            effective_url="https://www.voachinese.com/api/new",
            last_status=200,
            last_success=T0,
        ),
        FeedHealth(
            "rfa-ug",
            "RFA Uyghur",
            "https://www.rfa.org/uyghur/rss",
            "ug",
            ["uyghur"],
            True,
            last_status=410,
            gone=True,
            consecutive_failures=3,
            last_error="https://www.rfa.org/uyghur/rss: 410 Gone",
        ),
        FeedHealth(
            "evil",
            f"Evil {HOSTILE}",
            'https://evil.example/feed?x="><b>',
            None,
            [HOSTILE],
            True,
            last_error=f"bad {HOSTILE}",
        ),
    ]
    topics = [
        TopicView("censorship", "censorship", [s_zh, s_ug]),
        TopicView("surveillance", "surveillance", [s_en, s_topic_only]),
        TopicView(HOSTILE, "../evil slug", [s_odd]),
    ]
    return SiteData(
        site=SiteConfig(title="Digital Rights Digest", language="en"),
        stories=[s_zh, s_en, s_ug, s_odd],
        topics=topics,
        feeds=feeds,
        generated_at=T0,
    )


# The sources pages link each feed by its http(s) URL (the moved one where it moved).
FEED_LINKS = {
    "https://www.eff.org/rss/updates.xml",
    "https://chinadigitaltimes.net/chinese/feed/",
    "https://www.voachinese.com/api/new",
    "https://www.rfa.org/uyghur/rss",
    'https://evil.example/feed?x="><b>',
}
ITEM_LINKS = {
    "https://www.eff.org/deeplinks/1",
    "https://chinadigitaltimes.net/chinese/1",
    "https://www.voachinese.com/a/2",
    "https://www.rfa.org/uyghur/1",
    "https://www.eff.org/deeplinks/2",
}


def build(tmp_path: Path, data: SiteData | None = None, **kw) -> tuple[BuildReport, Path]:
    out = tmp_path / "site"
    kw.setdefault("search", False)  # pagefind has tests of its own
    report = build_site(data if data is not None else make_data(), out, **kw)
    return report, out


def site_files(out: Path) -> dict[str, os.stat_result]:
    root = out.resolve()
    return {str(p.relative_to(root)): p.stat() for p in sorted(root.rglob("*")) if p.is_file()}


def html_pages(out: Path) -> list[Path]:
    return sorted(out.resolve().rglob("*.html"))


# ---------------------------------------------------------------- tests: pages


def test_builds_every_page_and_asset(tmp_path: Path) -> None:
    report, out = build(tmp_path)
    for rel in [
        "index.html",
        "sources.html",
        "build.json",
        "favicon.ico",
        "static/style.css",
        "static/favicon.svg",
        "stories/s-en.html",
        "stories/s-zh.html",
        "stories/s-ug.html",
        "stories/s-topic-only.html",
        "topics/censorship.html",
        "topics/surveillance.html",
        "days/index.html",
        "days/2026-11-20.html",
        "about.html",
        "search.html",
        "404.html",
        "feeds/stories.atom",
        "feeds/stories.json",
        "feeds/topics/censorship.atom",
        "feeds/topics/surveillance.json",
        "sources.opml",
    ]:
        assert (out / rel).is_file(), rel
    stories = sorted(p.name for p in (out / "stories").iterdir())
    assert len(stories) == 5
    topics = sorted(p.name for p in (out / "topics").iterdir())
    assert len(topics) == 3
    # index, sources and 5 source pages, 5 stories, 3 topics, the archive and its one day,
    # about, search, 404
    assert report.pages == len(html_pages(out)) == 1 + 6 + 5 + 3 + 2 + 3
    assert report.written == len(site_files(out))
    assert report.linked == 0
    assert (out / "favicon.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"


def test_front_page_lists_stories_in_order_with_metadata(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    index = parse(out / "index.html")
    cards = index.find_all("article", class_="story-card")
    headlines = [c.find_all("a")[0].text for c in cards]
    assert headlines == [
        "Weibo deletes rights posts",
        "Court blocks spyware sale",
        "ئۇيغۇر ئاپتونوم رايونىدا نازارەت",
        "A story with an awkward id",
    ]
    first = cards[0]
    assert first.find_all("a")[0].attrs["href"] == "stories/s-zh.html"
    assert first.find_all("p", class_="summary")[0].text == "Posts by several users were deleted."
    assert "CDT Chinese, VOA Chinese" in first.text
    assert [b.text for b in first.find_all("span", class_="lang-badge")] == ["zh"]
    times = first.find_all("time")
    assert times[0].attrs["datetime"] == "2026-11-20T13:55:00Z"
    assert times[0].text == "2026-11-20 13:55 UTC"
    assert [a.text for a in first.find_all("a") if "topics/" in a.attrs["href"]] == ["censorship"]
    # An untranslated headline is marked with its own language and direction.
    ug_link = cards[2].find_all("a")[0]
    assert (ug_link.attrs["lang"], ug_link.attrs["dir"]) == ("ug", "rtl")
    # Then the sections by topic, each linking to its page.
    section_links = [
        a.attrs["href"]
        for s in index.find_all("section", class_="topic-section")
        for a in s.find_all("h3")[0].find_all("a")
    ]
    assert section_links[:2] == ["topics/censorship.html", "topics/surveillance.html"]
    assert index.find_all("html")[0].attrs["lang"] == "en"


def test_story_page_marks_translations_and_originals(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    page = parse(out / "stories/s-zh.html")
    items = page.find_all("li", class_="item")
    assert len(items) == 2
    translated, raw = items
    title = translated.find_all("h3")[0]
    assert title.text == "Weibo deletes rights posts"
    assert title.attrs["lang"] == "en"
    assert "Machine translation" in translated.find_all(class_="mt-label")[0].text
    original = translated.find_all("div", class_="original")[0]
    texts = {
        n.text: (n.attrs.get("lang"), n.attrs.get("dir"))
        for n in original.find_all("p")
        if n.attrs.get("lang")
    }
    assert texts == {"微博删除维权帖子": ("zh", "ltr"), "多名用户的帖子被删除。": ("zh", "ltr")}
    links = translated.find_all("a", class_="link-out")
    assert links[0].attrs["href"] == "https://chinadigitaltimes.net/chinese/1"
    assert links[0].attrs["rel"] == "noopener noreferrer"
    assert "CDT Chinese" in translated.text
    # The untranslated item: original text with lang/dir, the note, both outlets by name.
    raw_title = raw.find_all("h3")[0]
    assert (raw_title.text, raw_title.attrs["lang"]) == ("网络审查加强", "zh")
    assert not raw.find_all(class_="mt-label")
    assert raw.find_all("p", class_="note")[0].text == "Not translated: no zh→en model installed"
    assert "VOA Chinese, CDT Chinese" in raw.text


def test_rtl_item_has_dir_rtl_and_default_note(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    page = parse(out / "stories/s-ug.html")
    item_node = page.find_all("li", class_="item")[0]
    marked = [n for n in item_node.walk() if n.attrs.get("lang") == "ug"]
    assert {n.text for n in marked} == {"ئۇيغۇر ئاپتونوم رايونىدا نازارەت", "يېڭى خەۋەر"}
    assert all(n.attrs.get("dir") == "rtl" for n in marked)
    assert item_node.find_all("p", class_="note")[0].text == (
        "Not translated: no ug→en model installed"
    )
    # The page itself stays in the site's language and direction.
    html = page.find_all("html")[0]
    assert (html.attrs["lang"], html.attrs["dir"]) == ("en", "ltr")


def test_hostile_text_is_escaped_everywhere(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    for page in html_pages(out):
        raw = page.read_text("utf-8")
        assert HOSTILE not in raw, page
        assert "javascript:" not in raw.lower(), page
        tree = parse(page)
        scripts = [n.attrs.get("src") for n in tree.find_all("script")]
        assert scripts == [], page  # search.html has its script only when the index is built
        assert not tree.find_all("b"), page
    en = parse(out / "stories/s-en.html")
    hostile_item = en.find_all("li", class_="item")[1]
    assert hostile_item.find_all("h3")[0].text == HOSTILE
    # A javascript: link is not rendered as a link at all.
    assert not hostile_item.find_all("a", class_="link-out")
    sources = parse(out / "sources.html")
    assert f"Evil {HOSTILE}" in [h.text for h in sources.find_all("h2")]
    links = [a.attrs.get("href") for a in sources.find_all("a", class_="source-link")]
    assert 'https://evil.example/feed?x="><b>' in links  # an attribute, escaped
    assert "&lt;script&gt;" in (out / "sources.html").read_text("utf-8")


def test_no_external_resources_and_csp_on_every_page(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    outbound = set()
    for page in html_pages(out):
        tree = parse(page)
        metas = tree.find_all("meta", **{"http-equiv": "Content-Security-Policy"})
        # Only the search page may run WebAssembly (pagefind), and only its own script.
        csp = SEARCH_CSP if page.name == "search.html" else CSP
        assert [m.attrs["content"] for m in metas] == [csp], page
        assert tree.find_all("html")[0].attrs["lang"] == "en"
        assert not tree.find_all("style")
        for script in tree.find_all("script"):
            assert page.name == "search.html" and script.attrs["src"] == "static/search.js"
        for node in tree.walk():
            assert "style" not in node.attrs, (page, node.tag)
            assert not any(k.startswith("on") for k in node.attrs), (page, node.tag)
            for attr in ("href", "src", "srcset", "action", "poster", "data"):
                value = node.attrs.get(attr)
                if value is None:
                    continue
                parts = urlsplit(value)
                if parts.scheme or value.startswith("//"):
                    assert (node.tag, attr) == ("a", "href"), (page, node.tag, value)
                    assert value in ITEM_LINKS | FEED_LINKS, (page, value)
                    assert node.attrs.get("rel") == "noopener noreferrer"
                    outbound.add(value)
    assert outbound == ITEM_LINKS | FEED_LINKS
    css = (out / "static/style.css").read_text("utf-8")
    assert "@import" not in css and "url(" not in css
    assert "prefers-color-scheme: dark" in css and ":focus-visible" in css


def test_every_relative_link_resolves(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    root = out.resolve()
    checked = 0
    for page in html_pages(out):
        if page.name == "404.html":
            continue  # served at any depth: its links start at base_url's path (tested apart)
        for node in parse(page).walk():
            for attr in ("href", "src"):
                value = node.attrs.get(attr)
                if value is None or urlsplit(value).scheme or value.startswith("//"):
                    continue
                parts = urlsplit(value)
                target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
                assert target.is_relative_to(root), (page, value)
                assert target.is_file(), (page, value)
                if parts.fragment:
                    ids = {n.attrs.get("id") for n in parse(target).walk()}
                    assert parts.fragment in ids, (page, value)
                checked += 1
    assert checked > 50


def test_awkward_ids_and_slugs_become_safe_file_names(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    names = [p.name for p in (out / "stories").iterdir()] + [
        p.name for p in (out / "topics").iterdir()
    ]
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*\.html", n) for n in names), names
    assert not (tmp_path / "etc").exists()
    index = parse(out / "index.html")
    odd = [a.attrs["href"] for a in index.find_all("a") if a.text == "A story with an awkward id"]
    assert odd and odd[0].startswith("stories/") and (out / odd[0]).is_file()
    assert "Nothing odd" in (out / odd[0]).read_text("utf-8")


def source_lines(page: Node) -> dict[str, Node]:
    """Each feed's line of a sources page, by the feed's name (or the outlet's)."""
    found = {}
    for block in page.find_all("li", class_="source"):
        outlet = block.find_all("h2")[0].text
        for line in block.find_all("p", class_="source-feed"):
            names = line.find_all("a", class_="source-feed-name")
            found[names[0].text if names else outlet] = line
    return found


def test_sources_page_shows_readers_what_helps_them(tmp_path: Path) -> None:
    data = make_data()
    data.feeds[0].last_new = T0 - timedelta(hours=3)
    data.feeds[0].outlet, data.feeds[0].kind, data.feeds[0].region = "EFF", "NGO", "global"
    data.feeds[1].consecutive_failures = 2  # failing since its last good fetch
    data.feeds[4].last_error = "/home/operator/feeds/evil.xml: no such file"
    data.feeds[4].url = "/home/operator/feeds/evil.xml"
    data.feeds[4].consecutive_failures = 5
    data.feeds[4].next_fetch = T0 + timedelta(hours=2)
    _, out = build(tmp_path, data)
    page = parse(out / "sources.html")
    blocks = page.find_all("li", class_="source")
    assert len(blocks) == 5
    assert [b.find_all("h2")[0].text for b in blocks][:2] == ["EFF", "CDT Chinese"]
    assert blocks[0].find_all("p", class_="source-kind")[0].text == "NGO · global"
    lines = source_lines(page)
    eff = lines["EFF"]
    assert eff.find_all("span", class_="lang-badge")[0].text == "en"
    assert eff.find_all("span", class_="source-status")[0].text == "Updating"
    assert (
        eff.find_all("span", class_="source-last")[0].text == "last new report 2026-11-20 11:05 UTC"
    )
    assert eff.find_all("a", class_="source-link")[0].attrs["href"] == (
        "https://www.eff.org/rss/updates.xml"
    )
    cdt = lines["CDT Chinese"].find_all("span", class_="source-status")[0]
    assert cdt.text == "Not updating since 2026-11-20 14:05 UTC"
    assert "badge-bad" in cdt.attrs["class"]
    voa = lines["VOA Chinese"]
    assert voa.find_all("a", class_="source-link")[0].attrs["href"] == (
        "https://www.voachinese.com/api/new"  # where it moved
    )
    assert "language detected per report" in voa.text
    assert "No longer published" in lines["RFA Uyghur"].text
    evil = lines[f"Evil {HOSTILE}"]
    assert "Not updating: no successful fetch yet" in evil.text
    assert not evil.find_all("a", class_="source-link")  # a local path is never shown
    # Nothing of the operator's view, on the list or on any source's page.
    for path in [out / "sources.html", *sorted((out / "sources").iterdir())]:
        raw = path.read_text("utf-8")
        for private in (
            "/home/operator",
            "no such file",
            "410 Gone",
            "Consecutive",
            "Next fetch",
            "backing off",
            "feeds reset",
            "Last status",
            "16:05",
        ):
            assert private not in raw, (path.name, private)


def test_sources_page_groups_the_feeds_of_an_outlet() -> None:
    from digest.site.sources import source_groups

    data = make_data()
    for feed, region in zip(data.feeds[:2], ("asia", "china"), strict=True):
        feed.outlet, feed.kind, feed.region = "RFA", "international broadcaster", region
    groups = source_groups(data.feeds, lambda fid: f"sources/{fid}.html")
    assert [g.outlet for g in groups][:2] == ["RFA", "VOA Chinese"]
    assert [f.id for f in groups[0].feeds] == ["eff", "cdt-zh"]
    assert groups[0].regions == ["asia", "china"]
    assert [f.lang for f in groups[0].feeds] == ["en", "zh"]


# ---------------------------------------------------------------- tests: build time


def test_build_time_lives_only_in_build_json(tmp_path: Path) -> None:
    data = make_data()
    data.generated_at = datetime(2031, 7, 9, 23, 17, 41, tzinfo=UTC)
    _, out = build(tmp_path, data)
    record = json.loads((out / "build.json").read_text("utf-8"))
    assert record["generated_at"] == "2031-07-09T23:17:41Z"
    for page in html_pages(out):
        raw = page.read_text("utf-8")
        assert "2031" not in raw and "23:17" not in raw, page


# ---------------------------------------------------------------- tests: atomic, incremental output


def test_out_is_a_relative_symlink_to_a_version_beside_it(tmp_path: Path) -> None:
    report, out = build(tmp_path)
    assert out.is_symlink()
    target = os.readlink(out)
    assert "/" not in target
    assert (tmp_path / target).resolve() == report.version_dir.resolve()
    assert report.version_dir.parent == tmp_path


def test_unchanged_rebuild_writes_nothing_and_keeps_mtimes(tmp_path: Path) -> None:
    first, out = build(tmp_path)
    before = site_files(out)
    second, _ = build(tmp_path)
    after = site_files(out)
    assert second.version_dir != first.version_dir
    assert second.written == 0
    assert second.linked == len(before) == len(after)
    assert before.keys() == after.keys()
    for rel in before:
        assert after[rel].st_ino == before[rel].st_ino, rel
        assert after[rel].st_mtime_ns == before[rel].st_mtime_ns, rel


def test_a_change_rewrites_only_the_changed_pages(tmp_path: Path) -> None:
    data = make_data()
    _, out = build(tmp_path, data)
    before = site_files(out)

    # A non-lead item's summary appears on its story page only.
    changed = copy.deepcopy(data)
    zh_story = next(s for s in changed.stories if s.id == "s-zh")
    zh_story.items[1].summary = "审查范围再次扩大。"
    report, _ = build(tmp_path, changed)
    after = site_files(out)
    rewritten = {rel for rel in after if after[rel].st_ino != before[rel].st_ino}
    assert rewritten == {"stories/s-zh.html", MANIFEST}
    assert report.written == 2 and report.linked == len(after) - 2
    assert report.rendered == 1  # the other story pages were not even rendered
    assert "审查范围再次扩大。" in (out / "stories/s-zh.html").read_text("utf-8")

    # A new build time alone rewrites build.json only.
    later = replace(changed, generated_at=T0 + timedelta(hours=1))
    report, _ = build(tmp_path, later)
    again = site_files(out)
    assert {rel for rel in again if again[rel].st_ino != after[rel].st_ino} == {"build.json"}
    assert report.written == 1


def test_only_two_versions_are_kept(tmp_path: Path) -> None:
    data = make_data()
    reports = []
    for hours in range(3):
        reports.append(build(tmp_path, replace(data, generated_at=T0 + timedelta(hours=hours)))[0])
    versions = sorted(p for p in tmp_path.iterdir() if p.name.startswith("site.v"))
    assert [p.resolve() for p in versions] == sorted(r.version_dir.resolve() for r in reports[1:])
    assert not reports[0].version_dir.exists()
    assert (tmp_path / "site").resolve() == reports[2].version_dir.resolve()
    assert json.loads((tmp_path / "site/build.json").read_text())["generated_at"] == (
        "2026-11-20T16:05:00Z"
    )


def test_leftover_version_from_a_crashed_build_is_cleaned(tmp_path: Path) -> None:
    build(tmp_path)
    orphan = tmp_path / "site.v20200101T000000Z-1"
    orphan.mkdir()
    (orphan / "index.html").write_text("half")
    unrelated = tmp_path / "site.backup"
    unrelated.mkdir()
    build(tmp_path)
    assert not orphan.exists()
    assert unrelated.is_dir()
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("site.v")]) == 2


def test_real_directory_out_is_refused_unless_empty(tmp_path: Path) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("an older tool's site")
    with pytest.raises(StageError) as caught:
        build_site(make_data(), out)
    assert "real directory" in caught.value.message and caught.value.hint
    assert (out / "index.html").read_text() == "an older tool's site"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("site.v")]

    (out / "index.html").unlink()
    build_site(make_data(), out)
    assert out.is_symlink() and (out / "index.html").is_file()


def test_dangling_link_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "site"
    out.symlink_to("site.v-gone")
    report = build_site(make_data(), out)
    assert out.resolve() == report.version_dir.resolve()
    assert report.linked == 0


# ---------------------------------------------------------------- tests: templates


def test_templates_dir_overrides_one_template(tmp_path: Path) -> None:
    _, out = build(tmp_path / "a")
    before = site_files(out)
    override = tmp_path / "mytemplates"
    (override / "site").mkdir(parents=True)
    (override / "site/sources.html").write_text(
        '{% extends "site/base.html" %}{% block main %}<h1>Custom sources</h1>'
        "<p>{{ feeds | length }} feeds: {{ feeds[4].name }}</p>{% endblock %}",
        encoding="utf-8",
    )
    report, _ = build(tmp_path / "a", templates_dir=override)
    after = site_files(out)
    rewritten = {rel for rel in after if after[rel].st_ino != before[rel].st_ino}
    assert rewritten == {"sources.html", MANIFEST}
    assert report.written == 2
    sources = parse(out / "sources.html")
    assert sources.find_all("h1")[0].text == "Custom sources"
    assert sources.find_all("p")[-3].text == f"5 feeds: Evil {HOSTILE}"  # still escaped
    assert HOSTILE not in (out / "sources.html").read_text("utf-8")

    # The config's site.templates_dir is used when no argument is given.
    data = make_data()
    data.site = replace(data.site, templates_dir=override)
    build(tmp_path / "b", data)
    assert "Custom sources" in (tmp_path / "b/site/sources.html").read_text("utf-8")


def test_templates_dir_can_replace_a_static_file(tmp_path: Path) -> None:
    override = tmp_path / "t"
    (override / "site/static").mkdir(parents=True)
    (override / "site/static/style.css").write_text("body { color: teal; }\n")
    _, out = build(tmp_path, templates_dir=override)
    assert (out / "static/style.css").read_text() == "body { color: teal; }\n"
    assert (out / "static/favicon.svg").is_file()


def test_broken_override_templates_fail_clearly(tmp_path: Path) -> None:
    override = tmp_path / "t"
    (override / "site").mkdir(parents=True)
    (override / "site/topic.html").write_text("{% if %}")
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, templates_dir=override)
    assert "topic.html" in caught.value.message and "line 1" in caught.value.message

    (override / "site/topic.html").write_text("{{ no_such_name }}")
    with pytest.raises(StageError) as stage:
        build(tmp_path, templates_dir=override)
    assert "no_such_name" in stage.value.message
    assert not (tmp_path / "site").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("site.v")]

    with pytest.raises(ConfigError):
        build(tmp_path, templates_dir=tmp_path / "missing")


def test_environment_escapes_html_and_is_strict(tmp_path: Path) -> None:
    assert (templates_root() / "site/index.html").is_file()
    (tmp_path / "email").mkdir()
    (tmp_path / "email/a.html").write_text("<p>{{ v }}</p>")
    (tmp_path / "email/a.txt").write_text("{{ v }}")
    env = make_environment(tmp_path)
    assert env.get_template("email/a.html").render(v="<b>&") == "<p>&lt;b&gt;&amp;</p>"
    assert env.get_template("email/a.txt").render(v="<b>&") == "<b>&"
    assert env.from_string("{{ v }}").render(v="<i>") == "&lt;i&gt;"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    # Built-ins stay reachable beside the override folder.
    assert env.get_template("site/base.html") is not None
    assert env.from_string("{{ t | utc }}").render(t=datetime(2026, 1, 2, 3, 4)) == (
        "2026-01-02 03:04 UTC"
    )


def test_templates_root_prefers_the_copy_inside_an_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import digest
    import digest.render

    repo_templates = templates_root()
    assert repo_templates == Path(digest.__file__).resolve().parent.parent / "templates"
    package = tmp_path / "site-packages/digest"
    (package / "templates/site").mkdir(parents=True)
    # templates_root finds the package from its own module's path (since 850460d).
    monkeypatch.setattr(digest.render, "__file__", str(package / "render.py"))
    assert templates_root() == (package / "templates").resolve()


# ---------------------------------------------------------------- tests: feeds, archive, takedown

BASE = "https://example.org/digest/"


def test_output_feeds_are_valid_atom_and_json_feed(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    import feedparser

    _, out = build(tmp_path)
    atom = feedparser.parse((out / "feeds/stories.atom").read_bytes())
    assert not atom.bozo, atom.get("bozo_exception")
    assert atom.version == "atom10"
    assert atom.feed.title == "Digital Rights Digest"
    # The window's four visible stories, newest first, with absolute links to their pages.
    links = [e.link for e in atom.entries]
    assert links == [
        BASE + "stories/s-en.html",
        BASE + "stories/s-zh.html",
        BASE + "stories/s-ug.html",
        next(lk for lk in links if "awkward" in lk or lk.startswith(BASE + "stories/etc")),
    ]
    zh = atom.entries[1]
    assert zh.title == "Weibo deletes rights posts"
    assert zh.updated == "2026-11-20T13:55:00Z"
    assert [t.term for t in zh.tags] == ["censorship"]
    assert "CDT Chinese" in zh.summary
    raw = (out / "feeds/stories.atom").read_text("utf-8")
    assert HOSTILE not in raw and "\ud800" not in raw
    # JSON Feed 1.1 carries the same stories.
    document = json.loads((out / "feeds/stories.json").read_text("utf-8"))
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["feed_url"] == BASE + "feeds/stories.json"
    assert [i["url"] for i in document["items"]] == links
    assert document["items"][1]["date_modified"] == "2026-11-20T13:55:00Z"
    assert document["items"][2]["language"] == "ug"
    for record in document["items"]:  # the fields JSON Feed 1.1 requires, and ours
        assert {"id", "url", "title", "content_text", "date_published"} <= set(record)
    # One pair per topic, holding that topic's stories only.
    topic = feedparser.parse((out / "feeds/topics/surveillance.atom").read_bytes())
    assert not topic.bozo
    assert [e.link for e in topic.entries] == [
        BASE + "stories/s-en.html",
        BASE + "stories/s-topic-only.html",
    ]
    assert json.loads((out / "feeds/topics/censorship.json").read_text("utf-8"))["items"]
    # The OPML of the sources: every live http(s) feed, the gone one left out.
    opml = ET.fromstring((out / "sources.opml").read_bytes())
    outlines = opml.findall("./body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [
        "https://www.eff.org/rss/updates.xml",
        "https://chinadigitaltimes.net/chinese/feed/",
        "https://www.voachinese.com/api/new",
        'https://evil.example/feed?x="><b>',
    ]
    assert outlines[3].get("text") == f"Evil {HOSTILE}"
    # Pages point feed readers at the feeds.
    index = parse(out / "index.html")
    alternates = [n.attrs["href"] for n in index.find_all("link", rel="alternate")]
    assert alternates == ["feeds/stories.atom", "feeds/stories.json"]


def test_feeds_do_not_change_with_the_build_time(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    first = (out / "feeds/stories.atom").read_bytes()
    later = replace(make_data(), generated_at=T0 + timedelta(days=2))
    build(tmp_path, later)
    assert (out / "feeds/stories.atom").read_bytes() == first


VOID_TAGS = VOID


class StrictChecker(HTMLParser):
    """A parser-based validity check: the subset of HTML5 rules our pages can break."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.ids: set[str] = set()
        self.counts: dict[str, int] = {}
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = f"<{tag}> at line {self.getpos()[0]}"
        names = [k for k, _ in attrs]
        if len(names) != len(set(names)):
            self.problems.append(f"duplicate attribute in {where}")
        for name, value in attrs:
            if name == "id":
                if not value or value in self.ids or re.search(r"\s", value):
                    self.problems.append(f"bad or duplicate id {value!r} in {where}")
                self.ids.add(value or "")
        if tag in ("p", "h1", "h2", "h3", "div", "ul", "ol") and self.stack[-1:] == ["p"]:
            self.problems.append(f"{where} inside <p>")
        if tag in ("li",) and self.stack and self.stack[-1] not in ("ul", "ol"):
            self.problems.append(f"{where} outside a list")
        if tag in ("dt", "dd") and self.stack and self.stack[-1] != "dl":
            self.problems.append(f"{where} outside <dl>")
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag not in VOID_TAGS:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID_TAGS:
            self.problems.append(f"self-closed <{tag}/> at line {self.getpos()[0]}")
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS:
            self.problems.append(f"end tag for void <{tag}> at line {self.getpos()[0]}")
        elif not self.stack or self.stack[-1] != tag:
            top = self.stack[-1] if self.stack else None
            self.problems.append(f"</{tag}> closes <{top}> at line {self.getpos()[0]}")
        else:
            self.stack.pop()


def test_every_page_is_valid_html(tmp_path: Path) -> None:
    data = make_data()
    data.redirects = {"s-old": "s-zh"}
    _, out = build(tmp_path, data)
    for page in html_pages(out):
        checker = StrictChecker()
        checker.feed(page.read_text("utf-8"))
        checker.close()
        assert checker.doctype, page
        assert checker.problems == [], (page, checker.problems)
        assert checker.stack == [], (page, checker.stack)
        for tag in ("html", "head", "body", "title", "main", "h1"):
            assert checker.counts.get(tag) == 1, (page, tag, checker.counts.get(tag))
        raw = page.read_text("utf-8")
        assert raw.startswith("<!doctype html>\n<html lang=")
        assert '<meta charset="utf-8">' in raw


def test_checker_catches_broken_html() -> None:
    checker = StrictChecker()
    checker.feed('<p><div id="a"></p><span id="a"><li>x</li>')
    assert len(checker.problems) >= 3


def test_day_archive_keeps_older_stories(tmp_path: Path) -> None:
    data = make_data()
    old_item = make_stored_item(
        "old1",
        title="Last month's shutdown",
        summary="Networks were cut.",
        feeds=["eff"],
        link="",
        published=datetime(2026, 10, 2, 23, 59, tzinfo=UTC),
    )
    old = make_story("s-old", [old_item], topics=["censorship"], outlets=["EFF"])
    data.archive = [old]
    _, out = build(tmp_path, data)
    days = parse(out / "days/index.html")
    hrefs = [a.attrs["href"] for a in days.find_all("main")[0].find_all("a")]
    assert hrefs == ["../days/2026-11-20.html", "../days/2026-10-02.html"]
    old_day = parse(out / "days/2026-10-02.html")
    assert [a.text for a in old_day.find_all("h2")] == ["Last month's shutdown"]
    assert (out / "stories/s-old.html").is_file()
    # The front page, its feeds and topics stay with the window.
    assert "Last month" not in (out / "index.html").read_text("utf-8")
    assert "Last month" not in (out / "feeds/stories.atom").read_text("utf-8")
    assert "Last month" not in (out / "topics/censorship.html").read_text("utf-8")
    today = parse(out / "days/2026-11-20.html")
    assert len(today.find_all("article", class_="story-card")) == 5
    nav = [a.attrs.get("rel") for a in today.find_all("nav", class_="day-nav")[0].find_all("a")]
    assert nav == [None, "prev"]


def test_coverage_gap_key_terms_and_redirects(tmp_path: Path) -> None:
    data = make_data()
    zh_story = data.stories[0]
    zh_story.coverage_gap = "only in Chinese-language media"
    zh_story.key_terms = ["Weibo", "维权", "<b>"]
    data.redirects = {"s-zh-before": "s-zh", "s-lost": "no-such-story", "s-en": "s-zh"}
    _, out = build(tmp_path, data)
    card = parse(out / "index.html").find_all("article", class_="story-card")[0]
    assert card.find_all("span", class_="gap-badge")[0].text == (
        "Coverage gap: only in Chinese-language media"
    )
    page = parse(out / "stories/s-zh.html")
    assert [t.text for t in page.find_all("span", class_="term")] == ["Weibo", "维权", "<b>"]
    assert page.find_all("span", class_="gap-badge")
    moved = parse(out / "stories/s-zh-before.html")
    refresh = moved.find_all("meta", **{"http-equiv": "refresh"})[0]
    assert refresh.attrs["content"] == "0; url=s-zh.html"
    assert [a.attrs["href"] for a in moved.find_all("main")[0].find_all("a")] == ["s-zh.html"]
    # No redirect to a story that has no page, and never over a live story's page.
    assert not (out / "stories/s-lost.html").exists()
    assert "Court blocks spyware sale" in (out / "stories/s-en.html").read_text("utf-8")


def test_hidden_items_and_stories_vanish_everywhere(tmp_path: Path) -> None:
    data = make_data()
    for s in data.stories:
        for i in s.items:
            i.hidden = i.id in {"zh2", "ug1"}  # one item of s-zh, the only item of s-ug
    _, out = build(tmp_path, data)
    everything = "".join(
        p.read_text("utf-8")
        for p in sorted(out.resolve().rglob("*"))
        if p.is_file() and p.suffix != ".ico"
    )
    assert "网络审查加强" not in everything
    assert "ئۇيغۇر ئاپتونوم" not in everything
    assert not (out / "stories/s-ug.html").exists()
    assert "微博删除维权帖子" in (out / "stories/s-zh.html").read_text("utf-8")
    assert "VOA Chinese" not in (out / "stories/s-zh.html").read_text("utf-8")


def test_404_page_links_from_the_site_path(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    page = parse(out / "404.html")
    hrefs = {
        n.attrs["href"]
        for n in page.walk()
        if "href" in n.attrs and not n.attrs["href"].startswith("#")
    }
    assert all(h.startswith("/digest/") for h in hrefs), hrefs
    assert "/digest/static/style.css" in hrefs


def test_front_page_stays_small_with_many_stories(tmp_path: Path) -> None:
    data = make_data()
    many = []
    for n in range(400):
        it = make_stored_item(
            f"m{n}",
            title=f"Story number {n} about blocked sites",
            summary="x " * 200,
            feeds=["eff"],
            link="",
            published=T0,
        )
        many.append(make_story(f"s-m{n}", [it], topics=["censorship"], outlets=["EFF"]))
    data.stories = many + data.stories
    report, out = build(tmp_path, data)
    index = parse(out / "index.html")
    assert len(index.find_all("article", class_="story-card")) == 30
    assert (out / "index.html").stat().st_size < 100_000
    assert len(list((out / "stories").iterdir())) == 405
    assert report.rendered == 405


def test_extra_files_are_published_and_checked(tmp_path: Path) -> None:
    extra = {"newsletter/index.html": b"<!doctype html><title>x</title>", "newsletter/1.txt": b"1"}
    _, out = build(tmp_path, extra_files=extra)
    assert (out / "newsletter/1.txt").read_bytes() == b"1"
    report, _ = build(tmp_path, extra_files=extra)
    assert report.written == 0
    for bad in ["../x", "/etc/x", "stories/s-en.html", "index.html", ".hidden", "a/../b"]:
        with pytest.raises(StageError):
            build(tmp_path, extra_files={bad: b"x"})


# ---------------------------------------------------------------- tests: search index


def test_search_index_is_built_then_reused(tmp_path: Path) -> None:
    from digest.site.search import pagefind_executable

    if pagefind_executable() is None:
        missing("pagefind is not installed (pip install 'pagefind[extended]')")
    data = make_data()
    first, out = build(tmp_path, data, search=True)
    assert first.search
    assert (out / "pagefind/pagefind.js").is_file()
    entry = json.loads((out / "pagefind/pagefind-entry.json").read_text("utf-8"))
    # Indexed as English with Chinese cut into words (digest/site/searchtext.py), one small
    # page per story; a lone surrogate in a report's text did not stop it.
    assert list(entry["languages"]) == ["en"]
    assert entry["languages"]["en"]["page_count"] == 5
    vocabulary = json.loads((out / "pagefind/zh-words.json").read_text("utf-8"))
    assert vocabulary and all(isinstance(w, str) and w.strip() for w in vocabulary)
    search_page = parse(out / "search.html")
    assert [s.attrs["src"] for s in search_page.find_all("script")] == ["static/search.js"]
    before = site_files(out)
    again, _ = build(tmp_path, data, search=True)
    assert again.written == 0 and again.rendered == 0
    after = site_files(out)
    assert all(after[rel].st_ino == before[rel].st_ino for rel in before)
    # A changed story rebuilds the index; unchanged parts of it are still linked.
    changed = copy.deepcopy(data)
    changed.stories[1].items[0].summary = "A court ruled on Wednesday, not Tuesday."
    third, _ = build(tmp_path, changed, search=True)
    latest = site_files(out)
    rewritten = {r for r in latest if r not in before or latest[r].st_ino != before[r].st_ino}
    assert "stories/s-en.html" in rewritten
    assert any(r.startswith("pagefind/") for r in rewritten)
    assert "pagefind/pagefind.js" not in rewritten
    assert third.rendered == 1


def test_each_source_has_a_page_with_health_and_stories(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    sources = parse(out / "sources.html")
    links = {a.text: a.attrs["href"] for h in sources.find_all("h2") for a in h.find_all("a")}
    assert links["CDT Chinese"] == "sources/cdt-zh.html"
    assert links["RFA Uyghur"] == "sources/rfa-ug.html"
    cdt = parse(out / "sources/cdt-zh.html")
    assert cdt.find_all("h1")[0].text == "CDT Chinese"
    status = cdt.find_all("span", class_="source-status")[0]
    assert status.text == "Updating"
    assert [a.text for a in cdt.find_all("h3")] == ["Weibo deletes rights posts"]
    gone = parse(out / "sources/rfa-ug.html")
    assert "No longer published: the outlet removed this feed" in gone.text
    assert "feeds reset" not in gone.text  # the operator's remedy stays in `digest feeds check`
    evil = parse(out / links[f"Evil {HOSTILE}"])
    assert evil.find_all("h1")[0].text == f"Evil {HOSTILE}"
    assert HOSTILE not in (out / links[f"Evil {HOSTILE}"]).read_text("utf-8")


def test_serve_previews_the_site_with_its_404_page(tmp_path: Path) -> None:
    import threading
    import urllib.error
    import urllib.request

    from digest.site.serve import make_server

    _, out = build(tmp_path)
    server = make_server(out, 0, "/digest/")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for path in ("/index.html", "/digest/index.html"):
            with urllib.request.urlopen(base + path, timeout=10) as answer:
                assert answer.status == 200
                assert b"Top stories" in answer.read()
        with urllib.request.urlopen(base + "/digest/static/style.css", timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("text/css")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(base + "/stories/gone.html", timeout=10)
        assert missing.value.code == 404
        assert b"Page not found" in missing.value.read()
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- tests: change detection


def _bumped(value: object) -> object:
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, datetime):
        return value + timedelta(seconds=1)
    if isinstance(value, float | int):
        return value + 1
    if isinstance(value, list):
        return [*value, "x"]
    if value is None:
        return "x"
    assert isinstance(value, str), value
    return value + "x"


def _signature_story() -> Story:
    data = make_data()
    return copy.deepcopy(next(s for s in data.stories if len(s.items) > 1))


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(StoredItem)])
def test_story_signature_changes_with_every_item_field(name: str) -> None:
    story = _signature_story()
    before = story_signature(story)
    assert story_signature(copy.deepcopy(story)) == before  # equal values, not identity
    item = story.items[-1]
    setattr(item, name, _bumped(getattr(item, name)))
    assert story_signature(story) != before


@pytest.mark.parametrize(
    "name", [f.name for f in dataclasses.fields(Story) if f.name not in ("items", "score")]
)
def test_story_signature_changes_with_every_story_field(name: str) -> None:
    story = _signature_story()
    before = story_signature(story)
    setattr(story, name, _bumped(getattr(story, name)))
    assert story_signature(story) != before
    story = _signature_story()
    story.score += 5  # the score moves with the clock, the page does not show it
    assert story_signature(story) == before


def test_story_signature_takes_values_marshal_cannot_encode() -> None:
    story = _signature_story()
    story.items[0].topics = [("a", frozenset({1}))]  # type: ignore[list-item]
    first = story_signature(story)
    story.items[0].topics = [("a", frozenset({2}))]  # type: ignore[list-item]
    assert story_signature(story) != first


def test_a_story_page_missing_from_the_current_version_is_rendered_again(
    tmp_path: Path,
) -> None:
    data = make_data()
    first, out = build(tmp_path, data)
    expected = (out / "stories/s-zh.html").read_bytes()
    # The manifest still lists the page, but its file is gone: it cannot be linked.
    (first.version_dir / "stories/s-zh.html").unlink()
    report, _ = build(tmp_path, data)
    assert report.rendered == 1
    assert (out / "stories/s-zh.html").read_bytes() == expected


SITE_FEEDS = (
    FeedConfig("eff", "EFF Deeplinks", "https://www.eff.org/rss"),
    FeedConfig("cdt", "China Digital Times", "https://chinadigitaltimes.net/rss"),
)


def _filled_store(path: Path) -> tuple[Store, dict[int, str]]:
    store = Store.open(path)
    store.sync_feeds(SITE_FEEDS)
    ids = {}
    for n in range(6):
        lang = "zh" if n % 3 == 2 else "en"
        ids[n], _ = store.upsert_item(
            make_item(n, feed="cdt" if lang == "zh" else "eff", lang=lang), T0
        )
    store.save_stories(
        {"s-a": [ids[0], ids[1], ids[2]], "s-b": [ids[3], ids[4]], "s-c": [ids[5]]},
        {"s-a": ("Story A", ["censorship"]), "s-b": ("Story B", []), "s-c": ("Story C", [])},
        T0,
    )
    # One Chinese report is translated from the start: Chinese reports can be compared with
    # English ones, so the first translation does not change every page's coverage claims.
    _translate(store, ids[5], 5, "Translated from the start")
    return store, ids


def _store_build(config: Config, store: Store, out: Path) -> tuple[BuildReport, dict[str, bytes]]:
    data = build_data(config, store, T0 + timedelta(hours=1))
    report = build_site(data, out, search=False)
    root = out.resolve()
    return report, {
        str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }


def _translate(store: Store, item_id: str, n: int, title: str) -> None:
    store.set_item_translation(
        item_id,
        "en",
        source_hash=text_hash(f"Report {n} on blocked sites\0Summary {n}."),
        model="zh_en-test",
        status="translated",
        note=None,
        title=title,
        summary="A translated summary.",
        now=T0,
    )


# Each change to the store or config, and the story pages it must re-render (None: all).
STORE_CHANGES = {
    "item title": (lambda s, ids, c: s.upsert_item(make_item(1, feed="eff", title="Fixed"), T0), 1),
    "translation": (lambda s, ids, c: _translate(s, ids[2], 2, "Censors again"), 1),
    "hide item": (lambda s, ids, c: s.hide(ids[4], "request", T0), 1),
    "unhide item": (lambda s, ids, c: (s.hide(ids[4], "request", T0), s.unhide(ids[4])), 0),
    "hide story": (lambda s, ids, c: s.hide("s-b", "request", T0), 0),
    "label": (
        lambda s, ids, c: s.save_stories(
            {"s-a": [ids[0], ids[1], ids[2]], "s-b": [ids[3], ids[4]], "s-c": [ids[5]]},
            {"s-a": ("Story A", []), "s-b": ("Story B again", []), "s-c": ("Story C", [])},
            T0,
        ),
        2,
    ),
    "membership": (
        lambda s, ids, c: s.save_stories(
            {"s-a": [ids[0], ids[1], ids[2]], "s-b": [ids[3], ids[4], ids[5]]},
            {"s-a": ("Story A", ["censorship"]), "s-b": ("Story B", [])},
            T0,
        ),
        1,
    ),
    "feed name": (lambda s, ids, c: None, None),
}


@pytest.mark.parametrize("change", sorted(STORE_CHANGES))
def test_store_changes_rerender_exactly_the_affected_pages(tmp_path: Path, change: str) -> None:
    store, ids = _filled_store(tmp_path / "db.sqlite")
    config = Config(path=tmp_path / "feeds.yaml", topics=(TopicConfig("censorship", "c", ()),))
    config = replace(config, feeds=SITE_FEEDS)
    _store_build(config, store, tmp_path / "site")
    unchanged, _ = _store_build(config, store, tmp_path / "site")
    assert unchanged.rendered == 0 and unchanged.written == 0

    mutate, rendered = STORE_CHANGES[change]
    mutate(store, ids, config)
    if change == "feed name":
        renamed = (replace(SITE_FEEDS[0], name="EFF"), SITE_FEEDS[1])
        config = replace(config, feeds=renamed)
    report, incremental = _store_build(config, store, tmp_path / "site")
    _, full = _store_build(config, store, tmp_path / "fresh")
    assert incremental == full  # byte for byte, the manifest and build.json included
    stories = sum(1 for rel in full if rel.startswith("stories/"))
    assert report.rendered == (stories if rendered is None else rendered)
    if change == "feed name":
        assert b"EFF Deeplinks" not in full["sources.html"]
    store.close()


def test_reading_the_store_makes_no_reference_cycles(tmp_path: Path) -> None:
    # build_stage keeps the cyclic collector off while build_data runs: that is only free if
    # build_data leaves no cycle behind, and the collector must be back as it was afterwards.
    store, _ = _filled_store(tmp_path / "db.sqlite")
    config = Config(path=tmp_path / "feeds.yaml", feeds=SITE_FEEDS)
    now = T0 + timedelta(hours=1)
    build_data(config, store, now)  # warm the module-level caches
    gc.collect()
    gc.disable()
    try:
        data = build_data(config, store, now)
        # Keep what a collection finds, to look at it (other tests' threads may add a little).
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    ours = (StoredItem, Story, SiteData, TopicView, FeedHealth)
    assert not [type(o) for o in found if isinstance(o, ours)]
    assert not [o for o in found if isinstance(o, list) and o and isinstance(o[0], ours)]
    assert data.stories
    build_stage(config, store, tmp_path / "site", now=now)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    store.close()


def test_collector_paused_always_puts_the_collector_back() -> None:
    with collector_paused() as made:
        assert not gc.isenabled()
        made()
        assert gc.isenabled() and gc.get_freeze_count() > 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("the store read failed")
    assert gc.isenabled() and gc.get_freeze_count() == 0
    # A caller that turned the collector off keeps it off.
    gc.disable()
    try:
        with collector_paused() as made:
            made()
            assert not gc.isenabled() and gc.get_freeze_count() == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_feed_health_without_a_window_counts_the_same_totals(tmp_path: Path) -> None:
    store, _ = _filled_store(tmp_path / "db.sqlite")
    # One item seen in a second feed, and under a second GUID in the same feed: counted once.
    store.upsert_item(make_item(0, feed="cdt", guid="g0"), T0)
    store.upsert_item(make_item(0, feed="eff", guid="g0-again"), T0)
    windowed = store.feed_health(SITE_FEEDS, T0 - timedelta(days=7))
    plain = store.feed_health(SITE_FEEDS, None)
    assert [h.items_total for h in plain] == [h.items_total for h in windowed] == [4, 3]
    assert [h.items_in_window for h in plain] == [0, 0]
    store.close()


def test_code_fingerprint_follows_content_not_file_names(tmp_path: Path) -> None:
    """Renaming, editing or adding a module changes the fingerprint; a copy does not."""
    package = Path(digest.__file__).resolve().parent
    copy_dir = tmp_path / "digest"
    shutil.copytree(package, copy_dir, ignore=shutil.ignore_patterns("__pycache__"))
    first = code_fingerprint(copy_dir)
    assert first == code_fingerprint(copy_dir)  # stable
    views = copy_dir / "site" / "views.py"
    renamed = copy_dir / "site" / "cards.py"
    views.rename(renamed)
    after_rename = code_fingerprint(copy_dir)
    assert after_rename != first
    renamed.write_text(renamed.read_text("utf-8") + "\n# a change\n", "utf-8")
    assert code_fingerprint(copy_dir) not in (first, after_rename)
