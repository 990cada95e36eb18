"""Discovered topics' ids across reclustering, and topic names after the editor's say (pure).

A discovery run finds groups of stories; each group takes the id of the earlier topic most of
whose stories it holds (so its page, its feed and what the editor said of it stay), or a new
id. The editor may name, hide or merge a discovered topic (`digest topics`): what is published
resolves each story's stored topics through those choices.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

from digest.records import TopicRecord

__all__ = ["DISCOVERED_PREFIX", "is_discovered_id", "new_topic_id", "resolve_topics", "settle"]

DISCOVERED_PREFIX = "auto-"
_MAX_HOPS = 20  # merge chains longer than this are cut (a loop the editor made)


def is_discovered_id(value: str) -> bool:
    """Does this stored topic look like a discovered topic's id?"""
    rest = value[len(DISCOVERED_PREFIX) :]
    return value.startswith(DISCOVERED_PREFIX) and len(rest) == 6 and rest.isalnum()


def new_topic_id(stories: Collection[str], taken: Collection[str]) -> str:
    """A fresh id for a group of stories: from their ids, never one in `taken`."""
    seed = "\0".join(sorted(stories))
    n = 0
    while True:
        digest = hashlib.sha1(f"{seed}\0{n}".encode()).hexdigest()[:6]
        candidate = DISCOVERED_PREFIX + digest
        if candidate not in taken:
            return candidate
        n += 1


def settle(
    groups: Mapping[str, Collection[str]],
    previous: Mapping[str, str],
    taken: Collection[str],
) -> dict[str, str]:
    """Group key -> topic id: an earlier topic's id when the group holds most (more than
    half) of that topic's stories still here, else a new id.

    `groups`: key (the automatic name) -> story ids; `previous`: story id -> the discovered
    topic id it had; `taken`: every id given before (never given again to another topic).
    """
    here = {s for members in groups.values() for s in members} | set(previous)
    before: dict[str, set[str]] = defaultdict(set)
    for story, topic in previous.items():
        if story in here:
            before[topic].add(story)
    candidates = []
    for key, members in groups.items():
        counts: dict[str, int] = defaultdict(int)
        for story in members:
            if story in previous:
                counts[previous[story]] += 1
        for topic, n in counts.items():
            if 2 * n > len(before[topic]):
                candidates.append((-n, key, topic))
    out: dict[str, str] = {}
    used: set[str] = set()
    for _, key, topic in sorted(candidates):
        if key not in out and topic not in used:
            out[key] = topic
            used.add(topic)
    given = set(taken) | used
    for key in sorted(groups):
        if key not in out:
            out[key] = new_topic_id(groups[key], given)
            given.add(out[key])
    return out


def resolve_topics(
    stored: Sequence[str], records: Mapping[str, TopicRecord], taxonomy: Collection[str]
) -> list[tuple[str, str]]:
    """(name, key) of the topics a story is shown under: merges followed, hidden topics left
    out, each discovered id named (the editor's name, else the automatic one); key is the
    taxonomy name or the discovered id reached. Order kept, no repeats."""
    out: list[tuple[str, str]] = []
    for topic in stored:
        found = _resolve(topic, records, taxonomy)
        if found is not None and found not in out:
            out.append(found)
    return out


def _resolve(
    topic: str, records: Mapping[str, TopicRecord], taxonomy: Collection[str]
) -> tuple[str, str] | None:
    for _ in range(_MAX_HOPS):
        if topic in taxonomy:
            return topic, topic
        record = records.get(topic)
        if record is None:
            return topic, topic  # a name from before ids were kept: shown as it is
        if record.hidden:
            return None
        if not record.merged_into:
            return record.display_name, record.id
        topic = record.merged_into
    return None
