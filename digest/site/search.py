"""The static search index: pagefind, run over one small page per story (searchtext.py).

Each story is indexed from a page of its own holding only its headline and the titles and
summaries of its visible reports, so a result's snippet never shows page chrome. The index is
built as English (`--force-language en`: English words are stemmed, "arrests" finds
"arrested"), with Chinese already cut into words by jieba and the Chinese vocabulary written
beside the index (zh-words.json), which the search page uses to cut a Chinese query the same
way. Pagefind's own Chinese mode (`--force-language zh`) cut at the index and again, differently,
in the browser, matched single characters (微软 found 微博) and left English unstemmed.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from digest.errors import StageError
from digest.site.publish import fsync_dir, link_if_same, write_file
from digest.site.searchtext import SEARCH_FORMAT, SearchDoc, chinese_vocabulary, search_page

__all__ = [
    "SEARCH_DIR",
    "SEARCH_LANGUAGE",
    "VOCABULARY",
    "index_key",
    "pagefind_executable",
    "publish_index",
]

log = logging.getLogger(__name__)

SEARCH_DIR = "pagefind"  # where the index lives in the site
SEARCH_LANGUAGE = "en"  # see the module docstring
VOCABULARY = "zh-words.json"  # the index's Chinese words, beside pagefind.js
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
    h.update(f"{SEARCH_LANGUAGE}\0{SEARCH_FORMAT}\0".encode())
    for rel, fingerprint in sorted(pages):
        h.update(f"{rel}\0{fingerprint}\0".encode())
    return h.hexdigest()


def publish_index(
    executable: Path,
    version: Path,
    previous: Path | None,
    *,
    reuse: bool,
    docs: Sequence[SearchDoc] = (),
) -> tuple[int, int]:
    """Put the index of `docs` into `version/pagefind`: linked from `previous` when `reuse`,
    else built.

    Built files whose bytes equal the previous version's are hard-linked too, so a small change
    rewrites only the index chunks it touches. Returns (files written, files linked).
    """
    target = version / SEARCH_DIR
    old = previous / SEARCH_DIR if previous is not None else None
    if reuse and old is not None and old.is_dir():
        return 0, _link_tree(old, target)
    tmp = version.parent / f".{version.name}.search"
    pages = version.parent / f".{version.name}.search-pages"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(pages, ignore_errors=True)
    try:
        for doc in docs:
            # The page's path is the story page's: pagefind's result URL is the story's.
            path = pages / doc.href
            path.parent.mkdir(parents=True, exist_ok=True)
            # As every page: a lone surrogate of hostile feed text must not abort the build.
            path.write_bytes(search_page(doc, SEARCH_LANGUAGE).encode("utf-8", "replace"))
        pages.mkdir(parents=True, exist_ok=True)
        _run_pagefind(executable, pages, tmp)
        words = json.dumps(chinese_vocabulary(docs), ensure_ascii=False, separators=(",", ":"))
        (tmp / VOCABULARY).write_text(words + "\n", encoding="utf-8")
        return _move_tree(tmp, target, old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pages, ignore_errors=True)


def _run_pagefind(executable: Path, site: Path, output: Path) -> None:
    cmd = [
        str(executable),
        "--site",
        str(site),
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
