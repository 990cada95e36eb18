"""Publish a site as a version directory switched in through a symbolic link (all the I/O).

`out` is a symbolic link to a version directory beside it (`<name>.v<UTC time>-<n>`). A build
writes a fresh version directory, hard-linking every file whose bytes equal the same file in the
version `out` points to now (or that the caller knows to be unchanged), then renames a new link
over `out`. Readers therefore see either the old site or the new one, an unchanged rebuild writes
no content and keeps every mtime, and the two newest versions (current and previous) are kept
(only the current one after a takedown).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from digest.errors import StageError

__all__ = ["Published", "current_version", "publish"]

# fsync dominates a full build; a few in flight let the file system batch its journal commits.
_WRITERS = 4

# Called with (new version dir, previous version dir or None) once the files are in place and
# before the switch; returns (files written, files linked) it added.
AfterFill = Callable[[Path, Path | None], tuple[int, int]]


@dataclass(frozen=True)
class Published:
    """A published version: its directory, files written and files hard-linked unchanged."""

    version_dir: Path
    written: int
    linked: int


def publish(
    files: dict[str, bytes],
    out: Path,
    *,
    reuse: Collection[str] = (),
    after_fill: AfterFill | None = None,
    keep_previous: bool = True,
) -> Published:
    """Write `files` (link `reuse` from the current version) into a new version; switch `out`.

    `keep_previous=False` removes the version `out` pointed to as well (after a takedown the
    old pages must not stay beside the site, where a copy of the folder would take them).
    """
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StageError(f"cannot create {parent}: {exc.strerror or exc}") from exc
    previous, empty_dir = current_version(out)
    version = _new_version_dir(parent, out.name)
    try:
        written, linked = _fill_version(version, files, previous, reuse)
        if after_fill is not None:
            more_written, more_linked = after_fill(version, previous)
            written += more_written
            linked += more_linked
        for folder in sorted(_dirs(version), key=lambda p: len(p.parts), reverse=True):
            fsync_dir(folder)
    except OSError as exc:
        shutil.rmtree(version, ignore_errors=True)
        raise StageError(
            f"cannot write the site into {version}: {exc.strerror or exc}",
            hint="check free space and permissions of the output folder",
        ) from exc
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    try:
        if empty_dir:
            out.rmdir()
        _switch_link(out, version.name)
    except OSError as exc:
        shutil.rmtree(version, ignore_errors=True)
        raise StageError(f"cannot switch {out} to the new site: {exc.strerror or exc}") from exc
    _remove_old_versions(out, keep={version, *([previous] if previous and keep_previous else [])})
    return Published(version, written, linked)


def current_version(out: Path) -> tuple[Path | None, bool]:
    """The directory `out` points to now (None if none), and whether `out` is an empty real dir."""
    if out.is_symlink():
        target = Path(os.readlink(out))
        if not target.is_absolute():
            target = out.parent / target
        return (target if target.is_dir() else None), False
    if not out.exists():
        return None, False
    if out.is_dir():
        if any(out.iterdir()):
            raise StageError(
                f"{out} is a real directory, not the link digest switches between site versions",
                hint=f"move it away (or empty it) and build again; digest will create {out} "
                "as a symbolic link",
            )
        return None, True
    raise StageError(
        f"{out} exists and is not a directory or a symbolic link",
        hint="choose another --out, or remove the file",
    )


def _version_pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"\.v\d{8}T\d{6}Z-\d+")


def _new_version_dir(parent: Path, name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 10_000):
        candidate = parent / f"{name}.v{stamp}-{n}"
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise StageError(f"cannot create {candidate}: {exc.strerror or exc}") from exc
        return candidate
    raise StageError(f"cannot find a free version directory name beside {parent / name}")


def _dirs(version: Path) -> list[Path]:
    return [version, *(Path(root) / d for root, dirs, _ in os.walk(version) for d in dirs)]


def _fill_version(
    version: Path, files: dict[str, bytes], previous: Path | None, reuse: Collection[str]
) -> tuple[int, int]:
    linked = 0
    made_dirs = {version}
    made_names = {str(version)}
    to_write: list[tuple[Path, bytes]] = []

    def parent_of(dest: Path) -> None:
        if dest.parent not in made_dirs:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(dest.parent)

    if reuse and previous is None:
        raise StageError("cannot reuse files: there is no previous version")
    old_root, new_root = str(previous), str(version)
    for rel in sorted(reuse):
        # Plain strings: this loop runs once per unchanged page, thousands of times.
        target = os.path.join(new_root, rel)
        folder = os.path.dirname(target)
        if folder not in made_names:
            os.makedirs(folder, exist_ok=True)
            made_names.add(folder)
        try:
            os.link(os.path.join(old_root, rel), target, follow_symlinks=False)
            linked += 1
        except OSError:
            # Another file system or too many links: copy the bytes instead.
            to_write.append((Path(target), Path(old_root, rel).read_bytes()))
    for rel in sorted(files):
        content = files[rel]
        dest = version / rel
        parent_of(dest)
        if previous is not None and link_if_same(previous / rel, dest, content):
            linked += 1
            continue
        to_write.append((dest, content))
    write_files(to_write)
    return len(to_write), linked


def write_files(jobs: list[tuple[Path, bytes]]) -> None:
    """Write and fsync new files (the folders must exist), a few at a time."""
    if len(jobs) < 8:
        for dest, content in jobs:
            write_file(dest, content)
        return
    with ThreadPoolExecutor(_WRITERS) as pool:
        for _ in pool.map(lambda job: write_file(*job), jobs):
            pass


def link_if_same(old: Path, dest: Path, content: bytes) -> bool:
    """Hard-link `old` to `dest` when it is a regular file holding exactly `content`."""
    try:
        info = os.lstat(old)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(content):
            return False
        if old.read_bytes() != content:
            return False
        os.link(old, dest, follow_symlinks=False)
    except OSError:
        # Missing, unreadable, another file system, too many links: write the file instead.
        return False
    return True


def write_file(dest: Path, content: bytes) -> None:
    """Create `dest` with `content` and fsync it."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
        fh.flush()
        # The link switch must never point readers at files still only in the page cache.
        os.fsync(fh.fileno())


def fsync_dir(folder: Path) -> None:
    """fsync a directory so the names it holds survive a crash (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the data is still written
    finally:
        os.close(fd)


def _switch_link(out: Path, target_name: str) -> None:
    # A relative target keeps the folder copyable as a whole (mirrors, backups).
    tmp = out.parent / f".{out.name}.link-{os.getpid()}-{secrets.token_hex(4)}"
    os.symlink(target_name, tmp)
    try:
        os.replace(tmp, out)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(out.parent)


def _remove_old_versions(out: Path, keep: set[Path]) -> None:
    pattern = _version_pattern(out.name)
    # Compare by inode: the old link may name the same folder by another path.
    kept: set[tuple[int, int]] = set()
    for path in keep:
        with contextlib.suppress(OSError):
            info = os.stat(path)
            kept.add((info.st_dev, info.st_ino))
    for entry in out.parent.iterdir():
        if not pattern.fullmatch(entry.name) or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            info = os.stat(entry)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) not in kept:
            shutil.rmtree(entry, ignore_errors=True)
