"""All SQL lives in this package. The Store composes one mixin of queries per kind of data:
feeds, items, translations, labels (stories and topics), curation (takedowns, redirects),
sketches (incremental clustering), embeddings (the vector cache), mail (newsletter
issues) and topics (discovered topics and the editor's say); schema.py holds the migrations.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from digest.errors import StageError
from digest.store.base import from_db, item_id_for, text_hash, to_db, utc_now
from digest.store.curation import CurationQueries
from digest.store.embeddings import EmbeddingQueries
from digest.store.feeds import FeedQueries, FeedState
from digest.store.items import ItemQueries
from digest.store.labels import LabelQueries
from digest.store.mail import NewsletterQueries
from digest.store.schema import MIGRATIONS
from digest.store.sketches import SketchQueries
from digest.store.topics import TopicQueries
from digest.store.translations import TranslationQueries, TranslationTask

__all__ = [
    "FeedState",
    "Store",
    "TranslationTask",
    "from_db",
    "item_id_for",
    "text_hash",
    "to_db",
    "utc_now",
]


class Store(
    FeedQueries,
    ItemQueries,
    TranslationQueries,
    LabelQueries,
    CurationQueries,
    SketchQueries,
    EmbeddingQueries,
    NewsletterQueries,
    TopicQueries,
):
    """The SQLite database of one digest state directory."""

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating and migrating as needed) the database at `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            store = cls(conn, path)
            store._migrate()
        except sqlite3.DatabaseError as exc:
            raise StageError(
                f"{path}: cannot open the database: {exc}",
                "check the --state directory; a damaged file can be restored from a backup",
            ) from exc
        return store

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StageError(
                f"{self.path}: database schema {version} is newer than this digest knows "
                f"({len(MIGRATIONS)})",
                "upgrade digest, or point --state at another directory",
            )
        for number in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in _statements(MIGRATIONS[number]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    def integrity_ok(self) -> bool:
        """True when PRAGMA integrity_check says ok."""
        return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our literals)."""
    body = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    out: list[str] = []
    pending = ""
    # A trigger body holds semicolons of its own: a statement ends where SQLite says so.
    for piece in body.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending.strip())
            pending = ""
    if pending.strip(" \n;"):
        out.append(pending.strip())
    return out
