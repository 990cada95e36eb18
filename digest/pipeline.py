"""The stages in order, under the run lock: fetch, translate, cluster, build."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .ingest import FetchSummary, fetch_stage
from .models import (
    Config,
    SiteData,
    StoredItem,
    Story,
    TopicView,
    TranslationConfig,
)
from .normalize import UNDETERMINED
from .progress import QUIET, Progress
from .store import Store, TranslationTask, text_hash, utc_now
from .workspace import Workspace, run_lock

if TYPE_CHECKING:
    from .translate import Translator

log = logging.getLogger(__name__)

TRANSLATE_CHUNK = 256  # texts per model call and per transaction: progress and crash safety


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


