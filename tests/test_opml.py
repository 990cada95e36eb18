"""Tests for digest.config.opml: import into feeds.yaml keeps the file, export writes OPML 2.0."""

from __future__ import annotations

import os
import shutil
import stat
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
from builders import REPO, run_digest, write_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.config import load_config
from digest.config.opml import DIGEST_NS, export_opml, import_opml
from digest.errors import InputError
from digest.ids import is_slug
from digest.records import FeedConfig

CONFIG = """\
# My digest: hand-written comments must survive an import.
site:
  title: Test Digest   # the title
  language: en

feeds:
  # China first
  - id: cdt-en
    name: China Digital Times
    url: https://chinadigitaltimes.net/feed/
    tags: [china]   # a trailing comment
  # - id: old-feed        (kept here for later)
  #   url: https://old.example/feed

topics:
  censorship: {keywords: [censor, 审查]}   # flow style, with a comment
"""

OPML = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="China" title="China">
      <outline type="rss" text="CDT again" xmlUrl="HTTPS://ChinaDigitalTimes.net/feed"/>
      <outline type="rss" text="Example News" xmlUrl="https://news.example/rss" language="zh"/>
      <outline text="Hong Kong">
        <outline type="rss" title="Example News" text="ignored" xmlUrl="https://hk.example/rss"/>
      </outline>
    </outline>
    <outline type="rss" text="Example   News &amp; Views" xmlUrl="https://views.example/feed/"/>
    <outline type="rss" text="Repeat" xmlUrl="https://news.example/rss/"/>
    <outline type="rss" text="Local" xmlUrl="file:///etc/passwd"/>
    <outline type="rss" text="Script" xmlUrl="javascript:alert(1)"/>
    <outline type="rss" text="中文新闻" xmlUrl="https://zh.example/feed"
             category="/Asia/China,tech"/>
  </body>
</opml>
"""


@pytest.fixture()
def config_path(tmp_path: Path) -> Path:
    return write_text(tmp_path / "feeds.yaml", CONFIG)


@pytest.fixture()
def opml_path(tmp_path: Path) -> Path:
    return write_text(tmp_path / "subs.opml", OPML)


# ---------------------------------------------------------------- import


def test_import_adds_skips_and_derives_ids(config_path: Path, opml_path: Path) -> None:
    result = import_opml(config_path, opml_path)
    assert [(f.id, f.name, f.url, f.language, f.tags) for f in result.added] == [
        ("example-news", "Example News", "https://news.example/rss", "zh", ("china",)),
        ("example-news-2", "Example News", "https://hk.example/rss", None, ("china", "hong-kong")),
        (
            "example-news-views",
            "Example News & Views",
            "https://views.example/feed/",
            None,
            (),
        ),
        # no Latin letters in the title: the outlet's name from the host
        ("zh", "中文新闻", "https://zh.example/feed", None, ("china", "tech")),
    ]
    skipped = dict(result.skipped)
    assert skipped["HTTPS://ChinaDigitalTimes.net/feed"] == "already in feeds.yaml as 'cdt-en'"
    assert skipped["https://news.example/rss/"] == "repeated in the OPML file (first at line 7)"
    assert "http(s)" in skipped["file:///etc/passwd"]
    assert "http(s)" in skipped["javascript:alert(1)"]
    assert len(result.skipped) == 4
    # the file now loads and holds the old feed followed by the new ones
    config = load_config(config_path)
    assert config.feeds[0].id == "cdt-en"
    assert list(config.feeds[1:]) == result.added
    assert config.topics[0].keywords == ("censor", "审查")


def test_import_keeps_every_byte_of_the_file(config_path: Path, opml_path: Path) -> None:
    before = config_path.read_text(encoding="utf-8")
    import_opml(config_path, opml_path)
    after = config_path.read_text(encoding="utf-8")
    # the new entries are inserted right after the last feed; nothing else changes
    cut = before.index("  # - id: old-feed")
    assert after.startswith(before[:cut])
    assert after.endswith(before[cut:])
    inserted = after[cut : len(after) - len(before) + cut]
    assert inserted.startswith("  - id: example-news\n    name: Example News\n")
    for line in before.splitlines():
        assert line in after.splitlines()
    assert "    tags: [china]   # a trailing comment\n" in after
    assert "  title: Test Digest   # the title\n" in after


def test_import_unique_ids_against_the_config(tmp_path: Path) -> None:
    config_path = write_text(
        tmp_path / "feeds.yaml",
        """\
        feeds:
          - id: rights
            name: Rights
            url: https://one.example/
          - id: rights-2
            url: https://two.example/
        """,
    )
    opml = tmp_path / "a.opml"
    outlines = "".join(
        f'<outline type="rss" text="Rights" xmlUrl="https://r{i}.example/"/>' for i in range(3)
    )
    opml.write_text(f"<opml version='2.0'><body>{outlines}</body></opml>", encoding="utf-8")
    result = import_opml(config_path, opml)
    assert [f.id for f in result.added] == ["rights-3", "rights-4", "rights-5"]
    assert [f.id for f in load_config(config_path).feeds][2:] == [
        "rights-3",
        "rights-4",
        "rights-5",
    ]


def test_ids_come_from_the_titles(tmp_path: Path) -> None:
    """Readable ids from the outline's title; a suffix only on a collision; a title without
    Latin letters takes the outlet's name from the host, not the whole URL."""
    config_path = write_text(tmp_path / "feeds.yaml", "feeds: []\n")
    titles_urls = [
        ("VOA 中文", "https://www.voachinese.com/api/zm-yql-vomx-tpeybti"),
        ("美国之音", "https://www.voachinese.com/api/zmgqoe-vomx-tpeqkq"),
        ("BBC 中文", "https://feeds.bbci.co.uk/zhongwen/simp/rss.xml"),
        ("BBC中文网", "https://www.bbc.co.uk/zhongwen/trad/index.xml"),
        (
            "Café Liberté: a very long title about the state of the press in many places",
            "https://cafe.example/feed",
        ),
        ("Radio Free Asia", "https://www.rfa.org/english/rss2.xml"),
        ("Radio Free Asia", "https://www.rfa.org/mandarin/rss2.xml"),
    ]
    outlines = "".join(
        f"<outline type='rss' text={quoteattr(t)} xmlUrl={quoteattr(u)}/>" for t, u in titles_urls
    )
    opml = write_text(tmp_path / "a.opml", f"<opml version='2.0'><body>{outlines}</body></opml>")
    result = import_opml(config_path, opml)
    assert [f.id for f in result.added] == [
        "voa",
        "voachinese",
        "bbc",
        "bbc-2",
        "cafe-liberte-a-very-long-title-about-the",
        "radio-free-asia",
        "radio-free-asia-2",
    ]
    assert all(len(f.id) <= 40 for f in result.added)


def test_outlines_without_a_feed_url_are_reported_by_name(tmp_path: Path) -> None:
    config_path = write_text(tmp_path / "feeds.yaml", "feeds: []\n")
    opml = write_text(
        tmp_path / "a.opml",
        """\
        <opml version="2.0"><body>
          <outline text="Blogs">
            <outline text="A blog, no feed" htmlUrl="https://blog.example/"/>
            <outline text="Real feed" xmlUrl="https://real.example/feed"/>
          </outline>
          <outline title="Empty folder"></outline>
          <outline/>
        </body></opml>
        """,
    )
    done = run_digest("--config", str(config_path), "feeds", "import-opml", str(opml), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "added real-feed: https://real.example/feed",
        "skipped A blog, no feed: has no feed URL (xmlUrl): nothing to fetch",
        "skipped Empty folder: has no feed URL (xmlUrl): nothing to fetch",
        "skipped outline at line 7: has no feed URL (xmlUrl): nothing to fetch",
        "1 added, 3 skipped",
    ]


def test_import_nothing_new_leaves_the_file_alone(config_path: Path, tmp_path: Path) -> None:
    opml = tmp_path / "same.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline type="rss" text="x" '
        'xmlUrl="https://chinadigitaltimes.net/feed/"/></body></opml>',
        encoding="utf-8",
    )
    before = config_path.read_bytes()
    stamp = config_path.stat().st_mtime_ns
    result = import_opml(config_path, opml)
    assert result.added == [] and len(result.skipped) == 1
    assert config_path.read_bytes() == before
    assert config_path.stat().st_mtime_ns == stamp


def test_import_writes_atomically_and_keeps_mode(config_path: Path, opml_path: Path) -> None:
    os.chmod(config_path, 0o640)
    import_opml(config_path, opml_path)
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o640
    assert sorted(p.name for p in config_path.parent.iterdir()) == ["feeds.yaml", "subs.opml"]


def test_import_through_a_symlink_keeps_the_link(tmp_path: Path, opml_path: Path) -> None:
    real = write_text(tmp_path / "real.yaml", CONFIG)
    link = tmp_path / "feeds.yaml"
    link.symlink_to(real)
    import_opml(link, opml_path)
    assert link.is_symlink()
    assert "example-news" in real.read_text(encoding="utf-8")


def test_import_crlf_file(tmp_path: Path, opml_path: Path) -> None:
    config_path = tmp_path / "feeds.yaml"
    config_path.write_bytes(CONFIG.replace("\n", "\r\n").encode())
    import_opml(config_path, opml_path)
    data = config_path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert len(load_config(config_path).feeds) == 5


@pytest.mark.parametrize(
    "feeds_text",
    ["feeds: []  # none yet\n", "feeds:\n", "", "feeds: [{url: https://x.example/}]\n"],
)
def test_import_other_layouts(tmp_path: Path, opml_path: Path, feeds_text: str) -> None:
    config_path = tmp_path / "feeds.yaml"
    config_path.write_text(
        "# keep me\nsite:\n  title: T  # and me\n" + feeds_text, encoding="utf-8"
    )
    result = import_opml(config_path, opml_path)
    config = load_config(config_path)
    assert list(config.feeds[-len(result.added) :]) == result.added
    text = config_path.read_text(encoding="utf-8")
    assert text.startswith("# keep me\nsite:\n  title: T  # and me\n")


def test_import_into_the_real_feeds_yaml(tmp_path: Path, opml_path: Path) -> None:
    config_path = tmp_path / "feeds.yaml"
    shutil.copy(REPO / "feeds.yaml", config_path)
    before = config_path.read_text(encoding="utf-8")
    result = import_opml(config_path, opml_path)
    after = config_path.read_text(encoding="utf-8")
    assert after.startswith(before)  # appended after the last feed, which ends the file
    config = load_config(config_path)
    assert list(config.feeds[-len(result.added) :]) == result.added
    assert len(config.feeds) == len(load_config(REPO / "feeds.yaml").feeds) + len(result.added)


def test_hostile_titles_become_safe_yaml(config_path: Path, tmp_path: Path) -> None:
    opml = tmp_path / "evil.opml"
    titles = [
        "null",
        "- item",
        "key: value # not a comment",
        "&anchor *alias !tag",
        "'\"quotes\"'",
        "line\nbreak\ttab\r",
        "\u202eevil\u200e",
        "x" * 500,
    ]
    body = "".join(
        f'<outline type="rss" text={quoteattr(t)} xmlUrl="https://e{i}.example/"/>'
        for i, t in enumerate(titles)
    )
    opml.write_text(f"<opml version='2.0'><body>{body}</body></opml>", encoding="utf-8")
    result = import_opml(config_path, opml)
    assert len(result.added) == len(titles)
    names = [f.name for f in load_config(config_path).feeds[1:]]
    assert names == [f.name for f in result.added]
    assert names[:5] == [*titles[:4], "'\"quotes\"'"]
    assert names[5] == "line break tab"
    assert names[6] == "evil"
    assert len(names[7]) == 200
    assert all(is_slug(f.id) for f in result.added)


# ---------------------------------------------------------------- refused OPML


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '<?xml version="1.0"?>\n<!DOCTYPE opml [\n<!ENTITY a "aaaaaaaa">\n]>\n'
            '<opml><body><outline xmlUrl="https://x.example/&a;"/></body></opml>',
            "2: a DOCTYPE declaration is not allowed in OPML",
        ),
        (
            '<?xml version="1.0"?>\n<!DOCTYPE opml SYSTEM "http://127.0.0.1:1/x.dtd">\n<opml/>',
            "2: a DOCTYPE declaration is not allowed in OPML",
        ),
        (
            '<opml>\n<body>\n<outline xmlUrl="https://x.example/&lol;"/>\n</body></opml>',
            "3: malformed XML: undefined entity",
        ),
        ("<opml>\n<body>\n<outline>\n</body>\n</opml>", "4: malformed XML: mismatched tag"),
        (
            '<?xml version="1.0"?>\n<rss version="2.0"/>',
            "1: not an OPML document (root element <rss>)",
        ),
        ("", "1: malformed XML: no element found"),
    ],
)
def test_malformed_opml_is_refused(
    config_path: Path, tmp_path: Path, text: str, expected: str
) -> None:
    opml = tmp_path / "bad.opml"
    opml.write_text(text, encoding="utf-8")
    before = config_path.read_bytes()
    with pytest.raises(InputError) as info:
        import_opml(config_path, opml)
    assert str(info.value) == f"{opml}:{expected}"
    assert info.value.hint
    assert config_path.read_bytes() == before


def test_billion_laughs_is_refused_quickly(config_path: Path, tmp_path: Path) -> None:
    entities = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    text = f"<?xml version='1.0'?><!DOCTYPE opml [{''.join(entities)}]><opml>&l9;</opml>"
    opml = tmp_path / "lol.opml"
    opml.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="DOCTYPE declaration is not allowed"):
        import_opml(config_path, opml)


def test_missing_opml_file(config_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        import_opml(config_path, tmp_path / "nope.opml")
    assert str(info.value).startswith(f"{tmp_path / 'nope.opml'}: cannot read")


# ---------------------------------------------------------------- export


def test_export_is_escaped_opml(tmp_path: Path) -> None:
    config_path = write_text(
        tmp_path / "feeds.yaml",
        """\
        site: {title: "Rights & <Wrongs>"}
        feeds:
          - id: odd
            name: "A \\"quoted\\" <name> & co"
            url: "https://a.example/feed?x=1&y=2"
            language: zh-Hant
            tags: [china, press-freedom]
          - id: off
            name: Off
            url: https://b.example/
            enabled: false
        """,
    )
    config = load_config(config_path)
    # the loader refuses control characters, but export must not emit invalid XML anyway
    odd = replace(config.feeds[0], name=config.feeds[0].name + "\x01\x0b")
    config = replace(config, feeds=(odd, config.feeds[1]))
    text = export_opml(config, html_urls={"odd": "https://a.example/?p=1&q=2"})
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    assert "&amp;y=2" in text and "\x01" not in text
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "Rights & <Wrongs>"
    first, second = root.findall("body/outline")
    assert first.attrib["text"] == first.attrib["title"] == 'A "quoted" <name> & co'
    assert first.attrib["type"] == "rss"
    assert first.attrib["xmlUrl"] == "https://a.example/feed?x=1&y=2"
    assert first.attrib["htmlUrl"] == "https://a.example/?p=1&q=2"
    assert first.attrib["language"] == "zh-Hant"
    assert first.attrib["category"] == "china,press-freedom"
    assert first.attrib[f"{{{DIGEST_NS}}}id"] == "odd"
    assert "htmlUrl" not in second.attrib and "language" not in second.attrib
    assert second.attrib[f"{{{DIGEST_NS}}}enabled"] == "false"


def test_export_import_round_trip(tmp_path: Path) -> None:
    source = write_text(
        tmp_path / "source.yaml",
        """\
        feeds:
          - id: cdt-en
            name: China Digital Times
            url: https://chinadigitaltimes.net/feed/
            language: en
            tags: [china]
          - id: rfa-uyghur
            name: "Radio Free Asia Uyghur & more"
            url: https://www.rfa.org/uyghur/rss2.xml
            language: ug
            tags: [china, xinjiang]
          - id: quiet
            name: 中文
            url: https://zh.example/feed?a=1&b=2
            enabled: false
        """,
    )
    feeds = load_config(source).feeds
    opml = tmp_path / "out.opml"
    opml.write_text(export_opml(load_config(source)), encoding="utf-8")
    target = write_text(tmp_path / "feeds.yaml", "# empty for now\nfeeds: []\n")
    result = import_opml(target, opml)
    assert result.skipped == []
    assert tuple(result.added) == feeds
    assert load_config(target).feeds == feeds
    # and a second import finds everything already there
    again = import_opml(target, opml)
    assert again.added == [] and len(again.skipped) == 3


def test_export_of_the_real_feeds_round_trips(tmp_path: Path) -> None:
    feeds = load_config(REPO / "feeds.yaml").feeds
    opml = tmp_path / "real.opml"
    opml.write_text(export_opml(load_config(REPO / "feeds.yaml")), encoding="utf-8")
    target = write_text(tmp_path / "feeds.yaml", "feeds: []\n")
    import_opml(target, opml)
    assert load_config(target).feeds == feeds


def test_explicit_id_already_configured_is_skipped(config_path: Path, tmp_path: Path) -> None:
    config = load_config(config_path)
    moved = FeedConfig(id="cdt-en", name="CDT moved", url="https://cdt.example/feed/")
    opml = tmp_path / "moved.opml"
    opml.write_text(export_opml(type(config)(path=config.path, feeds=(moved,))), encoding="utf-8")
    result = import_opml(config_path, opml)
    assert result.added == []
    assert result.skipped == [
        ("https://cdt.example/feed/", "already in feeds.yaml (same id 'cdt-en')")
    ]


def test_hostile_urls_are_skipped_with_printable_labels(config_path: Path, tmp_path: Path) -> None:
    long_url = "https://long.example/" + "a" * 3000
    opml = tmp_path / "urls.opml"
    body = "".join(
        f'<outline type="rss" text="x" xmlUrl={quoteattr(u)}/>'
        for u in ("https://esc.example/\x9b2J", long_url, "  ", "feeds/local.xml")
    )
    opml.write_text(f"<opml version='2.0'><body>{body}</body></opml>", encoding="utf-8")
    before = config_path.read_bytes()
    result = import_opml(config_path, opml)
    assert result.added == []
    assert [why for _, why in result.skipped] == [
        "the feed URL contains a control character",
        "the feed URL is longer than 2000 characters",
        "the feed URL is not an http(s) URL",
        "has no feed URL (xmlUrl): nothing to fetch",  # the blank one, by its title
    ]
    assert result.skipped[3][0] == "x"
    assert result.skipped[0][0] == "https://esc.example/2J"
    assert len(result.skipped[1][0]) == 200
    assert config_path.read_bytes() == before


XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=80,
).map(lambda s: "".join(c for c in s if c in "\t\n\r" or 0x20 <= ord(c) < 0xFFFE))


@settings(
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(titles=st.lists(XML_TEXT, min_size=1, max_size=4), folder=XML_TEXT)
def test_any_titles_import_into_a_loadable_config(
    tmp_path: Path, titles: list[str], folder: str
) -> None:
    config_path = tmp_path / "feeds.yaml"
    config_path.write_text("# any\nfeeds:\n  - url: https://first.example/\n", encoding="utf-8")
    outlines = "".join(
        f'<outline type="rss" text={quoteattr(t)} xmlUrl="https://f{i}.example/"/>'
        for i, t in enumerate(titles)
    )
    opml = tmp_path / "any.opml"
    opml.write_text(
        f"<opml version='2.0'><body><outline text={quoteattr(folder)}>{outlines}</outline>"
        "</body></opml>",
        encoding="utf-8",
    )
    result = import_opml(config_path, opml)
    assert len(result.added) == len(titles)
    feeds = load_config(config_path).feeds
    assert list(feeds[1:]) == result.added
    assert len({f.id for f in feeds}) == len(feeds)
    assert config_path.read_text(encoding="utf-8").startswith(
        "# any\nfeeds:\n  - url: https://first.example/\n"
    )
