"""What an incremental cluster run keeps between runs: label fingerprints, item tokens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from .base import StoreBase, to_db


class LabelQueries(StoreBase):
    """Per story, what its labels were made from; per item, its tokens."""

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
