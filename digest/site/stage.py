"""The build stage: the edition rendered into a new site version, switched in atomically."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from digest.collector import collector_paused
from digest.edition import build_data
from digest.newsletter.archive import archive_files
from digest.progress import QUIET, Progress
from digest.records import Config
from digest.site.build import build_site
from digest.store import Store
from digest.wording import plural

__all__ = ["BuildSummary", "run"]


@dataclass
class BuildSummary:
    """What one build stage did."""

    out: Path
    stories: int
    pages: int
    written: int
    linked: int
    archived: int = 0  # stories older than the window, on the archive's day pages
    rendered: int = 0  # story pages rendered (the others were unchanged)
    search: bool = True  # the site has a search index

    def line(self) -> str:
        """One line for cron mail."""
        text = (
            f"build: {plural(self.stories, 'story')}, {plural(self.pages, 'page')} "
            f"({self.written} written, {self.linked} unchanged) -> {self.out}"
        )
        if not self.search:
            text += "; no search index (install pagefind[extended])"
        return text


def _takedown_key(store: Store) -> str:
    """A hash of every hidden id ("" when nothing is hidden): it changes with each takedown."""
    ids = sorted(entry[0] for entry in store.hidden_entries())
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16] if ids else ""


def run(
    config: Config,
    store: Store,
    out: Path,
    *,
    progress: Progress = QUIET,
    now: datetime | None = None,
) -> BuildSummary:
    """Render the static site into a new version directory and switch it in."""
    with collector_paused() as made:
        data = build_data(config, store, now)
        made()
        # The newsletter's web archive is published with the pages.
        extra = archive_files(config, store)
        progress.start("build", 1)
        report = build_site(
            data,
            out,
            templates_dir=config.site.templates_dir,
            extra_files=extra,
            takedowns=_takedown_key(store),
        )
        progress.close()
    return BuildSummary(
        out=out,
        stories=len(data.stories),
        pages=report.pages,
        written=report.written,
        linked=report.linked,
        archived=len(data.archive),
        rendered=report.rendered,
        search=report.search,
    )
