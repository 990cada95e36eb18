"""What the site templates see: plain view records built from SiteData (pure, no I/O)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

from digest.ids import file_name_for, hashed_name
from digest.language import lang_tag, text_direction
from digest.records import SiteData, StoredItem, Story, Text, TopicView
from digest.render import as_utc
from digest.text import one_line

# The front page's one-line summary is cut at about this many characters.
SUMMARY_CHARS = 220

_SPACES = re.compile(r"\s+")

# ---------------------------------------------------------------- views handed to templates


@dataclass(frozen=True)
class TopicLink:
    """A topic name and its page (relative to the site root), None when it has no page."""

    name: str
    href: str | None


@dataclass(frozen=True)
class StoryCard:
    """One story as the front page and topic pages list it."""

    story: Story
    href: str  # relative to the site root
    headline: Text
    summary: Text | None
    outlets: list[str]
    languages: list[str]
    time: datetime
    topics: list[TopicLink]
    reports: int = 0  # visible items
    coverage_gap: str | None = None  # e.g. "only in Chinese-language media"
    key_terms: list[str] = field(default_factory=list)
    machine_translated: bool = False  # the headline or summary shown is a machine translation
    coverage_note: str | None = None  # why no coverage claim can be made
    date_known: bool = True  # False: no report of it carried a date (`time` is when first seen)


@dataclass(frozen=True)
class RelatedLink:
    """A neighbouring story, as its page lists it."""

    href: str  # relative to the site root
    headline: Text


@dataclass(frozen=True)
class ItemView:
    """One item of a story page: what to show in the site language and in the original."""

    item: StoredItem
    translated: bool  # a machine translation is shown, with the original beneath it
    title: Text
    summary: Text | None
    original_title: Text
    original_summary: Text | None
    source_lang: str
    note: str | None  # why the item is not translated (no model installed)
    outlets: list[str]
    link: str | None  # the outbound link, only http(s)
    anchor: str = ""  # the element id of the item on its story page


@dataclass(frozen=True)
class TopicSection:
    """A topic as the front page shows it: a few stories and a link to all of them."""

    view: TopicView
    href: str
    cards: list[StoryCard]
    total: int


@dataclass(frozen=True)
class DayLink:
    """One day of the archive: its date (YYYY-MM-DD), page and how many stories it lists."""

    day: str
    href: str
    count: int


class SiteContext:
    """Lookups shared by every page of one build: names, file names, languages."""

    def __init__(self, data: SiteData) -> None:
        self.data = data
        self.site_lang = lang_tag(data.site.language)
        self.site_dir = text_direction(self.site_lang)
        self.feed_names = {f.id: f.name for f in data.feeds}
        self.outlet_names = {f.id: f.outlet or f.name for f in data.feeds}
        self._stories: dict[str, Story] | None = None
        self.topic_slugs: dict[str, str] = {}
        for topic in data.topics:
            self.topic_slugs.setdefault(topic.name, topic.slug)
        self._names = _NameTable()

    def all_stories(self) -> list[Story]:
        """The ranked stories, then those only a topic lists, then the archive; each once.

        A story with no visible item (all hidden) is left out everywhere.
        """
        seen: set[str] = set()
        result: list[Story] = []
        topic_only = (s for t in self.data.topics for s in t.stories)
        for story in [*self.data.stories, *topic_only, *self.data.archive]:
            if story.id not in seen and visible_items(story):
                seen.add(story.id)
                result.append(story)
        return result

    def feed_href(self, feed_id: str) -> str:
        """A source's page, relative to the site root."""
        return f"sources/{self._names.name('feed', feed_id)}.html"

    def story_href_for_id(self, story_id: str) -> str:
        """The page a story id has (or had), relative to the site root."""
        return f"stories/{self._names.name('story', story_id)}.html"

    def days(self, stories: list[Story]) -> dict[str, list[Story]]:
        """UTC day (YYYY-MM-DD) -> stories whose first visible report is that day, newest first.

        Each story is listed once, so a day's page stays the same size however long the story
        runs, and stays where its permalink put it.
        """
        by_day: dict[str, list[Story]] = defaultdict(list)
        for story in stories:
            visible = visible_items(story)
            if visible:
                first = as_utc(min(i.published for i in visible))
                by_day[first.strftime("%Y-%m-%d")].append(story)
        for day_stories in by_day.values():
            day_stories.sort(key=lambda s: (-s.last_published.timestamp(), s.id))
        return dict(sorted(by_day.items(), reverse=True))

    def story_href(self, story: Story) -> str:
        """The story page, relative to the site root."""
        return f"stories/{self._names.name('story', story.id)}.html"

    def topic_href(self, topic: TopicView) -> str:
        """The topic page, relative to the site root."""
        return f"topics/{self._names.name('topic', topic.slug)}.html"

    def card(self, story: Story) -> StoryCard:
        """The front-page view of a story."""
        visible = visible_items(story)
        if visible and len(visible) < len(story.items):
            # What a story shows must come from its visible reports only (takedown).
            story = replace(
                story,
                items=visible,
                outlets=_distinct([self.outlet_names.get(f, f) for i in visible for f in i.feeds]),
                languages=_distinct([i.lang for i in visible]),
                first_published=min(i.published for i in visible),
                last_published=max(i.published for i in visible),
            )
        lead = next((i for i in visible if i.display_title == story.headline), None)
        if lead is None and visible:
            lead = visible[0]
        summary = None
        machine = any(i.title_translated == story.headline for i in visible)
        if lead is not None:
            line = one_line(lead.display_summary, SUMMARY_CHARS)
            if line:
                summary = self._text(line, lead, translated=bool(lead.summary_translated))
                machine = machine or bool(lead.summary_translated)
        topics = [
            TopicLink(name, self._topic_href_by_name(name)) for name in _distinct(story.topics)
        ]
        # The newest dated report gives the story's time; undated ones only when all are.
        dated = [i.published for i in visible if not i.date_is_fallback]
        return StoryCard(
            story=story,
            href=self.story_href(story),
            headline=self._headline(story.headline, visible),
            summary=summary,
            outlets=_distinct(story.outlets),
            languages=[lang_tag(lang) for lang in _distinct(story.languages)],
            time=max(dated) if dated else story.last_published,
            topics=topics,
            reports=len(visible),
            coverage_gap=story.coverage_gap or None,
            key_terms=_distinct([t for t in story.key_terms if t.strip()])[:8],
            machine_translated=machine,
            coverage_note=story.coverage_note,
            date_known=bool(dated) or not visible,
        )

    def related(self, story: Story) -> list[RelatedLink]:
        """The story's nearest other stories on the site, as links with their headlines."""
        if self._stories is None:
            self._stories = {s.id: s for s in self.all_stories()}
        out = []
        for other_id in story.related:
            other = self._stories.get(other_id)
            if other is not None and other.id != story.id:
                visible = visible_items(other)
                out.append(
                    RelatedLink(self.story_href(other), self._headline(other.headline, visible))
                )
        return out

    def item_view(self, item: StoredItem) -> ItemView:
        """The story-page view of an item."""
        lang = lang_tag(item.lang)
        original_title = Text(item.title, lang, text_direction(lang))
        original_summary = Text(item.summary, lang, original_title.dir) if item.summary else None
        translated = item.translation == "translated" and bool(
            item.title_translated or item.summary_translated
        )
        if translated:
            title = original_title
            if item.title_translated:
                title = Text(item.title_translated, self.site_lang, self.site_dir)
            summary = original_summary
            if item.summary_translated:
                summary = Text(item.summary_translated, self.site_lang, self.site_dir)
        else:
            title, summary = original_title, original_summary
        note = None
        if item.translation == "no-model":
            note = item.translation_note or f"no {lang}→{self.site_lang} model installed"
        return ItemView(
            item=item,
            translated=translated,
            title=title,
            summary=summary,
            original_title=original_title,
            original_summary=original_summary,
            source_lang=lang,
            note=note,
            outlets=[self.feed_names.get(fid, fid) for fid in _distinct(item.feeds)],
            link=_outbound_link(item.link),
            anchor=self._names.name("item", item.id),
        )

    def _topic_href_by_name(self, name: str) -> str | None:
        slug = self.topic_slugs.get(name)
        if slug is None:
            return None
        return f"topics/{self._names.name('topic', slug)}.html"

    def _headline(self, headline: str, items: list[StoredItem]) -> Text:
        # A headline taken from an untranslated title is in that item's language.
        for item in items:
            if item.title_translated and item.title_translated == headline:
                break
            if item.title == headline:
                return self._text(headline, item, translated=False)
        return Text(headline, self.site_lang, self.site_dir)

    def _text(self, value: str, item: StoredItem, *, translated: bool) -> Text:
        if translated:
            return Text(value, self.site_lang, self.site_dir)
        lang = lang_tag(item.lang)
        return Text(value, lang, text_direction(lang))


class _NameTable:
    """File names for story ids and topic slugs: safe, stable, and distinct per kind."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], str] = {}
        self._taken: set[tuple[str, str]] = set()

    def name(self, kind: str, key: str) -> str:
        """The file name (without extension) for this key."""
        found = self._by_key.get((kind, key))
        if found is not None:
            return found
        name = file_name_for(key)
        # Case-insensitive file systems would merge "Ab" and "ab": fall back to the hashed form.
        if (kind, name.casefold()) in self._taken:
            name = hashed_name(key)
        self._taken.add((kind, name.casefold()))
        self._by_key[(kind, key)] = name
        return name


def _outbound_link(link: str) -> str | None:
    link = link.strip()
    if link.lower().startswith(("https://", "http://")) and not _SPACES.search(link):
        return link
    return None


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def visible_items(story: Story) -> list[StoredItem]:
    """The story's items that are not hidden."""
    return [i for i in story.items if not i.hidden]
