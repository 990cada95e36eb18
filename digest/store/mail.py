"""Newsletter issues and per-recipient deliveries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from digest.records.newsletter import PENDING, SENDING, SENT, Delivery, NewsletterIssue
from digest.store.base import StoreBase, from_db, to_db, utc_now


class NewsletterQueries(StoreBase):
    """The newsletter's tables."""

    def new_item_ids(self, since: datetime) -> set[str]:
        """Ids of items first seen at or after `since` (late arrivals included)."""
        rows = self.conn.execute("SELECT id FROM items WHERE first_seen >= ?", (to_db(since),))
        return {r["id"] for r in rows}

    def newsletter_issues(self) -> list[NewsletterIssue]:
        """Every stored issue, newest first, with whether delivery started and how many got it."""
        rows = self.conn.execute(
            "SELECT n.*,"
            " (SELECT COUNT(*) FROM newsletter_deliveries d WHERE d.issue_id = n.id) AS started,"
            " (SELECT COUNT(*) FROM newsletter_deliveries d"
            "  WHERE d.issue_id = n.id AND d.status = ?) AS sent"
            " FROM newsletter_issues n ORDER BY n.number DESC",
            (SENT,),
        )
        return [
            NewsletterIssue(
                id=r["id"],
                number=r["number"],
                created_at=from_db(r["created_at"]) or utc_now(),
                since=from_db(r["since"]),
                until=from_db(r["until"]) or utc_now(),
                subject=r["subject"],
                html=r["html"],
                text=r["text"],
                stories=json.loads(r["stories"]),
                items=json.loads(r["items"]),
                content=r["content"],
                started=r["started"] > 0,
                sent=r["sent"],
            )
            for r in rows
        ]

    def save_newsletter_issue(self, issue: NewsletterIssue) -> None:
        """Store a new issue, replacing every draft (an issue no delivery was queued for)."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM newsletter_issues WHERE id NOT IN"
                " (SELECT DISTINCT issue_id FROM newsletter_deliveries)"
            )
            db.execute(
                "INSERT INTO newsletter_issues"
                " (id, number, created_at, since, until, subject, html, text, stories, items,"
                " content) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    issue.id,
                    issue.number,
                    to_db(issue.created_at),
                    to_db(issue.since),
                    to_db(issue.until),
                    issue.subject,
                    issue.html,
                    issue.text,
                    json.dumps(issue.stories),
                    json.dumps(issue.items),
                    issue.content,
                ),
            )

    def newsletter_deliveries(self, issue_id: str) -> dict[str, Delivery]:
        """recipient -> delivery state, for one issue."""
        rows = self.conn.execute(
            "SELECT * FROM newsletter_deliveries WHERE issue_id = ?", (issue_id,)
        )
        return {
            r["recipient"]: Delivery(
                issue_id=r["issue_id"],
                recipient=r["recipient"],
                message_id=r["message_id"],
                status=r["status"],
                permanent=bool(r["permanent"]),
                attempts=r["attempts"],
                error=r["error"],
                updated_at=from_db(r["updated_at"]),
            )
            for r in rows
        }

    def queue_newsletter_deliveries(
        self, issue_id: str, message_ids: Mapping[str, str], now: datetime, *, reset: bool
    ) -> None:
        """Queue the issue for these recipients (recipient -> Message-ID); `reset` requeues all."""
        with self.transaction() as db:
            for recipient, message_id in message_ids.items():
                db.execute(
                    "INSERT INTO newsletter_deliveries"
                    " (issue_id, recipient, message_id, status, updated_at) VALUES (?,?,?,?,?)"
                    " ON CONFLICT (issue_id, recipient) DO "
                    + (
                        "UPDATE SET status = excluded.status, permanent = 0, error = NULL,"
                        " updated_at = excluded.updated_at"
                        if reset
                        else "NOTHING"
                    ),
                    (issue_id, recipient, message_id, PENDING, to_db(now)),
                )

    def set_newsletter_delivery(
        self,
        issue_id: str,
        recipient: str,
        status: str,
        now: datetime,
        *,
        error: str | None = None,
        permanent: bool = False,
    ) -> None:
        """Record one recipient's new state (committed at once: it must survive a crash)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE newsletter_deliveries SET status = ?, error = ?, permanent = ?,"
                " attempts = attempts + ?, updated_at = ? WHERE issue_id = ? AND recipient = ?",
                (
                    status,
                    error,
                    int(permanent),
                    int(status == SENDING),
                    to_db(now),
                    issue_id,
                    recipient,
                ),
            )
