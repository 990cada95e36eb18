"""The stages in order, under the run lock: fetch, translate, cluster, build."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

from digest.ingest.normalize import UNDETERMINED
from digest.ingest.stage import FetchSummary, fetch_stage
from digest.progress import QUIET, Progress
from digest.records import (
    Config,
    SiteData,
    StoredItem,
    Story,
    TopicView,
    TranslationConfig,
)
from digest.store import Store, TranslationTask, text_hash, utc_now
from digest.stories.stage import ClusterSummary, cluster_stage, window_start
from digest.translate.executors import (
    Batch,
    Executor,
    ExecutorLost,
    LocalExecutor,
    batch_items,
    make_executor,
)
from digest.workspace import Workspace, run_lock

if TYPE_CHECKING:
    from digest.translate.engine import Translator

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- translate


@dataclass
class TranslateSummary:
    """What one translate stage did."""

    translated: int = 0  # texts through the model
    cached: int = 0  # texts found in the cache
    items: int = 0  # items whose translation was (re)made
    no_model: Counter[str] = field(default_factory=Counter)  # lang -> items without a model
    notes: dict[str, str] = field(default_factory=dict)  # lang -> why
    executor: str | None = None  # where the model ran, when not in this process

    def line(self) -> str:
        """One line for cron mail."""
        text = (
            f"translate: {self.items} items, {self.translated} texts translated, "
            f"{self.cached} from cache"
        )
        if self.executor:
            text += f" (on {self.executor})"
        for lang, count in sorted(self.no_model.items()):
            text += f"; {count} items in {lang}: {self.notes.get(lang, 'no model available')}"
        return text


def translate_stage(
    config: Config,
    store: Store,
    *,
    translator_factory: Callable[[TranslationConfig], Translator | None] | None = None,
    executor: Executor | None = None,
    cluster: str | None = None,
    progress: Progress = QUIET,
) -> TranslateSummary:
    """Translate titles and summaries not in the site language; never twice for one model.

    Batches run on the configured executor (this process, or Dask: `cluster` overrides
    translation.cluster); this process alone writes results, one transaction per batch.
    """
    from digest.translate.engine import make_translator, missing_model_note

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
    work: list[tuple[str, str, list[TranslationTask]]] = []  # (lang, model, items to do)
    for lang, group in sorted(by_lang.items()):
        known = lang != UNDETERMINED
        ref = translator.model_for(lang, tgt) if translator is not None and known else None
        if ref is None:
            if translator is None:
                note = "translation is off (translation.engine: none)"
            elif not known:
                note = "language not recognised; set the feed's language in the config"
            else:
                note = missing_model_note(lang, tgt)
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
        todo = [
            t
            for t in group
            if not (
                t.status == "translated" and t.model == ref.name and t.done_hash == t.source_hash
            )
        ]
        if todo:
            work.append((lang, ref.name, todo))
    if not work:
        return summary
    assert translator is not None  # a model was found through it
    size = executor.batch_items if executor else batch_items(config.translation, cluster)
    pending = _plan_batches(store, work, tgt, size, summary)
    total = sum(len(todo) for _, _, todo in work)
    progress.start(f"translate {', '.join(lang for lang, _, _ in work)}", total)
    for chunk in pending.ready:
        _write_chunk(store, chunk, {}, tgt, summary)
        progress.advance(len(chunk.items))
    if pending.batches:
        runner = executor or make_executor(config.translation, translator, cluster=cluster)
        if not isinstance(runner, LocalExecutor):
            summary.executor = runner.description
        try:
            for batch, outputs in runner.run(pending.batches):
                owner = pending.waiting.get(batch.key)
                if owner is None:
                    continue  # a result delivered twice is written once
                del pending.waiting[batch.key]
                fresh = dict(zip(owner.missing, outputs, strict=True))
                _write_chunk(store, owner, fresh, tgt, summary)
                progress.advance(len(owner.items))
        except ExecutorLost as exc:
            written = f"{summary.items} of {total} items were translated and stored"
            raise ExecutorLost(f"{exc.message}; {written}", hint=exc.hint) from exc
        finally:
            if executor is None:
                runner.close()
    progress.close()
    return summary


@dataclass
class _Chunk:
    """Items translated and written together: one model call, one transaction."""

    lang: str
    model: str
    items: list[TranslationTask]
    texts: dict[str, str]  # text hash -> source text
    cached: dict[str, str]  # text hash -> translation already in the cache
    missing: list[str]  # text hashes for the model, in batch order


@dataclass
class _Pending:
    ready: list[_Chunk] = field(default_factory=list)  # everything cached: nothing to run
    batches: list[Batch] = field(default_factory=list)
    waiting: dict[int, _Chunk] = field(default_factory=dict)  # batch key -> its chunk


def _plan_batches(
    store: Store,
    work: list[tuple[str, str, list[TranslationTask]]],
    tgt: str,
    step: int,
    summary: TranslateSummary,
) -> _Pending:
    """Cut the work into chunks of `step` items, look each up in the cache, batch the rest."""
    pending = _Pending()
    for lang, model, todo in work:
        for start in range(0, len(todo), step):
            items = todo[start : start + step]
            texts = {text_hash(s): s for t in items for s in (t.title, t.summary) if s.strip()}
            cached = store.cached_translations(texts, lang, tgt, model)
            missing = [h for h in texts if h not in cached]
            summary.cached += len(cached)
            chunk = _Chunk(lang, model, items, texts, cached, missing)
            if not missing:
                pending.ready.append(chunk)
                continue
            key = len(pending.batches)
            pending.waiting[key] = chunk
            texts_out = tuple(texts[h] for h in missing)
            pending.batches.append(Batch(key, lang, tgt, model, texts_out))
    return pending


def _write_chunk(
    store: Store, chunk: _Chunk, fresh: dict[str, str], tgt: str, summary: TranslateSummary
) -> None:
    """Record one chunk's translations (new ones cached) in one transaction."""
    summary.translated += len(fresh)
    done = {**chunk.cached, **fresh}
    now = utc_now()
    with store.transaction():
        store.save_translations(fresh.items(), chunk.lang, tgt, chunk.model, now)
        for t in chunk.items:
            store.set_item_translation(
                t.item_id,
                tgt,
                source_hash=t.source_hash,
                model=chunk.model,
                status="translated",
                note=None,
                title=done.get(text_hash(t.title), ""),
                summary=done.get(text_hash(t.summary), ""),
                now=now,
            )
            summary.items += 1


# ---------------------------------------------------------------- build


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
            f"build: {self.stories} stories, {self.pages} pages ({self.written} written, "
            f"{self.linked} unchanged) -> {self.out}"
        )
        if not self.search:
            text += "; no search index (install pagefind[extended])"
        return text


# A story's reports in time order (a C-level key: a build sorts every item).
_BY_TIME = attrgetter("published", "id")


def site_data(
    config: Config, store: Store, now: datetime | None = None, *, window_counts: bool = True
) -> SiteData:
    """Read the window's stories, topics and feed health (window_counts: per feed), ranked."""
    from digest.stories.assign import coverage_gap
    from digest.stories.linkage import assign_story_ids, story_score

    now = now or utc_now()
    start = window_start(config, now)
    items = store.items(since=start, site_lang=config.site.language, include_hidden=False)
    labels = store.story_labels()
    key_terms = store.story_key_terms()
    names = {f.id: f.name for f in config.feeds}
    grouped: dict[str, list[StoredItem]] = defaultdict(list)
    for it in items:
        # Items not clustered yet (build before cluster) stand as stories of their own.
        sid = it.story or next(iter(assign_story_ids([[it.id]], {})))
        grouped[sid].append(it)
    stories: list[Story] = []
    for sid, members in grouped.items():
        members.sort(key=_BY_TIME)
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
                coverage_gap=coverage_gap(languages, config.site.language),
                key_terms=list(key_terms.get(sid, [])),
            )
        )
    stories.sort(key=lambda s: (-s.score, -s.last_published.timestamp(), s.id))
    topics = [
        TopicView(name=t.name, slug=t.slug, stories=[s for s in stories if t.name in s.topics])
        for t in config.topics
    ]
    topics.extend(_discovered_topic_views(config, stories))
    return SiteData(
        site=config.site,
        stories=stories,
        topics=topics,
        feeds=store.feed_health(config.feeds, start if window_counts else None),
        generated_at=now,
        redirects=_live_redirects(store.story_redirects(), {s.id for s in stories}),
    )


def _discovered_topic_views(config: Config, stories: Sequence[Story]) -> list[TopicView]:
    """Topics found by clustering (not in the taxonomy), by size; slugs start with 'auto-'."""
    from digest.ids import slugify

    known = {t.name for t in config.topics}
    named: dict[str, list[Story]] = defaultdict(list)
    for story in stories:
        for name in story.topics:
            if name not in known:
                named[name].append(story)
    views, slugs = [], {t.slug for t in config.topics}
    for name, members in sorted(named.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        slug = base = "auto-" + slugify(name)
        n = 2
        while slug in slugs:
            slug, n = f"{base}-{n}", n + 1
        slugs.add(slug)
        views.append(TopicView(name=name, slug=slug, stories=members))
    return views


def _live_redirects(redirects: Mapping[str, str], live: set[str]) -> dict[str, str]:
    """Old story id -> a story on the site, following chains of merges; dead ends dropped."""
    out = {}
    for old in sorted(redirects):
        target, hops = redirects[old], 0
        while target not in live and target in redirects and hops < 50:
            target, hops = redirects[target], hops + 1
        if target in live and old not in live:
            out[old] = target
    return out


# The archive reaches as far back as the store does (store.retention_days prunes it).
ARCHIVE_DAYS = 365 * 1000


# Functions adding files to the site ({relative path: bytes}, e.g. the newsletter's web archive
# under newsletter/); build_stage publishes them with the pages.
def _newsletter_archive(config: Config, store: Store) -> Mapping[str, bytes]:
    from digest.newsletter.stage import (
        archive_files,  # css-inline and the mail code stay off other paths
    )

    return archive_files(config, store)


SITE_EXTRAS: list[Callable[[Config, Store], Mapping[str, bytes]]] = [_newsletter_archive]


def build_data(config: Config, store: Store, now: datetime | None = None) -> SiteData:
    """SiteData for the window, plus every older story as the archive (for the day pages)."""
    now = now or utc_now()
    whole = replace(config, site=replace(config.site, window_days=ARCHIVE_DAYS))
    data = site_data(whole, store, now, window_counts=False)  # counted below, for the window
    start = window_start(config, now)
    window = [s for s in data.stories if s.last_published >= start]
    in_window = {s.id for s in window}
    data.archive = [s for s in data.stories if s.id not in in_window]
    data.stories = window
    data.topics = [
        replace(t, stories=[s for s in t.stories if s.id in in_window]) for t in data.topics
    ]
    data.site = config.site
    # site_data counted "items in the window" over the whole archive: count the real window
    # (visible items only: a hidden item is not counted on the public sources page either).
    recent: Counter[str] = Counter()
    for story in window:
        for item in story.items:
            if item.published >= start and not item.hidden:
                for feed_id in set(item.feeds):  # an item counts once per feed
                    recent[feed_id] += 1
    for feed in data.feeds:
        feed.items_in_window = recent[feed.id]
    return data


def build_stage(
    config: Config,
    store: Store,
    out: Path,
    *,
    progress: Progress = QUIET,
    now: datetime | None = None,
) -> BuildSummary:
    """Render the static site into a new version directory and switch it in."""
    from digest.collector import collector_paused
    from digest.site.pages import build_site

    with collector_paused() as made:
        data = build_data(config, store, now)
        made()
        extra: dict[str, bytes] = {}
        for source in SITE_EXTRAS:
            extra.update(source(config, store))
        progress.start("build", 1)
        report = build_site(data, out, templates_dir=config.site.templates_dir, extra_files=extra)
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
