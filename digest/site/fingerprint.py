"""Page fingerprints: what a page's bytes depend on, hashed, so an unchanged page is reused.

A page depends on the code that renders it, the templates, the site's settings and its own
inputs. The code is taken as a whole, by content: every module of the installed digest
package, so no rename or new module can drop a dependency from the hash.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from digest.records import SiteData, StoredItem, Story
from digest.render import templates_root

__all__ = ["base_key", "code_fingerprint", "page_hash", "story_signature"]

# Bumped when the manifest's meaning changes.
MANIFEST_VERSION = 1


def page_hash(*parts: str) -> str:
    """A short hash of a page's inputs (each part a string)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:32]


# Where an item's datetimes sit among its values (a check per field would cost twice as much);
# a datetime elsewhere only makes the signature take repr's slower path.
_ITEM_TIMES = [n for n, f in enumerate(fields(StoredItem)) if "datetime" in str(f.type)]


def story_signature(story: Story) -> str:
    """A hash of everything a story and its items hold, but the score (it moves with the clock)."""
    # Values only (the dataclasses fix the order of their fields). marshal (format 2: no
    # back-references, so equal values always give equal bytes) is over twice as fast as repr
    # here, which matters at 5k stories. Datetimes become their POSIX time first (every one is
    # aware, and the pages show them in UTC, so the instant is all a page depends on).
    values = [
        v.timestamp() if type(v) is datetime else v
        for k, v in vars(story).items()
        if k != "score" and k != "items"
    ]
    items = [list(vars(item).values()) for item in story.items]
    for values_of_item in items:
        for at in _ITEM_TIMES:
            when = values_of_item[at]
            if type(when) is datetime:
                values_of_item[at] = when.timestamp()
    try:
        encoded = marshal.dumps((values, items), 2)
    except ValueError:  # a value marshal cannot encode (a field type added later)
        encoded = repr((values, items)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


def _tree_hash(root: Path, paths: Iterable[Path]) -> str:
    """Each file's path below `root` and its bytes, in path order."""
    h = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        h.update(path.relative_to(root).as_posix().encode("utf-8", "surrogatepass") + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"\0unreadable")
        h.update(b"\0")
    return h.hexdigest()


def code_fingerprint(package_dir: Path | None = None) -> str:
    """A hash of every module of a package folder (default: this digest), by path and content."""
    if package_dir is None:
        return _installed_code()
    return _tree_hash(package_dir, package_dir.rglob("*.py"))


@lru_cache(maxsize=1)
def _installed_code() -> str:
    # The running code does not change under a process: hash it once.
    return code_fingerprint(Path(__file__).resolve().parents[1])  # digest/site/ -> digest/


def base_key(
    data: SiteData,
    feed_names: dict[str, str],
    templates_dir: Path | None,
    search: bool,
    links: object = (),
) -> str:
    """What every page depends on: the code, the templates, the config, feed and topic names,
    and what the navigation links to (`links`, e.g. whether the newsletter archive exists)."""
    h = hashlib.sha256(f"{MANIFEST_VERSION}\0{data.site!r}\0{search}\0{links!r}\0".encode())
    names = (sorted(feed_names.items()), [(t.name, t.slug) for t in data.topics])
    h.update(repr(names).encode("utf-8", "surrogatepass"))
    h.update(code_fingerprint().encode() + b"\0")
    for folder in (templates_root(), Path(templates_dir) if templates_dir else None):
        if folder is not None and folder.is_dir():
            files = [p for p in folder.rglob("*") if p.is_file()]
            h.update(str(folder).encode("utf-8", "surrogatepass") + b"\0")
            h.update(_tree_hash(folder, files).encode() + b"\0")
    return h.hexdigest()
