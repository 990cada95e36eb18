"""The sources as readers see them (pure): outlets, their feeds, and whether each is updating.

Readers need to know what the digest reads and whether a source has gone quiet. They do not
need the operator's view (error text, HTTP statuses, failure counters, fetch schedules), which
stays in `digest feeds check`: error text can name local paths and addresses of the machine.
A feed link is shown only when it is an http(s) URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from digest.language import lang_tag, language_name
from digest.records import FeedHealth

__all__ = ["SourceFeed", "SourceGroup", "public_link", "source_feed", "source_groups"]

# What a feed's state says to a reader, and whether it is a problem.
UPDATING = "updating"
FAILING = "failing"
WAITING = "waiting"  # configured, not fetched yet
PAUSED = "paused"  # disabled in the config
GONE = "gone"  # the server said 410


@dataclass(frozen=True)
class SourceFeed:
    """One feed as the public pages show it."""

    id: str
    name: str
    href: str  # its page, relative to the site root
    lang: str | None  # BCP 47 tag, None when detected per report
    language: str  # the language's name, or "language detected per report"
    link: str | None  # the feed's http(s) URL, None for anything else (a local file)
    state: str  # updating | failing | waiting | paused | gone
    status: str  # the state in plain words
    since: datetime | None  # failing: its last good fetch (None: never)
    last_new: datetime | None  # when it last delivered a report new to the digest

    @property
    def trouble(self) -> bool:
        """The reader should know this feed is not updating."""
        return self.state in (FAILING, GONE)


@dataclass(frozen=True)
class SourceGroup:
    """An outlet and its feeds."""

    outlet: str
    kind: str | None
    regions: list[str] = field(default_factory=list)
    feeds: list[SourceFeed] = field(default_factory=list)


def public_link(url: str | None) -> str | None:
    """The URL when it is a plain http(s) URL a reader can follow, else None."""
    url = (url or "").strip()
    if url.lower().startswith(("https://", "http://")) and not any(c.isspace() for c in url):
        return url
    return None


def source_feed(feed: FeedHealth, href: str) -> SourceFeed:
    """The public view of one feed: no error text, no counters, no schedule."""
    since = None
    if feed.gone:
        state, status = GONE, "No longer published: the outlet removed this feed"
    elif not feed.enabled:
        state, status = PAUSED, "Paused by the editors"
    elif feed.consecutive_failures:
        state, since = FAILING, feed.last_success
        status = "Not updating since" if since else "Not updating: no successful fetch yet"
    elif feed.last_success is None:
        state, status = WAITING, "Not fetched yet"
    else:
        state, status = UPDATING, "Updating"
    lang = lang_tag(feed.language) if feed.language else None
    return SourceFeed(
        id=feed.id,
        name=feed.name,
        href=href,
        lang=lang,
        language=language_name(lang) if lang else "language detected per report",
        link=public_link(feed.effective_url or feed.url),
        state=state,
        status=status,
        since=since,
        last_new=feed.last_new,
    )


def source_groups(feeds: Sequence[FeedHealth], href: Callable[[str], str]) -> list[SourceGroup]:
    """The feeds grouped by outlet, outlets in the order of their first feed in the config."""
    groups: dict[str, SourceGroup] = {}
    for feed in feeds:
        outlet = feed.outlet or feed.name
        group = groups.get(outlet)
        if group is None:
            group = groups[outlet] = SourceGroup(outlet, feed.kind)
        if feed.region and feed.region not in group.regions:
            group.regions.append(feed.region)
        group.feeds.append(source_feed(feed, href(feed.id)))
    return list(groups.values())
