"""Plain typed records shared by the stages: configuration, fetched data, items, stories."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from digest.language import text_direction

# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class SiteConfig:
    """The `site:` section of feeds.yaml."""

    title: str = "Digital Rights Digest"
    base_url: str = "https://example.org/digest/"
    language: str = "en"
    window_days: int = 7
    templates_dir: Path | None = None


@dataclass(frozen=True)
class StoreConfig:
    """The `store:` section of feeds.yaml."""

    retention_days: int | None = None


@dataclass(frozen=True)
class FetchConfig:
    """The `fetch:` section of feeds.yaml."""

    timeout: float = 20.0
    connect_timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    concurrency: int = 32
    per_host: int = 8


@dataclass(frozen=True)
class TranslationConfig:
    """The `translation:` section of feeds.yaml."""

    engine: str = "argos"  # "argos" or "none"
    packages_dir: Path | None = None
    beam_size: int = 2
    max_decoding_length: int = 256
    inter_threads: int | None = None
    intra_threads: int | None = None
    executor: str = "local"  # "local" (in this process) or "dask"
    cluster: str | None = None  # a Dask scheduler address; None starts a local cluster
    workers: int | None = None  # processes of that local cluster; None: one, a thread per core


@dataclass(frozen=True)
class SmtpConfig:
    """The `newsletter.smtp:` section of feeds.yaml."""

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # starttls | tls | none
    username_env: str | None = None
    password_env: str | None = None
    ca_file: Path | None = None


@dataclass(frozen=True)
class NewsletterConfig:
    """The `newsletter:` section of feeds.yaml."""

    sender: str = "Digest <digest@example.org>"
    to: tuple[str, ...] = ()
    list_id: str | None = None
    list_unsubscribe: str | None = None
    smtp: SmtpConfig = field(default_factory=SmtpConfig)


@dataclass(frozen=True)
class TopicConfig:
    """One taxonomy topic: its name (the YAML key), URL slug and keywords in any language."""

    name: str
    slug: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class FeedConfig:
    """One entry of `feeds:`."""

    id: str
    name: str
    url: str
    language: str | None = None
    tags: tuple[str, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class Config:
    """The whole validated feeds.yaml."""

    path: Path
    site: SiteConfig = field(default_factory=SiteConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    translation: TranslationConfig = field(default_factory=TranslationConfig)
    newsletter: NewsletterConfig | None = None
    topics: tuple[TopicConfig, ...] = ()
    feeds: tuple[FeedConfig, ...] = ()

    def feed(self, feed_id: str) -> FeedConfig | None:
        """The feed with this id, or None."""
        return next((f for f in self.feeds if f.id == feed_id), None)

    def window_start(self, now: datetime) -> datetime:
        """The oldest publication time the front page and the clustering reach."""
        return now - timedelta(days=self.site.window_days)


# ---------------------------------------------------------------- fetch and parse


@dataclass
class Validators:
    """What a feed's last good response said, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


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
    author: str | None = None


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
    author: str | None = None


# ---------------------------------------------------------------- stored data, for rendering


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


@dataclass(frozen=True)
class Text:
    """A piece of feed text with the language and direction it is written in."""

    value: str
    lang: str
    dir: str


@dataclass
class Story:
    """A group of items reporting one event."""

    id: str
    headline: str
    items: list[StoredItem]
    topics: list[str]  # topic names
    outlets: list[str]  # feed names, distinct
    languages: list[str]  # distinct item languages
    first_published: datetime
    last_published: datetime
    score: float = 0.0
    coverage_gap: str | None = None  # e.g. "only in Chinese-language media"
    key_terms: list[str] = field(default_factory=list)


@dataclass
class FeedHealth:
    """A feed's state for the sources page and `feeds check`."""

    id: str
    name: str
    url: str
    language: str | None
    tags: list[str]
    enabled: bool
    effective_url: str | None = None  # set after a permanent redirect
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    gone: bool = False
    next_fetch: datetime | None = None
    items_total: int = 0
    items_in_window: int = 0
    title: str | None = None  # the feed's own title, as last parsed


@dataclass
class TopicView:
    """A topic and its stories, for the site."""

    name: str
    slug: str
    stories: list[Story]


@dataclass
class SiteData:
    """Everything the site builder needs; no store access in site.py."""

    site: SiteConfig
    stories: list[Story]  # ranked, best first
    topics: list[TopicView]
    feeds: list[FeedHealth]
    generated_at: datetime
    redirects: dict[str, str] = field(default_factory=dict)  # old story id -> current story id
    # Stories older than the window, kept for the per-day archive pages (permalinks never die).
    archive: list[Story] = field(default_factory=list)
