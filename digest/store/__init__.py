"""All SQL lives in this package: the Store and its queries (schema.py holds the migrations;
mail.py the newsletter tables; curation.py takedowns and story redirects)."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from digest.errors import StageError
from digest.records import FeedConfig, FeedHealth, FetchResult, Item, StoredItem
from digest.store.base import from_db, item_id_for, story_topics_of, text_hash, to_db, utc_now
from digest.store.curation import CurationQueries
from digest.store.labels import LabelQueries
from digest.store.mail import NewsletterQueries
from digest.store.schema import MIGRATIONS
from digest.store.sketches import SketchQueries

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


@dataclass
class FeedState:
    """What the store knows about a feed before fetching it."""

    id: str
    url: str
    effective_url: str | None
    etag: str | None
    last_modified: str | None
    consecutive_failures: int
    gone: bool
    next_fetch: datetime | None


@dataclass
class TranslationTask:
    """An item whose text in the site language may need (re)making."""

    item_id: str
    lang: str
    title: str
    summary: str
    source_hash: str  # of the item's current title and summary
    done_hash: str | None  # source_hash of the stored translation, if any
    model: str | None  # the model of the stored translation, if any
    status: str | None  # translated | no-model, if any


class Store(NewsletterQueries, CurationQueries, LabelQueries, SketchQueries):
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

    # ------------------------------------------------------------ feeds

    def sync_feeds(self, feeds: Sequence[FeedConfig]) -> None:
        """Make sure every configured feed has a row; a changed URL forgets the old redirect."""
        with self.transaction() as db:
            for feed in feeds:
                row = db.execute("SELECT url FROM feeds WHERE id = ?", (feed.id,)).fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO feeds (id, url, name) VALUES (?, ?, ?)",
                        (feed.id, feed.url, feed.name),
                    )
                elif row["url"] != feed.url:
                    # The user edited the URL: validators and redirects of the old one are moot.
                    db.execute(
                        "UPDATE feeds SET url = ?, name = ?, effective_url = NULL, etag = NULL,"
                        " last_modified = NULL, gone = 0, consecutive_failures = 0,"
                        " next_fetch = NULL WHERE id = ?",
                        (feed.url, feed.name, feed.id),
                    )
                else:
                    db.execute("UPDATE feeds SET name = ? WHERE id = ?", (feed.name, feed.id))

    def feed_state(self, feed_id: str) -> FeedState | None:
        """The stored state of one feed."""
        row = self.conn.execute("SELECT * FROM feeds WHERE id = ?", (feed_id,)).fetchone()
        if row is None:
            return None
        return FeedState(
            id=row["id"],
            url=row["url"],
            effective_url=row["effective_url"],
            etag=row["etag"],
            last_modified=row["last_modified"],
            consecutive_failures=row["consecutive_failures"],
            gone=bool(row["gone"]),
            next_fetch=from_db(row["next_fetch"]),
        )

    def record_fetch(
        self,
        result: FetchResult,
        *,
        at: datetime,
        next_fetch: datetime | None,
        items_seen: int = 0,
        items_new: int = 0,
        title: str | None = None,
        warning: str | None = None,
        failed: bool,
    ) -> None:
        """Log one attempt and update the feed's health, validators and redirect."""
        db = self.conn
        db.execute(
            "INSERT INTO fetch_log (feed_id, at, url, status, duration, bytes, not_modified,"
            " items_seen, items_new, error, warning) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                result.feed_id,
                to_db(at),
                result.url,
                result.status,
                round(result.duration, 4),
                len(result.body or b""),
                int(result.not_modified),
                items_seen,
                items_new,
                result.error,
                warning,
            ),
        )
        if failed:
            db.execute(
                "UPDATE feeds SET last_attempt = ?, last_status = ?, last_error = ?,"
                " consecutive_failures = consecutive_failures + 1, gone = MAX(gone, ?),"
                " next_fetch = ? WHERE id = ?",
                (
                    to_db(at),
                    result.status,
                    result.error,
                    int(result.gone),
                    to_db(next_fetch),
                    result.feed_id,
                ),
            )
            return
        db.execute(
            "UPDATE feeds SET last_attempt = ?, last_success = ?, last_status = ?,"
            " last_error = NULL, consecutive_failures = 0, next_fetch = ?,"
            " etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),"
            " title = COALESCE(?, title),"
            " effective_url = COALESCE(?, effective_url) WHERE id = ?",
            (
                to_db(at),
                to_db(at),
                result.status,
                to_db(next_fetch),
                result.etag,
                result.last_modified,
                title,
                result.permanent_url,
                result.feed_id,
            ),
        )

    def reset_feed(self, feed_id: str) -> bool:
        """Revive a gone feed and clear its backoff; False when the id is unknown."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE feeds SET gone = 0, consecutive_failures = 0, next_fetch = NULL,"
                " etag = NULL, last_modified = NULL WHERE id = ?",
                (feed_id,),
            )
        return cur.rowcount > 0

    def feed_health(
        self, feeds: Sequence[FeedConfig], window_start: datetime | None
    ) -> list[FeedHealth]:
        """Health of every configured feed, in config order (window counts 0 without a start)."""
        # Without a window (the site build counts it from the items it read) no join is needed:
        # a third of the time of a site build's store read at 20k items.
        query = (
            "SELECT feed_id, COUNT(DISTINCT item_id) AS total, 0 AS recent FROM item_sources"
            " GROUP BY feed_id"
            if window_start is None
            else "SELECT s.feed_id, COUNT(DISTINCT s.item_id) AS total,"
            " COUNT(DISTINCT CASE WHEN i.published >= ? THEN s.item_id END) AS recent"
            " FROM item_sources s JOIN items i ON i.id = s.item_id GROUP BY s.feed_id"
        )
        params = () if window_start is None else (to_db(window_start),)
        counts = {
            row["feed_id"]: (row["total"], row["recent"])
            for row in self.conn.execute(query, params)
        }
        rows = {r["id"]: r for r in self.conn.execute("SELECT * FROM feeds")}
        health = []
        for feed in feeds:
            row = rows.get(feed.id)
            total, recent = counts.get(feed.id, (0, 0))
            h = FeedHealth(
                id=feed.id,
                name=feed.name,
                url=feed.url,
                language=feed.language,
                tags=list(feed.tags),
                enabled=feed.enabled,
                items_total=total,
                items_in_window=recent,
            )
            if row is not None:
                h.effective_url = row["effective_url"]
                h.last_attempt = from_db(row["last_attempt"])
                h.last_success = from_db(row["last_success"])
                h.last_status = row["last_status"]
                h.last_error = row["last_error"]
                h.consecutive_failures = row["consecutive_failures"]
                h.gone = bool(row["gone"])
                h.next_fetch = from_db(row["next_fetch"])
                h.title = row["title"]
            health.append(h)
        return health

    # ------------------------------------------------------------ items

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
            existing = db.execute(
                "SELECT id FROM items WHERE url = ? ORDER BY first_seen, id LIMIT 1", (item.url,)
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

    def prune(self, before: datetime) -> int:
        """Delete items published before `before` (retention); returns how many."""
        with self.transaction() as db:
            cur = db.execute("DELETE FROM items WHERE published < ?", (to_db(before),))
        return cur.rowcount

    # ------------------------------------------------------------ translation

    def translation_tasks(self, site_lang: str) -> list[TranslationTask]:
        """Items not in the site language, with what is stored of their translation."""
        base = site_lang.split("-")[0].lower()
        rows = self.conn.execute(
            "SELECT i.id, i.lang, i.title, i.summary, t.source_hash, t.model, t.status"
            " FROM items i LEFT JOIN item_translations t ON t.item_id = i.id AND t.tgt = ?"
            " WHERE lower(i.lang) <> ? AND lower(i.lang) NOT LIKE ? ORDER BY i.published, i.id",
            (site_lang, base, base + "-%"),
        )
        return [
            TranslationTask(
                item_id=r["id"],
                lang=r["lang"],
                title=r["title"],
                summary=r["summary"],
                source_hash=text_hash(r["title"] + "\0" + r["summary"]),
                done_hash=r["source_hash"],
                model=r["model"],
                status=r["status"],
            )
            for r in rows
        ]

    def cached_translations(
        self, hashes: Iterable[str], src: str, tgt: str, model: str
    ) -> dict[str, str]:
        """Cached translations by text hash for one language pair and model."""
        out: dict[str, str] = {}
        keys = list(dict.fromkeys(hashes))
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT text_hash, translated FROM translations WHERE src = ? AND tgt = ?"
                f" AND model = ? AND text_hash IN ({marks})",
                (src, tgt, model, *chunk),
            ):
                out[row["text_hash"]] = row["translated"]
        return out

    def save_translations(
        self, rows: Iterable[tuple[str, str]], src: str, tgt: str, model: str, now: datetime
    ) -> None:
        """Add (text hash, translation) pairs to the cache."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO translations (text_hash, src, tgt, model, translated,"
            " created_at) VALUES (?,?,?,?,?,?)",
            [(h, src, tgt, model, t, to_db(now)) for h, t in rows],
        )

    def set_item_translation(
        self,
        item_id: str,
        tgt: str,
        *,
        source_hash: str,
        model: str | None,
        status: str,
        note: str | None,
        title: str | None,
        summary: str | None,
        now: datetime,
    ) -> None:
        """Record what an item shows in the site language."""
        self.conn.execute(
            "INSERT OR REPLACE INTO item_translations (item_id, tgt, source_hash, model, status,"
            " note, title, summary, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (item_id, tgt, source_hash, model, status, note, title, summary, to_db(now)),
        )

    # ------------------------------------------------------------ reading items back

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
            " i.lang, i.story_id, t.title, t.summary, t.status, t.note, t.source_hash,"
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
            item_id, url, link, title, summary, content_html, published, lang, story_id,
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

    def integrity_ok(self) -> bool:
        """True when PRAGMA integrity_check says ok."""
        return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    # ------------------------------------------------------------ feed health (issue 7)

    def parse_warnings(self) -> dict[str, str]:
        """feed id -> the warning of its last parsed body (truncated XML, charset), if any."""
        rows = self.conn.execute(
            "SELECT f.feed_id, f.warning FROM fetch_log f WHERE f.id = (SELECT MAX(g.id)"
            " FROM fetch_log g WHERE g.feed_id = f.feed_id AND g.error IS NULL"
            " AND g.not_modified = 0) AND f.warning IS NOT NULL"
        )
        return {r["feed_id"]: r["warning"] for r in rows}


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
