"""The fetch stage: due feeds fetched, parsed and normalized in worker processes, and stored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from digest.errors import InputError
from digest.ingest.guard import Network
from digest.ingest.http import fetch_all_async, run_async
from digest.ingest.replies import FetchRequest
from digest.ingest.workers import Job, Prepared, PreparePool
from digest.progress import QUIET, Progress
from digest.records import Config, FeedConfig, FetchResult
from digest.store import Store, utc_now
from digest.text import one_line
from digest.wording import plural

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(minutes=15)
BACKOFF_MAX = timedelta(hours=24)
# Parsing and cleaning one body gets fetch.timeout, but never less than this: a loaded
# machine (or the first use of the language model) must not fail a sound feed.
MIN_PREPARE_BUDGET = 10.0
# Stored feeds are committed together, at most this often: every commit writes each page it
# touched (items, their indexes, the feed rows) to the WAL again, and one commit per feed
# doubled the store's time (0.67 s against 0.34 s for 300 feeds of 5 new items each).
STORE_EVERY = 0.2


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

    def line(self, *, name_failed: bool = True) -> str:
        """One line for cron mail, naming the first few failed feeds and why (name_failed)."""
        failed = f"{len(self.failed)} failed"
        if self.failed and name_failed:
            named = [f"{fid}: {failure_reason(err)}" for fid, err in self.failed[:NAMED_FAILURES]]
            more = len(self.failed) - NAMED_FAILURES
            failed += f" ({'; '.join(named)}{f'; and {more} more' if more > 0 else ''})"
        text = (
            f"fetch: {plural(self.attempted, 'feed')}, {self.ok} ok ({self.not_modified} not "
            f"modified), {failed}; {plural(self.items_new, 'new item')} ({self.items_seen} seen)"
        )
        if self.warnings:
            text += f"; {len(self.warnings)} with warnings"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        return text


# Failed feeds named in the one-line summary; `digest fetch` lists them all below it.
NAMED_FAILURES = 3
_REASON_CHARS = 80


def failure_reason(error: str) -> str:
    """A fetch error without the URL or path it starts with, cut for a summary line."""
    where, sep, why = error.partition(": ")
    if sep and why and " " not in where and ("/" in where or "\\" in where):
        error = why
    return one_line(error, _REASON_CHARS)


def backoff_until(failures: int, now: datetime, retry_after: datetime | None) -> datetime:
    """When a feed that failed `failures` times in a row may be fetched again."""
    delay = min(BACKOFF_BASE * (2 ** max(failures - 1, 0)), BACKOFF_MAX)
    until = now + delay
    if retry_after is None:
        return until
    if retry_after.microsecond:  # the store keeps whole seconds: never round down
        retry_after = retry_after.replace(microsecond=0) + timedelta(seconds=1)
    return max(until, retry_after)


def run(
    config: Config,
    store: Store,
    *,
    force: bool = False,
    feed_ids: Sequence[str] = (),
    progress: Progress = QUIET,
    network: Network | None = None,
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
    failures: dict[str, int] = {}  # failures in a row before this run, by feed id
    states = store.feed_states()
    for feed in chosen:
        state = states[feed.id]  # sync_feeds made the row
        if state.gone:
            summary.skipped.append((feed.id, f"gone; `digest feeds reset {feed.id}` revives it"))
            continue
        if not force and state.next_fetch and state.next_fetch > now:
            summary.skipped.append(
                (feed.id, f"backing off until {state.next_fetch:%Y-%m-%d %H:%M} UTC")
            )
            continue
        feeds_by_id[feed.id] = feed
        failures[feed.id] = state.consecutive_failures
        requests.append(
            FetchRequest(
                feed_id=feed.id,
                url=state.effective_url or feed.url,
                etag=None if force else state.etag,
                last_modified=None if force else state.last_modified,
                configured_url=feed.url,
            )
        )
    summary.attempted = len(requests)
    cutoff = retention_cutoff(config, now)
    # Workers start before anything else (forked while this process has no other thread).
    budget = max(config.fetch.timeout, MIN_PREPARE_BUDGET)
    with PreparePool(PreparePool.default_size(len(requests)), budget) as pool:
        progress.start("fetch", len(requests))
        run_async(
            lambda: _fetch_and_store(
                config,
                store,
                requests,
                feeds_by_id,
                failures,
                pool,
                summary,
                cutoff,
                progress,
                network,
            )
        )
    progress.close()
    return summary


async def _fetch_and_store(
    config: Config,
    store: Store,
    requests: list[FetchRequest],
    feeds_by_id: dict[str, FeedConfig],
    failures: dict[str, int],
    pool: PreparePool,
    summary: FetchSummary,
    cutoff: datetime | None,
    progress: Progress,
    network: Network | None,
) -> None:
    """Fetch every request; bodies are prepared in the workers while the network works."""
    # Storing stays on this thread (the store's connection lives here), in config order, each
    # feed as soon as every feed before it is in: which feed first brings an article (its
    # id, its first source) must not depend on network timing. Feeds ready together are
    # stored in one transaction, at most every STORE_EVERY seconds (see there). A failure
    # while storing rolls back only that batch, whose feeds keep their old validators and
    # are fetched again next run; what earlier batches stored stays.
    order = {r.feed_id: n for n, r in enumerate(requests)}
    ready: dict[int, tuple[FetchResult, Prepared | None]] = {}
    next_up = 0
    tasks: list[asyncio.Task[None]] = []
    wake = asyncio.Event()

    def drain() -> None:
        nonlocal next_up
        if next_up not in ready:
            return
        with store.transaction():
            while next_up in ready:
                result, prepared = ready.pop(next_up)
                feed = feeds_by_id[result.feed_id]
                _store_fetch(
                    store, feed, result, prepared, summary, cutoff, failures.get(feed.id, 0)
                )
                next_up += 1

    async def storer() -> None:
        while True:
            await wake.wait()
            wake.clear()
            drain()
            await asyncio.sleep(STORE_EVERY)  # let more feeds gather for the next commit

    async def prepare_then_store(n: int, result: FetchResult, job: Job) -> None:
        ready[n] = (result, await pool.run(job))
        wake.set()

    def handle(result: FetchResult) -> None:
        progress.advance(note=result.feed_id)
        n = order[result.feed_id]
        if result.ok and not result.not_modified and result.body is not None:
            job = Job(
                feed=feeds_by_id[result.feed_id],
                body=result.body,
                headers=result.headers,
                url=result.final_url or result.url,
                now=utc_now(),
                max_items=config.fetch.max_items,
            )
            tasks.append(asyncio.create_task(prepare_then_store(n, result, job)))
            return
        ready[n] = (result, None)
        wake.set()

    storing = asyncio.create_task(storer())
    try:
        await fetch_all_async(
            requests, config.fetch, base_dir=config.path.parent, on_result=handle, network=network
        )
        await asyncio.gather(*tasks)
    finally:
        storing.cancel()  # its wait for more feeds ends; what is ready is stored below
        await asyncio.wait([storing])
    failure = None if storing.cancelled() else storing.exception()
    if failure is not None:  # storing failed: nothing after that feed was stored
        raise failure
    drain()


def retention_cutoff(config: Config, now: datetime) -> datetime | None:
    """Items published before this are pruned (None: store.retention_days is unset)."""
    days = config.store.retention_days
    return now - timedelta(days=days) if days else None


def _store_fetch(
    store: Store,
    feed: FeedConfig,
    result: FetchResult,
    prepared: Prepared | None,
    summary: FetchSummary,
    cutoff: datetime | None,
    failed_before: int,
) -> None:
    """Store one feed's result (in the caller's transaction); a failure never deletes items."""
    now = utc_now()
    failures = failed_before + 1
    if not result.ok:
        log.info("fetch %s failed: %s", feed.id, result.error)
        store.record_fetch(
            result, at=now, failed=True, next_fetch=backoff_until(failures, now, result.retry_after)
        )
        summary.failed.append((feed.id, result.error or "failed"))
        return
    if prepared is not None and prepared.parsed is None:  # out of time, or its worker died
        result.error = f"{result.final_url or result.url}: {prepared.failure or 'not parsed'}"
        store.record_fetch(
            result, at=now, failed=True, next_fetch=backoff_until(failures, now, None)
        )
        summary.failed.append((feed.id, result.error))
        return
    if prepared is None:  # 304, or an unchanged local file
        store.record_fetch(result, at=now, failed=False, next_fetch=None)
        summary.ok += 1
        summary.not_modified += 1
        return
    parsed = prepared.parsed
    assert parsed is not None  # a failure was handled above
    if parsed.error and not prepared.items:
        result.error = f"{result.final_url or result.url}: {parsed.error}"
        store.record_fetch(
            result, at=now, failed=True, next_fetch=backoff_until(failures, now, None)
        )
        summary.failed.append((feed.id, result.error))
        return
    seen = new = 0
    warning = parsed.warning or parsed.error
    with store.transaction():
        for item in prepared.items:
            if cutoff is not None and item.published < cutoff:
                continue  # retention would prune it at once: do not let it come back
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
            warning=warning,
        )
    if warning:
        summary.warnings.append((feed.id, warning))
    summary.ok += 1
    summary.items_seen += seen
    summary.items_new += new
