"""Where the workplace's shared data lives: ../shared beside the repository (as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [
    Path(os.environ["DIGEST_SHARED"]) if os.environ.get("DIGEST_SHARED") else None,
    Path(__file__).resolve().parents[2] / "shared",
    Path("/work/shared"),
]
SHARED = next((p for p in _CANDIDATES if p is not None and p.is_dir()), Path("/nonexistent"))
FEEDS_REAL = SHARED / "feeds-real"
LABELED = SHARED / "labeled"
