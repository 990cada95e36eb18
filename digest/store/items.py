"""Items: written once per (feed, GUID), seen again on mirrors, read back with translations."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from digest.records import Item, StoredItem
from digest.store.base import (
    StoreBase,
    from_db,
    item_id_for,
    story_topics_of,
    text_hash,
    to_db,
    utc_now,
)

__all__ = ["ItemQueries"]


class ItemQueries(StoreBase):
    """Items and their sources: upsert, prune, and the rows the stages read."""

    def upsert_item(self, item: Item, now: datetime) -> tuple[str, bool]:
        """Store an item or add this feed as another source of the one it repeats.

        Returns (item id, True when the item is new). One article seen again under the same
        GUID, the same canonical URL, or the same title and summary (a mirror host under
        another GUID) stays one item with several sources.
        """
        db = self.conn
        row = db.execute(
            "SELECT item_id FROM item_sources WHERE feed_id = ? AND guid = ?",
            (item.feed_id, item.guid),
        ).fetchone()
        if row is not None:
            self._refresh_item(row["item_id"], item, now)
            return row["item_id"], False
        existing = None
        if item.url:
            # `url <> ''` lets SQLite use the partial index items_url (it cannot prove that a
            # bound parameter is not empty); without it each new item scanned the whole table.
            existing = db.execute(
                "SELECT id FROM items WHERE url = ? AND url <> '' ORDER BY first_seen, id LIMIT 1",
                (item.url,),
            ).fetchone()
        # Only a substantial title plus a summary identifies a mirror copy: short generic
        # titles ("Daily briefing") with no summary would merge distinct articles.
        if existing is None and len(item.title) >= 10 and item.summary:
            existing = db.execute(
                "SELECT id FROM items WHERE content_key = ? ORDER BY first_seen, id LIMIT 1",
                (item.content_key,),
            ).fetchone()
        if existing is not None:
            db.execute(
                "INSERT INTO item_sources (feed_id, guid, item_id, first_seen) VALUES (?,?,?,?)",
                (item.feed_id, item.guid, existing["id"], to_db(now)),
            )
            return existing["id"], False
        item_id = item_id_for(item.feed_id, item.guid)
        db.execute(
            "INSERT INTO items (id, url, link, title, summary, content_html, published,"
            " date_is_fallback, lang, content_key, first_seen, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                item_id,
                item.url,
                item.link,
                item.title,
                item.summary,
                item.content_html,
                to_db(item.published),
                int(item.date_is_fallback),
                item.lang,
                item.content_key,
                to_db(now),
                to_db(now),
            ),
        )
        db.execute(
            "INSERT INTO item_sources (feed_id, guid, item_id, first_seen) VALUES (?,?,?,?)",
            (item.feed_id, item.guid, item_id, to_db(now)),
        )
        return item_id, True

    def _refresh_item(self, item_id: str, item: Item, now: datetime) -> None:
        # An outlet may correct a title or summary; the first-seen date of an undated item and
        # the item's identity stay as they were.
        self.conn.execute(
            "UPDATE items SET title = ?, summary = ?, content_html = ?, link = ?, lang = ?,"
            " content_key = ?, updated_at = ?,"
            " published = CASE WHEN ? THEN published ELSE ? END,"
            " date_is_fallback = CASE WHEN ? THEN date_is_fallback ELSE 0 END"
            " WHERE id = ? AND (title <> ? OR summary <> ? OR content_html <> ? OR link <> ?"
            " OR lang <> ? OR (date_is_fallback = 1 AND ? = 0))",
            (
                item.title,
                item.summary,
                item.content_html,
                item.link,
                item.lang,
                item.content_key,
                to_db(now),
                int(item.date_is_fallback),
                to_db(item.published),
                int(item.date_is_fallback),
                item_id,
                item.title,
                item.summary,
                item.content_html,
                item.link,
                item.lang,
                int(item.date_is_fallback),
            ),
        )

    def count_items(self) -> int:
        """How many items the store holds."""
        return int(self.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def newest_first_seen(self) -> datetime | None:
        """When the newest visible item was first fetched (None when there is none): the
        last time the published content grew."""
        row = self.conn.execute(
            "SELECT MAX(first_seen) FROM items WHERE id NOT IN (SELECT id FROM hidden)"
            " AND (story_id IS NULL OR story_id NOT IN (SELECT id FROM hidden))"
        ).fetchone()
        return from_db(row[0]) if row and row[0] else None

    def language_counts(self) -> dict[str, int]:
        """How many items the store holds in each language (declared or detected)."""
        rows = self.conn.execute("SELECT lang, COUNT(*) FROM items GROUP BY lang ORDER BY lang")
        return {str(lang): int(n) for lang, n in rows}

    def prune(self, before: datetime) -> int:
        """Delete items published before `before` (retention); returns how many."""
        with self.transaction() as db:
            cur = db.execute("DELETE FROM items WHERE published < ?", (to_db(before),))
        return cur.rowcount

    def items(
        self,
        *,
        since: datetime | None = None,
        site_lang: str = "en",
        include_hidden: bool = True,
        unclustered: bool = False,
        ids: Collection[str] | None = None,
    ) -> list[StoredItem]:
        """Items (optionally published since a time), with translations, sources and topics.

        `unclustered`: only items in no story yet; `ids`: only these items.
        """
        where = ["1=1"]
        params: list[object] = [site_lang]
        if since is not None:
            where.append("i.published >= ?")
            params.append(to_db(since))
        if unclustered:
            where.append("i.story_id IS NULL")
        if ids is not None:
            where.append(f"i.id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        # A few items: read only their sources, not every source row of the store.
        few = unclustered or ids is not None
        # Plain tuples, named columns: a site build reads every item, and sqlite3.Row and
        # the unused columns cost more than the rest of this loop at 20k items.
        cursor = self.conn.cursor()
        cursor.row_factory = None
        rows = cursor.execute(
            "SELECT i.id, i.url, i.link, i.title, i.summary, i.content_html, i.published,"
            " i.date_is_fallback, i.lang, i.story_id,"
            " t.title, t.summary, t.status, t.note, t.source_hash,"
            " s.topics, h.id IS NOT NULL OR hs.id IS NOT NULL"
            " FROM items i"
            " LEFT JOIN item_translations t ON t.item_id = i.id AND t.tgt = ?"
            " LEFT JOIN stories s ON s.id = i.story_id"
            " LEFT JOIN hidden h ON h.id = i.id"
            " LEFT JOIN hidden hs ON hs.id = i.story_id"
            f" WHERE {' AND '.join(where)} ORDER BY i.published DESC, i.id",
            params,
        ).fetchall()
        sources: dict[str, dict[str, None]] = {}  # item id -> its feed ids, first seen first
        source_sql = "SELECT item_id, feed_id FROM item_sources ORDER BY first_seen, rowid"
        if few:
            source_sql = (
                "SELECT s.item_id, s.feed_id FROM item_sources s JOIN items i ON i.id = s.item_id"
                f" WHERE {' AND '.join(where)} ORDER BY s.first_seen, s.rowid"
            )
        for source_item, feed_id in cursor.execute(source_sql, params[1:] if few else ()):
            sources.setdefault(source_item, {})[feed_id] = None
        out = []
        for (
            item_id, url, link, title, summary, content_html, published, undated, lang, story_id,
            t_title, t_summary, t_status, t_note, t_hash, s_topics, is_hidden,
        ) in rows:  # fmt: skip
            hidden = bool(is_hidden)
            if hidden and not include_hidden:
                continue
            current = t_hash is not None and t_hash == text_hash(title + "\0" + summary)
            status = t_status if current else None
            out.append(
                StoredItem(
                    id=item_id,
                    url=url,
                    link=link,
                    title=title,
                    summary=summary,
                    content_html=content_html,
                    published=from_db(published) or utc_now(),
                    date_is_fallback=bool(undated),
                    lang=lang,
                    feeds=list(sources.get(item_id, ())),
                    title_translated=t_title if status == "translated" else None,
                    summary_translated=t_summary if status == "translated" else None,
                    translation="translated"
                    if status == "translated"
                    else ("no-model" if status == "no-model" else "original"),
                    translation_note=t_note if status == "no-model" else None,
                    story=story_id,
                    topics=list(story_topics_of(s_topics)) if s_topics else [],
                    hidden=hidden,
                )
            )
        return out
