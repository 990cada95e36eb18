"""Rendering the pages (no I/O but templates): every page of the site from SiteData.

A page whose fingerprint (fingerprint.py) matches the one recorded in the current version's
manifest is not rendered again but reused: build.py hard-links it from that version.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import jinja2

from digest.errors import ConfigError, StageError
from digest.ids import slugify
from digest.records import SiteData, Story
from digest.render import make_environment
from digest.site.briefing import kind_label, language_label, story_brief
from digest.site.fingerprint import base_key, page_hash, story_signature
from digest.site.searchtext import SearchDoc
from digest.site.sources import source_groups
from digest.site.syndication import feed_paths, opml_feeds, output_feeds
from digest.site.views import DayLink, SiteContext, StoryCard, TopicSection, visible_items

__all__ = ["CSP", "SEARCH_CSP", "Rendered", "render_pages"]

# How many headlines each topic section of the front page shows before "all N stories".
TOPIC_SECTION_LIMIT = 5
# The front page's ranked list; the rest is a click away (topics, days). Keeps it under 100 KB.
FRONT_PAGE_STORIES = 30
# A topic page lists this many of its stories (ranked); the archive has them all.
TOPIC_PAGE_STORIES = 200
# A source's page lists this many of the window's stories with its reports (newest first).
SOURCE_PAGE_STORIES = 100

# base-uri and form-action do not fall back to default-src: without them an injected <base>
# could repoint every relative link, and a form could post anywhere.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "base-uri 'none'; form-action 'self'"
)
# Only the search page runs pagefind's WebAssembly.
SEARCH_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self' 'wasm-unsafe-eval'; base-uri 'none'; form-action 'self'"
)


@dataclass(frozen=True)
class FilterLink:
    """A static filter page of the front page: what it keeps, where, how many stories."""

    label: str
    href: str
    count: int


@dataclass
class Rendered:
    """The rendered files, the pages reused from the previous version, and fingerprints."""

    files: dict[str, bytes] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)  # story pages to link from the previous site
    fingerprints: dict[str, str] = field(default_factory=dict)
    pages: int = 0
    rendered: int = 0  # story pages rendered (the others were unchanged)
    # What the index reads, made only when the index is built (an unchanged rebuild reuses it).
    search_docs: Callable[[], list[SearchDoc]] = list


def render_pages(
    data: SiteData,
    templates_dir: Path | None,
    cache: Mapping[str, str],
    previous: Path | None,
    search: bool,
    newsletter: bool = False,
) -> Rendered:
    """Every page and output feed of the site; `cache`: the previous version's fingerprints;
    `newsletter`: the site carries the newsletter's archive (linked from every page)."""
    writer = PageWriter(data, templates_dir, cache, previous, search, newsletter)
    writer.story_pages()
    writer.redirect_pages()
    writer.filter_pages()
    writer.front_page()
    writer.topic_pages()
    writer.day_pages()
    writer.source_pages()
    writer.fixed_pages()
    if search:
        writer.result.search_docs = writer.search_docs
    writer.result.files.update(
        output_feeds(data, writer.ctx, writer.window, writer.known, writer.card)
    )
    return writer.result


class PageWriter:
    """One build's pages: renders each, or reuses it when its fingerprint is unchanged."""

    def __init__(
        self,
        data: SiteData,
        templates_dir: Path | None,
        cache: Mapping[str, str],
        previous: Path | None,
        search: bool,
        newsletter: bool = False,
    ) -> None:
        self.data = data
        self.templates_dir = templates_dir
        self.cache = cache
        self.previous = previous
        self.search = search
        self.env = make_environment(templates_dir)
        self.ctx = SiteContext(data)
        self.result = Rendered()
        # What every page's navigation and footer link to (only what exists).
        self.links = {
            "sources_opml": bool(opml_feeds(data.feeds)),
            "newsletter_archive": newsletter,
        }
        self.base_key = base_key(
            data, self.ctx.feed_names, templates_dir, search, sorted(self.links.items())
        )
        self._signatures: dict[str, str] = {}
        self._cards: dict[str, StoryCard] = {}
        self._listings: dict[str, set[str]] = {}
        self.stories = self.ctx.all_stories()
        self.known = {s.id for s in self.stories}
        self.window = [s for s in data.stories if s.id in self.known]
        self.day_links: list[DayLink] = []
        self._days: dict[str, list[Story]] = {}
        self.filters: list[FilterLink] = []
        self.feed_kinds = {f.id: f.kind for f in data.feeds if f.kind}

    # ------------------------------------------------------------ helpers

    def render(self, rel: str, template: str, csp: str = CSP, **values: object) -> None:
        """Render one page to `rel` (links relative to it)."""
        root = "../" * rel.count("/")
        self.result.files[rel] = self._render_one(rel, template, root, csp, values)
        self.result.pages += 1

    def unchanged(self, rel: str, *inputs: object) -> bool:
        """Record the page's fingerprint; True (and reuse it) when the current site has it."""
        fingerprint = page_hash(self.base_key, rel, repr(inputs))
        self.result.fingerprints[rel] = fingerprint
        if self.previous is None or self.cache.get(rel) != fingerprint:
            return False
        if not self._present(rel):
            return False
        self.result.reused.append(rel)
        self.result.pages += 1
        return True

    def _present(self, rel: str) -> bool:
        """The previous version has this file (one directory listing, not a stat per page)."""
        folder, _, name = rel.rpartition("/")
        names = self._listings.get(folder)
        if names is None:
            try:
                with os.scandir(os.path.join(str(self.previous), folder)) as entries:
                    names = {e.name for e in entries if e.is_file(follow_symlinks=False)}
            except OSError:
                names = set()
            self._listings[folder] = names
        return name in names

    def signature(self, story: Story) -> str:
        """The story's signature, computed once per build."""
        found = self._signatures.get(story.id)
        if found is None:
            found = self._signatures[story.id] = story_signature(story)
        return found

    def card(self, story: Story) -> StoryCard:
        """The story's card, built once per build."""
        found = self._cards.get(story.id)
        if found is None:
            found = self._cards[story.id] = self.ctx.card(story)
        return found

    def listed(self, stories: list[Story]) -> list[tuple[str, str]]:
        """What a listing page shows of its stories, for its fingerprint."""
        return [(self.signature(s), self.ctx.story_href(s)) for s in stories]

    # ------------------------------------------------------------ the pages

    def story_pages(self) -> None:
        """One page per story with a visible item (the bulk of the site)."""
        for story in self.stories:
            href = self.ctx.story_href(story)
            related = self.ctx.related(story)
            if self.unchanged(href, self.signature(story), related):
                continue
            view = self.card(story)
            items = [self.ctx.item_view(item) for item in visible_items(story)]
            brief = story_brief(view.story, items, self.feed_kinds, self.ctx.outlet_names)
            self.render(
                href,
                "site/story.html",
                card=view,
                story=view.story,
                items=items,
                related=related,
                brief=brief,
            )
            self.result.rendered += 1

    def search_docs(self) -> list[SearchDoc]:
        """What the search index reads of each story page: its headline and visible reports
        (original and translation), nothing else."""
        docs = []
        for story in self.stories:
            texts: list[str] = []
            for item in visible_items(story):
                view = self.ctx.item_view(item)
                for text in (view.title, view.summary, view.original_title, view.original_summary):
                    value = text.value if text is not None else ""
                    if value and value not in texts and value != story.headline:
                        texts.append(value)
            headline = self.card(story).headline.value
            docs.append(SearchDoc(self.ctx.story_href(story), headline, tuple(texts)))
        return docs

    def redirect_pages(self) -> None:
        """An old story id (the clustering merged or split it) keeps its page, pointing onwards."""
        taken = set(self.result.fingerprints)
        for old_id, new_id in sorted(self.data.redirects.items()):
            old_href = self.ctx.story_href_for_id(old_id)
            new_href = self.ctx.story_href_for_id(new_id)
            if old_href in taken or new_href not in taken:
                continue
            taken.add(old_href)
            target = PurePosixPath(new_href).name
            self.render(old_href, "site/redirect.html", target=target, old_id=old_id)

    def filter_pages(self) -> None:
        """Static filters of the window (no JavaScript): the stories reported only by one kind
        of outlet, or only in one language, where that can be said (digest.stories.breakdown)."""
        kinds: dict[str, list[Story]] = {}
        languages: dict[str, list[Story]] = {}
        for story in self.window:
            if story.only_kind:
                kinds.setdefault(story.only_kind, []).append(story)
            if story.only_language:
                languages.setdefault(story.only_language, []).append(story)
        wanted = [
            *(
                (f"Reported only by {kind_label(k)}", f"kind-{slugify(k) or 'other'}", ss)
                for k, ss in sorted(kinds.items())
            ),
            *(
                (f"Only in {language_label(x)}", f"lang-{slugify(x) or 'other'}", ss)
                for x, ss in sorted(languages.items())
            ),
        ]
        for label, name, stories in wanted:
            href = f"filters/{name}.html"
            self.filters.append(FilterLink(label, href, len(stories)))
            if self.unchanged(href, label, self.listed(stories)):
                continue
            cards = [self.card(s) for s in stories]
            self.render(href, "site/filter.html", label=label, cards=cards)

    def front_page(self) -> None:
        """The ranked window, a few stories per topic, and the recent days."""
        sections = []
        for topic in self.data.topics:
            topic_stories = [s for s in topic.stories if s.id in self.known]
            if topic_stories:
                first = [self.card(s) for s in topic_stories[:TOPIC_SECTION_LIMIT]]
                href = self.ctx.topic_href(topic)
                sections.append(TopicSection(topic, href, first, len(topic_stories)))
        self._days = self.ctx.days(self.stories)
        self.day_links = [
            DayLink(day, f"days/{day}.html", len(ss)) for day, ss in self._days.items()
        ]
        self.render(
            "index.html",
            "site/index.html",
            cards=[self.card(s) for s in self.window[:FRONT_PAGE_STORIES]],
            total=len(self.window),
            sections=sections,
            recent_days=self.day_links[:7],
            updated=self.data.updated_at,
            filters=self.filters,
        )

    def topic_pages(self) -> None:
        """One page per topic, its stories ranked."""
        for topic in self.data.topics:
            href = self.ctx.topic_href(topic)
            topic_stories = [s for s in topic.stories if s.id in self.known]
            shown = topic_stories[:TOPIC_PAGE_STORIES]
            feeds = feed_paths(f"topics/{PurePosixPath(href).stem}")
            if self.unchanged(href, topic.name, topic.slug, len(topic_stories), self.listed(shown)):
                continue
            self.render(
                href,
                "site/topic.html",
                topic=topic,
                cards=[self.card(s) for s in shown],
                total=len(topic_stories),
                feeds=feeds,
            )

    def day_pages(self) -> None:
        """The archive: an index of days and one page per day (permalinks never move)."""
        links = self.day_links
        self.render("days/index.html", "site/days.html", days=links)
        for i, link in enumerate(links):
            newer = links[i - 1] if i > 0 else None
            older = links[i + 1] if i + 1 < len(links) else None
            day_stories = self._days[link.day]
            if self.unchanged(link.href, link, newer, older, self.listed(day_stories)):
                continue
            cards = [self.card(s) for s in day_stories]
            self.render(link.href, "site/day.html", day=link, cards=cards, newer=newer, older=older)

    def source_pages(self) -> None:
        """The sources page, and one page per feed listing the window's stories it reported."""
        groups = source_groups(self.data.feeds, self.ctx.feed_href)
        # `feeds` (FeedHealth, the operator's view) only for override templates of older
        # digests: the built-in page shows readers the public view (`groups`) alone.
        self.render("sources.html", "site/sources.html", groups=groups, feeds=self.data.feeds)
        public = {feed.id: (feed, group) for group in groups for feed in group.feeds}
        # Sorted newest first once, so each source's list comes out sorted.
        by_feed: dict[str, list[Story]] = {}
        for story in sorted(self.window, key=lambda s: (-s.last_published.timestamp(), s.id)):
            for feed_id in dict.fromkeys(f for i in visible_items(story) for f in i.feeds):
                by_feed.setdefault(feed_id, []).append(story)
        for feed_id, (feed, group) in public.items():
            mine = by_feed.get(feed_id, [])
            shown = mine[:SOURCE_PAGE_STORIES]
            href = feed.href
            if self.unchanged(href, feed, group, len(mine), self.listed(shown)):
                continue
            cards = [self.card(s) for s in shown]
            self.render(
                href, "site/source.html", feed=feed, group=group, cards=cards, total=len(mine)
            )

    def fixed_pages(self) -> None:
        """About, search and 404."""
        self.render("about.html", "site/about.html", search=self.search)
        self.render("search.html", "site/search.html", csp=SEARCH_CSP, search=self.search)
        # A 404 page is served for any missing path, at any depth: its links start at the
        # site's path on the server (from base_url), not relative to itself.
        self.result.files["404.html"] = self._render_one(
            "404.html", "site/404.html", _site_path(self.data), CSP, {}
        )
        self.result.pages += 1

    # ------------------------------------------------------------ rendering

    def _render_one(
        self, rel: str, template: str, root: str, csp: str, values: Mapping[str, object]
    ) -> bytes:
        templates_dir = self.templates_dir
        try:
            text = self.env.get_template(template).render(
                site=self.data.site,
                site_lang=self.ctx.site_lang,
                site_dir=self.ctx.site_dir,
                root=root,
                page=rel,
                csp=csp,
                **self.links,
                **values,
            )
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.filename or exc.name or template}, line {exc.lineno}"
            error = ConfigError if templates_dir is not None else StageError
            raise error(
                f"template error in {where}: {exc.message}",
                hint=f"fix the template (override folder: {templates_dir or 'none'})",
            ) from exc
        except jinja2.TemplateError as exc:
            raise StageError(
                f"could not render {rel} with template {template}: {exc}",
                hint="an overriding template may use a name the site builder does not provide",
            ) from exc
        # Lone surrogates can survive in hostile feed text; they must not abort the build.
        return text.encode("utf-8", errors="replace")


def _site_path(data: SiteData) -> str:
    path = urlsplit(data.site.base_url).path or "/"
    return path if path.endswith("/") else path + "/"
