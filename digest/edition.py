"""What is published: the window's stories, topics and feeds, read once from the store.

The site and the newsletter both read this; neither touches the store for content.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from operator import attrgetter

from digest.ids import slugify
from digest.records import Config, SiteData, StoredItem, Story, SummaryLine, TopicView
from digest.store import Store, utc_now
from digest.stories.breakdown import breakdown, only_kind, only_language, reach
from digest.stories.ids import assign_story_ids
from digest.stories.rank import pick_headline, story_score
from digest.stories.topicids import is_discovered_id, resolve_topics
from digest.stories.vectors import VECTOR_LANGS

__all__ = ["ARCHIVE_DAYS", "build_data", "site_data"]

# A story's reports in time order (a C-level key: a build sorts every item).
_BY_TIME = attrgetter("published", "id")


def site_data(
    config: Config, store: Store, now: datetime | None = None, *, window_counts: bool = True
) -> SiteData:
    """Read the window's stories, topics and feed health (window_counts: per feed), ranked."""
    now = now or utc_now()
    start = config.window_start(now)
    # Hidden items are read too, only to know which stories lost reports to a takedown.
    items = store.items(since=start, site_lang=config.site.language)
    labels = store.story_labels()
    key_terms = store.story_key_terms()
    coverage = store.story_coverage()
    related = store.story_related()
    records = store.topic_records()
    taxonomy = {t.name for t in config.topics}
    topic_keys: dict[str, str] = {}  # shown name -> taxonomy name or discovered id
    summaries = store.story_summaries()
    names = {f.id: f.outlet_name for f in config.feeds}
    site = config.site.language.split("-")[0].lower()
    grouped: dict[str, list[StoredItem]] = defaultdict(list)
    taken_down: dict[str, list[StoredItem]] = defaultdict(list)
    for it in items:
        # Items not clustered yet (build before cluster) stand as stories of their own.
        sid = it.story or next(iter(assign_story_ids([[it.id]], {})))
        (taken_down if it.hidden else grouped)[sid].append(it)
    # Who could have reported what, and when the digest was reading them (coverage claims).
    where = reach(
        config.feeds,
        items,
        store.fetched_days(start),
        store.cluster_state().get(VECTOR_LANGS, "").split(),
        config.site.language,
    )
    stories: list[Story] = []
    for sid, members in grouped.items():
        members.sort(key=_BY_TIME)
        headline, stored_topics = labels.get(sid, (members[0].display_title, []))
        shown = resolve_topics(stored_topics, records, taxonomy)
        for name, key in shown:
            topic_keys.setdefault(name, key)
        story_topics = [name for name, _ in shown]
        terms = list(key_terms.get(sid, []))
        if sid in taken_down:
            # Labels are made again only by the next cluster run: until then nothing a story
            # shows may come from a hidden report (its title as the headline, its words).
            headline, terms = _labels_without_hidden(headline, terms, members, config)
        outlets = list(dict.fromkeys(names.get(f, f) for it in members for f in it.feeds))
        languages = list(dict.fromkeys(it.lang for it in members))
        gap, note = coverage.get(sid, (None, None))
        if any(lang.split("-")[0].lower() == site for lang in languages):
            gap = note = None  # a report in the site language joined since the labels
        last = members[-1].published
        # An undated report's time is when it was first seen: it must not make a story fresh.
        dated = [m.published for m in members if not m.date_is_fallback]
        age_hours = max((now - (dated[-1] if dated else last)).total_seconds() / 3600, 0.0)
        cover = breakdown(members, taken_down.get(sid, ()), where)
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
                coverage_gap=gap,
                key_terms=terms,
                coverage_note=note,
                related=[other for other, _ in related.get(sid, [])],
                summary=_summary_lines(summaries.get(sid, ()), members),
                kinds=cover.kinds,
                missing_kinds=cover.missing_kinds,
                missing_languages=cover.missing_languages,
                unchecked=cover.unchecked,
                only_kind=only_kind(cover.kinds, cover.missing_kinds, where),
                only_language=only_language(languages, cover.missing_languages, where),
            )
        )
    # A story told only by undated reports never ranks above one with a dated report.
    stories.sort(key=lambda s: (_undated(s), -s.score, -s.last_published.timestamp(), s.id))
    live = {s.id for s in stories}
    for story in stories:
        story.related = [r for r in story.related if r in live and r != story.id]
    topics = [
        TopicView(name=t.name, slug=t.slug, stories=[s for s in stories if t.name in s.topics])
        for t in config.topics
    ]
    topics.extend(_discovered_topic_views(config, stories, topic_keys))
    return SiteData(
        site=config.site,
        stories=stories,
        topics=topics,
        # what a public page may show: no address a fetch was refused for (feeds check has it)
        feeds=[
            h.public() for h in store.feed_health(config.feeds, start if window_counts else None)
        ],
        generated_at=now,
        redirects=_live_redirects(store.story_redirects(), {s.id for s in stories}),
    )


def _summary_lines(
    stored: Sequence[Mapping[str, object]], visible: Sequence[StoredItem]
) -> list[SummaryLine]:
    """The stored "what happened" sentences still shown verbatim by a visible report.

    A sentence of a report hidden since, or no longer in its report's text (edited, or
    translated again), is left out until the next cluster run chooses again.
    """
    by_id = {i.id: i for i in visible}
    out: list[SummaryLine] = []
    for line in stored:
        item = by_id.get(str(line.get("item")))
        text, mt = str(line.get("text") or ""), bool(line.get("mt"))
        if item is None or not text:
            continue
        title = line.get("part") == "title"
        if mt:
            source = item.title_translated if title else item.summary_translated
            if item.translation != "translated":
                source = None
        else:
            source = item.title if title else item.summary
        if source and text in source:
            out.append((item.id, text, str(line.get("lang") or item.lang), mt))
    return out


def _undated(story: Story) -> bool:
    return all(item.date_is_fallback for item in story.items)


def _labels_without_hidden(
    headline: str, terms: list[str], visible: Sequence[StoredItem], config: Config
) -> tuple[str, list[str]]:
    """The headline and key terms of a story that lost reports, from its visible reports only."""
    titles = {" ".join(t.split()) for i in visible for t in (i.title, i.display_title)}
    if " ".join(headline.split()) not in titles:
        headline = pick_headline(visible, config.site.language)
    text = " ".join(
        f"{i.title} {i.summary} {i.title_translated or ''} {i.summary_translated or ''}"
        for i in visible
    ).casefold()
    return headline, [t for t in terms if t.casefold() in text]


def _discovered_topic_views(
    config: Config, stories: Sequence[Story], keys: Mapping[str, str]
) -> list[TopicView]:
    """Topics found by clustering (not in the taxonomy), by size; the slug is the topic's id
    (kept across reclustering and renaming), or 'auto-' and the name for an old stored name."""
    known = {t.name for t in config.topics}
    named: dict[str, list[Story]] = defaultdict(list)
    for story in stories:
        for name in story.topics:
            if name not in known:
                named[name].append(story)
    views, slugs = [], {t.slug for t in config.topics}
    for name, members in sorted(named.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        key = keys.get(name, "")
        slug = base = key if is_discovered_id(key) else "auto-" + slugify(name)
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


def build_data(config: Config, store: Store, now: datetime | None = None) -> SiteData:
    """SiteData for the window, plus every older story as the archive (for the day pages)."""
    now = now or utc_now()
    whole = replace(config, site=replace(config.site, window_days=ARCHIVE_DAYS))
    data = site_data(whole, store, now, window_counts=False)  # counted below, for the window
    start = config.window_start(now)
    window = [s for s in data.stories if s.last_published >= start]
    in_window = {s.id for s in window}
    data.archive = [s for s in data.stories if s.id not in in_window]
    data.stories = window
    data.topics = [
        replace(t, stories=[s for s in t.stories if s.id in in_window]) for t in data.topics
    ]
    data.site = config.site
    data.updated_at = store.newest_first_seen()
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
