"""Embeddings: a cache of vectors by model and text, so no text is embedded twice."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

import numpy as np

from digest.store.base import StoreBase, to_db

__all__ = ["EmbeddingQueries"]

_CHUNK = 500


class EmbeddingQueries(StoreBase):
    """Vectors by (model, text hash): read in bulk, written per batch."""

    def cached_vectors(self, model: str, hashes: Collection[str]) -> dict[str, np.ndarray]:
        """text hash -> float32 vector, for the hashes this model has embedded."""
        wanted = sorted(set(hashes))
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = self.conn.execute(
                "SELECT text_hash, vector FROM embeddings WHERE model = ? AND text_hash IN "
                f"({','.join('?' * len(chunk))})",
                (model, *chunk),
            )
            for text_hash, blob in rows:
                out[text_hash] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        return out

    def save_vectors(self, model: str, vectors: Mapping[str, np.ndarray], now: datetime) -> None:
        """Cache these vectors (text hash -> vector) under the model's name."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (model, text_hash, vector, created_at)"
                " VALUES (?, ?, ?, ?)",
                [
                    (model, h, np.asarray(v, dtype=np.float16).tobytes(), to_db(now))
                    for h, v in vectors.items()
                ],
            )

    def embedding_count(self, model: str | None = None) -> int:
        """How many vectors are cached (for one model, or all)."""
        if model is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
        sql = "SELECT COUNT(*) FROM embeddings WHERE model = ?"
        return int(self.conn.execute(sql, (model,)).fetchone()[0])

    def forget_vectors_before(self, before: datetime) -> int:
        """Drop vectors cached before this time (retention); returns how many."""
        with self.transaction() as db:
            cur = db.execute("DELETE FROM embeddings WHERE created_at < ?", (to_db(before),))
            return int(cur.rowcount)

    def embedded_models(self) -> Iterable[str]:
        """Models with cached vectors."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT model FROM embeddings")]
