"""Plain RSS 2.0 read by ElementTree's C parser, giving what feedparser gives for the fields used.

feedparser spends about a millisecond of Python per item (a handler call for every element
and piece of text); on 300 small feeds that, not the network, set the pace of a fetch. For the
commonest feeds (RSS 2.0 built from the usual elements) this reader returns, in a few percent
of that time, the same values feedparser would for every field parse.py reads: the channel's
title, link and language; each item's guid, link, title, description, content:encoded and
pubDate. The values go through feedparser's own steps in feedparser's order (strip, resolve,
"looks like HTML", the UTF-8-read-as-Latin-1 repair, the Windows-1252 fix, the link fix-ups),
with feedparser's own date reader and HTML guess.

It answers only when that equality is certain, and returns None otherwise, so feedparser reads
the document: another format or version, a DOCTYPE, an encoding other than UTF-8, XML that
does not parse, an element or attribute outside the list below (xml:lang and xml:base
included), a field given twice, or markup inside a field. tests/test_plainrss.py holds the
two readers to equal results on the feeds the tests carry, ../shared/feeds-real, and
generated documents.
"""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urljoin

from feedparser.datetimes import _parse_date  # the date reader feedparser itself uses
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin

__all__ = ["read_plain_rss"]

_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
_ATOM_LINK = "{http://www.w3.org/2005/Atom}link"
_SY = "{http://purl.org/rss/1.0/modules/syndication/}"

# Channel elements feedparser files away from title, link and language (text only).
_CHANNEL_OTHER = frozenset(
    {
        "description",
        "copyright",
        "managingEditor",
        "webMaster",
        "pubDate",
        "lastBuildDate",
        "category",
        "generator",
        "docs",
        "ttl",
        f"{_SY}updatePeriod",
        f"{_SY}updateFrequency",
        f"{_SY}updateBase",
    }
)
_IMAGE_PARTS = frozenset({"url", "title", "link", "width", "height", "description"})
# Item elements that touch none of the fields read (text only, no attributes but those named).
_ITEM_OTHER = frozenset({"author", "category", "comments", "enclosure", _DC_CREATOR})
_ITEM_FIELDS = frozenset({"title", "link", "description", "guid", "pubDate", _CONTENT})
_ATTRIBUTES: dict[str, frozenset[str]] = {
    "guid": frozenset({"isPermaLink"}),
    "category": frozenset({"domain"}),
    "enclosure": frozenset({"url", "length", "type"}),
}
_NO_ATTRIBUTES: frozenset[str] = frozenset()

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
# The first element is <rss>, after at most an XML declaration, comments and blanks.
_RSS_ROOT = re.compile(rb"(?:\s+|<\?[^>]*\?>|<!--(?:[^-]|-(?!->))*-->)*<rss[\s>]")
_ROOT_SNIFF = 4096
_XML_DECL_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:\-]*)["']""")
_URI_FIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_ENTITY_LIKE = re.compile("&([A-Za-z0-9_]+);")
_C1 = re.compile("[\x80-\x9f]")  # the code points feedparser maps as Windows-1252


class _Decline(Exception):
    """The document is not one this reader can read exactly as feedparser does."""


def read_plain_rss(body: bytes, charset: str) -> dict[str, Any] | None:
    """feedparser's result for a plain RSS 2.0 document, or None when feedparser must read it."""
    # Atom, RDF and HTML are feedparser's: seen from the first element, before any parsing
    if not _RSS_ROOT.match(body, 0, _ROOT_SNIFF) or not _utf8(body, charset):
        return None
    if _DOCTYPE.search(body):
        return None
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError):
        return None
    try:
        return _rss(root)
    except _Decline:
        return None


def _utf8(body: bytes, charset: str) -> bool:
    """True when feedparser would decode the body as UTF-8 with nothing to report."""
    match = _XML_DECL_ENCODING.match(body)
    declared = match.group(1).decode("ascii").lower() if match else ""
    if charset.lower() not in ("", "utf-8", "utf8") or declared not in ("", "utf-8", "utf8"):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _rss(root: ET.Element) -> dict[str, Any]:
    if root.tag != "rss" or root.attrib != {"version": "2.0"} or len(root) != 1:
        raise _Decline
    channel = root[0]
    if channel.tag != "channel" or channel.attrib or (channel.text or "").strip():
        raise _Decline
    feed: dict[str, Any] = {}
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for child in channel:
        tag = child.tag
        if (child.tail or "").strip():
            raise _Decline
        if tag == "item":
            entries.append(_item(child))
            continue
        if tag == "image":
            _check_image(child)
            continue
        if tag == _ATOM_LINK:
            _check_atom_link(child)
            continue
        _check_leaf(child)
        if tag in ("title", "link", "language"):
            if tag in seen:
                raise _Decline
            seen.add(tag)
            if tag == "title":
                feed["title"], feed["title_detail"] = _title(child)
            elif tag == "link":
                feed["link"] = _ENTITY_LIKE.sub(r"&\g<1>", _fixed(_raw(child, resolve=True)))
            else:
                feed["language"] = _fixed(_raw(child))
        elif tag not in _CHANNEL_OTHER:
            raise _Decline
    return {"version": "rss20", "bozo": False, "feed": feed, "entries": entries}


def _check_leaf(el: ET.Element, allowed: frozenset[str] = _NO_ATTRIBUTES) -> None:
    """Text only, with no attributes beyond `allowed`."""
    if len(el) or any(name not in allowed for name in el.attrib):
        raise _Decline


def _check_image(image: ET.Element) -> None:
    if image.attrib or (image.text or "").strip():
        raise _Decline
    for part in image:
        if part.tag not in _IMAGE_PARTS or (part.tail or "").strip():
            raise _Decline
        _check_leaf(part)


def _check_atom_link(link: ET.Element) -> None:
    """An atom:link feedparser keeps out of the channel's link (rel self, hub, next ...)."""
    rel = link.attrib.get("rel", "alternate").lower()
    if rel == "alternate" or "href" not in link.attrib or len(link) or (link.text or "").strip():
        raise _Decline
    if any(name not in ("rel", "href", "type", "title", "hreflang") for name in link.attrib):
        raise _Decline


def _item(item: ET.Element) -> dict[str, Any]:
    if item.attrib or (item.text or "").strip():
        raise _Decline
    fields: dict[str, ET.Element] = {}
    for child in item:
        tag = child.tag
        if (child.tail or "").strip():
            raise _Decline
        if tag in _ITEM_FIELDS:
            if tag in fields:
                raise _Decline
            fields[tag] = child
            _check_leaf(child, _ATTRIBUTES.get(tag, _NO_ATTRIBUTES))
        elif tag in _ITEM_OTHER:
            _check_leaf(child, _ATTRIBUTES.get(tag, _NO_ATTRIBUTES))
        else:
            raise _Decline
    entry: dict[str, Any] = {}
    if (el := fields.get("title")) is not None:
        entry["title"], entry["title_detail"] = _title(el)
    if (el := fields.get("guid")) is not None:
        is_link = el.attrib.get("isPermaLink", "true") == "true"
        entry["id"] = _fixed(_raw(el, resolve=is_link))
        if is_link:  # a permalink guid stands in for a missing <link>
            entry["link"] = entry["id"]
    if (el := fields.get("link")) is not None:
        link = _fixed(_raw(el, resolve=True)).replace("&amp;", "&")
        entry["link"] = _ENTITY_LIKE.sub(r"&\g<1>", link)
    if (el := fields.get(_CONTENT)) is not None:
        content = _fixed(_raw(el))
        entry["content"] = [_detail(content, "text/html")]
        entry["summary"] = content  # unless a description says otherwise, below
    if (el := fields.get("description")) is not None:
        summary = _fixed(_raw(el))
        entry["summary"], entry["summary_detail"] = summary, _detail(summary, "text/html")
    if (el := fields.get("pubDate")) is not None:
        entry["published_parsed"] = _parse_date(_fixed(_raw(el)))
    return entry


def _raw(el: ET.Element, *, resolve: bool = False) -> str:
    """An element's text stripped, and for a link joined to no base as feedparser does."""
    value = (el.text or "").strip()
    return _urljoin(value) if resolve and value else value


def _title(el: ET.Element) -> tuple[str, dict[str, Any]]:
    """A title and its detail: RSS titles are text unless they look like HTML."""
    raw = _raw(el)
    kind = "text/html" if _FeedParserMixin.looks_like_html(raw) else "text/plain"
    value = _fixed(raw)
    return value, _detail(value, kind)


def _fixed(value: str) -> str:
    """feedparser's repairs: UTF-8 read as Latin-1 undone, then Windows-1252 code points."""
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    return value.translate(_cp1252) if _C1.search(value) else value


def _urljoin(uri: str) -> str:
    uri = _URI_FIXER.sub(r"\1\3", uri)
    try:
        return urljoin("", uri)
    except ValueError:
        return ""


def _detail(value: str, kind: str) -> dict[str, Any]:
    return {"type": kind, "language": None, "base": "", "value": value}
