"""Takedowns, story key terms and redirects kept across runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from digest.store.base import StoreBase, from_db, to_db


class CurationQueries(StoreBase):
    """Hidden items and stories; what clustering keeps between runs."""

    # ------------------------------------------------------------ takedown (issue 5)

    def hide(self, target_id: str, reason: str, now: datetime) -> tuple[str, int] | None:
        """Hide an item or a story and its current items: ("item"|"story", items hidden).

        None when no item or story has this id. Hidden rows outlive re-fetch (item ids are
        stable) and re-clustering (a story's items are hidden one by one too).
        """
        with self.transaction() as db:
            is_item = db.execute("SELECT 1 FROM items WHERE id = ?", (target_id,)).fetchone()
            is_story = db.execute(
                "SELECT 1 FROM stories WHERE id = ? UNION ALL"
                " SELECT 1 FROM items WHERE story_id = ? LIMIT 1",
                (target_id, target_id),
            ).fetchone()
            if not is_item and not is_story:
                return None
            db.execute(
                "INSERT OR REPLACE INTO hidden (id, reason, at, via) VALUES (?,?,?,NULL)",
                (target_id, reason, to_db(now)),
            )
            if is_item:
                return "item", 1
            cur = db.execute(
                "INSERT OR IGNORE INTO hidden (id, reason, at, via)"
                " SELECT id, ?, ?, ? FROM items WHERE story_id = ?",
                (reason, to_db(now), target_id, target_id),
            )
            return "story", cur.rowcount

    def unhide(self, target_id: str) -> int:
        """Show an item or a story again (with the items hidden through it); rows removed."""
        with self.transaction() as db:
            cur = db.execute("DELETE FROM hidden WHERE id = ? OR via = ?", (target_id, target_id))
        return cur.rowcount

    def hidden_entries(self) -> list[tuple[str, str, datetime | None, str | None]]:
        """Everything hidden: (id, reason, when, story it was hidden through), oldest first."""
        rows = self.conn.execute("SELECT id, reason, at, via FROM hidden ORDER BY at, id")
        return [(r["id"], r["reason"], from_db(r["at"]), r["via"]) for r in rows]

    # ------------------------------------------------------------ stories over runs (issue 4)

    def save_story_extras(
        self,
        key_terms: Mapping[str, Sequence[str]],
        redirects: Mapping[str, str],
        now: datetime,
        *,
        coverage: Mapping[str, tuple[str | None, str | None]] | None = None,
    ) -> None:
        """Store each story's key terms and coverage (gap, note); add redirects."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE stories SET coverage = ? WHERE id = ?",
                [
                    (json.dumps({"gap": gap, "note": note}, ensure_ascii=False), sid)
                    for sid, (gap, note) in (coverage or {}).items()
                ],
            )
            db.executemany(
                "UPDATE stories SET key_terms = ? WHERE id = ?",
                [
                    (json.dumps(list(terms), ensure_ascii=False), sid)
                    for sid, terms in key_terms.items()
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO story_redirects (old_id, new_id, at) VALUES (?,?,?)",
                [(old, new, to_db(now)) for old, new in redirects.items() if old != new],
            )
            # An id in use again is a story, not a redirect.
            db.execute("DELETE FROM story_redirects WHERE old_id IN (SELECT id FROM stories)")

    def story_coverage(self) -> dict[str, tuple[str | None, str | None]]:
        """story id -> (coverage gap, coverage note), for stories labelled with them."""
        out = {}
        for r in self.conn.execute("SELECT id, coverage FROM stories WHERE coverage IS NOT NULL"):
            record = json.loads(r["coverage"])
            out[r["id"]] = (record.get("gap"), record.get("note"))
        return out

    def save_story_summaries(self, summaries: Mapping[str, Sequence[Mapping[str, object]]]) -> None:
        """Store each story's "what happened" sentences (an empty list: it has none)."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE stories SET summary = ? WHERE id = ?",
                [
                    (json.dumps(list(lines), ensure_ascii=False) if lines else None, sid)
                    for sid, lines in summaries.items()
                ],
            )

    def story_summaries(self) -> dict[str, list[dict[str, object]]]:
        """story id -> its "what happened" sentences, for stories that have some."""
        rows = self.conn.execute("SELECT id, summary FROM stories WHERE summary IS NOT NULL")
        return {r["id"]: json.loads(r["summary"]) for r in rows}

    def save_related(self, related: Mapping[str, Sequence[tuple[str, float]]]) -> None:
        """Store each story's nearest other stories (id, cosine), best first."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE stories SET related = ? WHERE id = ?",
                [
                    (json.dumps([[other, round(sim, 4)] for other, sim in pairs]), sid)
                    for sid, pairs in related.items()
                ],
            )

    def story_related(self) -> dict[str, list[tuple[str, float]]]:
        """story id -> its nearest other stories (id, cosine), for stories that have some."""
        rows = self.conn.execute("SELECT id, related FROM stories WHERE related != '[]'")
        return {
            r["id"]: [(str(other), float(sim)) for other, sim in json.loads(r["related"])]
            for r in rows
        }

    def story_key_terms(self) -> dict[str, list[str]]:
        """story id -> key terms."""
        return {
            r["id"]: json.loads(r["key_terms"])
            for r in self.conn.execute("SELECT id, key_terms FROM stories")
        }

    def story_redirects(self) -> dict[str, str]:
        """old story id -> the id it was merged into (possibly itself redirected since)."""
        return {
            r["old_id"]: r["new_id"]
            for r in self.conn.execute("SELECT old_id, new_id FROM story_redirects")
        }
