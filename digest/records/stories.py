"""Stories, topics and feeds as the site and the newsletter show them (edition.py builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from digest.records.config import SiteConfig
from digest.records.items import StoredItem

__all__ = [
    "FeedHealth",
    "SiteData",
    "Story",
    "SummaryLine",
    "Text",
    "TopicRecord",
    "TopicView",
]

# A "what happened" sentence: (report id, its text verbatim, the text's language, True when
# it is a machine translation). Plain tuples, so a story's signature stays a fast marshal.
SummaryLine = tuple[str, str, str, bool]


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
    outlets: list[str]  # outlet names, distinct (two feeds of one outlet count once)
    languages: list[str]  # distinct item languages
    first_published: datetime
    last_published: datetime
    score: float = 0.0
    coverage_gap: str | None = None  # e.g. "only in Chinese-language media", when checkable
    key_terms: list[str] = field(default_factory=list)
    coverage_note: str | None = None  # why no coverage claim can be made
    related: list[str] = field(default_factory=list)  # nearest other stories (ids), best first
    summary: list[SummaryLine] = field(default_factory=list)  # what happened, display order
    # Coverage breakdown (digest.stories.breakdown): reports per outlet kind ("" = none given),
    # kinds and languages known not to have reported it, and what could not be checked (why).
    kinds: list[tuple[str, int]] = field(default_factory=list)
    missing_kinds: list[str] = field(default_factory=list)
    missing_languages: list[str] = field(default_factory=list)
    unchecked: list[tuple[str, str]] = field(default_factory=list)
    only_kind: str = ""  # the one kind that reported it, checkably (front-page filters)
    only_language: str = ""  # the one language it was reported in, checkably


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
    last_error: str | None = None  # for the operator (`feeds check`): may name addresses
    public_error: str | None = None  # what public pages may say: never a refused address
    consecutive_failures: int = 0
    gone: bool = False
    next_fetch: datetime | None = None
    items_total: int = 0
    items_in_window: int = 0
    title: str | None = None  # the feed's own title, as last parsed
    outlet: str = ""  # the outlet it belongs to ("" = its own name)
    kind: str | None = None  # exile media, state media, NGO ...
    region: str | None = None
    last_new: datetime | None = None  # when it last delivered a report new to the store

    def public(self) -> FeedHealth:
        """A copy safe to publish: the operator-only error replaced by its public wording."""
        return replace(self, last_error=self.public_error)


@dataclass(frozen=True)
class TopicRecord:
    """A discovered topic as the store keeps it: its id and what the editor said of it."""

    id: str  # 'auto-' and 6 hex digits: its URL, kept across reclustering
    auto_name: str  # from its most distinctive words
    name: str | None = None  # the editor's name (`digest topics name`)
    hidden: bool = False  # `digest topics hide`
    merged_into: str | None = None  # `digest topics merge`: a topic id or taxonomy name

    @property
    def display_name(self) -> str:
        """The editor's name, else the automatic one."""
        return self.name or self.auto_name


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
    # When the newest published report was fetched: the front page's "Updated" (None: none yet).
    updated_at: datetime | None = None
