"""What fast incremental clustering keeps: window statistics, story sketches, change marks."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from digest.records.sketches import Sketch, SketchSet
from digest.store.base import StoreBase, to_db

# SQLite's default limit on host parameters is far above this; chunks keep statements small.
_CHUNK = 500

FeatureRow = tuple[str, bool, list[str], list[str]]


class SketchQueries(StoreBase):
    """Term statistics of the clustered window, per-story sketches and the run's state."""

    def _rows_in(
        self, sql: str, keys: Collection[str], before: tuple[object, ...] = ()
    ) -> Iterator[Any]:
        """Rows of `sql` for these keys, in chunks: each `{keys}` in it becomes one (?, ...)."""
        wanted = sorted(set(keys))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self.conn.execute(
                sql.format(keys=marks), (*before, *(chunk * sql.count("{keys}")))
            ).fetchall()

    # ------------------------------------------------------------ state

    def cluster_state(self) -> dict[str, str]:
        """What the statistics and sketches were made for (empty: none are valid)."""
        return {r[0]: r[1] for r in self.conn.execute("SELECT key, value FROM cluster_state")}

    def save_cluster_state(self, values: Mapping[str, str]) -> None:
        """Replace the recorded state."""
        with self.transaction() as db:
            db.execute("DELETE FROM cluster_state")
            db.executemany("INSERT INTO cluster_state (key, value) VALUES (?, ?)", values.items())

    def reset_cluster_index(self) -> None:
        """Forget every statistic and sketch (a rebuild or a recount writes them afresh)."""
        with self.transaction() as db:
            db.execute("DELETE FROM cluster_state")
            db.execute("DELETE FROM term_stats")
            db.execute("DELETE FROM story_sketches")

    # ------------------------------------------------------------ term statistics

    def add_term_counts(self, kind: int, delta: Mapping[str, int]) -> None:
        """Add (or subtract) counts of terms of one kind; rows are kept at zero (ids stay)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO term_stats (kind, term, n) VALUES (?, ?, ?)"
                " ON CONFLICT (kind, term) DO UPDATE SET n = n + excluded.n",
                [(kind, term, n) for term, n in delta.items() if n],
            )

    def term_stats(
        self, kind: int, terms: Collection[str] | None = None
    ) -> dict[str, tuple[int, int]]:
        """term -> (id, count) for these terms of one kind (all of them when None)."""
        if terms is None:
            rows: Iterable[tuple[str, int, int]] = self.conn.execute(
                "SELECT term, id, n FROM term_stats WHERE kind = ?", (kind,)
            ).fetchall()
            return {t: (i, n) for t, i, n in rows}
        sql = "SELECT term, id, n FROM term_stats WHERE kind = ? AND term IN ({keys})"
        return {t: (i, n) for t, i, n in self._rows_in(sql, terms, (kind,))}

    # ------------------------------------------------------------ sketches

    def sketches_near(self, lo: float, hi: float, since: float) -> SketchSet:
        """Sketches of the stories that may lie within [lo, hi]: their newest member does,
        and their oldest does too or was published before `since` (out of the window)."""
        return _sketch_set(
            self.conn.execute(
                f"SELECT {_SKETCH_COLUMNS} FROM story_sketches WHERE t_max BETWEEN ? AND ?"
                " AND (t_min >= ? OR t_min < ?) ORDER BY story_id",
                (lo, hi, lo, since),
            ).fetchall()
        )

    def sketches_of(self, story_ids: Collection[str]) -> SketchSet:
        """Sketches of these stories (those that have one)."""
        sql = f"SELECT {_SKETCH_COLUMNS} FROM story_sketches WHERE story_id IN ({{keys}})"
        return _sketch_set(sorted(self._rows_in(sql, story_ids), key=lambda r: r[0]))

    def stale_sketches(self) -> list[str]:
        """Stories whose members' feeds changed since they were sketched."""
        sql = "SELECT story_id FROM story_sketches INDEXED BY story_sketches_stale WHERE stale = 1"
        return [r[0] for r in self.conn.execute(sql)]

    def save_sketches(self, sketches: Sequence[Sketch], *, drop: Collection[str] = ()) -> None:
        """Write (or replace) these sketches and delete those of the `drop` stories."""
        with self.transaction() as db:
            db.executemany("DELETE FROM story_sketches WHERE story_id = ?", [(s,) for s in drop])
            db.executemany(
                "INSERT OR REPLACE INTO story_sketches (story_id, t_min, t_max, outlets, stale,"
                " members, feeds, seconds, continuous, lengths, terms, weights, langs, names,"
                " vectors, has_vector, centroid, kth)"
                " VALUES (?,?,?,?,0,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [_row(s) for s in sketches if s.members],
            )

    def window_centroids(self, since: float) -> tuple[list[str], np.ndarray]:
        """(story ids, their centroid vectors as rows) of the window's stories that have one."""
        rows = self.conn.execute(
            "SELECT story_id, centroid FROM story_sketches WHERE t_max >= ? AND centroid != x''"
            " ORDER BY story_id",
            (since,),
        ).fetchall()
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16)
        return [r[0] for r in rows], matrix.reshape(len(rows), -1).astype(np.float32)

    def drop_sketches_before(self, seconds: float) -> None:
        """Delete the sketches of stories wholly published before a time (out of the window)."""
        with self.transaction() as db:
            db.execute("DELETE FROM story_sketches WHERE t_max < ?", (seconds,))

    def sketch_summary(self, since: float) -> tuple[int, int]:
        """(stories, stories with several outlets) among those with a member since then."""
        count, multi = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(outlets > 1), 0) FROM story_sketches WHERE t_max >= ?",
            (since,),
        ).fetchone()
        return int(count), int(multi)

    def window_topics(self, since: float) -> set[str]:
        """Every topic of the stories with a member published since then."""
        # Few distinct topic lists: each is probed for one story of the window.
        return {
            name
            for (raw,) in self.conn.execute(
                "SELECT t.topics FROM (SELECT DISTINCT topics FROM stories INDEXED BY"
                " stories_topics WHERE topics <> '[]') t WHERE EXISTS (SELECT 1 FROM stories s"
                " JOIN story_sketches k ON k.story_id = s.id"
                " WHERE s.topics = t.topics AND k.t_max >= ?)",
                (since,),
            )
            for name in json.loads(raw)
        }

    # ------------------------------------------------------------ changes and features

    def dirty_features(self) -> list[str]:
        """Items whose text changed since their tokens were stored."""
        return [
            r[0] for r in self.conn.execute("SELECT item_id FROM item_features WHERE dirty = 1")
        ]

    def features_of(self, item_ids: Collection[str]) -> dict[str, FeatureRow]:
        """Stored tokens of these items: (source hash, continuous, tokens, key-term tokens)."""
        sql = (
            "SELECT item_id, source_hash, continuous, tokens, terms FROM item_features"
            " WHERE item_id IN ({keys})"
        )
        return {
            r[0]: (r[1], bool(r[2]), _split(r[3]), _split(r[4]))
            for r in self._rows_in(sql, item_ids)
        }

    def features_published_between(self, start: datetime, end: datetime) -> dict[str, FeatureRow]:
        """Stored tokens of the items published in [start, end) (leaving the window)."""
        return {
            r[0]: (r[1], bool(r[2]), _split(r[3]), _split(r[4]))
            for r in self.conn.execute(
                "SELECT f.item_id, f.source_hash, f.continuous, f.tokens, f.terms"
                " FROM item_features f JOIN items i ON i.id = f.item_id"
                " WHERE i.published >= ? AND i.published < ?",
                (to_db(start), to_db(end)),
            )
        }

    def story_ids_in_use(self, candidates: Collection[str]) -> set[str]:
        """Those of these story ids that a story, a redirect or an item already uses."""
        sql = (
            "SELECT id FROM stories WHERE id IN ({keys})"
            " UNION SELECT old_id FROM story_redirects WHERE old_id IN ({keys})"
            " UNION SELECT story_id FROM items WHERE story_id IN ({keys})"
        )
        return {r[0] for r in self._rows_in(sql, candidates)}

    def story_members(self, story_ids: Collection[str]) -> dict[str, list[str]]:
        """story id -> its item ids, for these stories."""
        out: dict[str, list[str]] = {}
        sql = "SELECT id, story_id FROM items WHERE story_id IN ({keys})"
        for iid, sid in self._rows_in(sql, story_ids):
            out.setdefault(sid, []).append(iid)
        return out

    def has_clustered(self, since: datetime) -> bool:
        """True when some item published since then is already in a story."""
        row = self.conn.execute(
            "SELECT 1 FROM items WHERE published >= ? AND story_id IS NOT NULL LIMIT 1",
            (to_db(since),),
        ).fetchone()
        return row is not None

    def count_since(self, since: datetime) -> int:
        """How many items were published since then."""
        sql = "SELECT COUNT(*) FROM items WHERE published >= ?"
        return int(self.conn.execute(sql, (to_db(since),)).fetchone()[0])

    def forget_features(self, item_ids: Collection[str]) -> None:
        """Drop the stored tokens of these items (no longer counted in the window)."""
        with self.transaction() as db:
            db.executemany("DELETE FROM item_features WHERE item_id = ?", [(i,) for i in item_ids])

    def forget_features_before(self, since: datetime) -> None:
        """Drop the stored tokens of every item published before a time (out of the window)."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM item_features WHERE item_id IN"
                " (SELECT id FROM items WHERE published < ?)",
                (to_db(since),),
            )

    def unlabelled_stories(self, since: float) -> list[str]:
        """Stories of the window whose labelling inputs changed (their label_hash cleared)."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT s.id FROM stories s INDEXED BY stories_unlabelled"
                " JOIN story_sketches k ON k.story_id = s.id"
                " WHERE s.label_hash IS NULL AND k.t_max >= ?",
                (since,),
            )
        ]

    def unfiled_stories(self, since: float) -> int:
        """How many stories of the window have no topic."""
        sql = (
            "SELECT COUNT(*) FROM stories s INDEXED BY stories_unfiled"
            " JOIN story_sketches k ON k.story_id = s.id"
            " WHERE s.topics = '[]' AND k.t_max >= ?"
        )
        return int(self.conn.execute(sql, (since,)).fetchone()[0])

    def story_topics(self, story_ids: Collection[str]) -> dict[str, list[str]]:
        """story id -> its stored topics, for these stories."""
        sql = "SELECT id, topics FROM stories WHERE id IN ({keys})"
        return {sid: json.loads(raw) for sid, raw in self._rows_in(sql, story_ids)}


_SKETCH_COLUMNS = (
    "story_id, members, feeds, seconds, continuous, lengths, terms, weights, langs, names,"
    " vectors, has_vector, kth"
)


def _sketch_set(rows: Sequence[Sequence[Any]]) -> SketchSet:
    """Sketch rows decoded at once: each column's blobs joined, then read as one array."""

    def array(k: int, dtype: type) -> np.ndarray:
        return np.frombuffer(b"".join(r[k] for r in rows), dtype=dtype)

    def lines(k: int) -> list[str]:
        return "\n".join(r[k] for r in rows).split("\n") if rows else []

    counts = np.array([len(r[3]) // 8 for r in rows], dtype=np.int64)
    members = int(counts.sum())
    raw = array(10, np.float16)
    # Every sketch of a window holds vectors of one width (or none): one embedder at a time.
    width = raw.size // members if members and raw.size % members == 0 else 0
    vectors = raw.reshape(members, width).astype(np.float32) if width else np.zeros((members, 0))
    has_vector = array(11, np.uint8).astype(bool)
    if has_vector.size != members or not width:
        has_vector = np.zeros(members, dtype=bool)
    kth = array(12, np.float64)
    if kth.size != members:
        kth = np.zeros(members, dtype=np.float64)
    return SketchSet(
        story_ids=[r[0] for r in rows],
        counts=counts,
        members=lines(1),
        feeds=lines(2),
        seconds=array(3, np.float64),
        continuous=array(4, np.uint8).astype(bool),
        lengths=array(5, np.int64),
        terms=array(6, np.int64),
        weights=array(7, np.float64),
        langs=lines(8),
        names=[tuple(line.split("\t")) if line else () for line in lines(9)],
        vectors=vectors.astype(np.float32, copy=False),
        has_vector=has_vector,
        kth=kth,
    )


def _row(s: Sketch) -> tuple[object, ...]:
    return (
        s.story_id,
        float(s.seconds.min()),
        float(s.seconds.max()),
        s.outlets,
        "\n".join(s.members),
        "\n".join("\t".join(fs) for fs in s.feeds),
        np.ascontiguousarray(s.seconds, dtype=np.float64).tobytes(),
        np.ascontiguousarray(s.continuous, dtype=np.uint8).tobytes(),
        np.ascontiguousarray(s.lengths, dtype=np.int64).tobytes(),
        np.ascontiguousarray(s.terms, dtype=np.int64).tobytes(),
        np.ascontiguousarray(s.weights, dtype=np.float64).tobytes(),
        "\n".join(s.langs),
        "\n".join("\t".join(n) for n in s.names),
        np.ascontiguousarray(s.vectors, dtype=np.float16).tobytes() if s.vectors.size else b"",
        np.ascontiguousarray(s.has_vector, dtype=np.uint8).tobytes() if s.vectors.size else b"",
        _centroid_blob(s),
        np.ascontiguousarray(s.kth, dtype=np.float64).tobytes(),
    )


def _centroid_blob(s: Sketch) -> bytes:
    centroid = s.centroid()
    return b"" if centroid is None else np.asarray(centroid, dtype=np.float16).tobytes()


def _split(joined: str) -> list[str]:
    # Tokens are \w runs or CJK n-grams: none contains a space.
    return joined.split(" ") if joined else []
