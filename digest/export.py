"""`digest export`: one record per item, for researchers taking the data elsewhere."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from digest.records import Config, StoredItem
from digest.store import Store, to_db
from digest.stories.topicids import resolve_topics
from digest.workspace import Workspace

FIELDS = (
    "id",
    "feed",
    "url",
    "published",
    "lang",
    "title",
    "summary",
    "title_translated",
    "summary_translated",
    "translation",
    "story",
    "topics",
    "hidden",
)


def item_record(item: StoredItem, topics: list[str] | None = None) -> dict[str, Any]:
    """The export record of one item, in the design doc's field order (`topics`: its story's
    topics as published, when resolved by the caller)."""
    return {
        "id": item.id,
        "feed": list(item.feeds),
        "url": item.url,
        "published": to_db(item.published),
        "lang": item.lang,
        "title": item.title,
        "summary": item.summary,
        "title_translated": item.title_translated,
        "summary_translated": item.summary_translated,
        "translation": item.translation,
        "story": item.story,
        "topics": list(item.topics) if topics is None else topics,
        "hidden": item.hidden,
    }


def records(
    store: Store, site_lang: str, since: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Every item's record, oldest first; topics named as published (discovered ids named,
    merges followed, hidden topics left out)."""
    names = store.topic_records()
    for item in reversed(store.items(since=since, site_lang=site_lang)):
        shown = [name for name, _ in resolve_topics(item.topics, names, ())]
        yield item_record(item, shown)


def write_export(
    config: Config, ws: Workspace, out: IO[str], *, fmt: str, since: datetime | None = None
) -> int:
    """`digest export`: every item of the store as JSON lines or CSV to `out`; returns how many."""
    with ws.open_store() as store:
        return write_records(store, out, fmt=fmt, site_lang=config.site.language, since=since)


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) in a
# feed's title would run when a researcher opens the CSV): such cells get a leading quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: lists ';'-joined, text that a spreadsheet would run quoted with '."""
    if isinstance(value, list):
        value = ";".join(value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_records(
    store: Store, out: IO[str], *, fmt: str, site_lang: str, since: datetime | None = None
) -> int:
    """Write the store's items as JSON lines or CSV to `out`; returns how many."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        for rec in records(store, site_lang, since):
            writer.writerow({k: csv_cell(v) for k, v in rec.items()})
            count += 1
        return count
    for rec in records(store, site_lang, since):
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        count += 1
    return count
