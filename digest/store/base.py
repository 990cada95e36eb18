"""What every part of the store shares: the connection, transactions and time helpers."""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self


def utc_now() -> datetime:
    """The current time in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def to_db(dt: datetime | None) -> str | None:
    """A UTC timestamp in one sortable text form."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db(text: str | None) -> datetime | None:
    """Parse a timestamp written by to_db."""
    if not text:
        return None
    # fromisoformat is ~30x faster than strptime (a 20k-item build parses 20k of these);
    # to_db's form is exactly what it reads, and the result is the same aware UTC time.
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def text_hash(text: str) -> str:
    """A stable hash of a text, for the translation cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@functools.lru_cache(maxsize=4096)
def story_topics_of(raw: str) -> tuple[str, ...]:
    """A story's topics from their JSON text; many items share one story's text."""
    return tuple(json.loads(raw))


def item_id_for(feed_id: str, guid: str) -> str:
    """The id of an item first seen in this feed under this GUID."""
    return "i-" + hashlib.sha1(f"{feed_id}\0{guid}".encode()).hexdigest()[:12]


class StoreBase:
    """A connection to one digest database, with one-step transactions."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic step: committed on success, rolled back on any error.

        Inside another transaction() it joins that one: the outer step commits or rolls back.
        """
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
