"""What some tests need from outside the repository, and what happens when it is missing.

A test that needs chromium, Playwright, pagefind or the shared data folder (../shared) skips
with the reason when it is missing, except under CI=true, where the same absence fails the
test: a CI run must not pass by quietly testing less.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest
from shared_data import FEEDS_REAL


def on_ci() -> bool:
    """True when CI is set to something other than empty, 0, false or no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str, *, module: bool = False) -> NoReturn:
    """Skip (the test, or the whole module) for a missing need; fail instead under CI=true."""
    if on_ci():
        pytest.fail(f"CI is set, so this cannot be skipped: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


def real_feed(name: str) -> Path:
    """One snapshot of ../shared/feeds-real (missing() when it is absent)."""
    path = FEEDS_REAL / name
    if not path.is_file():
        missing(f"{path} is absent (the shared data folder, see tests/README.md)")
    return path


def real_feeds(limit: int | None = None) -> list[Path]:
    """The snapshots of ../shared/feeds-real, sorted (missing() when none is there)."""
    files = sorted(FEEDS_REAL.glob("*.xml")) if FEEDS_REAL.is_dir() else []
    if not files:
        missing(f"{FEEDS_REAL} is absent or empty (the shared data folder, see tests/README.md)")
    return files[:limit]


#: The snapshot names to parametrize over; one placeholder when there are none, so that the
#: test runs (and skips, or fails under CI) instead of vanishing from the run.
ABSENT = "(feeds-real absent)"
REAL_FEED_NAMES = sorted(p.name for p in FEEDS_REAL.glob("*.xml")) if FEEDS_REAL.is_dir() else []
REAL_FEED_NAMES = REAL_FEED_NAMES or [ABSENT]
