"""`digest topics`: the editor's say over discovered topics (list, name, hide, merge).

What the editor decides is kept in the store against the topic's id, which survives
reclustering (a discovered topic keeps its id while most of its stories stay together), and is
applied wherever topics are published: site pages, feeds, newsletter and export.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from digest.errors import InputError
from digest.records import Config, TopicRecord
from digest.store import Store, utc_now
from digest.stories.topicids import resolve_topics
from digest.text import has_control
from digest.workspace import Workspace, run_lock

__all__ = ["TopicRow", "hide_topic", "list_topics", "merge_topics", "name_topic"]

SAMPLE_HEADLINES = 3


@dataclass
class TopicRow:
    """One topic as `digest topics list` shows it."""

    id: str  # the taxonomy name, or the discovered topic's id
    kind: str  # taxonomy | discovered
    name: str  # as published
    stories: int = 0  # stories of the window filed under it (before merges)
    headlines: list[str] = field(default_factory=list)
    note: str = ""  # hidden, merged into ..., renamed from ...

    def lines(self) -> list[str]:
        """The topic's lines for the terminal."""
        head = f"{self.id}  [{self.kind}]  {self.name}  ({self.stories} stories)"
        if self.note:
            head += f"  {self.note}"
        return [head, *(f"    - {h}" for h in self.headlines)]


def list_topics(config: Config, ws: Workspace) -> list[TopicRow]:
    """Taxonomy topics, then discovered ones by size, with sample headlines of the window."""
    with ws.open_store() as store:
        records = store.topic_records()
        members = _window_members(config, store)
    rows = [
        TopicRow(id=t.name, kind="taxonomy", name=t.name, stories=len(members.get(t.name, [])))
        for t in config.topics
    ]
    discovered = [r for r in records.values() if r.id in members]
    discovered.sort(key=lambda r: (-len(members[r.id]), r.id))
    taxonomy = {t.name for t in config.topics}
    for record in discovered:
        shown = resolve_topics([record.id], records, taxonomy)
        rows.append(
            TopicRow(
                id=record.id,
                kind="discovered",
                name=record.display_name,
                stories=len(members[record.id]),
                note=_note(record, shown[0][0] if shown else None),
            )
        )
    for row in rows:
        row.headlines = [h for _, h in sorted(members.get(row.id, []), reverse=True)][
            :SAMPLE_HEADLINES
        ]
    return rows


def _note(record: TopicRecord, shown: str | None) -> str:
    if record.hidden:
        return "(hidden)"
    if record.merged_into:
        return f"(merged into {shown or record.merged_into})"
    if record.name:
        return f"(named by the editor; found as {record.auto_name!r})"
    return ""


def _window_members(config: Config, store: Store) -> dict[str, list[tuple[str, str]]]:
    """Stored topic -> (latest report time, headline) of each window story filed under it."""
    since = config.window_start(utc_now())
    latest: dict[str, str] = {}
    for item in store.items(since=since, site_lang=config.site.language, include_hidden=False):
        if item.story:
            stamp = item.published.isoformat()
            latest[item.story] = max(latest.get(item.story, ""), stamp)
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for sid, (headline, topics) in store.story_labels().items():
        if sid in latest:
            for topic in topics:
                out[topic].append((latest[sid], headline))
    return out


def _discovered(store: Store, config: Config, topic_id: str) -> TopicRecord:
    records = store.topic_records()
    if topic_id in records:
        return records[topic_id]
    if any(t.name == topic_id or t.slug == topic_id for t in config.topics):
        raise InputError(
            f"{topic_id!r} is a taxonomy topic: rename, drop or merge it in {config.path.name}",
            "the editor's commands apply to discovered topics (ids like auto-3f9a1c)",
        )
    raise InputError(
        f"no discovered topic has the id {topic_id!r}",
        "`digest topics list` shows the ids (discovered ones start with auto-)",
    )


def name_topic(config: Config, ws: Workspace, topic_id: str, name: str) -> str:
    """Give a discovered topic the editor's name ("" goes back to the automatic one)."""
    name = " ".join(name.split())
    if has_control(name) or len(name) > 120:
        raise InputError("a topic name must be one line of at most 120 characters")
    with run_lock(ws), ws.open_store() as store:
        record = _discovered(store, config, topic_id)
        taken = {t.name for t in config.topics} | {
            r.display_name for r in store.topic_records().values() if r.id != record.id
        }
        if name in taken:
            raise InputError(
                f"another topic is already called {name!r}",
                f"to put the two together: digest topics merge {topic_id} OTHER",
            )
        store.edit_topic(record.id, utc_now(), name=name)
    shown = name or record.auto_name
    return f"{record.id}: now shown as {shown!r}; the site changes on the next build"


def hide_topic(config: Config, ws: Workspace, topic_id: str, *, hidden: bool = True) -> str:
    """Hide a discovered topic (its stories stay, without it), or show it again."""
    with run_lock(ws), ws.open_store() as store:
        record = _discovered(store, config, topic_id)
        store.edit_topic(record.id, utc_now(), hidden=hidden)
    what = "hidden" if hidden else "shown again"
    return f"{record.id} ({record.display_name}): {what}; the site changes on the next build"


def merge_topics(config: Config, ws: Workspace, source: str, target: str) -> str:
    """Show the stories of discovered topic `source` under `target` (a taxonomy topic's name
    or another discovered topic's id) from now on, across reclustering."""
    with run_lock(ws), ws.open_store() as store:
        record = _discovered(store, config, source)
        records = store.topic_records()
        taxonomy = {t.name: t.name for t in config.topics} | {t.slug: t.name for t in config.topics}
        if target in taxonomy:
            into, shown = taxonomy[target], taxonomy[target]
        elif target in records:
            into, shown = target, records[target].display_name
        else:
            raise InputError(
                f"no topic has the id {target!r}",
                "merge into a taxonomy topic (its name) or a discovered one (auto-...)",
            )
        if into == record.id or _reaches(records, into, record.id):
            raise InputError(f"merging {source} into {target} would make a loop")
        store.edit_topic(record.id, utc_now(), merged_into=into)
    done = f"{record.id} ({record.display_name}): merged into {shown!r}"
    return done + "; the site changes on the next build"


def _reaches(records: dict[str, TopicRecord], start: str, goal: str) -> bool:
    seen = set()
    topic: str | None = start
    while topic is not None and topic not in seen:
        if topic == goal:
            return True
        seen.add(topic)
        record = records.get(topic)
        topic = record.merged_into if record is not None else None
    return False
