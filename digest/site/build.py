"""Build the static site: render every page in memory, then publish it as a new version.

Story pages are the bulk of a site, so each one's inputs are fingerprinted: a page whose
fingerprint matches the one recorded in the current version's manifest is not rendered again but
hard-linked (see publish.py). Every other file is rendered and compared byte for byte. The
search index (search.py) is rebuilt only when an indexed page changed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from digest.errors import ConfigError, StageError
from digest.ids import is_safe_name, is_windows_reserved
from digest.records import SiteData
from digest.render import as_utc, iso_utc, templates_root
from digest.site.fingerprint import MANIFEST_VERSION
from digest.site.pages import render_pages
from digest.site.publish import Published, current_version, publish
from digest.site.search import SEARCH_DIR, index_key, pagefind_executable, publish_index

__all__ = ["MANIFEST", "BuildReport", "build_site", "render_files"]

log = logging.getLogger(__name__)

# Per-page fingerprints and the search-index key of a version, kept inside it.
MANIFEST = ".digest-manifest.json"


@dataclass
class BuildReport:
    """What a build did: the version directory, HTML pages, files written and linked."""

    version_dir: Path
    pages: int  # HTML pages in the site
    written: int  # files whose bytes were written (new or changed)
    linked: int  # files hard-linked unchanged from the previous version
    rendered: int = 0  # story pages rendered (the others were unchanged)
    search: bool = False  # the site has a search index


# ---------------------------------------------------------------- public entry points


def build_site(
    data: SiteData,
    out: Path,
    *,
    templates_dir: Path | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    search: bool = True,
    takedowns: str = "",
) -> BuildReport:
    """Render the site into a new version dir beside `out` and switch `out` to it atomically.

    `extra_files` ({relative path: bytes}, e.g. the newsletter archive under newsletter/) are
    published with the pages. `search` builds the pagefind index when pagefind is installed.
    `takedowns` names the set of hidden ids (a hash, "" for none): when it differs from the
    current version's, that version is removed too rather than kept as the previous one.
    """
    if templates_dir is None:
        templates_dir = data.site.templates_dir
    if templates_dir is not None and not Path(templates_dir).is_dir():
        raise ConfigError(
            f"templates directory not found: {templates_dir}",
            hint="site.templates_dir must name a folder laid out like the built-in templates/",
        )
    out = Path(os.path.abspath(out))
    previous, _ = current_version(out)
    old = _read_manifest(previous)
    executable = pagefind_executable() if search else None
    if search and executable is None:
        log.warning("pagefind is not installed: the site is built without search")
    cache = old.get("pages")
    cache = cache if isinstance(cache, dict) else {}
    # The newsletter's archive comes as extra files; every page's navigation links it then.
    newsletter = "newsletter/index.html" in (extra_files or {})
    result = render_pages(data, templates_dir, cache, previous, executable is not None, newsletter)
    files = result.files
    files.update(_static_files(templates_dir))
    for rel, content in (extra_files or {}).items():
        _check_extra_path(rel, files)
        files[rel] = bytes(content)
    manifest: dict[str, object] = {"version": MANIFEST_VERSION, "pages": result.fingerprints}
    if takedowns:
        manifest["takedowns"] = takedowns
    after_fill = None
    if executable is not None:
        stories = [(r, fp) for r, fp in result.fingerprints.items() if r.startswith("stories/")]
        key = index_key(executable, stories)
        manifest["search"] = key
        reuse_index = old.get("search") == key
        exe = executable

        docs = [] if reuse_index else result.search_docs()

        def after_fill(version: Path, prev: Path | None) -> tuple[int, int]:
            return publish_index(exe, version, prev, reuse=reuse_index, docs=docs)

    # Compact, so the C encoder does it: the manifest has an entry per page.
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    files[MANIFEST] = (text + "\n").encode("utf-8")
    files["build.json"] = _build_json(data, result.pages)
    keep_previous = old.get("takedowns", "") == takedowns
    published: Published = publish(
        files, out, reuse=result.reused, after_fill=after_fill, keep_previous=keep_previous
    )
    return BuildReport(
        version_dir=published.version_dir,
        pages=result.pages,
        written=published.written,
        linked=published.linked,
        rendered=result.rendered,
        search=executable is not None,
    )


def render_files(data: SiteData, *, templates_dir: Path | None = None) -> dict[str, bytes]:
    """Every file of the site but the search index, by path relative to the site root."""
    result = render_pages(data, templates_dir, {}, None, search=False)
    files = result.files
    files.update(_static_files(templates_dir))
    files["build.json"] = _build_json(data, result.pages)
    return files


def _check_extra_path(rel: str, files: Mapping[str, bytes]) -> None:
    parts = PurePosixPath(rel).parts
    if (
        not parts
        or rel.startswith("/")
        or "\\" in rel
        or any(p in ("", ".", "..") or p.startswith(".") for p in parts)
        or parts[0] in (SEARCH_DIR, "stories", "static")
    ):
        raise StageError(f"extra site file has an unsafe path: {rel!r}")
    if rel in files:
        raise StageError(f"extra site file {rel!r} would replace a page of the site")


def _static_files(templates_dir: Path | None) -> dict[str, bytes]:
    """The static assets, an override folder's files replacing built-ins of the same name."""
    found: dict[str, Path] = {}
    folders = [templates_root() / "site" / "static"]
    if templates_dir is not None:
        folders.append(Path(templates_dir) / "site" / "static")
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            name_ok = is_safe_name(path.name.replace(".", "_")) and not is_windows_reserved(
                path.name
            )
            if path.is_file() and name_ok:
                found[path.name] = path
    files: dict[str, bytes] = {}
    for name, path in sorted(found.items()):
        # Browsers ask for /favicon.ico by themselves: it lives at the root.
        rel = name if name == "favicon.ico" else f"static/{name}"
        try:
            files[rel] = path.read_bytes()
        except OSError as exc:
            raise StageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return files


def _read_manifest(previous: Path | None) -> dict[str, object]:
    if previous is None:
        return {}
    try:
        record = json.loads((previous / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("version") != MANIFEST_VERSION:
        return {}
    pages = record.get("pages")
    if not isinstance(pages, dict):
        record["pages"] = {}
    return record


def _build_json(data: SiteData, pages: int) -> bytes:
    record = {
        "generated_at": iso_utc(as_utc(data.generated_at)),
        "pages": pages,
        "stories": len(data.stories),
        "topics": len(data.topics),
        "feeds": len(data.feeds),
    }
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
