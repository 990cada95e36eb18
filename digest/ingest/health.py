"""`digest feeds check` and `digest feeds reset`: each feed's state, and what to do about it."""

from __future__ import annotations

from datetime import datetime

from digest.errors import InputError
from digest.records import Config
from digest.store import utc_now
from digest.wording import plural
from digest.workspace import Workspace, run_lock

__all__ = ["feed_report", "reset_feed"]


def _when(dt: datetime | None) -> str:
    return f"{dt:%Y-%m-%d %H:%M} UTC" if dt else "never"


def feed_report(config: Config, ws: Workspace) -> list[str]:
    """`digest feeds check`: one block per feed from the store, with what to do about it."""
    now = utc_now()
    with ws.open_store() as store:
        store.sync_feeds(config.feeds)
        health = store.feed_health(config.feeds, config.window_start(now))
        warnings = store.parse_warnings()
    lines = []
    for h in health:
        if not h.enabled:
            state = "disabled"
        elif h.gone:
            state = "GONE"
        elif h.consecutive_failures:
            state = f"FAILING ({h.consecutive_failures} in a row)"
        elif h.last_attempt is None:
            state = "not fetched yet"
        elif h.id in warnings:
            state = "ok, with a warning"
        else:
            state = "ok"
        lines.append(
            f"{h.id}: {state}; last success {_when(h.last_success)}; "
            f"{plural(h.items_total, 'item')} ({h.items_in_window} in window)"
        )
        if h.last_error:
            lines.append(f"  last error: {h.last_error}")
        if h.id in warnings:
            lines.append(f"  last parse warning: {warnings[h.id]}")
        if h.next_fetch and h.next_fetch > now:
            lines.append(f"  next retry: {_when(h.next_fetch)}")
        if h.gone:
            lines.append(f"  fix the URL if it moved, then: digest feeds reset {h.id}")
        if h.effective_url and h.effective_url != h.url:
            lines.append(
                f"  moved permanently to {h.effective_url}: update its url in {config.path}"
            )
    return lines


def reset_feed(config: Config, ws: Workspace, feed_id: str) -> None:
    """`digest feeds reset ID`: revive a gone feed and clear its backoff."""
    if config.feed(feed_id) is None:
        known = ", ".join(f.id for f in config.feeds) or "none"
        raise InputError(f"unknown feed id: {feed_id}", f"configured feeds: {known}")
    with run_lock(ws), ws.open_store() as store:
        store.sync_feeds(config.feeds)
        store.reset_feed(feed_id)
