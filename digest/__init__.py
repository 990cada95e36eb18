"""digest: a digital-rights news digest, as a library.

The CLI (digest.cli) calls only these names. Each is imported on first use, so
`import digest` stays cheap (the translation and clustering libraries load only when a stage
that needs them runs).

    config = digest.load_config(Path("feeds.yaml"))
    ws = digest.Workspace.resolve(Path("feeds.yaml"), None)
    digest.run(config, ws)                                  # every stage, under the run lock
    with ws.open_store() as store:
        digest.fetch_stage(config, store)                  # or one stage at a time
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> (module, attribute): the library API.
_API = {
    # configuration and state
    "Config": ("digest.records", "Config"),
    "load_config": ("digest.config", "load_config"),
    "init_digest": ("digest.config.starter", "init_digest"),
    "Workspace": ("digest.workspace", "Workspace"),
    "Store": ("digest.store", "Store"),
    # the stages: each stage.py's run()
    "run": ("digest.pipeline", "run"),
    "run_fetch": ("digest.pipeline", "run_fetch"),
    "run_translate": ("digest.pipeline", "run_translate"),
    "run_cluster": ("digest.pipeline", "run_cluster"),
    "run_build": ("digest.pipeline", "run_build"),
    "fetch_stage": ("digest.ingest.stage", "run"),
    "translate_stage": ("digest.translate.stage", "run"),
    "cluster_stage": ("digest.stories.stage", "run"),
    "build_stage": ("digest.site.stage", "run"),
    "newsletter_stage": ("digest.newsletter.stage", "run"),
    # what is published
    "site_data": ("digest.edition", "site_data"),
    "build_data": ("digest.edition", "build_data"),
    # the other commands
    "cluster_file": ("digest.stories.file", "run_cluster_file"),
    "write_export": ("digest.export", "write_export"),
    "serve_site": ("digest.site.serve", "serve_site"),
    "hide": ("digest.curation", "hide"),
    "unhide": ("digest.curation", "unhide"),
    "list_topics": ("digest.topicedit", "list_topics"),
    "name_topic": ("digest.topicedit", "name_topic"),
    "hide_topic": ("digest.topicedit", "hide_topic"),
    "merge_topics": ("digest.topicedit", "merge_topics"),
    "feed_report": ("digest.ingest.health", "feed_report"),
    "reset_feed": ("digest.ingest.health", "reset_feed"),
    "import_opml": ("digest.config.opml", "import_opml"),
    "export_opml": ("digest.config.opml", "export_opml"),
    "models_report": ("digest.translate.report", "models_report"),
    "install_file": ("digest.translate.packages", "install_file"),
    "install_from_index": ("digest.translate.packages", "install_from_index"),
    "scheduler_address_problem": ("digest.config", "scheduler_address_problem"),
}

__all__ = [
    "Config",
    "Store",
    "Workspace",
    "build_data",
    "build_stage",
    "cluster_file",
    "cluster_stage",
    "export_opml",
    "feed_report",
    "fetch_stage",
    "hide",
    "hide_topic",
    "import_opml",
    "init_digest",
    "install_file",
    "install_from_index",
    "list_topics",
    "load_config",
    "merge_topics",
    "models_report",
    "name_topic",
    "newsletter_stage",
    "reset_feed",
    "run",
    "run_build",
    "run_cluster",
    "run_fetch",
    "run_translate",
    "scheduler_address_problem",
    "serve_site",
    "site_data",
    "translate_stage",
    "unhide",
    "write_export",
]


def __getattr__(name: str) -> Any:
    """Import an API name's module on first use."""
    try:
        module, attribute = _API[name]
    except KeyError:
        raise AttributeError(f"module 'digest' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from digest.config import load_config, scheduler_address_problem
    from digest.config.opml import export_opml, import_opml
    from digest.config.starter import init_digest
    from digest.curation import hide, unhide
    from digest.edition import build_data, site_data
    from digest.export import write_export
    from digest.ingest.health import feed_report, reset_feed
    from digest.ingest.stage import run as fetch_stage
    from digest.newsletter.stage import run as newsletter_stage
    from digest.pipeline import run, run_build, run_cluster, run_fetch, run_translate
    from digest.records import Config
    from digest.site.serve import serve_site
    from digest.site.stage import run as build_stage
    from digest.store import Store
    from digest.stories.file import run_cluster_file as cluster_file
    from digest.stories.stage import run as cluster_stage
    from digest.topicedit import hide_topic, list_topics, merge_topics, name_topic
    from digest.translate.packages import install_file, install_from_index
    from digest.translate.report import models_report
    from digest.translate.stage import run as translate_stage
    from digest.workspace import Workspace
