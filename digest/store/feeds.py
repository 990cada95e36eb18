"""Feeds: their rows, fetch outcomes, backoff, health and parse warnings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from digest.records import FeedConfig, FeedHealth, FetchResult
from digest.store.base import StoreBase, from_db, to_db

__all__ = ["FeedQueries", "FeedState"]


@dataclass
class FeedState:
    """What the store knows about a feed before fetching it."""

    id: str
    url: str
    effective_url: str | None
    etag: str | None
    last_modified: str | None
    consecutive_failures: int
    gone: bool
    next_fetch: datetime | None


class FeedQueries(StoreBase):
    """Feed rows: what to send on the next fetch, what the last fetch did."""

    def sync_feeds(self, feeds: Sequence[FeedConfig]) -> None:
        """Make sure every configured feed has a row; a changed URL forgets the old redirect."""
        with self.transaction() as db:
            # one read of every row, and writes only for what changed (every run starts here)
            rows = {r["id"]: r for r in db.execute("SELECT id, url, name FROM feeds")}
            for feed in feeds:
                row = rows.get(feed.id)
                if row is None:
                    db.execute(
                        "INSERT INTO feeds (id, url, name) VALUES (?, ?, ?)",
                        (feed.id, feed.url, feed.name),
                    )
                elif row["url"] != feed.url:
                    # The user edited the URL: validators and redirects of the old one are moot.
                    db.execute(
                        "UPDATE feeds SET url = ?, name = ?, effective_url = NULL, etag = NULL,"
                        " last_modified = NULL, gone = 0, consecutive_failures = 0,"
                        " next_fetch = NULL WHERE id = ?",
                        (feed.url, feed.name, feed.id),
                    )
                elif row["name"] != feed.name:
                    db.execute("UPDATE feeds SET name = ? WHERE id = ?", (feed.name, feed.id))

    def feed_state(self, feed_id: str) -> FeedState | None:
        """The stored state of one feed."""
        row = self.conn.execute("SELECT * FROM feeds WHERE id = ?", (feed_id,)).fetchone()
        return None if row is None else _state(row)

    def feed_states(self) -> dict[str, FeedState]:
        """The stored state of every feed, by id (one query)."""
        return {row["id"]: _state(row) for row in self.conn.execute("SELECT * FROM feeds")}

    def record_fetch(
        self,
        result: FetchResult,
        *,
        at: datetime,
        next_fetch: datetime | None,
        items_seen: int = 0,
        items_new: int = 0,
        title: str | None = None,
        warning: str | None = None,
        failed: bool,
    ) -> None:
        """Log one attempt and update the feed's health, validators and redirect."""
        db = self.conn
        db.execute(
            "INSERT INTO fetch_log (feed_id, at, url, status, duration, bytes, not_modified,"
            " items_seen, items_new, error, warning) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                result.feed_id,
                to_db(at),
                result.url,
                result.status,
                round(result.duration, 4),
                len(result.body or b""),
                int(result.not_modified),
                items_seen,
                items_new,
                result.error,
                warning,
            ),
        )
        if failed:
            db.execute(
                "UPDATE feeds SET last_attempt = ?, last_status = ?, last_error = ?,"
                " last_error_public = ?,"
                " consecutive_failures = consecutive_failures + 1, gone = MAX(gone, ?),"
                " next_fetch = ? WHERE id = ?",
                (
                    to_db(at),
                    result.status,
                    result.error,
                    result.public_error,
                    int(result.gone),
                    to_db(next_fetch),
                    result.feed_id,
                ),
            )
            return
        db.execute(
            "UPDATE feeds SET last_attempt = ?, last_success = ?, last_status = ?,"
            " last_error = NULL, last_error_public = NULL, consecutive_failures = 0,"
            " next_fetch = ?,"
            " etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),"
            " title = COALESCE(?, title),"
            " effective_url = COALESCE(?, effective_url) WHERE id = ?",
            (
                to_db(at),
                to_db(at),
                result.status,
                to_db(next_fetch),
                result.etag,
                result.last_modified,
                title,
                result.permanent_url,
                result.feed_id,
            ),
        )

    def reset_feed(self, feed_id: str) -> bool:
        """Revive a gone feed and clear its backoff; False when the id is unknown."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE feeds SET gone = 0, consecutive_failures = 0, next_fetch = NULL,"
                " etag = NULL, last_modified = NULL WHERE id = ?",
                (feed_id,),
            )
        return cur.rowcount > 0

    def feed_health(
        self, feeds: Sequence[FeedConfig], window_start: datetime | None
    ) -> list[FeedHealth]:
        """Health of every configured feed, in config order (window counts 0 without a start)."""
        # Without a window (the site build counts it from the items it read) no join is needed:
        # a third of the time of a site build's store read at 20k items.
        query = (
            "SELECT feed_id, COUNT(DISTINCT item_id) AS total, 0 AS recent,"
            " MAX(first_seen) AS newest FROM item_sources GROUP BY feed_id"
            if window_start is None
            else "SELECT s.feed_id, COUNT(DISTINCT s.item_id) AS total,"
            " COUNT(DISTINCT CASE WHEN i.published >= ? THEN s.item_id END) AS recent,"
            " MAX(s.first_seen) AS newest"
            " FROM item_sources s JOIN items i ON i.id = s.item_id GROUP BY s.feed_id"
        )
        params = () if window_start is None else (to_db(window_start),)
        counts = {
            row["feed_id"]: (row["total"], row["recent"], from_db(row["newest"]))
            for row in self.conn.execute(query, params)
        }
        rows = {r["id"]: r for r in self.conn.execute("SELECT * FROM feeds")}
        health = []
        for feed in feeds:
            row = rows.get(feed.id)
            total, recent, newest = counts.get(feed.id, (0, 0, None))
            h = FeedHealth(
                id=feed.id,
                name=feed.name,
                url=feed.url,
                language=feed.language,
                tags=list(feed.tags),
                enabled=feed.enabled,
                outlet=feed.outlet_name,
                kind=feed.kind,
                region=feed.region,
                items_total=total,
                items_in_window=recent,
                last_new=newest,
            )
            if row is not None:
                h.effective_url = row["effective_url"]
                h.last_attempt = from_db(row["last_attempt"])
                h.last_success = from_db(row["last_success"])
                h.last_status = row["last_status"]
                h.last_error = row["last_error"]
                h.public_error = row["last_error_public"] or row["last_error"]
                h.consecutive_failures = row["consecutive_failures"]
                h.gone = bool(row["gone"])
                h.next_fetch = from_db(row["next_fetch"])
                h.title = row["title"]
            health.append(h)
        return health

    def fetched_days(self, since: datetime | None = None) -> dict[str, set[str]]:
        """feed id -> the UTC days (YYYY-MM-DD) it was fetched without an error (since then)."""
        rows = self.conn.execute(
            "SELECT feed_id, substr(at, 1, 10) AS day FROM fetch_log"
            " WHERE error IS NULL AND at >= ? GROUP BY feed_id, day",
            (to_db(since) or "",),
        )
        out: dict[str, set[str]] = {}
        for r in rows:
            out.setdefault(r["feed_id"], set()).add(r["day"])
        return out

    def parse_warnings(self) -> dict[str, str]:
        """feed id -> the warning of its last parsed body (truncated XML, charset), if any."""
        rows = self.conn.execute(
            "SELECT f.feed_id, f.warning FROM fetch_log f WHERE f.id = (SELECT MAX(g.id)"
            " FROM fetch_log g WHERE g.feed_id = f.feed_id AND g.error IS NULL"
            " AND g.not_modified = 0) AND f.warning IS NOT NULL"
        )
        return {r["feed_id"]: r["warning"] for r in rows}


def _state(row: Any) -> FeedState:
    """A feeds row as a FeedState."""
    return FeedState(
        id=row["id"],
        url=row["url"],
        effective_url=row["effective_url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        consecutive_failures=row["consecutive_failures"],
        gone=bool(row["gone"]),
        next_fetch=from_db(row["next_fetch"]),
    )
