"""Times as people and feeds write them: ISO 8601 and RFC 822, read into aware UTC datetimes."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

__all__ = ["parse_time"]


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 ("2026-05-28", "2026-05-28T09:00Z") or RFC 822 ("Thu, 28 May 2026 09:00:00
    +0000") time as UTC; a time without an offset is taken as UTC; None when it is neither."""
    value = text.strip()
    if not value:
        return None
    iso = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if parsed is None:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
