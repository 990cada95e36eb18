"""normalize.py: canonical URLs, languages, dates, guids, summaries, invisible characters."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from builders import PARSE_NOW
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.ingest.normalize import (
    SUMMARY_MAX,
    canonical_url,
    clean_text,
    content_key,
    normalize_entry,
)
from digest.language import detect_language, normalize_language
from digest.records import FeedConfig, Item, ParsedFeed, RawEntry
from digest.text import cut_text

FEED = FeedConfig(id="f", name="Feed", url="https://feed.example/rss/")
CHANNEL = ParsedFeed(title="Feed", link=None, language=None, entries=[])


def raw(**kw: object) -> RawEntry:
    fields: dict[str, object] = {
        "guid": "g-1",
        "link": "https://news.example/a",
        "title": "A title about censorship",
        "summary_html": "<p>The summary of the article, long enough to be detected as English.</p>",
        "content_html": None,
        "published": datetime(2026, 2, 28, 10, 0, tzinfo=UTC),
        "language": None,
    }
    fields.update(kw)
    return RawEntry(**fields)  # type: ignore[arg-type]


def norm(
    entry: RawEntry,
    feed: FeedConfig = FEED,
    parsed: ParsedFeed = CHANNEL,
    now: datetime = PARSE_NOW,
) -> Item:
    item = normalize_entry(entry, feed, parsed, now)
    assert item is not None
    return item


# ---------------------------------------------------------------- canonical_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://News.Example.ORG/Path?b=2&a=1#frag", "https://news.example.org/Path?a=1&b=2"),
        ("http://example.org:80/a", "http://example.org/a"),
        ("https://example.org:443/a", "https://example.org/a"),
        ("https://example.org:8443/a", "https://example.org:8443/a"),
        ("https://example.org", "https://example.org/"),
        (
            "https://e.org/a?utm_source=rss&utm_medium=feed&id=7&fbclid=x&gclid=y",
            "https://e.org/a?id=7",
        ),
        ("https://e.org/a?UTM_Campaign=x&at_medium=rss&msclkid=1", "https://e.org/a"),
        ("https://e.org/a?mc_cid=1&mc_eid=2&igshid=3&keep=1", "https://e.org/a?keep=1"),
        ("https://e.org/a?", "https://e.org/a"),
        ("https://e.org/%7euser/%e4%b8%ad", "https://e.org/~user/%E4%B8%AD"),
        ("https://e.org/中文?q=新闻", "https://e.org/%E4%B8%AD%E6%96%87?q=%E6%96%B0%E9%97%BB"),
        ("https://user:pw@e.org/a", "https://e.org/a"),
        ("https://e.org./a", "https://e.org/a"),
        ("https://BÜCHER.example/a", "https://xn--bcher-kva.example/a"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("", ""),
        ("mailto:a@b.c", "mailto:a@b.c"),
        ("https://e.org:notaport/a", "https://e.org:notaport/a"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_mirrors_agree() -> None:
    a = canonical_url("https://www.rfa.org/english/news/x.html?utm_source=twitter#comments")
    b = canonical_url("HTTPS://WWW.RFA.ORG:443/english/news/x.html")
    assert a == b


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_canonical_url_is_idempotent_and_total(tail: str) -> None:
    once = canonical_url("https://e.org/" + tail)
    assert canonical_url(once) == once


# ---------------------------------------------------------------- languages


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("en-US", "en"),
        ("en_us", "en"),
        ("EN", "en"),
        ("zh-CN", "zh"),
        ("zh-Hans", "zh"),
        ("zh-Hans-CN", "zh"),
        ("zh-TW", "zh-Hant"),
        ("zh-HK", "zh-Hant"),
        ("zh-Hant", "zh-Hant"),
        ("zh-Hant-TW", "zh-Hant"),
        ("UG", "ug"),
        ("ug-CN", "ug"),
        ("fa-IR", "fa"),
        ("bo", "bo"),
        ("English", "en"),
        ("eng", "en"),
        ("iw", "he"),
        ("und", None),
        ("x-default", None),
        ("", None),
        (None, None),
        ("<script>", None),
        ("e", None),
    ],
)
def test_normalize_language(code: str | None, expected: str | None) -> None:
    assert normalize_language(code) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Police in Hong Kong arrested three people on Monday for posting messages online.",
            "en",
        ),
        ("专栏 | 网络博弈：香港，原谅我不敢挺你--墙内网友", "zh"),
        ("请原谅我不敢拍着良心说，香港，我挺你，微信被封，短信被警告。", "zh"),
        ("香港警方週一拘捕三人，指他們在網上發佈訊息，這是國安法實施後的最新個案。", "zh-Hant"),
        ("پرېزىدېنت ترامپ خىتاي سودىدا ئۆچ ئالسا ئاقىۋەتنىڭ چاتاق بولىدىغانلىقىنى", "ug"),
        ("དྲང་བདེན་ཐག་གཅོད་མ་བྱུང་བར་མུ་མཐུད་ཞུ་འབོད་བྱེད་བཞིན་པ།", "bo"),
        ("بزرگ\u200cترین عکسی که بشریت به خود دیده است", "fa"),
        ("کشته شدن ۱۵ نیروی ایرانی در جریان حمله انتحاری داعش در استان انبار", "fa"),
        ("هذا نص باللغة العربية عن الرقابة على الإنترنت في المنطقة", "ar"),
        ("پاکستان میں انٹرنیٹ بند کر دیا گیا ہے اور لوگ پریشان ہیں", "ur"),
        ("政府はインターネットの検閲を強化している", "ja"),
        ("정부는 인터넷 검열을 강화하고 있다", "ko"),
        ("Le gouvernement a bloqué l'accès aux réseaux sociaux pendant les manifestations.", "fr"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "12345 !!!", "OK", "\u200e\u200f"])
def test_detect_language_unsure(text: str) -> None:
    assert detect_language(text) is None


def test_language_priority_config_first() -> None:
    feed = FeedConfig(id="f", name="F", url=FEED.url, language="en")
    channel = ParsedFeed(title=None, link=None, language="fa", entries=[])
    assert norm(raw(title="中文标题", language="zh"), feed=feed, parsed=channel).lang == "en"


def test_language_priority_entry_over_channel() -> None:
    channel = ParsedFeed(title=None, link=None, language="fr", entries=[])
    assert norm(raw(language="en-GB"), parsed=channel).lang == "en"


def test_language_priority_channel_over_detection() -> None:
    channel = ParsedFeed(title=None, link=None, language="en-US", entries=[])
    item = norm(raw(title="Brief", summary_html="Gov blocks site"), parsed=channel)
    assert item.lang == "en"


def test_language_detected_when_nothing_declared() -> None:
    item = norm(raw(title="不归移民漫画系列：专业工作", summary_html=None))
    assert item.lang == "zh"


def test_declared_language_contradicted_by_script_loses() -> None:
    # a WordPress default of en-US over a Chinese blog
    channel = ParsedFeed(title=None, link=None, language="en-US", entries=[])
    entry = raw(title="中国数字时代：审查与删除", summary_html="微博上的帖子被删除了")
    item = norm(entry, parsed=channel)
    assert item.lang == "zh"


def test_bare_zh_with_traditional_text_is_zh_hant() -> None:
    channel = ParsedFeed(title=None, link=None, language="zh", entries=[])
    entry = raw(title="香港警方週一拘捕三人", summary_html="他們在網上發佈訊息")
    item = norm(entry, parsed=channel)
    assert item.lang == "zh-Hant"


def test_undetermined_language() -> None:
    assert norm(raw(title="OK", summary_html=None)).lang == "und"


# ---------------------------------------------------------------- dates


def test_date_normalised_to_utc() -> None:
    tehran = timezone(timedelta(hours=4, minutes=30))
    item = norm(raw(published=datetime(2015, 6, 2, 3, 30, 1, tzinfo=tehran)))
    assert item.published == datetime(2015, 6, 1, 23, 0, 1, tzinfo=UTC)
    assert item.published.utcoffset() == timedelta(0)
    assert item.date_is_fallback is False


@pytest.mark.parametrize(
    "published",
    [
        None,
        datetime(2026, 3, 5, tzinfo=UTC),  # more than a day ahead of PARSE_NOW
        datetime(1970, 1, 1, tzinfo=UTC),
    ],
)
def test_date_fallback_is_now(published: datetime | None) -> None:
    item = norm(raw(published=published))
    assert item.published == PARSE_NOW
    assert item.date_is_fallback is True


def test_slightly_ahead_date_is_kept() -> None:
    ahead = PARSE_NOW + timedelta(hours=3)  # clocks and time zones are sloppy
    item = norm(raw(published=ahead))
    assert item.published == ahead and not item.date_is_fallback


# ---------------------------------------------------------------- guid, link, key


def test_guid_kept() -> None:
    assert norm(raw(guid="  urn:x:1 ")).guid == "urn:x:1"


def test_guid_falls_back_to_link() -> None:
    item = norm(raw(guid=None, link="https://news.example/a?utm_source=x"))
    assert item.guid == "https://news.example/a?utm_source=x"
    assert item.link == "https://news.example/a?utm_source=x"
    assert item.url == "https://news.example/a"


def test_guid_falls_back_to_content_key() -> None:
    item = norm(raw(guid=None, link=None))
    assert item.guid == item.content_key
    assert item.url == "" and item.link == ""


def test_huge_guid_is_bounded() -> None:
    item = norm(raw(guid="x" * 10_000))
    assert item.guid.startswith("sha256:") and len(item.guid) < 100


def test_javascript_link_dropped() -> None:
    item = norm(raw(guid=None, link="javascript:alert(1)"))
    assert item.link == "" and item.url == ""
    assert item.guid == item.content_key


def test_relative_link_resolved_against_feed_url() -> None:
    assert norm(raw(link="../story/9")).link == "https://feed.example/story/9"


def test_entry_without_title_summary_or_link_is_dropped() -> None:
    entry = raw(title=None, summary_html=None, content_html=None, link=None)
    assert normalize_entry(entry, FEED, CHANNEL, PARSE_NOW) is None
    entry = raw(title="<b> </b>", summary_html="\u200e", link="javascript:x")
    assert normalize_entry(entry, FEED, CHANNEL, PARSE_NOW) is None


def test_link_only_entries_do_not_share_a_content_key() -> None:
    a = norm(raw(title=None, summary_html=None, link="https://e.org/1", guid=None))
    b = norm(raw(title=None, summary_html=None, link="https://e.org/2", guid=None))
    assert a.content_key != b.content_key


def test_content_key_ignores_case_spacing_punctuation_and_invisibles() -> None:
    a = content_key("Censors Block VPNs!", "Apps removed   from stores.")
    b = content_key("censors block vpns", "Apps removed\u200e from stores")
    c = content_key("Censors block VPNs", "Apps kept in stores")
    assert a == b != c
    assert content_key("标题", "摘要") != content_key("标题", "摘")


# ---------------------------------------------------------------- text


def test_clean_text() -> None:
    assert clean_text("  <b>Hello</b>&nbsp;&amp;\n\t world  ") == "Hello & world"
    assert clean_text("ئۇيغۇر\u200e") == "ئۇيغۇر"
    assert clean_text("\u202eevil\u202c \u2066x\u2069 \u200b\ufeffy\x00\x07") == "evil x y"
    assert clean_text("&#x200F;rtl&lrm;") == "rtl"
    assert clean_text("بزرگ\u200cترین") == "بزرگ\u200cترین"  # ZWNJ is Persian spelling
    assert clean_text("e\u0301") == "é"  # NFC


def test_title_is_plain_text() -> None:
    item = norm(raw(title="<b>Bold</b> &amp; <script>x</script>new &lt;tag&gt;"))
    assert item.title == "Bold & new <tag>"


def test_bidi_and_zero_width_stripped_from_title_and_summary() -> None:
    item = norm(
        raw(
            title="\u202bTitle\u202c\u200e",
            summary_html="<p>\u2067Sum\u200bmary\u2069\u200f</p>",
        )
    )
    assert item.title == "Title"
    assert item.summary == "Summary"


def test_summary_from_content_when_no_summary() -> None:
    item = norm(raw(summary_html=None, content_html="<p>From <em>content</em>.</p>"))
    assert item.summary == "From content."
    assert item.content_html == "<p>From <em>content</em>.</p>"


def test_content_html_sanitized() -> None:
    item = norm(raw(content_html='<p onclick="x">Hi<img src="https://t.example/p.gif"></p>'))
    assert item.content_html == "<p>Hi</p>"


def test_summary_cut_at_sentence_boundary() -> None:
    sentence = "Authorities blocked another messaging service this week. "
    item = norm(raw(summary_html=sentence * 30))
    assert len(item.summary) <= SUMMARY_MAX
    assert len(item.summary) > SUMMARY_MAX // 2
    assert item.summary.endswith("week. …")


def test_summary_cut_at_word_boundary() -> None:
    words = " ".join(f"word{i}" for i in range(300))
    out = cut_text(words, 600)
    assert len(out) <= 600 and out.endswith("…")
    last = out[:-1].split()[-1]
    assert last in words.split()  # no half word


def test_summary_cut_cjk_without_spaces() -> None:
    out = cut_text("审查" * 400, 600)
    assert len(out) == 600 and out.endswith("…")


def test_summary_cut_never_splits_combining_marks() -> None:
    text = "ཀྲུང" * 300  # Tibetan stacks: base + subjoined letters
    out = cut_text(text, 100)
    assert len(out) <= 100
    for limit in range(20, 40):
        out = cut_text(text, limit)
        body = out[:-1]
        assert body and text.startswith(body)
        # what follows the cut starts a new stack: no mark was torn from its base
        assert unicodedata.category(text[len(body)])[0] != "M"


def test_short_summary_untouched() -> None:
    assert norm(raw(summary_html="Short.")).summary == "Short."


# ---------------------------------------------------------------- hostile entries

INVISIBLE = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\ufeff"
hostile_text = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.lists(
        st.sampled_from(
            [
                *("<b>", "</p>", "<script>", "&amp;", "&#x202E;", "javascript:", "中", " "),
                *("\n", "ئۇ", *INVISIBLE),
            ]
        ),
        max_size=50,
    ).map("".join),
)
hostile_dates = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),  # naive
)


@settings(max_examples=300, deadline=None)
@given(
    guid=hostile_text,
    link=hostile_text,
    title=hostile_text,
    summary=hostile_text,
    content=hostile_text,
    published=hostile_dates,
    language=hostile_text,
    channel_language=hostile_text,
)
def test_normalize_entry_on_hostile_fields(
    guid: str | None,
    link: str | None,
    title: str | None,
    summary: str | None,
    content: str | None,
    published: datetime | None,
    language: str | None,
    channel_language: str | None,
) -> None:
    entry = RawEntry(guid, link, title, summary, content, published, language)
    channel = ParsedFeed(title=None, link=None, language=channel_language, entries=[])
    item = normalize_entry(entry, FEED, channel, PARSE_NOW)
    if item is None:
        return
    assert item.title or item.summary or item.link
    assert item.guid
    assert item.lang
    assert item.link == "" or item.link.startswith(("http://", "https://", "mailto:"))
    assert len(item.summary) <= SUMMARY_MAX
    assert item.published.utcoffset() == timedelta(0)
    assert item.published <= PARSE_NOW + timedelta(days=1)
    for text in (item.title, item.summary):
        assert not any(ch in INVISIBLE for ch in text)
        assert text == text.strip()
        assert "  " not in text
