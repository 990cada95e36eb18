"""parse.py: feeds of every format, lying charsets, BOMs, HTML pages, hostile bytes, real feeds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from builders import PARSE_NOW
from golden_files import Golden
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from needs import REAL_FEED_NAMES, real_feed

import digest.ingest.parse
from digest.ingest.normalize import normalize_entry
from digest.ingest.parse import parse_feed
from digest.records import FeedConfig, ParsedFeed

URL = "https://news.example/feed/"
QUIRKS = Path(__file__).resolve().parent / "data" / "quirks"


def parse(body: bytes, headers: dict[str, str] | None = None, url: str = URL) -> ParsedFeed:
    return parse_feed(body, headers or {}, url, now=PARSE_NOW)


# ---------------------------------------------------------------- feed quirks, as data
#
# Each feed body in tests/data/quirks (NAME.xml, .html, .bin...) has NAME.json beside it: what
# parse_feed and normalize_entry make of it. The JSON's "about" (what the quirk is) and
# "request" (the url and headers it is served with, when not the defaults) are written by
# hand; "feed" and "entries" are the output, rewritten by DIGEST_REGENERATE=1.


def quirk_files() -> dict[str, tuple[Path | None, Path]]:
    """Every quirk by name: (its feed body, or None when only its JSON exists; its JSON)."""
    found: dict[str, tuple[Path | None, Path]] = {}
    for path in sorted(QUIRKS.iterdir()):
        if path.name.startswith(".") or path.suffix == ".json":
            continue
        assert path.stem not in found, f"two feed bodies named {path.stem} in {QUIRKS}"
        found[path.stem] = (path, path.with_suffix(".json"))
    for path in sorted(QUIRKS.glob("*.json")):
        found.setdefault(path.stem, (None, path))
    return found


def quirk_body(name: str) -> bytes:
    """The feed body of one quirk."""
    body, _ = quirk_files()[name]
    assert body is not None
    return body.read_bytes()


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def quirk_output(body: bytes, request: dict[str, Any]) -> dict[str, Any]:
    """What parse_feed, then normalize_entry, make of a body: the channel, and per entry the
    raw fields and the normalized item (None when the entry is dropped)."""
    url = request.get("url", URL)
    parsed = parse_feed(body, request.get("headers", {}), url, now=PARSE_NOW)
    feed = FeedConfig(id="quirk", name="Quirk", url=url)
    entries = []
    for e in parsed.entries:
        item = normalize_entry(e, feed, parsed, PARSE_NOW)
        entries.append(
            {
                "guid": e.guid,
                "link": e.link,
                "title": e.title,
                "summary_html": e.summary_html,
                "content_html": e.content_html,
                "published": _when(e.published),
                "language": e.language,
                "item": None
                if item is None
                else {
                    "guid": item.guid,
                    "url": item.url,
                    "link": item.link,
                    "title": item.title,
                    "summary": item.summary,
                    "content_html": item.content_html,
                    "published": _when(item.published),
                    "date_is_fallback": item.date_is_fallback,
                    "lang": item.lang,
                },
            }
        )
    channel = {
        "title": parsed.title,
        "link": parsed.link,
        "language": parsed.language,
        "error": parsed.error,
        "warning": parsed.warning,
    }
    return {"feed": channel, "entries": entries}


def as_json(doc: dict[str, Any]) -> str:
    """Indented JSON, UTF-8 text left readable; invisible and unpaired characters escaped."""
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    shown = (ch if ch.isprintable() or ch == "\n" else f"\\u{ord(ch):04x}" for ch in text)
    return "".join(shown) + "\n"


@pytest.mark.parametrize("name", sorted(quirk_files()))
def test_feed_quirk(name: str, golden: Golden) -> None:
    body, expected = quirk_files()[name]
    assert body is not None, f"{expected.name} has no feed body beside it"
    written = json.loads(expected.read_text("utf-8")) if expected.exists() else {}
    by_hand = {k: written[k] for k in ("about", "request") if k in written}
    output = quirk_output(body.read_bytes(), by_hand.get("request", {}))
    golden.check_text(expected, as_json({**by_hand, **output}))


# ---------------------------------------------------------------- encodings

# Every byte of this UTF-8 text is defined in windows-1252, so a windows-1252 label
# decodes it "successfully" into mojibake (feedparser's own repair only undoes latin-1).
CAFE = "Naïve café — it’s €5 中文"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/xml; charset=windows-1252",
        "application/rss+xml; charset=cp1252",
        "application/rss+xml; charset=ISO-8859-1",
        "text/html; charset=latin1",
        "text/xml",  # RFC 3023 would say us-ascii
    ],
)
def test_lying_charset_header_loses_to_utf8_body(content_type: str) -> None:
    p = parse(quirk_body("utf8-body-lying-header"), {"Content-Type": content_type})
    assert p.title == CAFE
    assert p.entries[0].title == CAFE


# ---------------------------------------------------------------- not feeds


def test_body_naming_a_local_file_is_not_read(tmp_path: Path) -> None:
    # feedparser opens bytes as a file name when it can: the wrapper must never let it
    local = tmp_path / "secret.xml"
    local.write_bytes(quirk_body("rss2"))
    p = parse(str(local).encode())
    assert p.error is not None
    assert p.entries == [] and p.title is None


def test_feedparser_exception_becomes_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("x")

    monkeypatch.setattr(digest.ingest.parse.feedparser, "parse", boom)
    p = parse(quirk_body("atom-persian"))
    assert p.error is not None and p.entries == []
    monkeypatch.setattr(digest.ingest.parse, "read_plain_rss", boom)  # the plain-RSS reader
    p = parse(quirk_body("rss2"))
    assert p.error is not None and p.entries == []


def test_billion_laughs_is_bounded() -> None:
    ents = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{ents}]>'
        '<rss version="2.0"><channel><title>&i;</title><item><title>t</title></item>'
        "</channel></rss>"
    ).encode()
    p = parse(body)
    # whatever the outcome, no gigabyte title
    assert p.title is None or len(p.title) <= 300


# ---------------------------------------------------------------- never raises

FEEDISH = [
    b"<?xml version='1.0'?>", b"<?xml version='1.0' encoding='gb2312'?>", b"<rss>",
    b"<rss version='2.0'>", b"<channel>", b"<item>", b"</item>", b"<title>", b"</title>",
    b"<feed xmlns='http://www.w3.org/2005/Atom'>", b"<entry>", b"</entry>",
    b"<link href='", b"'/>", b"<![CDATA[", b"]]>", b"&amp;", b"&#", b"&#x", b"<", b">",
    b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>", b"<dc:date>",
    b"<pubDate>", b"<guid>", b"<content type='xhtml'>", b"<summary type='html'>",
    b"<!DOCTYPE x [<!ENTITY e 'v'>]>", b"&e;", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00",
    b"<html>", b"<link rel='alternate' type='application/rss+xml' href='", b"\xa4\xa4",
    b"<media:content url='x'/>", b"<author><name>", b"</name></author>", b"<updated>",
    b"9999-99-99T99:99:99Z", b"Mon, 32 Foo 20000 25:61:61 +9999",
]  # fmt: skip

feed_bytes = st.one_of(
    st.binary(max_size=512),
    st.lists(st.one_of(st.sampled_from(FEEDISH), st.binary(max_size=8)), max_size=40).map(b"".join),
)
header_values: st.SearchStrategy[dict[str, str]] = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {
            "content-type": st.sampled_from(
                [
                    "text/xml",
                    "text/html; charset=utf-8",
                    "application/xml; charset=bogus-charset",
                    "application/rss+xml; charset=utf-16",
                    "text/plain; charset=\"'",
                    "",
                ]
            )
        }
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feed_bytes, header_values)
def test_parse_feed_never_raises(body: bytes, headers: dict[str, str]) -> None:
    p = parse_feed(body, headers, URL)
    assert isinstance(p, ParsedFeed)
    assert (p.error is None) or (p.entries == [])
    for e in p.entries:
        assert e.published is None or e.published.tzinfo is not None


# ---------------------------------------------------------------- real feeds

FEED = FeedConfig(id="real", name="Real", url="https://real.example/feed")


def real(name: str) -> ParsedFeed:
    """A snapshot parsed (skipped without ../shared, failed under CI=true)."""
    return parse_feed(real_feed(name).read_bytes(), {}, FEED.url, now=PARSE_NOW)


# Files with nothing to recover: an undeclared-namespace channel with no items, and a
# Big5 Atom feed that is only a title (no entries, yet a feed: no error).
NO_ENTRIES = {"feedparser_illformed_undeclared_namespace.xml", "feedparser_illformed_big5.xml"}
FATAL = {"feedparser_illformed_undeclared_namespace.xml"}
# The truncated-CDATA file recovers one item whose title was cut off: it has no content.
EMPTY_ITEMS = {"feedparser_illformed_rss_incomplete_cdata.xml"}


@pytest.mark.parametrize("name", REAL_FEED_NAMES)
def test_every_real_file_parses(name: str) -> None:
    p = real(name)
    if name in FATAL:
        assert p.error is not None and p.entries == []
        return
    assert p.error is None
    if name not in NO_ENTRIES:
        assert p.entries
        items = [normalize_entry(e, FEED, p, PARSE_NOW) for e in p.entries]
        assert any(items) == (name not in EMPTY_ITEMS)


def test_real_gb2312_title_decodes() -> None:
    p = real("feedparser_illformed_gb2312.xml")
    assert p.entries[0].title == "不归移民漫画系列：专业工作"


def test_real_big5_title_decodes() -> None:
    p = real("feedparser_illformed_big5.xml")
    assert p.error is None
    assert p.title is not None
    # the file itself has '?' where its author's text had no Big5 character
    assert p.title.startswith("我希望")
    assert "成中文" in p.title and "感" in p.title


def test_real_uyghur_title_loses_its_lrm() -> None:
    p = real("rfa_nuus_uyghur.xml")
    assert p.title == "ئۇيغۇر"
    assert p.language is None
    items = [normalize_entry(e, FEED, p, PARSE_NOW) for e in p.entries]
    assert all(i is not None and i.lang == "ug" for i in items)
    for i in items:
        assert i is not None
        assert not any(ch in i.title + i.summary for ch in "\u200e\u200f\u202a\u202b\u202c")


def test_real_tabnak_dates_with_0430_offset_become_utc() -> None:
    p = real("rssatomkit_tabnak.xml")
    assert len(p.entries) == 100
    # <pubDate>02 Jun 2015 03:30:01 +0430</pubDate> is 23:00:01 UTC the day before
    assert p.entries[0].published == datetime(2015, 6, 1, 23, 0, 1, tzinfo=UTC)
    assert all(e.published is not None for e in p.entries)
    assert all(e.guid is None for e in p.entries)  # no GUIDs: normalize falls back to link
    item = normalize_entry(p.entries[0], FEED, p, PARSE_NOW)
    assert item is not None and item.guid == item.link and item.guid.startswith("http://")
    assert item.lang == "fa"
    assert "\u200c" in item.title  # Persian ZWNJ is spelling, not junk


def test_real_truncated_cdata_keeps_its_item_and_warns() -> None:
    p = real("feedparser_illformed_rss_incomplete_cdata.xml")
    assert p.error is None
    assert p.warning
    assert len(p.entries) == 1
    assert p.title == "can feedparser read this xml"
    assert p.language == "en-us"


def test_real_rdf_feeds_use_dc_date() -> None:
    p = real("rfa_nuus_english.xml")
    assert p.language is None
    assert all(e.published is not None for e in p.entries)
    assert p.entries[0].published == datetime(2019, 8, 29, 1, 7, 58, tzinfo=UTC)


def test_real_rss2_uuid_guids_kept_verbatim() -> None:
    p = real("rfa_nuus_rss2_main.xml")
    assert len(p.entries) == 31
    assert p.entries[0].guid == "0a29ee59-eeca-444a-a2e1-68450d752612"


def test_real_languages_after_normalize() -> None:
    expected = {
        "rfa_nuus_mandarin.xml": "zh",
        "rssatomkit_RFA-tibetan.xml": "bo",
        "rssatomkit_BBCPersian.xml": "fa",
        "rssatomkit_VOA.xml": "en",
        "rfa_nuus_english.xml": "en",
    }
    for name, lang in expected.items():
        p = real(name)
        langs = {i.lang for e in p.entries if (i := normalize_entry(e, FEED, p, PARSE_NOW))}
        assert langs == {lang}, name


def test_truncated_utf8_feed_keeps_complete_items_at_every_cut() -> None:
    # A connection cut anywhere in the last item (often mid-character) must neither lose the
    # earlier items nor turn their text into mojibake, and the parse is flagged.
    items = "".join(
        f"<item><guid>g{i}</guid><title>审查报道 {i}</title>"
        f"<link>https://x.example/{i}</link></item>"
        for i in range(3)
    )
    doc = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>频道</title>'
        f"{items}</channel></rss>"
    ).encode()
    start = doc.index(b"<item><guid>g2")
    for cut in range(start + 1, len(doc) - len(b"</channel></rss>")):
        p = parse_feed(doc[:cut], {"content-type": "application/rss+xml"}, URL)
        assert p.error is None, cut
        assert p.warning is not None and "truncated" in p.warning, cut
        titles = [e.title for e in p.entries]
        assert titles[:2] == ["审查报道 0", "审查报道 1"], (cut, titles)
        assert p.title == "频道"
