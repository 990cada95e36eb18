"""Local feeds: file:// URLs and plain paths, read under the same cap as the network.

A file's mtime and size stand in for Last-Modified, so an unchanged file is not parsed again.
"""

from __future__ import annotations

import os
import stat
import urllib.parse
import urllib.request
from pathlib import Path

from digest.ingest.replies import FetchFailed, FetchRequest
from digest.records import FetchResult
from digest.text import message_line

__all__ = ["fetch_local", "local_path", "local_validator"]


def local_validator(st: os.stat_result) -> str:
    """The validator stored as `last_modified` for a local file: its mtime and size."""
    return f"mtime:{st.st_mtime_ns}:{st.st_size}"


def local_path(url: str, base_dir: Path) -> Path | None:
    """The path a file:// URL or plain path names, or None when `url` is a network URL."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchFailed(f"{message_line(url)}: file URLs must name a local file (no host)")
        path = Path(urllib.request.url2pathname(urllib.parse.unquote(parts.path)))
    elif scheme and not (len(scheme) == 1 and os.name == "nt"):  # "C:\..." is a path
        return None
    else:
        path = Path(url).expanduser()
    return (path if path.is_absolute() else base_dir / path).absolute()


def fetch_local(req: FetchRequest, path: Path, max_bytes: int) -> FetchResult:
    """Read a local feed file under the same cap, with mtime+size as its validator."""
    res = FetchResult(feed_id=req.feed_id, url=req.url, final_url=path.as_uri())
    shown = message_line(str(path))
    try:
        st = path.stat()
    except FileNotFoundError:
        res.error = f"{shown}: no such file"
        return res
    except OSError as exc:
        res.error = f"{shown}: cannot read file ({message_line(exc.strerror or str(exc), 120)})"
        return res
    if not stat.S_ISREG(st.st_mode):
        # FIFOs and devices could block or never end: only regular files are feeds.
        res.error = f"{shown}: not a regular file"
        return res
    validator = local_validator(st)
    res.last_modified = validator
    if req.last_modified == validator:
        res.not_modified = True
        return res
    if st.st_size > max_bytes:
        res.error = f"{shown}: file is larger than the {max_bytes}-byte cap (fetch.max_bytes)"
        return res
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        res.error = f"{shown}: cannot read file ({message_line(exc.strerror or str(exc), 120)})"
        return res
    if len(data) > max_bytes:  # it grew while we looked
        res.error = f"{shown}: file is larger than the {max_bytes}-byte cap (fetch.max_bytes)"
        return res
    if not data:
        res.error = f"{shown}: file is empty"
        return res
    res.body = data
    return res
