"""The `digest` command: parse arguments, call one library function, report."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click

import digest
from digest.errors import DigestError, InputError
from digest.progress import Progress
from digest.wording import plural

F = TypeVar("F", bound=Callable[..., Any])


class State:
    """What the global options resolved to."""

    def __init__(self, config: Path | None, state: Path | None, verbose: bool) -> None:
        self.ws = digest.Workspace.resolve(config, state)
        self.explicit_config = config is not None or bool(os.environ.get("DIGEST_CONFIG"))
        self.verbose = verbose
        self._config: digest.Config | None = None

    def optional_config(self) -> digest.Config | None:
        """The config, or None when there is none at the default place (models work without
        one: a new user's first step). A --config or $DIGEST_CONFIG that is missing fails."""
        if not self.explicit_config and not self.ws.config_path.exists():
            return None
        return self.config()

    def config(self) -> digest.Config:
        """The loaded and validated config (loaded once)."""
        if self._config is None:
            self._config = digest.load_config(self.ws.config_path)
            for warning in self._config.warnings:
                click.echo(f"warning: {warning}", err=True)
        return self._config

    def progress(self) -> Progress:
        """A progress bar on a terminal, nothing on cron."""
        return Progress()


pass_state = click.make_pass_decorator(State)


def echo(line: str) -> None:
    """A summary line on stdout."""
    click.echo(line)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    help="feeds.yaml (default ./feeds.yaml, or $DIGEST_CONFIG)",
)
@click.option(
    "--state",
    type=click.Path(path_type=Path),
    help="state directory (default .digest/ beside the config, or $DIGEST_STATE)",
)
@click.option("--verbose", "-v", is_flag=True, help="debug logging and tracebacks")
@click.version_option(package_name="digest")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, state: Path | None, verbose: bool) -> None:
    """A digital-rights news digest: fetch feeds, translate offline, group into stories, publish."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = State(config, state, verbose)


@cli.command()
@click.argument("folder", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@click.option(
    "--opml",
    metavar="FILE",
    type=click.Path(path_type=Path, allow_dash=True),
    help="take the feeds of this OPML file (a feed reader's export; - reads stdin) instead",
)
@click.option(
    "--allow-private",
    is_flag=True,
    help="With --opml: also take feeds on loopback, private or link-local addresses.",
)
@pass_state
def init(st: State, folder: Path | None, opml: Path | None, allow_private: bool) -> None:
    """Write a starter feeds.yaml in DIR: the real outlet list, every setting at its default.

    Without DIR it writes --config (./feeds.yaml). It never overwrites a file.
    """
    target = folder / "feeds.yaml" if folder is not None else st.ws.config_path
    source: Path | BinaryIO | None = opml
    if opml is not None and str(opml) == "-":
        source = sys.stdin.buffer
    result = digest.init_digest(target, opml=source, allow_private=allow_private)
    exe = Path(sys.argv[0])
    for line in result.lines(str(exe.resolve()) if exe.name == "digest" else "digest"):
        echo(line)


out_option = click.option(
    "--out", type=click.Path(path_type=Path), help="the site link (default site/ beside the config)"
)


@cli.command()
@out_option
@pass_state
def run(st: State, out: Path | None) -> None:
    """Fetch, translate, cluster and build: the whole digest (what cron runs)."""
    digest.run(st.config(), st.ws, out=out, progress=st.progress(), report=echo)


@cli.command()
@click.option("--force", is_flag=True, help="ignore validators (ETag, Last-Modified) and backoff")
@click.option("--feed", "feed_ids", multiple=True, metavar="ID", help="only this feed (repeatable)")
@pass_state
def fetch(st: State, force: bool, feed_ids: Sequence[str]) -> None:
    """Fetch the feeds and store new items."""
    summary = digest.run_fetch(
        st.config(), st.ws, force=force, feed_ids=feed_ids, progress=st.progress()
    )
    echo(summary.line(name_failed=False))  # each failed feed has its own line below
    for feed_id, error in summary.failed:
        echo(f"  failed {feed_id}: {error}")
    for feed_id, warning in summary.warnings:
        echo(f"  warning {feed_id}: {warning}")
    for feed_id, why in summary.skipped:
        echo(f"  skipped {feed_id}: {why}")


@cli.command()
@click.option(
    "--cluster",
    metavar="ADDRESS",
    help="run the models on this Dask scheduler (tcp://HOST:PORT); needs digest[dask]",
)
@pass_state
def translate(st: State, cluster: str | None) -> None:
    """Translate titles and summaries into the site language (offline, cached)."""
    problem = digest.scheduler_address_problem(cluster) if cluster is not None else None
    if problem:
        raise click.BadParameter(problem, param_hint="--cluster")
    config = st.config()  # a broken config fails before any state is created
    echo(digest.run_translate(config, st.ws, cluster=cluster, progress=st.progress()).line())


@cli.command()
@click.option("--rebuild", is_flag=True, help="recluster the window from scratch")
@pass_state
def cluster(st: State, rebuild: bool) -> None:
    """Put new items into stories (existing ids kept) and file stories under topics."""
    config = st.config()  # a broken config fails before any state is created
    echo(digest.run_cluster(config, st.ws, rebuild=rebuild, progress=st.progress()).line())


@cli.command("cluster-file")
@click.argument("in_path", metavar="IN.jsonl", type=click.Path(path_type=Path))
@click.argument("out_path", metavar="OUT.jsonl", type=click.Path(path_type=Path))
@click.pass_context
def cluster_file(ctx: click.Context, in_path: Path, out_path: Path) -> None:
    """Cluster JSON lines {id, title, text, lang?, date?, feed?} into OUT as {id, story, topics}.

    The same clustering as the pipeline. The taxonomy and the embedder come from --config (or
    $DIGEST_CONFIG) when given; otherwise topics are only discovered and the embedder is
    `auto`. With --state (or a config), vectors are cached there between calls.
    """
    import os

    st = ctx.find_object(State)
    assert st is not None  # the group always sets it
    params = ctx.find_root().params
    given = params.get("config") or os.environ.get("DIGEST_CONFIG")
    state = params.get("state") or os.environ.get("DIGEST_STATE")
    config = st.config() if given else None
    ws = st.ws if (given or state) else None
    summary = digest.cluster_file(in_path, out_path, config=config, ws=ws, progress=st.progress())
    echo(summary.line())


@cli.command()
@out_option
@pass_state
def build(st: State, out: Path | None) -> None:
    """Render the static site (switched in atomically)."""
    config = st.config()  # a broken config fails before any state is created
    echo(digest.run_build(config, st.ws, out=out, progress=st.progress()).line())


def parse_since(value: str | None) -> datetime | None:
    """A --since value: YYYY-MM-DD or an ISO 8601 time (UTC when no offset)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"--since {value!r} is not a date", "use YYYY-MM-DD or 2026-11-20T08:00:00Z"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option("--since", help="only items published since this date (YYYY-MM-DD)")
@pass_state
def export(st: State, fmt: str, since: str | None) -> None:
    """Write one record per item to stdout (JSON lines or CSV)."""
    digest.write_export(st.config(), st.ws, sys.stdout, fmt=fmt, since=parse_since(since))


@cli.command()
@out_option
@click.option("--port", type=int, default=8000, show_default=True)
@pass_state
def serve(st: State, out: Path | None, port: int) -> None:
    """Preview the built site on http://127.0.0.1:PORT/."""
    digest.serve_site(st.ws.out_dir(out), port, announce=echo, base_url=st.config().site.base_url)


# ---------------------------------------------------------------- newsletter


@cli.command()
@click.option("--since", help="cover stories new since this date instead of the last issue sent")
@click.option("--send", is_flag=True, help="send over SMTP (without it: a dry run, .eml files)")
@click.option("--force", is_flag=True, help="send even to recipients who already had the issue")
@click.option(
    "--retry-in-doubt", is_flag=True, help="also send to recipients left in doubt by a crash"
)
@pass_state
def newsletter(st: State, since: str | None, send: bool, force: bool, retry_in_doubt: bool) -> None:
    """Build the newsletter issue (.eml files in the state dir); --send mails it."""
    digest.newsletter_stage(
        st.config(),
        st.ws,
        since=parse_since(since),
        send=send,
        force=force,
        retry_in_doubt=retry_in_doubt,
        report=echo,
    )


# ---------------------------------------------------------------- feeds


@cli.group()
def feeds() -> None:
    """List, check, reset, import and export feeds."""


@feeds.command("list")
@pass_state
def feeds_list(st: State) -> None:
    """The configured feeds: id, language, outlet, kind, region and URL."""
    feeds = st.config().feeds
    rows = [("ID", "LANGUAGE", "OUTLET", "KIND", "REGION", "URL")]
    for f in feeds:
        url = f.url if f.enabled else f"{f.url}  (disabled)"
        lang = f.language or "detected"
        rows.append((f.id, lang, f.outlet_name, f.kind or "-", f.region or "-", url))
    widths = [min(max(len(row[i]) for row in rows), 32) for i in range(5)]
    for row in rows:
        cells = [
            cell if len(cell) <= w else cell[: w - 1] + "…"
            for cell, w in zip(row, widths, strict=False)
        ]
        echo("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) + "  " + row[5])
    echo(plural(len(feeds), "feed"))


@feeds.command("check")
@pass_state
def feeds_check(st: State) -> None:
    """Each feed's health: last success, last error, failures, next retry, redirects."""
    for line in digest.feed_report(st.config(), st.ws):
        echo(line)


@feeds.command("reset")
@click.argument("feed_id", metavar="ID")
@pass_state
def feeds_reset(st: State, feed_id: str) -> None:
    """Revive a gone feed and clear its backoff."""
    digest.reset_feed(st.config(), st.ws, feed_id)
    echo(f"{feed_id}: reset; it is fetched on the next run")


@feeds.command("import-opml")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--allow-private",
    is_flag=True,
    help="Also import feeds on loopback, private or link-local addresses (your own network).",
)
@pass_state
def feeds_import_opml(st: State, file: Path, allow_private: bool) -> None:
    """Add the feeds of an OPML file to feeds.yaml (comments and order kept)."""
    result = digest.import_opml(st.ws.config_path, file, allow_private=allow_private)
    for feed in result.added:
        echo(f"added {feed.id}: {feed.url}")
    for what, why in result.skipped:
        echo(f"skipped {what}: {why}")
    echo(f"{len(result.added)} added, {len(result.skipped)} skipped")


@feeds.command("export-opml")
@pass_state
def feeds_export_opml(st: State) -> None:
    """Write the configured feeds as OPML to stdout."""
    click.echo(digest.export_opml(st.config()), nl=False)


# ---------------------------------------------------------------- models


@cli.group()
def models() -> None:
    """Translation models (argostranslate packages)."""


@models.command("list")
@pass_state
def models_list(st: State) -> None:
    """Installed packages, and how each language of the feeds and the store reaches the site's.

    Works without a feeds.yaml (the defaults: $ARGOS_PACKAGES_DIR, a site in English).
    """
    for line in digest.models_report(st.optional_config(), st.ws):
        echo(line)


@models.command("install-file")
@click.argument("path", type=click.Path(path_type=Path))
@pass_state
def models_install_file(st: State, path: Path) -> None:
    """Install a .argosmodel file (offline); works without a feeds.yaml."""
    config = st.optional_config()
    info = digest.install_file(config.translation if config else None, path)
    echo(f"installed {info.name} {info.version} ({info.from_code}→{info.to_code}) in {info.path}")


@models.command("install")
@click.argument("from_lang", metavar="FROM")
@click.argument("to_lang", metavar="TO")
@pass_state
def models_install(st: State, from_lang: str, to_lang: str) -> None:
    """Install FROM→TO from the Argos package index (or two through English); works without
    a feeds.yaml."""
    config = st.optional_config()
    translation = config.translation if config else None
    for info, new in digest.install_from_index(translation, from_lang, to_lang):
        state = "installed" if new else "already installed"
        echo(f"{state} {info.name} {info.version} ({info.from_code}→{info.to_code}) in {info.path}")


# ---------------------------------------------------------------- takedown


@cli.command()
@click.argument("target_id", metavar="ID")
@click.option("--reason", required=True, help="why it is hidden (kept in the state database)")
@click.option("--no-build", is_flag=True, help="do not rebuild the site now")
@out_option
@pass_state
def hide(st: State, target_id: str, reason: str, no_build: bool, out: Path | None) -> None:
    """Hide an item or a story from the site, the feeds and the newsletter, for good."""
    done = digest.hide(st.config(), st.ws, target_id, reason, build=not no_build, out=out)
    for line in done.lines():
        echo(line)


@cli.command()
@click.argument("target_id", metavar="ID")
@click.option("--no-build", is_flag=True, help="do not rebuild the site now")
@out_option
@pass_state
def unhide(st: State, target_id: str, no_build: bool, out: Path | None) -> None:
    """Show a hidden item or story again."""
    echo(digest.unhide(st.config(), st.ws, target_id, build=not no_build, out=out).line())


# ---------------------------------------------------------------- entry point


@cli.group()
def topics() -> None:
    """The editor's say over discovered topics: list, name, hide, merge."""


@topics.command("list")
@pass_state
def topics_list(st: State) -> None:
    """Taxonomy and discovered topics with their ids, sizes and sample headlines."""
    rows = digest.list_topics(st.config(), st.ws)
    if not rows:
        echo("no topics yet: run `digest cluster` first")
    for row in rows:
        for line in row.lines():
            echo(line)


@topics.command("name")
@click.argument("topic_id", metavar="ID")
@click.argument("text", metavar="TEXT")
@pass_state
def topics_name(st: State, topic_id: str, text: str) -> None:
    """Show discovered topic ID as TEXT ("" goes back to its automatic name)."""
    echo(digest.name_topic(st.config(), st.ws, topic_id, text))


@topics.command("hide")
@click.argument("topic_id", metavar="ID")
@pass_state
def topics_hide(st: State, topic_id: str) -> None:
    """Hide discovered topic ID everywhere (its stories stay, without it)."""
    echo(digest.hide_topic(st.config(), st.ws, topic_id))


@topics.command("unhide")
@click.argument("topic_id", metavar="ID")
@pass_state
def topics_unhide(st: State, topic_id: str) -> None:
    """Show a hidden discovered topic again."""
    echo(digest.hide_topic(st.config(), st.ws, topic_id, hidden=False))


@topics.command("merge")
@click.argument("source", metavar="A")
@click.argument("target", metavar="B")
@pass_state
def topics_merge(st: State, source: str, target: str) -> None:
    """Show the stories of discovered topic A under topic B (a taxonomy name or an id)."""
    echo(digest.merge_topics(st.config(), st.ws, source, target))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; DigestError becomes `error:` and `hint:` lines and its exit status."""
    verbose = "--verbose" in (argv or sys.argv[1:]) or "-v" in (argv or sys.argv[1:])
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except DigestError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # an unexpected bug: one line unless --verbose
        if verbose:
            traceback.print_exc()
        click.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
        click.echo("hint: run again with --verbose for the traceback, and report it", err=True)
        sys.exit(4)


if __name__ == "__main__":
    main()
