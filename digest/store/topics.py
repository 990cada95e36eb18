"""Discovered topics: their ids and automatic names, and what the editor said of them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from digest.records import TopicRecord
from digest.store.base import StoreBase, to_db


class TopicQueries(StoreBase):
    """The topics table: one row per discovered topic id ever given."""

    def topic_records(self) -> dict[str, TopicRecord]:
        """topic id -> its record (automatic name, the editor's name, hidden, merged into)."""
        return {
            r["id"]: TopicRecord(
                id=r["id"],
                auto_name=r["auto_name"],
                name=r["name"],
                hidden=bool(r["hidden"]),
                merged_into=r["merged_into"],
            )
            for r in self.conn.execute(
                "SELECT id, auto_name, name, hidden, merged_into FROM topics ORDER BY id"
            )
        }

    def save_discovered_topics(self, names: Mapping[str, str], now: datetime) -> None:
        """Record discovered topics (id -> automatic name); the editor's say is kept."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO topics (id, auto_name, created_at, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET auto_name = excluded.auto_name,"
                " updated_at = CASE WHEN topics.auto_name <> excluded.auto_name"
                " THEN excluded.updated_at ELSE topics.updated_at END",
                [(tid, name, to_db(now), to_db(now)) for tid, name in names.items()],
            )

    def edit_topic(
        self,
        topic_id: str,
        now: datetime,
        *,
        name: str | None = None,
        hidden: bool | None = None,
        merged_into: str | None = None,
    ) -> bool:
        """Set the editor's name, hidden flag or merge target of a topic; False if unknown."""
        sets: list[str] = []
        values: list[str | int | None] = []
        for column, value in (("name", name), ("merged_into", merged_into)):
            if value is not None:
                sets.append(f"{column} = ?")
                values.append(value or None)  # "" clears it
        if hidden is not None:
            sets.append("hidden = ?")
            values.append(int(hidden))
        if not sets:
            return topic_id in self.topic_records()
        with self.transaction() as db:
            done = db.execute(
                f"UPDATE topics SET {', '.join(sets)}, updated_at = ? WHERE id = ?",
                [*values, to_db(now), topic_id],
            )
            return done.rowcount > 0
