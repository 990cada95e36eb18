"""Stories as the cluster stage writes them: membership, labels, fingerprints, item tokens."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from digest.store.base import StoreBase, story_topics_of, to_db


class LabelQueries(StoreBase):
    """Story membership and labels; per story, what its labels were made from; item tokens."""

    def story_assignments(self) -> dict[str, str]:
        """item id -> story id, for every item that has a story."""
        return {
            r["id"]: r["story_id"]
            for r in self.conn.execute("SELECT id, story_id FROM items WHERE story_id IS NOT NULL")
        }

    def save_stories(
        self,
        stories: Mapping[str, Sequence[str]],
        labels: Mapping[str, tuple[str, Sequence[str]]],
        now: datetime,
        *,
        drop_empty: bool = True,
    ) -> None:
        """Write story membership and labels (headline, topics) for the clustered items.

        `drop_empty`: delete stories no item is in any more (not needed when items only join).
        """
        with self.transaction() as db:
            members = [(sid, iid) for sid, ids in stories.items() for iid in ids]
            clustered = [iid for _, iid in members]
            for start in range(0, len(clustered), 500):
                chunk = clustered[start : start + 500]
                db.execute(
                    f"UPDATE items SET story_id = NULL WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            db.executemany("UPDATE items SET story_id = ? WHERE id = ?", members)
            for sid, (headline, topics) in labels.items():
                db.execute(
                    "INSERT INTO stories (id, headline, topics, created_at, updated_at)"
                    " VALUES (?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
                    " headline = excluded.headline, topics = excluded.topics,"
                    " updated_at = CASE WHEN stories.headline <> excluded.headline"
                    " OR stories.topics <> excluded.topics"
                    " THEN excluded.updated_at ELSE stories.updated_at END",
                    (
                        sid,
                        headline,
                        json.dumps(list(topics), ensure_ascii=False),
                        to_db(now),
                        to_db(now),
                    ),
                )
            # Stories no item points at any more are dropped (later: kept as redirects).
            if drop_empty:
                db.execute(
                    "DELETE FROM stories WHERE id NOT IN"
                    " (SELECT DISTINCT story_id FROM items WHERE story_id IS NOT NULL)"
                )

    def story_labels(self) -> dict[str, tuple[str, list[str]]]:
        """story id -> (headline, topics)."""
        return {
            r["id"]: (r["headline"], list(story_topics_of(r["topics"])))
            for r in self.conn.execute("SELECT id, headline, topics FROM stories")
        }

    def story_label_hashes(self) -> dict[str, str]:
        """story id -> the fingerprint of its labelling inputs (stories labelled since v5)."""
        return {
            r["id"]: r["label_hash"]
            for r in self.conn.execute(
                "SELECT id, label_hash FROM stories WHERE label_hash IS NOT NULL"
            )
        }

    def save_label_hashes(self, hashes: Mapping[str, str]) -> None:
        """Record the fingerprints of the stories just labelled (after their labels)."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE stories SET label_hash = ? WHERE id = ?",
                [(h, sid) for sid, h in hashes.items()],
            )

    def item_features(
        self, since: datetime | None = None
    ) -> dict[str, tuple[str, bool, list[str], list[str]]]:
        """item id -> (source hash, continuous script, clustering tokens, key-term tokens).

        With `since`, only items published since then (the window being clustered).
        """
        return {
            r[0]: (r[1], bool(r[2]), _split(r[3]), _split(r[4]))
            for r in self.conn.execute(
                "SELECT f.item_id, f.source_hash, f.continuous, f.tokens, f.terms"
                " FROM item_features f JOIN items i ON i.id = f.item_id"
                " WHERE i.published >= ?",
                (to_db(since) or "",),
            )
        }

    def save_item_features(
        self, rows: Mapping[str, tuple[str, bool, Sequence[str], Sequence[str]]]
    ) -> None:
        """Store (or replace) the tokens of these items, as item_features returns them."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO item_features"
                " (item_id, source_hash, continuous, tokens, terms)"
                " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM items WHERE id = ?)",
                [
                    (iid, h, int(cont), " ".join(tokens), " ".join(terms), iid)
                    for iid, (h, cont, tokens, terms) in rows.items()
                ],
            )


def _split(joined: str) -> list[str]:
    # Tokens are \w runs or CJK n-grams: none contains a space.
    return joined.split(" ") if joined else []
