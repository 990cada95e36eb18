"""Items on their way: a fetch result, raw entries, a normalized item, an item read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from digest.language import text_direction

__all__ = ["FetchResult", "Item", "ParsedFeed", "RawEntry", "StoredItem"]


@dataclass
class FetchResult:
    """One fetch attempt of one feed, successful or not."""

    feed_id: str
    url: str  # the URL requested
    status: int | None = None  # HTTP status, None when no response (or a local file)
    body: bytes | None = None  # decoded body (None on error or 304)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    final_url: str | None = None  # where the redirects ended
    permanent_url: str | None = None  # set when every redirect hop was 301/308
    etag: str | None = None
    last_modified: str | None = None
    duration: float = 0.0
    error: str | None = None  # one line naming the URL and what went wrong
    # What the public pages may say instead of `error` (None: the error itself); set when the
    # error names an address the fetch was refused, which only the operator may see.
    public_error: str | None = None
    not_modified: bool = False  # 304: nothing to parse
    gone: bool = False  # 410
    retry_after: datetime | None = None  # from Retry-After on 429/503

    @property
    def ok(self) -> bool:
        """True when the attempt produced a body or a 304."""
        return self.error is None


@dataclass
class RawEntry:
    """One feed entry as feedparser gave it, before cleaning (every field hostile)."""

    guid: str | None
    link: str | None
    title: str | None  # may contain markup or entities
    summary_html: str | None
    content_html: str | None
    published: datetime | None  # UTC, or None when the feed gave no usable date
    language: str | None


@dataclass
class ParsedFeed:
    """What parse.py makes of a body: channel facts and raw entries."""

    title: str | None
    link: str | None
    language: str | None
    entries: list[RawEntry]
    error: str | None = None  # fatal: not a feed at all (nothing recovered)
    warning: str | None = None  # malformed but some entries recovered


@dataclass
class Item:
    """A normalized item, ready for the store."""

    feed_id: str
    guid: str  # the feed's GUID, else the link, else a content hash
    url: str  # canonical URL: tracking parameters and fragment dropped
    link: str  # link as published (http/https only, else "")
    title: str  # plain text
    summary: str  # plain text
    content_html: str  # sanitized HTML
    published: datetime  # UTC
    date_is_fallback: bool  # True when `published` is the first-seen time
    lang: str  # BCP 47: en, zh, zh-Hant, ug, bo, fa ...
    content_key: str  # hash of normalised title + summary (mirror dedup)


@dataclass
class StoredItem:
    """An item as read back from the store, with its translation and sources."""

    id: str
    url: str
    link: str
    title: str
    summary: str
    content_html: str
    published: datetime
    lang: str
    feeds: list[str]  # ids of every feed it came from, first-seen first
    title_translated: str | None = None
    summary_translated: str | None = None
    translation: str = "original"  # translated | original | no-model
    translation_note: str | None = None  # e.g. "no zh→en model installed"
    story: str | None = None
    topics: list[str] = field(default_factory=list)
    hidden: bool = False
    date_is_fallback: bool = False  # the feed gave no date: `published` is the first-seen time

    @property
    def dir(self) -> str:
        """Text direction of the original language."""
        return text_direction(self.lang)

    @property
    def display_title(self) -> str:
        """The title in the site language when we have one."""
        return self.title_translated or self.title

    @property
    def display_summary(self) -> str:
        """The summary in the site language when we have one."""
        return self.summary_translated or self.summary
