"""Story sketches as stored: each member report's time, feeds, script and TF-IDF vector.

An incremental cluster run scores new reports against these (stories/sketch.py) instead of
reading every item of the window; the store keeps one per story (store/sketches.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Sketch", "SketchMember", "SketchSet"]


@dataclass(frozen=True)
class SketchMember:
    """One report of a story as its sketch keeps it."""

    item_id: str
    seconds: float  # publication time, Unix seconds
    continuous: bool  # unspaced script: compared only with unspaced reports
    feeds: tuple[str, ...]
    terms: np.ndarray  # int64 term ids
    weights: np.ndarray  # float64: sublinear tf / the norm of its tf·idf vector


@dataclass
class Sketch:
    """Every member of one story, columnar (as stored in story_sketches)."""

    story_id: str
    members: list[str]
    feeds: list[tuple[str, ...]]
    seconds: np.ndarray  # float64 per member
    continuous: np.ndarray  # bool per member
    lengths: np.ndarray  # int64 per member: how many of `terms` are its
    terms: np.ndarray  # int64
    weights: np.ndarray  # float64

    @property
    def outlets(self) -> int:
        """Distinct feeds among the members."""
        return len({f for fs in self.feeds for f in fs})

    def parts(self) -> list[SketchMember]:
        """The members one by one."""
        ends = np.cumsum(self.lengths).tolist()
        starts = [0, *ends[:-1]]
        return [
            SketchMember(
                item_id=self.members[k],
                seconds=float(self.seconds[k]),
                continuous=bool(self.continuous[k]),
                feeds=self.feeds[k],
                terms=self.terms[starts[k] : ends[k]],
                weights=self.weights[starts[k] : ends[k]],
            )
            for k in range(len(self.members))
        ]


@dataclass
class SketchSet:
    """Many sketches, flattened: per story, per member and per term arrays."""

    story_ids: list[str]
    counts: np.ndarray  # int64 members per story
    members: list[str]
    feeds: list[str]  # per member: its feed ids, tab-separated
    seconds: np.ndarray
    continuous: np.ndarray
    lengths: np.ndarray
    terms: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, sketches: Sequence[Sketch]) -> SketchSet:
        """The set of these sketches."""

        def cat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)

        return cls(
            story_ids=[s.story_id for s in sketches],
            counts=np.array([len(s.members) for s in sketches], dtype=np.int64),
            members=[m for s in sketches for m in s.members],
            feeds=["\t".join(f) for s in sketches for f in s.feeds],
            seconds=cat([s.seconds for s in sketches], np.float64),
            continuous=cat([s.continuous for s in sketches], bool),
            lengths=cat([s.lengths for s in sketches], np.int64),
            terms=cat([s.terms for s in sketches], np.int64),
            weights=cat([s.weights for s in sketches], np.float64),
        )

    def split(self, story_ids: Collection[str]) -> dict[str, Sketch]:
        """These stories' sketches back out of the set."""
        member_end = np.cumsum(self.counts)
        term_end = np.concatenate(([0], np.cumsum(self.lengths)))
        out: dict[str, Sketch] = {}
        wanted = set(story_ids)
        for k, sid in enumerate(self.story_ids):
            if sid not in wanted:
                continue
            m1 = int(member_end[k])
            m0 = m1 - int(self.counts[k])
            t0, t1 = int(term_end[m0]), int(term_end[m1])
            out[sid] = Sketch(
                story_id=sid,
                members=self.members[m0:m1],
                feeds=[tuple(f.split("\t")) if f else () for f in self.feeds[m0:m1]],
                seconds=self.seconds[m0:m1],
                continuous=self.continuous[m0:m1],
                lengths=self.lengths[m0:m1],
                terms=self.terms[t0:t1],
                weights=self.weights[t0:t1],
            )
        return out
