"""Golden files: output compared with files checked in under tests/, or rewritten from it.

Tests get a Golden from the `golden` fixture (conftest.py); it rewrites instead of comparing
when the environment has DIGEST_REGENERATE=1.
"""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "golden"
REGENERATE_VAR = "DIGEST_REGENERATE"
DIFF_FILES = 3  # differing files shown on a failure
DIFF_LINES = 80  # lines of diff shown per file


class Golden:
    """Compares text with the files checked in under tests/, or rewrites them."""

    def __init__(self, regenerate: bool) -> None:
        self.regenerate = regenerate

    def check_text(self, path: Path, actual: str) -> None:
        """`actual` must equal the file at `path` (written when regenerating or missing)."""
        if self.regenerate or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            if not self.regenerate:
                pytest.fail(f"{_shown(path)} was missing and has been written: review it")
            return
        expected = path.read_text(encoding="utf-8")
        if actual != expected:
            pytest.fail(
                f"{_shown(path)} differs ({REGENERATE_VAR}=1 rewrites it):\n"
                + _diff(_shown(path), expected, actual),
                pytrace=False,
            )

    def check_tree(self, folder: Path, actual: Mapping[str, str]) -> None:
        """Every file of `folder` must equal `actual` (relative path -> text), none more or
        fewer; on a difference, the lists of extra and missing files and the diffs of the
        first few differing ones. Regenerating replaces the folder."""
        if self.regenerate:
            shutil.rmtree(folder, ignore_errors=True)
            for rel, text in actual.items():
                target = folder / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            return
        if not folder.is_dir():
            pytest.fail(f"{_shown(folder)} is missing: run with {REGENERATE_VAR}=1 and review it")
        expected = {
            p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()
        }
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        differing = [
            rel
            for rel in sorted(set(expected) & set(actual))
            if expected[rel].read_text(encoding="utf-8") != actual[rel]
        ]
        if not (missing or extra or differing):
            return
        report = [f"{_shown(folder)} differs ({REGENERATE_VAR}=1 rewrites it):"]
        if missing:
            report.append("not produced any more: " + ", ".join(missing))
        if extra:
            report.append("new: " + ", ".join(extra))
        if differing:
            report.append(f"{len(differing)} changed: " + ", ".join(differing))
        for rel in differing[:DIFF_FILES]:
            report.append(_diff(rel, expected[rel].read_text(encoding="utf-8"), actual[rel]))
        pytest.fail("\n".join(report), pytrace=False)


def _shown(path: Path) -> str:
    return str(path.relative_to(TESTS.parent)) if path.is_relative_to(TESTS.parent) else str(path)


def _diff(name: str, expected: str, actual: str) -> str:
    lines = list(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            f"{name} (expected)",
            f"{name} (actual)",
        )
    )
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"... {len(lines) - DIFF_LINES} more diff lines\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
