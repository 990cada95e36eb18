"""`digest run`: the stages in order under the run lock: fetch, translate, cluster, build."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from digest.ingest.stage import FetchSummary
from digest.ingest.stage import run as fetch_stage
from digest.progress import QUIET, Progress
from digest.records import Config
from digest.site.stage import BuildSummary
from digest.site.stage import run as build_stage
from digest.store import utc_now
from digest.stories.stage import ClusterSummary
from digest.stories.stage import run as cluster_stage
from digest.translate.batches import ExecutorLost
from digest.translate.stage import TranslateSummary
from digest.translate.stage import run as translate_stage
from digest.workspace import Workspace, run_lock

__all__ = ["RunSummary", "run", "run_build", "run_cluster", "run_fetch", "run_translate"]


@dataclass
class RunSummary:
    """Every stage's summary of one `digest run`."""

    fetch: FetchSummary
    translate: TranslateSummary
    cluster: ClusterSummary
    build: BuildSummary

    def lines(self) -> list[str]:
        """One line per stage."""
        return [self.fetch.line(), self.translate.line(), self.cluster.line(), self.build.line()]


def run(
    config: Config,
    ws: Workspace,
    *,
    out: Path | None = None,
    progress: Progress = QUIET,
    report: Callable[[str], None] = lambda line: None,
) -> RunSummary:
    """Fetch, translate, cluster and build under the run lock; `report` gets each stage's line."""
    with run_lock(ws), ws.open_store() as store:
        if config.store.retention_days:
            store.prune(utc_now() - timedelta(days=config.store.retention_days))
        fetched = fetch_stage(config, store, progress=progress)
        report(fetched.line())
        lost: ExecutorLost | None = None
        try:
            translated = translate_stage(config, store, progress=progress)
            report(translated.line())
        except ExecutorLost as exc:
            # What was translated is stored; the site still gets the new items (originals
            # where the translation is missing) and the run then fails with the reason.
            lost, translated = exc, TranslateSummary()
            report(f"translate: stopped: {exc.message}")
        clustered = cluster_stage(config, store, progress=progress)
        report(clustered.line())
        built = build_stage(config, store, ws.out_dir(out), progress=progress)
        report(built.line())
    if lost is not None:
        raise lost
    return RunSummary(fetched, translated, clustered, built)


# ---------------------------------------------------------------- one stage, as a command


def run_fetch(
    config: Config,
    ws: Workspace,
    *,
    force: bool = False,
    feed_ids: Sequence[str] = (),
    progress: Progress = QUIET,
) -> FetchSummary:
    """`digest fetch`: the fetch stage alone, under the run lock."""
    with run_lock(ws), ws.open_store() as store:
        return fetch_stage(config, store, force=force, feed_ids=feed_ids, progress=progress)


def run_translate(
    config: Config, ws: Workspace, *, cluster: str | None = None, progress: Progress = QUIET
) -> TranslateSummary:
    """`digest translate`: the translate stage alone, under the run lock."""
    with run_lock(ws), ws.open_store() as store:
        return translate_stage(config, store, cluster=cluster, progress=progress)


def run_cluster(
    config: Config, ws: Workspace, *, rebuild: bool = False, progress: Progress = QUIET
) -> ClusterSummary:
    """`digest cluster`: the cluster stage alone, under the run lock."""
    with run_lock(ws), ws.open_store() as store:
        return cluster_stage(config, store, rebuild=rebuild, progress=progress)


def run_build(
    config: Config, ws: Workspace, *, out: Path | None = None, progress: Progress = QUIET
) -> BuildSummary:
    """`digest build`: the build stage alone, under the run lock."""
    with run_lock(ws), ws.open_store() as store:
        return build_stage(config, store, ws.out_dir(out), progress=progress)
