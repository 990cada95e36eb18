"""Output feeds of the site: Atom and JSON Feed of stories, and the OPML of the sources (pure)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin
from xml.sax.saxutils import escape, quoteattr

from digest.records import FeedHealth
from digest.render import iso_utc
from digest.text import drop_unsafe

__all__ = ["FeedEntry", "FeedMeta", "atom_feed", "json_feed", "opml_sources"]

# XML 1.0 forbids most control characters and lone surrogates; hostile feed text carries them.


@dataclass(frozen=True)
class FeedEntry:
    """One story as an output feed lists it; `path` is relative to the site root."""

    id: str
    title: str
    path: str
    summary: str
    published: datetime
    updated: datetime
    lang: str
    outlets: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FeedMeta:
    """What an output feed says about itself; paths are relative to the site root."""

    title: str
    base_url: str  # absolute, ends with "/": feed readers need absolute links
    path: str  # this feed's own file
    home_path: str  # the HTML page it mirrors
    lang: str
    author: str


def clean_xml_text(text: str) -> str:
    """Text with the characters XML 1.0 cannot carry removed."""
    return drop_unsafe(text)


def absolute(meta: FeedMeta, path: str) -> str:
    """A site path as an absolute URL under base_url."""
    return urljoin(meta.base_url, path)


def _x(text: str) -> str:
    return escape(clean_xml_text(text))


def _attr(text: str) -> str:
    return quoteattr(clean_xml_text(text))


def _feed_updated(entries: Sequence[FeedEntry]) -> datetime | None:
    # The newest entry, never the build time: an unchanged rebuild must give the same bytes.
    return max((e.updated for e in entries), default=None)


def atom_feed(meta: FeedMeta, entries: Sequence[FeedEntry]) -> bytes:
    """An Atom 1.0 document (RFC 4287) of these stories."""
    updated = _feed_updated(entries)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang={_attr(meta.lang)}>',
        f"<title>{_x(meta.title)}</title>",
        f"<id>{_x(absolute(meta, meta.path))}</id>",
        f'<link rel="self" type="application/atom+xml" href={_attr(absolute(meta, meta.path))}/>',
        f'<link rel="alternate" type="text/html" href={_attr(absolute(meta, meta.home_path))}/>',
        f"<updated>{iso_utc(updated) if updated else '1970-01-01T00:00:00Z'}</updated>",
        f"<author><name>{_x(meta.author)}</name></author>",
        '<generator uri="https://example.org/digest">digest</generator>',
    ]
    for entry in entries:
        url = absolute(meta, entry.path)
        summary = entry.summary
        if entry.outlets:
            summary = f"{summary}\n\nReported by: {', '.join(entry.outlets)}".strip()
        lines += [
            f"<entry xml:lang={_attr(entry.lang)}>",
            f"<title>{_x(entry.title)}</title>",
            f"<id>{_x(url)}</id>",
            f'<link rel="alternate" type="text/html" href={_attr(url)}/>',
            f"<published>{iso_utc(entry.published)}</published>",
            f"<updated>{iso_utc(entry.updated)}</updated>",
        ]
        lines += [f"<category term={_attr(topic)}/>" for topic in entry.topics]
        if summary:
            lines.append(f'<summary type="text">{_x(summary)}</summary>')
        lines.append("</entry>")
    lines.append("</feed>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def json_feed(meta: FeedMeta, entries: Sequence[FeedEntry]) -> bytes:
    """A JSON Feed 1.1 document of these stories."""
    items = []
    for entry in entries:
        record: dict[str, object] = {
            "id": absolute(meta, entry.path),
            "url": absolute(meta, entry.path),
            "title": clean_xml_text(entry.title),
            "content_text": clean_xml_text(entry.summary) or clean_xml_text(entry.title),
            "date_published": iso_utc(entry.published),
            "date_modified": iso_utc(entry.updated),
            "language": entry.lang,
        }
        if entry.topics:
            record["tags"] = [clean_xml_text(t) for t in entry.topics]
        if entry.outlets:
            record["authors"] = [{"name": clean_xml_text(o)} for o in entry.outlets]
        items.append(record)
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": clean_xml_text(meta.title),
        "home_page_url": absolute(meta, meta.home_path),
        "feed_url": absolute(meta, meta.path),
        "language": meta.lang,
        "authors": [{"name": clean_xml_text(meta.author)}],
        "items": items,
    }
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def opml_sources(title: str, feeds: Sequence[FeedHealth]) -> bytes:
    """OPML 2.0 of the sources the digest reads (no dates: it changes only with the list)."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<opml version="2.0">',
        f"<head><title>{_x(title)} — sources</title></head>",
        "<body>",
    ]
    for feed in feeds:
        if not feed.enabled or feed.gone:
            continue
        url = feed.effective_url or feed.url
        if not url.lower().startswith(("http://", "https://")):
            continue  # local demo files mean nothing to a reader elsewhere
        attrs = f'type="rss" text={_attr(feed.name)} title={_attr(feed.name)} xmlUrl={_attr(url)}'
        if feed.language:
            attrs += f" language={_attr(feed.language)}"
        lines.append(f"<outline {attrs}/>")
    lines += ["</body>", "</opml>"]
    return ("\n".join(lines) + "\n").encode("utf-8")
