"""The static search index: pagefind, run over the story pages of a freshly filled site version.

Pagefind chooses its word segmenter from each page's `<html lang>`, and keeps one index per
language. Our pages are in the site language but quote originals in Chinese, so the index is
built as Chinese (`--force-language zh`): its segmenter splits Chinese text into words and still
indexes English words whole. The cost is English stemming ("arrests" does not find "arrested";
the search box matches word prefixes, so "arrest" finds both).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from digest.errors import StageError
from digest.site.publish import fsync_dir, link_if_same, write_file

__all__ = ["SEARCH_DIR", "SEARCH_LANGUAGE", "index_key", "pagefind_executable", "publish_index"]

log = logging.getLogger(__name__)

SEARCH_DIR = "pagefind"  # where the index lives in the site
SEARCH_LANGUAGE = "zh"  # see the module docstring
INDEXED_GLOB = "stories/*.html"  # story pages carry data-pagefind-body; nothing else is indexed
_TIMEOUT = 600  # seconds; a 20k-page site indexes in well under a minute here


def pagefind_executable() -> Path | None:
    """The pagefind binary: $DIGEST_PAGEFIND, else the one the pagefind[extended] wheel ships."""
    override = os.environ.get("DIGEST_PAGEFIND")
    if override:
        return Path(override) if Path(override).is_file() else None
    for module in ("pagefind_bin_extended", "pagefind_bin"):
        try:
            found = importlib.import_module(module).get_executable()
        except (ImportError, FileNotFoundError, AttributeError):
            continue
        return Path(found)
    return None


def index_key(executable: Path, pages: Iterable[tuple[str, str]]) -> str:
    """A key for the index inputs: the binary, the language and each indexed page's fingerprint."""
    h = hashlib.sha256()
    try:
        info = executable.stat()
        h.update(f"{executable}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    except OSError:
        h.update(str(executable).encode())
    h.update(f"{SEARCH_LANGUAGE}\0{INDEXED_GLOB}\0".encode())
    for rel, fingerprint in sorted(pages):
        h.update(f"{rel}\0{fingerprint}\0".encode())
    return h.hexdigest()


def publish_index(
    executable: Path, version: Path, previous: Path | None, *, reuse: bool
) -> tuple[int, int]:
    """Put the index into `version/pagefind`: linked from `previous` when `reuse`, else built.

    Built files whose bytes equal the previous version's are hard-linked too, so a small change
    rewrites only the index chunks it touches. Returns (files written, files linked).
    """
    target = version / SEARCH_DIR
    old = previous / SEARCH_DIR if previous is not None else None
    if reuse and old is not None and old.is_dir():
        return 0, _link_tree(old, target)
    tmp = version.parent / f".{version.name}.search"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _run_pagefind(executable, version, tmp)
        return _move_tree(tmp, target, old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_pagefind(executable: Path, site: Path, output: Path) -> None:
    cmd = [
        str(executable),
        "--site",
        str(site),
        "--glob",
        INDEXED_GLOB,
        "--output-path",
        str(output),
        "--force-language",
        SEARCH_LANGUAGE,
        "--silent",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StageError(
            f"the search index could not be built: {exc}",
            hint="reinstall pagefind (pip install 'pagefind[extended]')",
        ) from exc
    if done.returncode != 0 or not (output / "pagefind.js").is_file():
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StageError(
            f"pagefind failed (exit {done.returncode}): {detail[0]}",
            hint="run with --verbose; the site is not switched",
        )


def _link_tree(source: Path, target: Path) -> int:
    count = 0
    for root, _dirs, names in os.walk(source):
        dest_dir = os.path.join(target, os.path.relpath(root, source))
        os.makedirs(dest_dir, exist_ok=True)
        for name in names:
            old, new = os.path.join(root, name), os.path.join(dest_dir, name)
            try:
                os.link(old, new, follow_symlinks=False)
            except OSError:
                write_file(Path(new), Path(old).read_bytes())
            count += 1
    return count


def _move_tree(source: Path, target: Path, old: Path | None) -> tuple[int, int]:
    written = linked = 0
    for root, _dirs, names in os.walk(source):
        rel_dir = Path(root).relative_to(source)
        dest_dir = target / rel_dir
        dest_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            path = Path(root) / name
            content = path.read_bytes()
            if old is not None and link_if_same(old / rel_dir / name, dest_dir / name, content):
                linked += 1
                continue
            write_file(dest_dir / name, content)
            written += 1
        fsync_dir(dest_dir)
    return written, linked
