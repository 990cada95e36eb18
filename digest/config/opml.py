"""OPML import into feeds.yaml (comments and order kept) and export of the configured feeds.

The OPML file is untrusted: DOCTYPE and ENTITY declarations are refused outright (no entity
expansion), only http(s) feed URLs are taken (an imported file:// URL or path would let a
stranger's OPML make the fetcher read local files), URLs whose host is or resolves to a
loopback, private or otherwise non-public address are refused unless the user allows them (a
stranger's OPML would otherwise turn the digest into a scanner of its own network), and every
text is cleaned before it reaches the YAML.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.parsers import expat

from digest.addresses import url_host_problem
from digest.config.load import load_config
from digest.config.yamledit import append_feeds
from digest.errors import InputError
from digest.ids import (
    feed_url_key,
    feed_url_problem,
    is_language_code,
    is_slug,
    name_from_url,
    readable_feed_id,
)
from digest.ingest.guard import Network, lookup_problems
from digest.records import Config, FeedConfig
from digest.text import printable

__all__ = [
    "DIGEST_NS",
    "MAX_OPML_BYTES",
    "OpmlImport",
    "check_opml_size",
    "export_opml",
    "import_opml",
    "plan_import",
    "read_opml",
]

# Our own attributes on <outline> (feed id, disabled flag), so export -> import keeps them.
DIGEST_NS = "urn:x-digest:opml"
MAX_OPML_BYTES = 16 * 1024 * 1024
MAX_NAME = 200
MAX_URL = 2000
MAX_TAGS = 20
_NS_SEP = "\x1f"  # expat's namespace separator: a character no XML name contains
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TAG_DROP = re.compile(r"[^\w-]+")
_PRIVATE_HINT = "--allow-private imports it"


@dataclass
class OpmlImport:
    """What import_opml did: the feeds it added and the outlines it skipped, with why."""

    added: list[FeedConfig] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url or title, reason)


@dataclass
class _Outline:
    """One <outline> with an xmlUrl, as read from the file (all text untrusted)."""

    line: int
    attrs: dict[str, str]
    folders: list[str]


@dataclass
class _Parsed:
    """What an OPML file holds: the outlines with a feed URL, and the names (or lines) of
    the outlines that have neither a feed URL nor outlines inside (not folders, not feeds)."""

    outlines: list[_Outline]
    no_url: list[tuple[str, int]]


class _Refused(Exception):
    """Raised from inside expat handlers to stop on forbidden markup."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


# ---------------------------------------------------------------- import


def import_opml(
    config_path: Path,
    opml_path: Path,
    *,
    allow_private: bool = False,
    network: Network | None = None,
) -> OpmlImport:
    """Add the OPML's feeds to feeds.yaml, keeping its comments and order, skipping duplicates.

    Feeds whose host is, or resolves to, a non-public address are skipped with the reason
    unless `allow_private`.
    """
    config = load_config(config_path)
    data = read_opml(opml_path)
    result = plan_import(config, data, str(opml_path), allow_private=allow_private, network=network)
    if result.added:
        append_feeds(config_path, config, result.added)
    return result


def read_opml(opml_path: Path) -> bytes:
    """An OPML file's bytes; InputError when it cannot be read or is far too large."""
    try:
        with open(opml_path, "rb") as fh:
            data = fh.read(MAX_OPML_BYTES + 1)
    except OSError as exc:
        raise InputError(
            f"{opml_path}: cannot read: {exc.strerror or exc}", "check the OPML file's path"
        ) from None
    return check_opml_size(data, str(opml_path))


def check_opml_size(data: bytes, name: str) -> bytes:
    """The data, or InputError when it is larger than any feed list."""
    if len(data) > MAX_OPML_BYTES:
        raise InputError(
            f"{name}: larger than {MAX_OPML_BYTES // (1024 * 1024)} MB",
            "an OPML feed list is a few kilobytes; is this the right file?",
        )
    return data


def plan_import(
    config: Config,
    data: bytes,
    name: str,
    *,
    allow_private: bool = False,
    network: Network | None = None,
) -> OpmlImport:
    """The feeds an OPML document (bytes, named `name` in errors) would add to `config`, with
    unique ids, and the outlines it would skip, with why; nothing is written. Feeds whose host
    is, or resolves to, a non-public address are skipped unless `allow_private`."""
    parsed = _parse_opml(data, name)
    resolved: dict[str, str] = {}
    if not allow_private:
        urls = [o.attrs.get("xmlUrl", "").strip() for o in parsed.outlines]
        hosts = [h for u in urls if (h := _http_host(u))]
        resolved = lookup_problems(hosts, network or Network())
    result = _plan(config, parsed.outlines, None if allow_private else resolved)
    for title, line in parsed.no_url:
        label = title or f"outline at line {line}"
        result.skipped.append((label, "has no feed URL (xmlUrl): nothing to fetch"))
    return result


def _http_host(url: str) -> str | None:
    """The host of an http(s) URL that names one (not written as an address), else None."""
    if feed_url_problem(url, allow_local=False) is not None or url_host_problem(url):
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _plan(
    config: Config, outlines: list[_Outline], resolved: Mapping[str, str] | None
) -> OpmlImport:
    """Decide which outlines become feeds, with unique ids, and why the others are skipped.

    `resolved`: host -> the non-public address it resolves to; None allows private hosts.
    """
    base = config.path.parent
    known_urls = {feed_url_key(f.url, base): f.id for f in config.feeds}
    known_ids = {f.id for f in config.feeds}
    taken = set(known_ids)
    seen: dict[str, int] = {}
    result = OpmlImport()
    for outline in outlines:
        attrs = outline.attrs
        url = attrs.get("xmlUrl", "").strip()
        title = _clean_text(attrs.get("title") or attrs.get("text") or "", MAX_NAME)
        # the label is printed on a terminal: no control characters from the file
        label = _clean_text(url, 200) or title or f"outline at line {outline.line}"
        problem = feed_url_problem(url, allow_local=False)
        if len(url) > MAX_URL:
            problem = f"is longer than {MAX_URL} characters"
        if problem:
            result.skipped.append((label, f"the feed URL {problem}"))
            continue
        if resolved is not None:
            host = urlsplit(url).hostname or ""
            private = url_host_problem(url)
            if private is not None:
                result.skipped.append((url, f"the feed URL's host {private}; {_PRIVATE_HINT}"))
                continue
            if host in resolved:
                why = f"{host} resolves to {resolved[host]}, not a public address"
                result.skipped.append((url, f"the feed URL's host {why}; {_PRIVATE_HINT}"))
                continue
        key = feed_url_key(url)
        if key in known_urls:
            result.skipped.append((url, f"already in feeds.yaml as '{known_urls[key]}'"))
            continue
        if key in seen:
            result.skipped.append((url, f"repeated in the OPML file (first at line {seen[key]})"))
            continue
        explicit = attrs.get(f"{DIGEST_NS}{_NS_SEP}id", "")
        if explicit in known_ids:
            result.skipped.append((url, f"already in feeds.yaml (same id '{explicit}')"))
            continue
        seen[key] = outline.line
        name = title or name_from_url(url)[:MAX_NAME]
        base_id = explicit if is_slug(explicit) else readable_feed_id(title, url)
        feed_id = _unique(base_id, taken)
        taken.add(feed_id)
        language = attrs.get("language", "").strip()
        enabled = attrs.get(f"{DIGEST_NS}{_NS_SEP}enabled", "").strip().lower() != "false"
        described = {
            key: _clean_text(attrs.get(f"{DIGEST_NS}{_NS_SEP}{key}", ""), MAX_NAME) or None
            for key in ("outlet", "kind", "region")
        }
        result.added.append(
            FeedConfig(
                id=feed_id,
                name=name,
                url=url,
                language=language if is_language_code(language) else None,
                tags=_tags(outline.folders, attrs.get("category", "")),
                enabled=enabled,
                **described,
            )
        )
    return result


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: 64 - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1


def _clean_text(text: str, limit: int) -> str:
    """One line of plain text: control and bidi/format characters dropped, spaces collapsed."""
    return printable(" ".join(text.split()))[:limit].strip()


def _tag(text: str) -> str:
    words = _clean_text(unicodedata.normalize("NFKC", text), 60).lower().split()
    return _TAG_DROP.sub("", "-".join(words)).strip("-_")


def _tags(folders: list[str], category: str) -> tuple[str, ...]:
    """Tags from the enclosing folders' titles and the outline's category attribute."""
    names = list(folders)
    for cat in category.split(","):
        parts = [p for p in cat.split("/") if p.strip()]
        if parts:
            names.append(parts[-1])
    out: list[str] = []
    for name in names:
        tag = _tag(name)
        if tag and tag not in out:
            out.append(tag)
    return tuple(out[:MAX_TAGS])


def _parse_opml(data: bytes, name: str) -> _Parsed:
    """The outlines that carry an xmlUrl, with their folder titles, and the childless ones
    without; InputError when malformed."""
    parser = expat.ParserCreate(namespace_separator=_NS_SEP)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    outlines: list[_Outline] = []
    no_url: list[tuple[str, int]] = []
    stack: list[str] = []  # element names from the root
    folders: list[str | None] = []  # per open <outline>: its folder title or None
    # per open <outline> without an xmlUrl: [title, line, has an outline inside]
    open_folders: list[list[Any]] = []
    root: list[str] = []

    def refuse(what: str) -> Any:
        def handler(*_args: Any) -> None:
            raise _Refused(f"{what} is not allowed in OPML", parser.CurrentLineNumber)

        return handler

    def start(name_: str, attrs: dict[str, str]) -> None:
        tag = name_.split(_NS_SEP)[-1]  # tolerate a default namespace on OPML elements
        if not stack:
            root.append(tag)
            if tag != "opml":
                raise _Refused(f"not an OPML document (root element <{tag[:40]}>)", 1)
        stack.append(tag)
        if tag != "outline" or "body" not in stack:
            return
        for entry in open_folders:
            entry[2] = True
        line = parser.CurrentLineNumber
        if attrs.get("xmlUrl", "").strip():
            titles = [f for f in folders if f]
            outlines.append(_Outline(line=line, attrs=dict(attrs), folders=titles))
            folders.append(None)
            open_folders.append([None, line, True])
        else:
            title = _clean_text(attrs.get("title") or attrs.get("text") or "", 60)
            folders.append(title)
            open_folders.append([title, line, False])

    def end(name_: str) -> None:
        tag = stack.pop()
        if tag == "outline" and folders:
            folders.pop()
            title, line, inside = open_folders.pop()
            if not inside:  # neither a feed nor a folder of feeds
                no_url.append((title or "", line))

    parser.StartDoctypeDeclHandler = refuse("a DOCTYPE declaration")
    parser.EntityDeclHandler = refuse("an ENTITY declaration")
    parser.UnparsedEntityDeclHandler = refuse("an ENTITY declaration")
    parser.ExternalEntityRefHandler = refuse("an external entity")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise InputError(
            f"{name}:{exc.line}: {exc}", "export the feed list again as plain OPML 2.0"
        ) from None
    except expat.ExpatError as exc:
        message = expat.errors.messages.get(exc.code, str(exc)) if exc.code else str(exc)
        raise InputError(
            f"{name}:{exc.lineno}: malformed XML: {message}",
            "the OPML file is not well-formed XML; export it again",
        ) from None
    if not root:
        raise InputError(f"{name}: not an OPML document (empty)", "is this the right file?")
    return _Parsed(outlines, no_url)


# ---------------------------------------------------------------- export


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def export_opml(config: Config, html_urls: Mapping[str, str] | None = None) -> str:
    """The configured feeds as an OPML 2.0 document."""
    ET.register_namespace("digest", DIGEST_NS)
    root = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_text(config.site.title)
    body = ET.SubElement(root, "body")
    for feed in config.feeds:
        attrs = {
            "text": _xml_text(feed.name),
            "title": _xml_text(feed.name),
            "type": "rss",
            "xmlUrl": _xml_text(feed.url),
        }
        html_url = (html_urls or {}).get(feed.id)
        if html_url:
            attrs["htmlUrl"] = _xml_text(html_url)
        if feed.language:
            attrs["language"] = feed.language
        if feed.tags:
            attrs["category"] = _xml_text(",".join(feed.tags))
        attrs[f"{{{DIGEST_NS}}}id"] = feed.id
        if not feed.enabled:
            attrs[f"{{{DIGEST_NS}}}enabled"] = "false"
        # The outlet and what kind of source it is travel with the feed (digest's namespace).
        for key in ("outlet", "kind", "region"):
            value = getattr(feed, key)
            if value:
                attrs[f"{{{DIGEST_NS}}}{key}"] = _xml_text(value)
        ET.SubElement(body, "outline", attrs)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
