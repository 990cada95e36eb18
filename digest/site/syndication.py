"""Output feeds of the site: Atom and JSON Feed of stories, and the OPML of the sources (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from urllib.parse import urljoin
from xml.sax.saxutils import escape, quoteattr

from digest.records import FeedHealth, SiteData, Story
from digest.render import as_utc, iso_utc
from digest.site.views import SiteContext, StoryCard
from digest.text import drop_unsafe

__all__ = [
    "FEED_ENTRIES",
    "FeedEntry",
    "FeedMeta",
    "atom_feed",
    "feed_paths",
    "json_feed",
    "opml_feeds",
    "opml_sources",
    "output_feeds",
]


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


def opml_feeds(feeds: Sequence[FeedHealth]) -> list[tuple[FeedHealth, str]]:
    """The feeds sources.opml lists, with the URL it gives: every feed the digest reads at an
    http(s) URL (a local file means nothing to a reader elsewhere; a gone or disabled feed is
    not read)."""
    listed = []
    for feed in feeds:
        url = feed.effective_url or feed.url
        if feed.enabled and not feed.gone and url.lower().startswith(("http://", "https://")):
            listed.append((feed, url))
    return listed


def opml_sources(title: str, feeds: Sequence[FeedHealth]) -> bytes:
    """OPML 2.0 of the sources the digest reads (no dates: it changes only with the list)."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<opml version="2.0">',
        f"<head><title>{_x(title)} — sources</title></head>",
        "<body>",
    ]
    for feed, url in opml_feeds(feeds):
        attrs = f'type="rss" text={_attr(feed.name)} title={_attr(feed.name)} xmlUrl={_attr(url)}'
        if feed.language:
            attrs += f" language={_attr(feed.language)}"
        lines.append(f"<outline {attrs}/>")
    lines += ["</body>", "</opml>"]
    return ("\n".join(lines) + "\n").encode("utf-8")


# ---------------------------------------------------------------- the site's feeds

# Stories per output feed (newest first).
FEED_ENTRIES = 50


def feed_paths(stem: str) -> dict[str, str]:
    """The Atom and JSON Feed paths of a feed stem ('stories', 'topics/NAME')."""
    return {"atom": f"feeds/{stem}.atom", "json": f"feeds/{stem}.json"}


def output_feeds(
    data: SiteData,
    ctx: SiteContext,
    window: list[Story],
    known: set[str],
    card: Callable[[Story], StoryCard],
) -> dict[str, bytes]:
    """Atom and JSON Feed of the window's stories, one pair per topic, and the sources' OPML."""
    base = data.site.base_url if data.site.base_url.endswith("/") else data.site.base_url + "/"

    def entries(stories: list[Story]) -> list[FeedEntry]:
        newest = sorted(stories, key=lambda s: (-s.last_published.timestamp(), s.id))
        out = []
        for story in newest[:FEED_ENTRIES]:
            view = card(story)
            out.append(
                FeedEntry(
                    id=story.id,
                    title=view.headline.value,
                    path=view.href,
                    summary=view.summary.value if view.summary else "",
                    published=as_utc(view.story.first_published),
                    updated=as_utc(view.story.last_published),
                    lang=view.headline.lang,
                    outlets=view.outlets,
                    topics=[t.name for t in view.topics],
                )
            )
        return out

    files: dict[str, bytes] = {}

    def pair(stem: str, title: str, home: str, stories: list[Story]) -> None:
        listed = entries(stories)
        for kind, render in (("atom", atom_feed), ("json", json_feed)):
            path = feed_paths(stem)[kind]
            meta = FeedMeta(title, base, path, home, ctx.site_lang, data.site.title)
            files[path] = render(meta, listed)

    pair("stories", data.site.title, "index.html", window)
    for topic in data.topics:
        href = ctx.topic_href(topic)
        stem = f"topics/{PurePosixPath(href).stem}"
        topic_stories = [s for s in topic.stories if s.id in known]
        pair(stem, f"{data.site.title}: {topic.name}", href, topic_stories)
    if opml_feeds(data.feeds):  # the footer links it only then (pages.py)
        files["sources.opml"] = opml_sources(data.site.title, data.feeds)
    return files
