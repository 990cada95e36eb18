"""Typed records of the newsletter as the store keeps it: issues and per-recipient deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# A delivery's states: queued for this issue, in an SMTP transaction (the server may or may not
# have the message), accepted by the server, or refused.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"


@dataclass
class NewsletterIssue:
    """One issue as built: both parts of the message, with what it covers."""

    id: str
    number: int
    created_at: datetime
    since: datetime | None
    until: datetime
    subject: str
    html: str
    text: str
    stories: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)  # the visible items it covered
    content: str | None = None  # the issue's plan as JSON (newsletter/snapshot.py), for the archive
    started: bool = False  # some delivery was queued: the issue is frozen
    sent: int = 0  # recipients the server accepted it for


@dataclass
class Delivery:
    """One recipient's state for one issue."""

    issue_id: str
    recipient: str
    message_id: str
    status: str
    permanent: bool = False
    attempts: int = 0
    error: str | None = None
    updated_at: datetime | None = None
