"""Story ids: stable across runs, never reused for another story (pure, no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

__all__ = ["assign_story_ids", "fresh_story_id", "story_id_for"]


def story_id_for(item_id: str) -> str:
    """The story id derived from an item id: short, URL-safe and stable."""
    return "s-" + hashlib.sha1(item_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def assign_story_ids(
    groups: Sequence[Sequence[str]], previous: Mapping[str, str]
) -> dict[str, list[str]]:
    """Give each group a stable story id, kept from the last run where possible.

    A group keeps the id most of its items already had (ties: the oldest/lowest), else gets
    a new id derived from its first item id; an id is used by at most one group.
    `previous` maps item id -> story id from the last run. When two groups claim one old id
    (a story split), the group holding more of its items keeps it; on a tie the id goes to
    the item listed first (cluster_stories lists the oldest first), then the lowest id. New
    ids never reuse any id of `previous`, so an old link never points at another story.
    """
    candidates: list[tuple[int, int, int, str]] = []
    for g, group in enumerate(groups):
        counts: dict[str, int] = {}
        first_pos: dict[str, int] = {}
        for pos, item in enumerate(group):
            old = previous.get(item)
            if old is None:
                continue
            counts[old] = counts.get(old, 0) + 1
            first_pos.setdefault(old, pos)
        for old, count in counts.items():
            candidates.append((-count, first_pos[old], g, old))
    candidates.sort(key=lambda c: (c[0], c[1], c[3], c[2]))

    chosen: dict[int, str] = {}
    used: set[str] = set()
    for _, _, g, old in candidates:
        if g not in chosen and old not in used:
            chosen[g] = old
            used.add(old)

    reserved = set(previous.values())
    result: dict[str, list[str]] = {}
    for g, group in enumerate(groups):
        if not group:
            continue
        story = chosen.get(g)
        if story is None:
            story = fresh_story_id(group, used | reserved)
            used.add(story)
        result[story] = list(group)
    return result


def fresh_story_id(group: Sequence[str], taken: set[str]) -> str:
    """A new id from the group's first item id that no story has had (`taken`)."""
    for item in group:
        story = story_id_for(item)
        if story not in taken:
            return story
    n = 2
    while True:
        story = story_id_for(f"{group[0]}#{n}")
        if story not in taken:
            return story
        n += 1
