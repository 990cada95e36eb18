"""Translations: the cache by text, language pair and model, and each item's current one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from digest.store.base import StoreBase, text_hash, to_db

__all__ = ["TranslationQueries", "TranslationTask"]


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


class TranslationQueries(StoreBase):
    """What needs translating, the cache, and each item's stored translation."""

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
