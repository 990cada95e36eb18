"""`digest cluster-file`: the pipeline's clustering over a JSON-lines file of arbitrary items."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from digest.atomic import write_atomic
from digest.errors import InputError
from digest.language import detect_language, normalize_language
from digest.records import TopicConfig
from digest.stories.assign import cluster_new_stories
from digest.stories.features import ClusterDoc
from digest.stories.labels import LabelDoc, label_stories

__all__ = ["ClusterFileSummary", "cluster_file", "read_items"]

# Items without a date are all taken to be published at this one time ("same time").
UNDATED = datetime(2000, 1, 1, tzinfo=UTC)
MAX_LINE = 10_000_000  # bytes: one item this large is an error, not a record


@dataclass
class ClusterFileSummary:
    """What one cluster-file call did."""

    items: int
    stories: int
    topics: int

    def line(self) -> str:
        """One line for the terminal."""
        return f"cluster-file: {self.items} items, {self.stories} stories, {self.topics} topics"


@dataclass(frozen=True)
class _Record:
    id: str
    title: str
    text: str
    lang: str
    date: datetime


def _field(obj: dict[str, object], key: str, where: str) -> str:
    value = obj.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{where}: '{key}' must be a string", "see `digest cluster-file --help`")
    return value


def _parse_date(value: object, where: str) -> datetime:
    if value is None or value == "":
        return UNDATED
    if not isinstance(value, str):
        raise InputError(f"{where}: 'date' must be an ISO 8601 string", "e.g. 2026-05-28T09:00Z")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{where}: 'date' {value[:40]!r} is not ISO 8601", "e.g. 2026-05-28T09:00:00Z"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_items(path: Path) -> list[_Record]:
    """Read and validate `{id, title, text, lang?, date?}` lines; errors name file and line."""
    records: list[_Record] = []
    seen: dict[str, int] = {}
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            if len(raw) > MAX_LINE:
                raise InputError(f"{where}: line longer than {MAX_LINE} bytes")
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{where}: not UTF-8 text") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: not valid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise InputError(f"{where}: expected a JSON object {{id, title, text}}")
            raw_id = obj.get("id")
            if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
                raise InputError(f"{where}: 'id' must be a string or an integer")
            item_id = str(raw_id)
            if not item_id.strip():
                raise InputError(f"{where}: 'id' is empty")
            if item_id in seen:
                raise InputError(f"{where}: id {item_id[:60]!r} repeats line {seen[item_id]}")
            seen[item_id] = number
            title, text = _field(obj, "title", where), _field(obj, "text", where)
            declared = obj.get("lang")
            if declared is not None and not isinstance(declared, str):
                raise InputError(f"{where}: 'lang' must be a string such as 'en' or 'zh'")
            lang = normalize_language(declared) if declared else None
            if declared and lang is None:
                raise InputError(f"{where}: 'lang' {declared[:20]!r} is not a language code")
            lang = lang or detect_language(f"{title}\n{text}") or "und"
            date = _parse_date(obj.get("date"), where)
            records.append(_Record(item_id, title, text, lang, date))
    return records


def cluster_file(
    in_path: Path, out_path: Path, topics: Sequence[TopicConfig] = ()
) -> ClusterFileSummary:
    """Cluster a JSON-lines file as the pipeline does; write `{id, story, topics}` per line."""
    records = read_items(in_path)
    docs = [
        ClusterDoc(id=r.id, text=f"{r.title}. {r.text}", lang=r.lang, published=r.date)
        for r in records
    ]
    stories, _ = cluster_new_stories(docs, {})
    by_id = {r.id: r for r in records}
    labels = label_stories(
        {
            sid: [
                LabelDoc(
                    text=f"{by_id[i].title}. {by_id[i].text}",
                    lang=by_id[i].lang,
                    texts=(by_id[i].title, by_id[i].text),
                )
                for i in ids
            ]
            for sid, ids in stories.items()
        },
        topics,
    )
    story_of = {item: sid for sid, ids in stories.items() for item in ids}
    lines = [
        json.dumps(
            {"id": r.id, "story": story_of[r.id], "topics": labels[story_of[r.id]].topics},
            ensure_ascii=False,
        )
        for r in records
    ]
    _write_atomically(out_path, "".join(line + "\n" for line in lines))
    names = {t for lab in labels.values() for t in lab.topics}
    return ClusterFileSummary(items=len(records), stories=len(stories), topics=len(names))


def _write_atomically(path: Path, text: str) -> None:
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
