"""The static site: pages, escaping, languages, links, and the atomic incremental output."""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jinja2
import pytest

from digest.errors import ConfigError, StageError
from digest.models import FeedHealth, SiteConfig, SiteData, StoredItem, Story, TopicView
from digest.render import make_environment, templates_root
from digest.site import BuildReport, build_site

T0 = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"

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


def item(
    id: str,
    lang: str,
    title: str,
    summary: str,
    feeds: list[str],
    *,
    link: str = "",
    translation: str = "original",
    title_translated: str | None = None,
    summary_translated: str | None = None,
    note: str | None = None,
    minutes: int = 0,
) -> StoredItem:
    return StoredItem(
        id=id,
        url=link or f"https://example.net/{id}",
        link=link,
        title=title,
        summary=summary,
        content_html="",
        published=T0 - timedelta(minutes=minutes),
        lang=lang,
        feeds=feeds,
        title_translated=title_translated,
        summary_translated=summary_translated,
        translation=translation,
        translation_note=note,
    )


def story(id: str, items: list[StoredItem], topics: list[str], outlets: list[str]) -> Story:
    return Story(
        id=id,
        headline=items[0].display_title,
        items=items,
        topics=topics,
        outlets=outlets,
        languages=list(dict.fromkeys(i.lang for i in items)),
        first_published=min(i.published for i in items),
        last_published=max(i.published for i in items),
    )


def make_data() -> SiteData:
    en = item(
        "en1",
        "en",
        "Court blocks spyware sale",
        "A court ruled on Tuesday.",
        ["eff"],
        link="https://www.eff.org/deeplinks/1",
    )
    hostile = item(
        "bad1",
        "en",
        HOSTILE,
        f"summary {HOSTILE} & more",
        ["evil"],
        link="javascript:alert(1)",
        minutes=3,
    )
    zh = item(
        "zh1",
        "zh",
        "微博删除维权帖子",
        "多名用户的帖子被删除。",
        ["cdt-zh"],
        link="https://chinadigitaltimes.net/chinese/1",
        translation="translated",
        title_translated="Weibo deletes rights posts",
        summary_translated="Posts by several users were deleted.",
        minutes=10,
    )
    zh_raw = item(
        "zh2",
        "zh",
        "网络审查加强",
        "审查范围扩大。",
        ["voa-zh", "cdt-zh"],
        link="https://www.voachinese.com/a/2",
        translation="no-model",
        note="no zh→en model installed",
        minutes=20,
    )
    ug = item(
        "ug1",
        "ug",
        "ئۇيغۇر ئاپتونوم رايونىدا نازارەت",
        "يېڭى خەۋەر",
        ["rfa-ug"],
        link="https://www.rfa.org/uyghur/1",
        translation="no-model",
        minutes=30,
    )
    odd = item(
        "odd1",
        "en",
        "A story with an awkward id",
        "Nothing odd in the text.\ud800",  # a lone surrogate, as hostile text may carry
        ["eff"],
        minutes=40,
    )
    only_topic = item(
        "ot1",
        "en",
        "Only listed under a topic",
        "Filed away.",
        ["eff"],
        link="https://www.eff.org/deeplinks/2",
        minutes=50,
    )

    s_en = story("s-en", [en, hostile], ["surveillance"], ["EFF", "Evil"])
    s_zh = story("s-zh", [zh, zh_raw], ["censorship"], ["CDT Chinese", "VOA Chinese"])
    s_ug = story("s-ug", [ug], ["censorship", "unknown topic"], ["RFA Uyghur"])
    s_odd = story("../../etc/passwd", [odd], [HOSTILE], ["EFF"])
    s_topic_only = story("s-topic-only", [only_topic], ["surveillance"], ["EFF"])

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


ITEM_LINKS = {
    "https://www.eff.org/deeplinks/1",
    "https://chinadigitaltimes.net/chinese/1",
    "https://www.voachinese.com/a/2",
    "https://www.rfa.org/uyghur/1",
    "https://www.eff.org/deeplinks/2",
}


def build(tmp_path: Path, data: SiteData | None = None, **kw) -> tuple[BuildReport, Path]:
    out = tmp_path / "site"
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
    ]:
        assert (out / rel).is_file(), rel
    stories = sorted(p.name for p in (out / "stories").iterdir())
    assert len(stories) == 5
    topics = sorted(p.name for p in (out / "topics").iterdir())
    assert len(topics) == 3
    assert report.pages == len(html_pages(out)) == 1 + 1 + 5 + 3
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
        assert not tree.find_all("script"), page
        assert not tree.find_all("b"), page
    en = parse(out / "stories/s-en.html")
    hostile_item = en.find_all("li", class_="item")[1]
    assert hostile_item.find_all("h3")[0].text == HOSTILE
    # A javascript: link is not rendered as a link at all.
    assert not hostile_item.find_all("a", class_="link-out")
    sources = parse(out / "sources.html")
    assert f"Evil {HOSTILE}" in [h.text for h in sources.find_all("h2")]
    assert 'https://evil.example/feed?x="><b>' in sources.text
    assert "&lt;script&gt;" in (out / "sources.html").read_text("utf-8")


def test_no_external_resources_and_csp_on_every_page(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    outbound = set()
    for page in html_pages(out):
        tree = parse(page)
        metas = tree.find_all("meta", **{"http-equiv": "Content-Security-Policy"})
        assert [m.attrs["content"] for m in metas] == [CSP], page
        assert tree.find_all("html")[0].attrs["lang"] == "en"
        assert not tree.find_all("style") and not tree.find_all("script")
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
                    assert value in ITEM_LINKS, (page, value)
                    assert node.attrs.get("rel") == "noopener noreferrer"
                    outbound.add(value)
    assert outbound == ITEM_LINKS
    css = (out / "static/style.css").read_text("utf-8")
    assert "@import" not in css and "url(" not in css
    assert "prefers-color-scheme: dark" in css and ":focus-visible" in css


def test_every_relative_link_resolves(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    root = out.resolve()
    checked = 0
    for page in html_pages(out):
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


def test_sources_page_shows_feed_health(tmp_path: Path) -> None:
    _, out = build(tmp_path)
    sources = parse(out / "sources.html")
    feeds = sources.find_all("li", class_="feed")
    assert len(feeds) == 5
    by_name = {f.find_all("h2")[0].text: f for f in feeds}

    def fields(node: Node) -> dict[str, str]:
        dts = [n.text for n in node.find_all("dt")]
        dds = [n.text for n in node.find_all("dd")]
        return dict(zip(dts, dds, strict=True))

    eff = fields(by_name["EFF Deeplinks"])
    assert eff["URL"] == "https://www.eff.org/rss/updates.xml"
    assert eff["Language"] == "en" and eff["Tags"] == "global"
    assert eff["Last success"] == "2026-11-20 14:05 UTC"
    assert eff["Last status"] == "200" and eff["Last error"] == "none"
    assert eff["Items"] == "40 in total, 5 in the last 7 days"
    voa = fields(by_name["VOA Chinese"])
    assert voa["Moved permanently to"] == "https://www.voachinese.com/api/new"
    rfa_node = by_name["RFA Uyghur"]
    rfa = fields(rfa_node)
    assert rfa["Consecutive failures"] == "3" and rfa["Last status"] == "410"
    assert rfa["Last success"] == "never"
    assert "Gone" in rfa_node.text
    assert "410 Gone" in rfa["Last error"]


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
    assert rewritten == {"stories/s-zh.html"}
    assert report.written == 1 and report.linked == len(after) - 1
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
    assert {rel for rel in after if after[rel].st_ino != before[rel].st_ino} == {"sources.html"}
    assert report.written == 1
    sources = parse(out / "sources.html")
    assert sources.find_all("h1")[0].text == "Custom sources"
    assert sources.find_all("p")[-2].text == f"5 feeds: Evil {HOSTILE}"  # still escaped
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

    repo_templates = templates_root()
    assert repo_templates == Path(digest.__file__).resolve().parent.parent / "templates"
    package = tmp_path / "site-packages/digest"
    (package / "templates/site").mkdir(parents=True)
    monkeypatch.setattr(digest, "__file__", str(package / "__init__.py"))
    assert templates_root() == (package / "templates").resolve()
