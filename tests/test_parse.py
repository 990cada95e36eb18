"""parse.py: feeds of every format, lying charsets, BOMs, HTML pages, hostile bytes, real feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared_data import FEEDS_REAL

import digest.ingest.parse
from digest.ingest.normalize import clean_text, normalize_entry
from digest.ingest.parse import parse_feed
from digest.records import FeedConfig, ParsedFeed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URL = "https://news.example/feed/"
REAL = FEEDS_REAL


def parse(body: bytes, headers: dict[str, str] | None = None, url: str = URL) -> ParsedFeed:
    return parse_feed(body, headers or {}, url, now=NOW)


RSS2 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Digital Rights &amp; You</title>
  <link>https://news.example/</link>
  <language>en-us</language>
  <item>
    <title>Censors block &lt;b&gt;VPN&lt;/b&gt; apps</title>
    <link>https://news.example/2026/vpn?utm_source=rss</link>
    <guid isPermaLink="false">vpn-2026</guid>
    <description>&lt;p&gt;Short &lt;em&gt;summary&lt;/em&gt;.&lt;/p&gt;</description>
    <content:encoded><![CDATA[<p>Full <a href="/more">text</a>.</p><script>x()</script>]]>
    </content:encoded>
    <pubDate>Sun, 01 Mar 2026 08:30:00 +0100</pubDate>
    <dc:creator>Jane Doe</dc:creator>
  </item>
  <item>
    <title>Relative link, no guid</title>
    <link>/2026/relative</link>
    <description>plain words</description>
  </item>
  <item>
    <title>From the far future</title>
    <link>https://news.example/future</link>
    <pubDate>Sat, 01 Jan 2050 00:00:00 GMT</pubDate>
  </item>
  <item>
    <title>Before 1990</title>
    <link>https://news.example/old</link>
    <pubDate>Mon, 01 Jan 1973 00:00:00 GMT</pubDate>
  </item>
  <item>
    <title>A UUID guid</title>
    <guid>0a29ee59-eeca-444a-a2e1-68450d752612</guid>
    <link>https://news.example/uuid</link>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fa">
  <title type="text">اخبار</title>
  <link rel="alternate" href="https://fa.example/"/>
  <id>urn:uuid:feed</id>
  <updated>2026-02-28T10:00:00Z</updated>
  <entry>
    <title type="text">x &lt; y</title>
    <link rel="alternate" href="https://fa.example/1"/>
    <id>urn:uuid:1</id>
    <published>2026-02-28T12:00:00+03:30</published>
    <updated>2026-02-28T13:00:00Z</updated>
    <summary type="text">متن &lt;ساده&gt;</summary>
    <content type="html">&lt;p&gt;محتوا&lt;/p&gt;</content>
    <author><name>نویسنده</name><email>a@fa.example</email></author>
  </entry>
  <entry xml:lang="en">
    <title>English entry</title>
    <link href="https://fa.example/2"/>
    <id>urn:uuid:2</id>
    <updated>2026-02-27T09:00:00Z</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Hi</p></div></content>
  </entry>
</feed>
""".encode()

RDF = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns="http://purl.org/rss/1.0/">
  <channel rdf:about="https://rdf.example/RSS">
    <title>ئۇيغۇر\u200e</title>
    <link>https://rdf.example</link>
    <description></description>
  </channel>
  <item rdf:about="https://rdf.example/a.html">
    <title>RDF item</title>
    <link>https://rdf.example/a.html</link>
    <description>RDF description</description>
    <dc:date>2019-05-13T19:30:00Z</dc:date>
  </item>
</rdf:RDF>
""".encode()


# ---------------------------------------------------------------- formats


def test_rss2() -> None:
    p = parse(RSS2)
    assert p.error is None and p.warning is None
    assert p.title == "Digital Rights & You"
    assert p.link == "https://news.example/"
    assert p.language == "en-us"
    assert len(p.entries) == 5
    e = p.entries[0]
    assert e.guid == "vpn-2026"
    assert e.link == "https://news.example/2026/vpn?utm_source=rss"
    assert e.title is not None and clean_text(e.title) == "Censors block VPN apps"
    assert e.summary_html is not None and "<em>summary</em>" in e.summary_html
    assert e.content_html is not None and "Full" in e.content_html
    assert e.published == datetime(2026, 3, 1, 7, 30, tzinfo=UTC)


def test_rss2_relative_link_resolved_against_feed_url() -> None:
    e = parse(RSS2).entries[1]
    assert e.link == "https://news.example/2026/relative"
    assert e.guid is None
    assert e.published is None


def test_rss2_dates_out_of_range_are_missing() -> None:
    entries = parse(RSS2).entries
    assert entries[2].published is None  # 2050
    assert entries[3].published is None  # 1973


def test_junk_published_date_falls_back_to_updated() -> None:
    body = ATOM.replace(b"2026-02-28T12:00:00+03:30", b"1970-01-01T00:00:00Z")
    assert parse(body).entries[0].published == datetime(2026, 2, 28, 13, 0, tzinfo=UTC)


def test_uuid_guid_is_not_turned_into_a_url() -> None:
    assert parse(RSS2).entries[4].guid == "0a29ee59-eeca-444a-a2e1-68450d752612"


def test_atom() -> None:
    p = parse(ATOM)
    assert p.error is None
    assert p.title == "اخبار"
    assert p.link == "https://fa.example/"
    first, second = p.entries
    assert first.guid == "urn:uuid:1"
    assert first.link == "https://fa.example/1"
    # published wins over updated, and +03:30 becomes UTC
    assert first.published == datetime(2026, 2, 28, 8, 30, tzinfo=UTC)
    # text constructs stay text: the literal "<" survives markup stripping
    assert first.title is not None and clean_text(first.title) == "x < y"
    assert first.summary_html is not None and clean_text(first.summary_html) == "متن <ساده>"
    assert first.content_html == "<p>محتوا</p>"
    assert first.language == "fa"
    assert second.language == "en"
    assert second.content_html is not None and "<p>Hi</p>" in second.content_html
    assert second.published == datetime(2026, 2, 27, 9, 0, tzinfo=UTC)


def test_rss1_rdf_with_dc_date_and_no_language() -> None:
    p = parse(RDF)
    assert p.error is None
    assert p.language is None
    assert p.title == "ئۇيغۇر"  # the trailing U+200E is gone
    (e,) = p.entries
    assert e.guid == "https://rdf.example/a.html"
    assert e.published == datetime(2019, 5, 13, 19, 30, tzinfo=UTC)


# ---------------------------------------------------------------- encodings

# Every byte of this UTF-8 text is defined in windows-1252, so a windows-1252 label
# decodes it "successfully" into mojibake (feedparser's own repair only undoes latin-1).
CAFE = "Naïve café — it’s €5 中文"
CAFE_RSS = f"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>{CAFE}</title>
<item><title>{CAFE}</title><author>{CAFE}</author><link>https://e.example/1</link></item>
</channel></rss>""".encode()


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
    p = parse(CAFE_RSS, {"Content-Type": content_type})
    assert p.title == CAFE
    assert p.entries[0].title == CAFE


def test_lying_charset_header_is_reported_as_warning() -> None:
    p = parse(CAFE_RSS, {"content-type": "text/xml; charset=windows-1252"})
    assert p.warning is not None and "windows-1252" in p.warning


def test_lying_xml_declaration_loses_to_utf8_body() -> None:
    declared = b'<?xml version="1.0" encoding="windows-1252"?>'
    body = CAFE_RSS.replace(b'<?xml version="1.0"?>', declared)
    assert parse(body).title == CAFE


def test_truthful_latin1_header_is_honoured() -> None:
    body = "<rss version='2.0'><channel><title>Café</title></channel></rss>".encode("latin-1")
    p = parse(body, {"content-type": "application/xml; charset=iso-8859-1"})
    assert p.title == "Café"


def test_declared_gb2312_is_honoured() -> None:
    body = (
        '<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel>'
        "<title>中国数字时代</title><item><title>审查</title></item></channel></rss>"
    ).encode("gb2312")
    p = parse(body)
    assert p.title == "中国数字时代"
    assert p.entries[0].title == "审查"


def test_utf8_bom_is_stripped() -> None:
    p = parse(b"\xef\xbb\xbf" + CAFE_RSS, {"content-type": "application/xml"})
    assert p.error is None and p.warning is None
    assert p.title == CAFE


def test_leading_blank_lines_before_xml_declaration_do_not_break_parsing() -> None:
    p = parse(b"\n\n  " + RSS2)
    assert p.warning is None
    assert len(p.entries) == 5


def test_utf16_with_bom() -> None:
    text = '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>Ü</title>'
    text += "<item><title>ئۇ</title></item></channel></rss>"
    p = parse(text.encode("utf-16"))
    assert p.title == "Ü"
    assert p.entries[0].title == "ئۇ"


# ---------------------------------------------------------------- not feeds

HTML_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><title>News</title>
<link rel="stylesheet" href="/s.css">
<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed/rss.xml">
</head><body><p>Welcome</p></body></html>"""


def test_html_page_is_an_error_naming_its_feed() -> None:
    p = parse(HTML_PAGE, {"content-type": "text/html; charset=utf-8"}, url="https://n.example/a/")
    assert p.entries == []
    assert p.error is not None
    assert "HTML page" in p.error
    assert "https://n.example/feed/rss.xml" in p.error


def test_html_page_with_atom_alternate() -> None:
    page = HTML_PAGE.replace(b"application/rss+xml", b"application/atom+xml")
    p = parse(page, url="https://n.example/")
    assert p.error is not None and "https://n.example/feed/rss.xml" in p.error


def test_html_page_without_alternate() -> None:
    page = HTML_PAGE.replace(b'rel="alternate"', b'rel="other"')
    p = parse(page)
    assert p.error is not None and "HTML page" in p.error and "names its feed" not in p.error


def test_html_page_alternate_with_javascript_href_is_not_suggested() -> None:
    page = HTML_PAGE.replace(b"/feed/rss.xml", b"javascript:alert(1)")
    p = parse(page)
    assert p.error is not None and "javascript" not in p.error


@pytest.mark.parametrize("body", [b"", b"   \n\t ", b"\xef\xbb\xbf"])
def test_empty_body_is_an_error(body: bytes) -> None:
    p = parse(body)
    assert p.error is not None and p.entries == []


def test_plain_text_is_not_a_feed() -> None:
    p = parse(b"Service Unavailable")
    assert p.error is not None and "not a feed" in p.error


def test_body_naming_a_local_file_is_not_read(tmp_path: Path) -> None:
    # feedparser opens bytes as a file name when it can: the wrapper must never let it
    local = tmp_path / "secret.xml"
    local.write_bytes(RSS2)
    p = parse(str(local).encode())
    assert p.error is not None
    assert p.entries == [] and p.title is None


def test_feedparser_exception_becomes_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("x")

    monkeypatch.setattr(digest.ingest.parse.feedparser, "parse", boom)
    p = parse(RSS2)
    assert p.error is not None and p.entries == []


def test_malformed_but_recovered_keeps_entries_with_warning() -> None:
    body = RSS2.replace(b"</channel>", b"<item><title>broken &bogus; <b></item></channel>")
    p = parse(body)
    assert p.error is None
    assert p.warning
    assert len(p.entries) >= 5


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

needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="real feed snapshots absent")
FEED = FeedConfig(id="real", name="Real", url="https://real.example/feed")


def real(name: str) -> ParsedFeed:
    path = REAL / name
    if not path.is_file():
        pytest.skip(f"{name} absent")
    return parse_feed(path.read_bytes(), {}, FEED.url, now=NOW)


# Files with nothing to recover: an undeclared-namespace channel with no items, and a
# Big5 Atom feed that is only a title (no entries, yet a feed: no error).
NO_ENTRIES = {"feedparser_illformed_undeclared_namespace.xml", "feedparser_illformed_big5.xml"}
FATAL = {"feedparser_illformed_undeclared_namespace.xml"}
# The truncated-CDATA file recovers one item whose title was cut off: it has no content.
EMPTY_ITEMS = {"feedparser_illformed_rss_incomplete_cdata.xml"}


@needs_real
@pytest.mark.parametrize(
    "name", sorted(p.name for p in REAL.glob("*.xml")) if REAL.is_dir() else []
)
def test_every_real_file_parses(name: str) -> None:
    p = real(name)
    if name in FATAL:
        assert p.error is not None and p.entries == []
        return
    assert p.error is None
    if name not in NO_ENTRIES:
        assert p.entries
        items = [normalize_entry(e, FEED, p, NOW) for e in p.entries]
        assert any(items) == (name not in EMPTY_ITEMS)


@needs_real
def test_real_gb2312_title_decodes() -> None:
    p = real("feedparser_illformed_gb2312.xml")
    assert p.entries[0].title == "不归移民漫画系列：专业工作"


@needs_real
def test_real_big5_title_decodes() -> None:
    p = real("feedparser_illformed_big5.xml")
    assert p.error is None
    assert p.title is not None
    # the file itself has '?' where its author's text had no Big5 character
    assert p.title.startswith("我希望")
    assert "成中文" in p.title and "感" in p.title


@needs_real
def test_real_uyghur_title_loses_its_lrm() -> None:
    p = real("rfa_nuus_uyghur.xml")
    assert p.title == "ئۇيغۇر"
    assert p.language is None
    items = [normalize_entry(e, FEED, p, NOW) for e in p.entries]
    assert all(i is not None and i.lang == "ug" for i in items)
    for i in items:
        assert i is not None
        assert not any(ch in i.title + i.summary for ch in "\u200e\u200f\u202a\u202b\u202c")


@needs_real
def test_real_tabnak_dates_with_0430_offset_become_utc() -> None:
    p = real("rssatomkit_tabnak.xml")
    assert len(p.entries) == 100
    # <pubDate>02 Jun 2015 03:30:01 +0430</pubDate> is 23:00:01 UTC the day before
    assert p.entries[0].published == datetime(2015, 6, 1, 23, 0, 1, tzinfo=UTC)
    assert all(e.published is not None for e in p.entries)
    assert all(e.guid is None for e in p.entries)  # no GUIDs: normalize falls back to link
    item = normalize_entry(p.entries[0], FEED, p, NOW)
    assert item is not None and item.guid == item.link and item.guid.startswith("http://")
    assert item.lang == "fa"
    assert "\u200c" in item.title  # Persian ZWNJ is spelling, not junk


@needs_real
def test_real_truncated_cdata_keeps_its_item_and_warns() -> None:
    p = real("feedparser_illformed_rss_incomplete_cdata.xml")
    assert p.error is None
    assert p.warning
    assert len(p.entries) == 1
    assert p.title == "can feedparser read this xml"
    assert p.language == "en-us"


@needs_real
def test_real_rdf_feeds_use_dc_date() -> None:
    p = real("rfa_nuus_english.xml")
    assert p.language is None
    assert all(e.published is not None for e in p.entries)
    assert p.entries[0].published == datetime(2019, 8, 29, 1, 7, 58, tzinfo=UTC)


@needs_real
def test_real_rss2_uuid_guids_kept_verbatim() -> None:
    p = real("rfa_nuus_rss2_main.xml")
    assert len(p.entries) == 31
    assert p.entries[0].guid == "0a29ee59-eeca-444a-a2e1-68450d752612"


@needs_real
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
        langs = {i.lang for e in p.entries if (i := normalize_entry(e, FEED, p, NOW))}
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
