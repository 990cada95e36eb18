"""The plain-RSS reader gives exactly what feedparser gives, or steps aside.

Every document is parsed twice by parse_feed: as shipped (plain RSS 2.0 read by plainrss.py)
and with that reader turned off (feedparser reads everything); the results must be equal.
Counts of documents the reader took make sure the comparison is not empty.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from needs import real_feeds

from digest.ingest import parse as parse_module
from digest.ingest.parse import parse_feed
from digest.ingest.plainrss import read_plain_rss
from digest.records import ParsedFeed

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


def both_ways(body: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[ParsedFeed, ParsedFeed, bool]:
    """(shipped result, feedparser-only result, whether the plain reader took the body)."""
    url = "https://news.example/feed.xml"
    taken = read_plain_rss(body.lstrip(), "utf-8") is not None
    shipped = parse_feed(body, HEADERS, url, now=NOW, max_items=50)
    with monkeypatch.context() as m:
        m.setattr(parse_module, "read_plain_rss", lambda _body, _charset: None)
        reference = parse_feed(body, HEADERS, url, now=NOW, max_items=50)
    return shipped, reference, taken


def test_the_files_in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = sorted((ROOT / "tests" / "data").rglob("*.xml"))
    paths += sorted((ROOT / "examples" / "demo" / "feeds").glob("*.xml"))
    assert len(paths) >= 20
    taken = 0
    for path in paths:
        shipped, reference, took = both_ways(path.read_bytes(), monkeypatch)
        assert shipped == reference, path.name
        taken += took
    assert taken >= 3  # the demo's RSS feeds


def test_real_feeds(monkeypatch: pytest.MonkeyPatch) -> None:
    for path in real_feeds():
        shipped, reference, _ = both_ways(path.read_bytes(), monkeypatch)
        assert shipped == reference, path.name


def test_the_fetch_benchmark_feeds_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(ROOT / "bench" / "fetch"))
    try:
        from server import feed_body
    finally:
        sys.path.pop(0)
    shipped, reference, taken = both_ways(feed_body("127.0.0.2", "/feed/1.xml"), monkeypatch)
    assert taken and shipped == reference and len(shipped.entries) == 5


# ---------------------------------------------------------------- generated documents

TITLES = [
    "Censors order platforms to show IP locations",
    "A &lt;b&gt;bold&lt;/b&gt; move &amp; more",
    "Fish &amp; chips &lt; 5",
    "Caf\u00c3\u00a9 owners detained",  # UTF-8 read as Latin-1
    "Quote \u0093this\u0094 \u0096 dash",  # Windows-1252 code points
    "  spaced out  ",
    "<![CDATA[Raw <i>italic</i> & ampersand]]>",
    "网信办 清朗 行动",
    "&amp;nbsp; literal",
    "",
]
LINKS = [
    "https://news.example/a?x=1&amp;y=2",
    "https://news.example/a?x=1&amp;amp;y=2",
    "/relative/path",
    "http:////news.example/slashes",
    "  https://news.example/spaced  ",
    "javascript:alert(1)",
    "https://news.example/q?a=&amp;copy;",
    "",
]
GUIDS = [
    ("https://news.example/guid/1", None),
    ("tag:news.example,2026:1", "false"),
    ("urn:uuid:1234", "False"),
    ("/relative-guid", None),
    ("", None),
]
SUMMARIES = [
    "&lt;p&gt;Item text &amp;amp; more.&lt;/p&gt;",
    "Plain text summary.",
    "<![CDATA[<p>CDATA <a href='/x'>link</a></p>]]>",
    "   ",
    "\u0093smart\u0094 quotes",
]
DATES = [
    "Thu, 19 Nov 2026 01:00:00 GMT",
    "Thu, 19 Nov 2026 01:00:00 +0800",
    "2026-11-19T01:00:00Z",
    "19 Nov 2026",
    "not a date",
    "",
    "Mon, 01 Jan 1980 00:00:00 GMT",
]
EXTRAS = [
    "<author>a@example.net (A)</author>",
    "<category domain='x'>Censorship</category>",
    "<comments>/comments/1</comments>",
    "<enclosure url='https://news.example/a.mp3' length='1' type='audio/mpeg'/>",
    "<dc:creator>Reporter</dc:creator>",
    "<media:title>Other title</media:title>",  # not plain: feedparser reads it
    "<title>Second title</title>",  # a field twice: feedparser reads it
]


def generated(seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for n in range(400):
        parts = []
        channel = ["<title>" + rng.choice(TITLES) + "</title>"]
        if rng.random() < 0.7:
            channel.append("<link>" + rng.choice(LINKS) + "</link>")
        if rng.random() < 0.5:
            channel.append("<language>" + rng.choice(["en", "zh-cn", " ug ", ""]) + "</language>")
        if rng.random() < 0.3:
            channel.append(
                "<atom:link href='https://news.example/feed' rel='"
                + rng.choice(["self", "alternate", "hub"])
                + "' type='application/rss+xml'/>"
            )
        if rng.random() < 0.3:
            channel.insert(
                rng.randrange(len(channel) + 1),
                "<image><url>https://news.example/i.png</url><title>Logo</title>"
                "<link>https://news.example/</link></image>",
            )
        if rng.random() < 0.2:
            channel.append("<description>About us</description><ttl>60</ttl>")
        for _ in range(rng.randrange(0, 5)):
            fields = []
            if rng.random() < 0.9:
                fields.append("<title>" + rng.choice(TITLES) + "</title>")
            if rng.random() < 0.7:
                fields.append("<link>" + rng.choice(LINKS) + "</link>")
            if rng.random() < 0.7:
                guid, perma = rng.choice(GUIDS)
                attr = f" isPermaLink='{perma}'" if perma is not None else ""
                fields.append(f"<guid{attr}>{guid}</guid>")
            if rng.random() < 0.8:
                fields.append("<description>" + rng.choice(SUMMARIES) + "</description>")
            if rng.random() < 0.3:
                fields.append("<content:encoded>" + rng.choice(SUMMARIES) + "</content:encoded>")
            if rng.random() < 0.8:
                fields.append("<pubDate>" + rng.choice(DATES) + "</pubDate>")
            if rng.random() < 0.3:
                fields.append(rng.choice(EXTRAS))
            rng.shuffle(fields)
            channel.append("<item>" + "".join(fields) + "</item>")
        namespaces = (
            " xmlns:content='http://purl.org/rss/1.0/modules/content/'"
            " xmlns:dc='http://purl.org/dc/elements/1.1/'"
            " xmlns:atom='http://www.w3.org/2005/Atom'"
            " xmlns:media='http://search.yahoo.com/mrss/'"
        )
        version = "2.0" if n % 10 else rng.choice(["0.92", "2.0"])
        parts.append(f"<?xml version='1.0' encoding='utf-8'?><rss version='{version}'{namespaces}>")
        parts.append("<channel>" + "\n".join(channel) + "</channel></rss>")
        yield "".join(parts).encode("utf-8")


def test_generated_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = total = 0
    for body in generated(seed=19):
        shipped, reference, took = both_ways(body, monkeypatch)
        assert shipped == reference, body.decode()
        taken += took
        total += 1
    # Most documents are plain RSS; the others (a field twice, media:title, version 0.92,
    # atom:link rel=alternate) are left to feedparser, which read them all the same.
    assert total * 0.5 < taken < total


def test_steps_aside_for_what_it_does_not_read() -> None:
    head = "<?xml version='1.0' encoding='utf-8'?>"
    item = "<item><title>T</title></item>"
    plain = f"{head}<rss version='2.0'><channel>{item}</channel></rss>"
    assert read_plain_rss(plain.encode(), "utf-8") is not None
    for body, charset in [
        (plain.replace("2.0", "0.91"), "utf-8"),
        (plain, "iso-8859-1"),
        (plain.replace("utf-8", "iso-8859-1"), ""),
        (f"{head}<!DOCTYPE rss><rss version='2.0'><channel>{item}</channel></rss>", "utf-8"),
        (plain.replace("<title>T</title>", "<title xml:lang='fr'>T</title>"), "utf-8"),
        (plain.replace("<channel>", "<channel xml:base='https://x/'>"), "utf-8"),
        (plain.replace("<title>T</title>", "<title>T <b>b</b></title>"), "utf-8"),
        (plain.replace("<title>T</title>", "<Title>T</Title>"), "utf-8"),
        (plain.replace("</channel>", "</chanel>"), "utf-8"),
        (f"{head}<feed xmlns='http://www.w3.org/2005/Atom'><title>T</title></feed>", "utf-8"),
    ]:
        assert read_plain_rss(body.encode(), charset) is None, body
    assert read_plain_rss(plain.encode().replace(b">T<", b">\xff<"), "utf-8") is None
