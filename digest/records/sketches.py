"""Story sketches as stored: each member report's time, feeds, language, words, vector, names.

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
    lang: str = ""  # the report's own language (base code)
    names: tuple[str, ...] = ()  # rare names of its headline
    vector: np.ndarray | None = None  # centred, L2-normalised embedding; None: no vector
    kth: float = 0.0  # its k-th nearest neighbour cosine when sketched (pairs.py's margin)


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
    langs: list[str]  # per member
    names: list[tuple[str, ...]]  # per member
    vectors: np.ndarray  # float32, one row per member (zeros where it has none)
    has_vector: np.ndarray  # bool per member
    kth: np.ndarray  # float64 per member

    @property
    def outlets(self) -> int:
        """Distinct feeds among the members."""
        return len({f for fs in self.feeds for f in fs})

    def centroid(self) -> np.ndarray | None:
        """The normalised mean of the members' vectors, None when none has one."""
        if not self.vectors.size or not self.has_vector.any():
            return None
        mean = self.vectors[self.has_vector].sum(axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-9)

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
                lang=self.langs[k],
                names=self.names[k],
                vector=self.vectors[k] if self.has_vector[k] else None,
                kth=float(self.kth[k]),
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
    langs: list[str]
    names: list[tuple[str, ...]]
    vectors: np.ndarray  # (members, dim) float32
    has_vector: np.ndarray
    kth: np.ndarray

    @classmethod
    def of(cls, sketches: Sequence[Sketch], dim: int = 0) -> SketchSet:
        """The set of these sketches (`dim`: the vectors' width when there are none)."""

        def cat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)

        width = max([dim, *(s.vectors.shape[1] for s in sketches if s.vectors.ndim == 2)])
        vectors = [
            s.vectors if s.vectors.shape[1:] == (width,) else np.zeros((len(s.members), width))
            for s in sketches
        ]
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
            langs=[lang for s in sketches for lang in s.langs],
            names=[n for s in sketches for n in s.names],
            vectors=(
                np.concatenate(vectors).astype(np.float32, copy=False)
                if vectors
                else np.zeros((0, width), np.float32)
            ),
            has_vector=cat([s.has_vector for s in sketches], bool),
            kth=cat([s.kth for s in sketches], np.float64),
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
                langs=self.langs[m0:m1],
                names=self.names[m0:m1],
                vectors=self.vectors[m0:m1],
                has_vector=self.has_vector[m0:m1],
                kth=self.kth[m0:m1],
            )
        return out
