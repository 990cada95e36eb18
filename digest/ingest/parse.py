"""Fetched bytes to a ParsedFeed with feedparser, defended against what real feeds send."""

from __future__ import annotations

import codecs
import contextlib
import html as htmllib
import io
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import feedparser

from digest.ingest.newest import newest_entries, newest_first
from digest.ingest.normalize import clean_text, plausible_date
from digest.ingest.plainrss import read_plain_rss
from digest.ingest.sanitize import safe_url
from digest.records import ParsedFeed, RawEntry
from digest.text import cut_text, printable
from digest.wording import plural

_MESSAGE_MAX = 300
_CHANNEL_TITLE_MAX = 300
_HTML_SNIFF = 4096
_HTML_SCAN_MAX = 256 * 1024
_MAX_LINK_TAGS = 200
_LINK_TAG_RE = re.compile(r"<link\b[^<>]{0,2000}>", re.IGNORECASE)

_UTF16_32_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # UTF-32 BOMs start with these
_XML_ENCODING_RE = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:\-]{1,40})["']""")
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta ", b"<script")
_FEED_MARKERS = (b"<rss", b"<feed", b"<rdf:rdf", b"<rdf", b"<channel")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})

# feedparser asks xml.sax for these readers first: ours gives it text in runs (saxdriver.py).
feedparser.api.PREFERRED_XML_PARSERS = ["digest.ingest.saxdriver"]


def parse_feed(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    *,
    now: datetime | None = None,
    max_items: int | None = None,
) -> ParsedFeed:
    """Parse a fetched body, keeping its `max_items` newest entries; never raises."""
    try:
        return _parse(body, headers, url, now or datetime.now(UTC), max_items)
    except Exception as exc:  # the contract is "never raises": report instead
        return _failed(f"could not parse the feed ({_describe(exc)})")


def _failed(message: str) -> ParsedFeed:
    return ParsedFeed(title=None, link=None, language=None, entries=[], error=message)


def _describe(exc: object) -> str:
    """A short, single-line, control-free description of an exception."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = printable(text)
    return text[:_MESSAGE_MAX]


def _parse(
    body: bytes, headers: Mapping[str, str], url: str, now: datetime, max_items: int | None
) -> ParsedFeed:
    if not body or not body.strip():
        return _failed("empty response body")
    body, charset, note = _prepare(body, headers)
    left_out = 0
    if max_items is not None:
        # feedparser's time and memory grow with the entries: hand it the newest only
        body, left_out = newest_entries(body, max_items)
    feed_headers = {"content-type": "application/xml" + (f"; charset={charset}" if charset else "")}
    # No Content-Location on purpose: feedparser would resolve every <guid> against it,
    # turning a UUID guid into a made-up URL. Links are resolved here instead, and
    # relative URLs inside HTML by sanitize.
    # Bytes must go in as a stream: feedparser treats bytes it is handed directly as a
    # possible file name and would read a local file if the body named one.
    # Plain RSS 2.0 is read in C with feedparser's results (plainrss.py); the rest by feedparser.
    result = read_plain_rss(body, charset)
    if result is None:
        result = feedparser.parse(
            io.BytesIO(body),
            response_headers=feed_headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )

    version = str(result.get("version") or "")
    bozo_exc = result.get("bozo_exception") if result.get("bozo") else None
    if not isinstance(bozo_exc, BaseException):
        bozo_exc = None
    channel = result.get("feed") or {}
    entries = []
    for raw in result.get("entries") or []:
        try:
            entries.append(_entry(raw, url, now))
        except Exception:  # one hostile entry must not cost the others
            continue
    if max_items is not None and len(entries) > max_items:  # entries the scan did not see
        stamps = [e.published.timestamp() if e.published else math.inf for e in entries]
        kept = newest_first(stamps, max_items)
        left_out += len(entries) - len(kept)
        entries = [entries[i] for i in kept]
    if left_out:
        total = len(entries) + left_out
        note = "; ".join(
            w
            for w in (note, f"kept the newest {len(entries)} of {total} entries (fetch.max_items)")
            if w
        )

    problem = _describe(bozo_exc) if bozo_exc else None
    if problem and entries and _is_malformed(bozo_exc):
        problem = (
            f"malformed or truncated XML, {plural(len(entries), 'entry')} recovered ({problem})"
        )
    warnings = [w for w in (note, problem) if w]
    if not entries:
        if _looks_like_html(body) and (not version or bozo_exc is not None):
            return _failed(_html_message(body, url))
        if not version:
            reason = f" ({warnings[-1]})" if warnings else ""
            return _failed(f"not a feed (no RSS, Atom or RDF found){reason}")
        if _is_malformed(bozo_exc):
            return _failed(f"malformed feed, no entry recovered ({_describe(bozo_exc)})")

    return ParsedFeed(
        title=cut_text(clean_text(_text(channel, "title")), _CHANNEL_TITLE_MAX) or None,
        link=safe_url(_str(channel.get("link")), url) or None,
        language=_language(channel.get("language")),
        entries=entries,
        warning="; ".join(warnings) or None,
    )


def _prepare(body: bytes, headers: Mapping[str, str]) -> tuple[bytes, str, str | None]:
    """Strip BOM and leading blanks; choose the charset to tell feedparser (and a note)."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    if body.startswith(_UTF16_32_BOMS):
        return body, "", None
    # Whitespace before `<?xml` is a common server bug that makes the XML invalid.
    body = body.lstrip(b" \t\r\n")
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    declared = _charset_param(str(content_type))
    m = _XML_ENCODING_RE.match(body)
    xml_declared = m.group(1).decode("ascii") if m else ""
    stated = declared or xml_declared
    has_nul = b"\x00" in body
    if not body.isascii() and not has_nul:
        # A connection cut mid-character leaves a partial UTF-8 sequence at the end of a
        # truncated body: drop it so the rest still reads as the UTF-8 it is.
        body = _without_partial_utf8_tail(body)
    if not body.isascii() and not has_nul and _decodes_as_utf8(body):
        # Bytes that are valid UTF-8 and not ASCII are UTF-8, whatever the headers say:
        # trusting a windows-1252 label would give silent mojibake.
        if stated and _codec_name(stated) != "utf-8":
            return body, "utf-8", f"declared charset {stated} but the body is UTF-8; read as UTF-8"
        return body, "utf-8", None
    if declared:
        codec = _codec_name(declared)
        if codec is None:
            return body, "", f"unknown charset {declared}; detected instead"
        if codec.startswith(("utf-16", "utf-32")) and not has_nul:
            return body, "", f"declared charset {declared} does not fit the body; ignored"
    return body, declared, None


def _charset_param(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            value = value.strip().strip("\"'").strip()
            return value if re.fullmatch(r"[A-Za-z0-9._:\-]{1,40}", value) else ""
    return ""


def _codec_name(label: str) -> str | None:
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def _without_partial_utf8_tail(body: bytes) -> bytes:
    """`body` minus an incomplete UTF-8 sequence at its very end, when that is all that is wrong."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(body, final=False)
    except UnicodeDecodeError:
        return body  # not UTF-8 somewhere else: leave it to the charset logic
    pending = len(decoder.getstate()[0])
    return body[: len(body) - pending] if pending else body


def _decodes_as_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_malformed(exc: object) -> bool:
    """True for XML errors; encoding notes mean the document itself was fine."""
    if exc is None:
        return False
    notes = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    return not isinstance(exc, notes)


# ---------------------------------------------------------------- HTML pages


def _looks_like_html(body: bytes) -> bool:
    head = body[:_HTML_SNIFF].lower()
    if any(marker in head for marker in _FEED_MARKERS) and not head.startswith(
        (b"<!doctype html", b"<html")
    ):
        return False
    return any(marker in head for marker in _HTML_MARKERS)


class _LinkTag(HTMLParser):
    """Reads the attributes of one <link> tag (entities and quoting handled)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs = {k.lower(): (v or "") for k, v in attrs}

    handle_startendtag = handle_starttag


def _alternate_href(body: bytes) -> str | None:
    """The href of the page's first <link rel="alternate" type="application/rss+xml|atom+xml">."""
    # html.parser is quadratic on some hostile pages: find the few short <link> tags with
    # a bounded regex and hand only those to it.
    page = body[:_HTML_SCAN_MAX].decode("utf-8", "replace")
    for n, match in enumerate(_LINK_TAG_RE.finditer(page)):
        if n >= _MAX_LINK_TAGS:
            break
        tag = _LinkTag()
        with contextlib.suppress(Exception):
            tag.feed(match.group(0))
            tag.close()
        rels = tag.attrs.get("rel", "").lower().split()
        kind = tag.attrs.get("type", "").split(";")[0].strip().lower()
        if "alternate" in rels and kind in _FEED_TYPES and tag.attrs.get("href"):
            return tag.attrs["href"]
    return None


def _html_message(body: bytes, url: str) -> str:
    href = _alternate_href(body)
    alternate = safe_url(href, url) if href else ""
    message = "an HTML page, not a feed"
    if alternate and alternate != url:
        message += f"; the page names its feed: {alternate}"
    return message


# ---------------------------------------------------------------- entries


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(container: Mapping[str, Any], key: str) -> str:
    """A text construct as HTML: plain-text values are escaped so markup-stripping keeps them."""
    value = _str(container.get(key))
    if value is None:
        return ""
    detail = container.get(f"{key}_detail")
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    return htmllib.escape(value, quote=False) if kind == "text/plain" else value


def _content(entry: Mapping[str, Any]) -> str | None:
    """The first content value, preferring HTML; plain text is escaped to HTML."""
    blocks = [c for c in entry.get("content") or [] if isinstance(c, Mapping)]
    blocks = [c for c in blocks if _str(c.get("value"))]
    if not blocks:
        return None
    html_types = ("text/html", "application/xhtml+xml")
    block = next((c for c in blocks if c.get("type") in html_types), blocks[0])
    value: str = block["value"]
    return htmllib.escape(value, quote=False) if block.get("type") == "text/plain" else value


def _date(entry: Mapping[str, Any], now: datetime) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if not isinstance(parsed, time.struct_time | tuple) or len(parsed) < 6:
            continue
        try:
            # feedparser's tuples are already UTC; leap seconds (60, 61) are clamped
            year, month, day, hour, minute, second = (int(x) for x in parsed[:6])
            value = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
        except (ValueError, TypeError, OverflowError):
            continue
        plausible = plausible_date(value, now)
        if plausible is not None:
            return plausible
        # far future or before 1990 counts as missing: the next date may be sound
    return None


def _language(value: Any) -> str | None:
    text = _str(value)
    if text is None:
        return None
    text = printable(text.strip())[:40]
    return text or None


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    own = _language(entry.get("language"))
    if own:
        return own
    details = [entry.get("title_detail"), entry.get("summary_detail")]
    details += list(entry.get("content") or [])
    for detail in details:
        if isinstance(detail, Mapping):
            lang = _language(detail.get("language"))
            if lang:
                return lang
    return None


def _resolve(link: str | None, base: str) -> str | None:
    """A relative link made absolute against the feed's URL; anything else unchanged."""
    if link is None or _SCHEME_RE.match(link.strip()) or not base.startswith(("http:", "https:")):
        return link
    try:
        return urljoin(base, link.strip())
    except ValueError:
        return link


def _entry(entry: Mapping[str, Any], url: str, now: datetime) -> RawEntry:
    return RawEntry(
        guid=_str(entry.get("id")),
        link=_resolve(_str(entry.get("link")), url),
        title=_text(entry, "title") or None,
        summary_html=_text(entry, "summary") or None,
        content_html=_content(entry),
        published=_date(entry, now),
        language=_entry_language(entry),
    )
