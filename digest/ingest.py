"""The fetch stage: due feeds fetched, parsed, normalized and stored, one feed at a time."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .errors import InputError
from .fetch import FetchRequest, fetch_all
from .models import Config, FeedConfig, FetchResult
from .normalize import normalize_entry
from .parse import parse_feed
from .progress import QUIET, Progress
from .store import Store, utc_now

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(minutes=15)
BACKOFF_MAX = timedelta(hours=24)


@dataclass
class FetchSummary:
    """What one fetch stage did."""

    attempted: int = 0
    ok: int = 0
    not_modified: int = 0
    items_seen: int = 0
    items_new: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (feed id, error)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (feed id, why)

    def line(self) -> str:
        """One line for cron mail."""
        text = (
            f"fetch: {self.attempted} feeds, {self.ok} ok ({self.not_modified} not modified), "
            f"{len(self.failed)} failed; {self.items_new} new items ({self.items_seen} seen)"
        )
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        return text


def backoff_until(failures: int, now: datetime, retry_after: datetime | None) -> datetime:
    """When a feed that failed `failures` times in a row may be fetched again."""
    delay = min(BACKOFF_BASE * (2 ** max(failures - 1, 0)), BACKOFF_MAX)
    until = now + delay
    return max(until, retry_after) if retry_after else until


def fetch_stage(
    config: Config,
    store: Store,
    *,
    force: bool = False,
    feed_ids: Sequence[str] = (),
    progress: Progress = QUIET,
) -> FetchSummary:
    """Fetch due feeds, parse and store their items; one broken feed never stops the others."""
    summary = FetchSummary()
    store.sync_feeds(config.feeds)
    unknown = [fid for fid in feed_ids if config.feed(fid) is None]
    if unknown:
        known = ", ".join(f.id for f in config.feeds) or "none"
        raise InputError(f"unknown feed id: {', '.join(unknown)}", f"configured feeds: {known}")
    chosen = [f for f in config.feeds if (f.id in feed_ids if feed_ids else f.enabled)]
    now = utc_now()
    requests: list[FetchRequest] = []
    feeds_by_id: dict[str, FeedConfig] = {}
    for feed in chosen:
        state = store.feed_state(feed.id)
        assert state is not None  # sync_feeds made the row
        if state.gone:
            summary.skipped.append((feed.id, f"gone; `digest feeds reset {feed.id}` revives it"))
            continue
        if not force and state.next_fetch and state.next_fetch > now:
            summary.skipped.append(
                (feed.id, f"backing off until {state.next_fetch:%Y-%m-%d %H:%M} UTC")
            )
            continue
        feeds_by_id[feed.id] = feed
        requests.append(
            FetchRequest(
                feed_id=feed.id,
                url=state.effective_url or feed.url,
                etag=None if force else state.etag,
                last_modified=None if force else state.last_modified,
            )
        )
    summary.attempted = len(requests)
    progress.start("fetch", len(requests))

    # Results are stored in config order, each as soon as all before it are in: which feed
    # first brings an article (its id, its first source) must not depend on network timing.
    order = {r.feed_id: n for n, r in enumerate(requests)}
    waiting: dict[int, FetchResult] = {}
    next_up = 0

    def handle(result: FetchResult) -> None:
        nonlocal next_up
        waiting[order[result.feed_id]] = result
        progress.advance(note=result.feed_id)
        while next_up in waiting:
            ready = waiting.pop(next_up)
            _store_fetch(store, feeds_by_id[ready.feed_id], ready, summary)
            next_up += 1

    fetch_all(requests, config.fetch, base_dir=config.path.parent, on_result=handle)
    progress.close()
    return summary


def _store_fetch(
    store: Store, feed: FeedConfig, result: FetchResult, summary: FetchSummary
) -> None:
    """Parse one result and store it in one transaction."""
    now = utc_now()
    state = store.feed_state(feed.id)
    failures = (state.consecutive_failures if state else 0) + 1
    if not result.ok:
        log.info("fetch %s failed: %s", feed.id, result.error)
        with store.transaction():
            store.record_fetch(
                result,
                at=now,
                failed=True,
                next_fetch=backoff_until(failures, now, result.retry_after),
            )
        summary.failed.append((feed.id, result.error or "failed"))
        return
    if result.not_modified or result.body is None:
        with store.transaction():
            store.record_fetch(result, at=now, failed=False, next_fetch=None)
        summary.ok += 1
        summary.not_modified += 1
        return
    parsed = parse_feed(result.body, result.headers, result.final_url or result.url)
    if parsed.error and not parsed.entries:
        result.error = f"{result.final_url or result.url}: {parsed.error}"
        with store.transaction():
            store.record_fetch(
                result, at=now, failed=True, next_fetch=backoff_until(failures, now, None)
            )
        summary.failed.append((feed.id, result.error))
        return
    seen = new = 0
    with store.transaction():
        for entry in parsed.entries:
            item = normalize_entry(entry, feed, parsed, now)
            if item is None:
                continue
            seen += 1
            _, is_new = store.upsert_item(item, now)
            new += is_new
        store.record_fetch(
            result,
            at=now,
            failed=False,
            next_fetch=None,
            items_seen=seen,
            items_new=new,
            title=parsed.title,
            warning=parsed.warning or parsed.error,
        )
    if parsed.warning or parsed.error:
        summary.warnings.append((feed.id, parsed.warning or parsed.error or ""))
    summary.ok += 1
    summary.items_seen += seen
    summary.items_new += new
