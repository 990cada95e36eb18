"""The stages in order, under the run lock: fetch, translate, cluster, build."""

from __future__ import annotations

import fcntl
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError, LockedError
from .fetch import FetchRequest, fetch_all
from .models import (
    Config,
    FeedConfig,
    FetchResult,
    SiteData,
    StoredItem,
    Story,
    TopicView,
    TranslationConfig,
)
from .normalize import normalize_entry
from .parse import parse_feed
from .progress import QUIET, Progress
from .store import Store, TranslationTask, text_hash, utc_now

if TYPE_CHECKING:
    from .translate import Translator

log = logging.getLogger(__name__)

DB_NAME = "digest.db"
LOCK_NAME = "run.lock"
BACKOFF_BASE = timedelta(minutes=15)
BACKOFF_MAX = timedelta(hours=24)
TRANSLATE_CHUNK = 256  # texts per model call and per transaction: progress and crash safety


@dataclass(frozen=True)
class Workspace:
    """Where one digest keeps its config, state and site."""

    config_path: Path
    state_dir: Path

    @classmethod
    def resolve(cls, config: Path | None, state: Path | None) -> Workspace:
        """Apply the defaults: ./feeds.yaml, and .digest/ beside the config."""
        config_path = Path(config or os.environ.get("DIGEST_CONFIG") or "feeds.yaml")
        state_env = os.environ.get("DIGEST_STATE")
        state_dir = Path(state or state_env or config_path.parent / ".digest")
        return cls(config_path=config_path, state_dir=state_dir)

    @property
    def db_path(self) -> Path:
        """The SQLite database."""
        return self.state_dir / DB_NAME

    def out_dir(self, out: Path | None) -> Path:
        """The site link: --out, else site/ beside the config."""
        return Path(out) if out is not None else self.config_path.parent / "site"

    def open_store(self) -> Store:
        """Open the workspace's database."""
        return Store.open(self.db_path)


@contextmanager
def run_lock(ws: Workspace) -> Iterator[None]:
    """Hold the state directory's lock, or raise LockedError when another run has it."""
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    path = ws.state_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise LockedError(
                f"another digest run holds the lock {path} (pid {holder})",
                "wait for it to finish; the lock is released when that process ends",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock


# ---------------------------------------------------------------- fetch


@dataclass
class FetchSummary:
    """What one fetch stage did."""

    attempted: int = 0
    ok: int = 0
    not_modified: int = 0
    items_seen: int = 0
    items_new: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (feed id, error)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (feed id, why)

    def line(self) -> str:
        """One line for cron mail."""
        text = (
            f"fetch: {self.attempted} feeds, {self.ok} ok ({self.not_modified} not modified), "
            f"{len(self.failed)} failed; {self.items_new} new items ({self.items_seen} seen)"
        )
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        return text


def backoff_until(failures: int, now: datetime, retry_after: datetime | None) -> datetime:
    """When a feed that failed `failures` times in a row may be fetched again."""
    delay = min(BACKOFF_BASE * (2 ** max(failures - 1, 0)), BACKOFF_MAX)
    until = now + delay
    return max(until, retry_after) if retry_after else until


def fetch_stage(
    config: Config,
    store: Store,
    *,
    force: bool = False,
    feed_ids: Sequence[str] = (),
    progress: Progress = QUIET,
) -> FetchSummary:
    """Fetch due feeds, parse and store their items; one broken feed never stops the others."""
    summary = FetchSummary()
    store.sync_feeds(config.feeds)
    unknown = [fid for fid in feed_ids if config.feed(fid) is None]
    if unknown:
        known = ", ".join(f.id for f in config.feeds) or "none"
        raise InputError(f"unknown feed id: {', '.join(unknown)}", f"configured feeds: {known}")
    chosen = [f for f in config.feeds if (f.id in feed_ids if feed_ids else f.enabled)]
    now = utc_now()
    requests: list[FetchRequest] = []
    feeds_by_id: dict[str, FeedConfig] = {}
    for feed in chosen:
        state = store.feed_state(feed.id)
        assert state is not None  # sync_feeds made the row
        if state.gone:
            summary.skipped.append((feed.id, f"gone; `digest feeds reset {feed.id}` revives it"))
            continue
        if not force and state.next_fetch and state.next_fetch > now:
            summary.skipped.append(
                (feed.id, f"backing off until {state.next_fetch:%Y-%m-%d %H:%M} UTC")
            )
            continue
        feeds_by_id[feed.id] = feed
        requests.append(
            FetchRequest(
                feed_id=feed.id,
                url=state.effective_url or feed.url,
                etag=None if force else state.etag,
                last_modified=None if force else state.last_modified,
            )
        )
    summary.attempted = len(requests)
    progress.start("fetch", len(requests))

    # Results are stored in config order, each as soon as all before it are in: which feed
    # first brings an article (its id, its first source) must not depend on network timing.
    order = {r.feed_id: n for n, r in enumerate(requests)}
    waiting: dict[int, FetchResult] = {}
    next_up = 0

    def handle(result: FetchResult) -> None:
        nonlocal next_up
        waiting[order[result.feed_id]] = result
        progress.advance(note=result.feed_id)
        while next_up in waiting:
            ready = waiting.pop(next_up)
            _store_fetch(store, feeds_by_id[ready.feed_id], ready, summary)
            next_up += 1

    fetch_all(requests, config.fetch, base_dir=config.path.parent, on_result=handle)
    progress.close()
    return summary


def _store_fetch(
    store: Store, feed: FeedConfig, result: FetchResult, summary: FetchSummary
) -> None:
    """Parse one result and store it in one transaction."""
    now = utc_now()
    state = store.feed_state(feed.id)
    failures = (state.consecutive_failures if state else 0) + 1
    if not result.ok:
        log.info("fetch %s failed: %s", feed.id, result.error)
        with store.transaction():
            store.record_fetch(
                result,
                at=now,
                failed=True,
                next_fetch=backoff_until(failures, now, result.retry_after),
            )
        summary.failed.append((feed.id, result.error or "failed"))
        return
    if result.not_modified or result.body is None:
        with store.transaction():
            store.record_fetch(result, at=now, failed=False, next_fetch=None)
        summary.ok += 1
        summary.not_modified += 1
        return
    parsed = parse_feed(result.body, result.headers, result.final_url or result.url)
    if parsed.error and not parsed.entries:
        result.error = f"{result.final_url or result.url}: {parsed.error}"
        with store.transaction():
            store.record_fetch(
                result, at=now, failed=True, next_fetch=backoff_until(failures, now, None)
            )
        summary.failed.append((feed.id, result.error))
        return
    seen = new = 0
    with store.transaction():
        for entry in parsed.entries:
            item = normalize_entry(entry, feed, parsed, now)
            if item is None:
                continue
            seen += 1
            _, is_new = store.upsert_item(item, now)
            new += is_new
        store.record_fetch(
            result,
            at=now,
            failed=False,
            next_fetch=None,
            items_seen=seen,
            items_new=new,
            title=parsed.title,
            warning=parsed.warning or parsed.error,
        )
    if parsed.warning or parsed.error:
        summary.warnings.append((feed.id, parsed.warning or parsed.error or ""))
    summary.ok += 1
    summary.items_seen += seen
    summary.items_new += new


# ---------------------------------------------------------------- translate


@dataclass
class TranslateSummary:
    """What one translate stage did."""

    translated: int = 0  # texts through the model
    cached: int = 0  # texts found in the cache
    items: int = 0  # items whose translation was (re)made
    no_model: Counter[str] = field(default_factory=Counter)  # lang -> items without a model
    notes: dict[str, str] = field(default_factory=dict)  # lang -> why

    def line(self) -> str:
        """One line for cron mail."""
        text = (
            f"translate: {self.items} items, {self.translated} texts translated, "
            f"{self.cached} from cache"
        )
        for lang, count in sorted(self.no_model.items()):
            text += f"; {count} items in {lang}: {self.notes.get(lang, 'no model available')}"
        return text


def translate_stage(
    config: Config,
    store: Store,
    *,
    translator_factory: Callable[[TranslationConfig], Translator | None] | None = None,
    progress: Progress = QUIET,
) -> TranslateSummary:
    """Translate titles and summaries not in the site language; never twice for one model."""
    from .translate import make_translator, missing_model_note

    summary = TranslateSummary()
    tgt = config.site.language
    tasks = store.translation_tasks(tgt)
    if not tasks:
        return summary
    factory = translator_factory or make_translator
    translator = factory(config.translation)
    by_lang: dict[str, list[TranslationTask]] = defaultdict(list)
    for task in tasks:
        by_lang[task.lang].append(task)
    now = utc_now()
    for lang, group in sorted(by_lang.items()):
        ref = translator.model_for(lang, tgt) if translator is not None else None
        if ref is None:
            note = (
                "translation is off (translation.engine: none)"
                if translator is None
                else missing_model_note(lang, tgt)
            )
            stale = [t for t in group if t.status != "no-model" or t.done_hash != t.source_hash]
            with store.transaction():
                for t in stale:
                    store.set_item_translation(
                        t.item_id,
                        tgt,
                        source_hash=t.source_hash,
                        model=None,
                        status="no-model",
                        note=note,
                        title=None,
                        summary=None,
                        now=now,
                    )
            summary.no_model[lang] += len(group)
            summary.notes[lang] = note
            continue
        assert translator is not None  # a model was found through it
        todo = [
            t
            for t in group
            if not (
                t.status == "translated" and t.model == ref.name and t.done_hash == t.source_hash
            )
        ]
        progress.start(f"translate {lang}", len(todo))
        for start in range(0, len(todo), TRANSLATE_CHUNK // 2):
            chunk = todo[start : start + TRANSLATE_CHUNK // 2]
            _translate_chunk(store, translator, ref.name, lang, tgt, chunk, summary)
            progress.advance(len(chunk))
        progress.close()
    return summary


def _translate_chunk(
    store: Store,
    translator: Translator,
    model: str,
    src: str,
    tgt: str,
    chunk: Sequence[TranslationTask],
    summary: TranslateSummary,
) -> None:
    """Translate one chunk of items (cache first) and record it in one transaction."""
    texts = {text_hash(s): s for t in chunk for s in (t.title, t.summary) if s.strip()}
    cached = store.cached_translations(texts, src, tgt, model)
    missing = [h for h in texts if h not in cached]
    fresh: dict[str, str] = {}
    if missing:
        outputs = translator.translate([texts[h] for h in missing], src, tgt)
        fresh = dict(zip(missing, outputs, strict=True))
    summary.cached += len(texts) - len(missing)
    summary.translated += len(missing)
    done = {**cached, **fresh}
    now = utc_now()
    with store.transaction():
        store.save_translations(fresh.items(), src, tgt, model, now)
        for t in chunk:
            store.set_item_translation(
                t.item_id,
                tgt,
                source_hash=t.source_hash,
                model=model,
                status="translated",
                note=None,
                title=done.get(text_hash(t.title), ""),
                summary=done.get(text_hash(t.summary), ""),
                now=now,
            )
            summary.items += 1


# ---------------------------------------------------------------- cluster


@dataclass
class ClusterSummary:
    """What one cluster stage did."""

    items: int = 0
    stories: int = 0
    multi_outlet: int = 0

    def line(self) -> str:
        """One line for cron mail."""
        return (
            f"cluster: {self.items} items in the window, {self.stories} stories "
            f"({self.multi_outlet} reported by several outlets)"
        )


def window_start(config: Config, now: datetime) -> datetime:
    """The oldest publication time the front page and the clustering reach."""
    return now - timedelta(days=config.site.window_days)


def cluster_stage(config: Config, store: Store, *, progress: Progress = QUIET) -> ClusterSummary:
    """Group the window's items into stories and file the stories under topics."""
    from .cluster import ClusterDoc, assign_story_ids, cluster_stories, match_topics, pick_headline

    now = utc_now()
    items = store.items(since=window_start(config, now), site_lang=config.site.language)
    site_lang = config.site.language
    docs = [
        ClusterDoc(
            id=it.id,
            text=f"{it.display_title}. {it.display_summary}",
            lang=site_lang if it.translation == "translated" else it.lang,
            published=it.published,
            feed_ids=tuple(it.feeds),
        )
        for it in items
    ]
    progress.start("cluster", 1)
    groups = cluster_stories(docs)
    stories = assign_story_ids(groups, store.story_assignments())
    by_id = {it.id: it for it in items}
    labels: dict[str, tuple[str, list[str]]] = {}
    summary = ClusterSummary(items=len(items), stories=len(stories))
    for sid, ids in stories.items():
        members = [by_id[i] for i in ids]
        texts = [
            t
            for it in members
            for t in (it.title, it.summary, it.title_translated or "", it.summary_translated or "")
        ]
        labels[sid] = (pick_headline(members, site_lang), match_topics(texts, config.topics))
        if len({f for it in members for f in it.feeds}) > 1:
            summary.multi_outlet += 1
    store.save_stories(stories, labels, now)
    progress.close()
    return summary


# ---------------------------------------------------------------- build


@dataclass
class BuildSummary:
    """What one build stage did."""

    out: Path
    stories: int
    pages: int
    written: int
    linked: int

    def line(self) -> str:
        """One line for cron mail."""
        return (
            f"build: {self.stories} stories, {self.pages} pages ({self.written} written, "
            f"{self.linked} unchanged) -> {self.out}"
        )


def site_data(config: Config, store: Store, now: datetime | None = None) -> SiteData:
    """Read the window's stories, topics and feed health from the store, ranked."""
    from .cluster import assign_story_ids, story_score

    now = now or utc_now()
    start = window_start(config, now)
    items = store.items(since=start, site_lang=config.site.language, include_hidden=False)
    labels = store.story_labels()
    names = {f.id: f.name for f in config.feeds}
    grouped: dict[str, list[StoredItem]] = defaultdict(list)
    for it in items:
        # Items not clustered yet (build before cluster) stand as stories of their own.
        sid = it.story or next(iter(assign_story_ids([[it.id]], {})))
        grouped[sid].append(it)
    stories: list[Story] = []
    for sid, members in grouped.items():
        members.sort(key=lambda it: (it.published, it.id))
        headline, story_topics = labels.get(sid, (members[0].display_title, []))
        outlets = list(dict.fromkeys(names.get(f, f) for it in members for f in it.feeds))
        languages = list(dict.fromkeys(it.lang for it in members))
        last = members[-1].published
        age_hours = max((now - last).total_seconds() / 3600, 0.0)
        stories.append(
            Story(
                id=sid,
                headline=headline,
                items=members,
                topics=list(story_topics),
                outlets=outlets,
                languages=languages,
                first_published=members[0].published,
                last_published=last,
                score=story_score(len(outlets), len(languages), len(members), age_hours),
            )
        )
    stories.sort(key=lambda s: (-s.score, -s.last_published.timestamp(), s.id))
    topics = [
        TopicView(name=t.name, slug=t.slug, stories=[s for s in stories if t.name in s.topics])
        for t in config.topics
    ]
    return SiteData(
        site=config.site,
        stories=stories,
        topics=topics,
        feeds=store.feed_health(config.feeds, start),
        generated_at=now,
    )


def build_stage(
    config: Config, store: Store, out: Path, *, progress: Progress = QUIET
) -> BuildSummary:
    """Render the static site into a new version directory and switch it in."""
    from .site import build_site

    data = site_data(config, store)
    progress.start("build", 1)
    report = build_site(data, out, templates_dir=config.site.templates_dir)
    progress.close()
    return BuildSummary(
        out=out,
        stories=len(data.stories),
        pages=report.pages,
        written=report.written,
        linked=report.linked,
    )


# ---------------------------------------------------------------- run


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
        translated = translate_stage(config, store, progress=progress)
        report(translated.line())
        clustered = cluster_stage(config, store, progress=progress)
        report(clustered.line())
        built = build_stage(config, store, ws.out_dir(out), progress=progress)
        report(built.line())
    return RunSummary(fetched, translated, clustered, built)


# ---------------------------------------------------------------- feeds and models reports


def _when(dt: datetime | None) -> str:
    return f"{dt:%Y-%m-%d %H:%M} UTC" if dt else "never"


def feed_report(config: Config, ws: Workspace) -> list[str]:
    """`digest feeds check`: one block per feed from the store, with what to do about it."""
    now = utc_now()
    with ws.open_store() as store:
        store.sync_feeds(config.feeds)
        health = store.feed_health(config.feeds, window_start(config, now))
    lines = []
    for h in health:
        if not h.enabled:
            state = "disabled"
        elif h.gone:
            state = "GONE"
        elif h.consecutive_failures:
            state = f"FAILING ({h.consecutive_failures} in a row)"
        elif h.last_attempt is None:
            state = "not fetched yet"
        else:
            state = "ok"
        lines.append(
            f"{h.id}: {state}; last success {_when(h.last_success)}; "
            f"{h.items_total} items ({h.items_in_window} in window)"
        )
        if h.last_error:
            lines.append(f"  last error: {h.last_error}")
        if h.next_fetch and h.next_fetch > now:
            lines.append(f"  next retry: {_when(h.next_fetch)}")
        if h.gone:
            lines.append(f"  fix the URL if it moved, then: digest feeds reset {h.id}")
        if h.effective_url and h.effective_url != h.url:
            lines.append(
                f"  moved permanently to {h.effective_url}: update its url in {config.path}"
            )
    return lines


def reset_feed(config: Config, ws: Workspace, feed_id: str) -> None:
    """`digest feeds reset ID`: revive a gone feed and clear its backoff."""
    if config.feed(feed_id) is None:
        known = ", ".join(f.id for f in config.feeds) or "none"
        raise InputError(f"unknown feed id: {feed_id}", f"configured feeds: {known}")
    with run_lock(ws), ws.open_store() as store:
        store.sync_feeds(config.feeds)
        store.reset_feed(feed_id)


def models_report(config: Config) -> list[str]:
    """`digest models list`: installed packages, and a path for each feed language."""
    from .packages import installed_packages, packages_dir
    from .translate import make_translator, missing_model_note

    tgt = config.site.language
    lines = [f"packages dir: {packages_dir(config.translation)}"]
    packages = installed_packages(config.translation)
    if not packages:
        lines.append("no translation packages installed")
    for p in packages:
        lines.append(f"installed: {p.name} {p.version} ({p.from_code}→{p.to_code})")
    translator = make_translator(config.translation)
    languages = sorted({f.language for f in config.feeds if f.language} - {tgt})
    for lang in languages:
        if lang.split("-")[0] == tgt.split("-")[0]:
            continue
        ref = translator.model_for(lang, tgt) if translator else None
        if ref is not None:
            lines.append(f"{lang}→{tgt}: ok ({ref.name})")
        else:
            lines.append(
                f"{lang}→{tgt}: {missing_model_note(lang, tgt)}; "
                f"hint: digest models install {lang.split('-')[0]} {tgt}"
            )
    return lines
