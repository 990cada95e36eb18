"""Build the static site: render every page in memory, then publish it as a new version.

Story pages are the bulk of a site, so each one's inputs are fingerprinted: a page whose
fingerprint matches the one recorded in the current version's manifest is not rendered again but
hard-linked (see publish.py). Every other file is rendered and compared byte for byte. The
search index (search.py) is rebuilt only when an indexed page changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path, PurePosixPath

import jinja2

import digest
from digest.errors import ConfigError, StageError
from digest.ids import is_safe_name
from digest.records import SiteData, StoredItem, Story
from digest.render import as_utc, iso_utc, make_environment, templates_root
from digest.site.publish import Published, current_version, publish
from digest.site.search import SEARCH_DIR, index_key, pagefind_executable, publish_index
from digest.site.syndication import FeedEntry, FeedMeta, atom_feed, json_feed, opml_sources
from digest.site.views import (
    DayLink,
    SiteContext,
    StoryCard,
    TopicSection,
    visible_items,
)

__all__ = ["BuildReport", "build_site", "render_files"]

log = logging.getLogger(__name__)

# How many headlines each topic section of the front page shows before "all N stories".
TOPIC_SECTION_LIMIT = 5
# The front page's ranked list; the rest is a click away (topics, days). Keeps it under 100 KB.
FRONT_PAGE_STORIES = 30
# A topic page lists this many of its stories (ranked); the archive has them all.
TOPIC_PAGE_STORIES = 200
# A source's page lists this many of the window's stories with its reports (newest first).
SOURCE_PAGE_STORIES = 100
# Stories per output feed (newest first).
FEED_ENTRIES = 50
# Per-page fingerprints and the search-index key of a version, kept inside it.
MANIFEST = ".digest-manifest.json"
MANIFEST_VERSION = 1

CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"
# Only the search page runs pagefind's WebAssembly.
SEARCH_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self' 'wasm-unsafe-eval'"
)


@dataclass
class BuildReport:
    """What a build did: the version directory, HTML pages, files written and linked."""

    version_dir: Path
    pages: int  # HTML pages in the site
    written: int  # files whose bytes were written (new or changed)
    linked: int  # files hard-linked unchanged from the previous version
    rendered: int = 0  # story pages rendered (the others were unchanged)
    search: bool = False  # the site has a search index


# ---------------------------------------------------------------- public entry points


def build_site(
    data: SiteData,
    out: Path,
    *,
    templates_dir: Path | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    search: bool = True,
) -> BuildReport:
    """Render the site into a new version dir beside `out` and switch `out` to it atomically.

    `extra_files` ({relative path: bytes}, e.g. the newsletter archive under newsletter/) are
    published with the pages. `search` builds the pagefind index when pagefind is installed.
    """
    if templates_dir is None:
        templates_dir = data.site.templates_dir
    if templates_dir is not None and not Path(templates_dir).is_dir():
        raise ConfigError(
            f"templates directory not found: {templates_dir}",
            hint="site.templates_dir must name a folder laid out like the built-in templates/",
        )
    out = Path(os.path.abspath(out))
    previous, _ = current_version(out)
    old = _read_manifest(previous)
    executable = pagefind_executable() if search else None
    if search and executable is None:
        log.warning("pagefind is not installed: the site is built without search")
    cache = old.get("pages")
    cache = cache if isinstance(cache, dict) else {}
    result = _render(data, templates_dir, cache, previous, executable is not None)
    files = result.files
    for rel, content in (extra_files or {}).items():
        _check_extra_path(rel, files)
        files[rel] = bytes(content)
    manifest: dict[str, object] = {"version": MANIFEST_VERSION, "pages": result.fingerprints}
    after_fill = None
    if executable is not None:
        stories = [(r, fp) for r, fp in result.fingerprints.items() if r.startswith("stories/")]
        key = index_key(executable, stories)
        manifest["search"] = key
        reuse_index = old.get("search") == key
        exe = executable

        def after_fill(version: Path, prev: Path | None) -> tuple[int, int]:
            return publish_index(exe, version, prev, reuse=reuse_index)

    # Compact, so the C encoder does it: the manifest has an entry per page.
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    files[MANIFEST] = (text + "\n").encode("utf-8")
    files["build.json"] = _build_json(data, result.pages)
    published: Published = publish(files, out, reuse=result.reused, after_fill=after_fill)
    return BuildReport(
        version_dir=published.version_dir,
        pages=result.pages,
        written=published.written,
        linked=published.linked,
        rendered=result.rendered,
        search=executable is not None,
    )


def render_files(data: SiteData, *, templates_dir: Path | None = None) -> dict[str, bytes]:
    """Every file of the site but the search index, by path relative to the site root."""
    result = _render(data, templates_dir, {}, None, search=False)
    files = result.files
    files["build.json"] = _build_json(data, result.pages)
    return files


# ---------------------------------------------------------------- rendering (no I/O but templates)


@dataclass
class _Rendered:
    files: dict[str, bytes] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)  # story pages to link from the previous site
    fingerprints: dict[str, str] = field(default_factory=dict)
    pages: int = 0
    rendered: int = 0


def _render(
    data: SiteData,
    templates_dir: Path | None,
    cache: Mapping[str, str],
    previous: Path | None,
    search: bool,
) -> _Rendered:
    env = make_environment(templates_dir)
    ctx = SiteContext(data)
    result = _Rendered()
    files = result.files
    base_key = _base_key(data, ctx, templates_dir, search)
    signatures: dict[str, str] = {}
    previous_dir = str(previous) if previous is not None else ""
    cards: dict[str, StoryCard] = {}

    def render(rel: str, template: str, csp: str = CSP, **values: object) -> None:
        root = "../" * rel.count("/")
        files[rel] = _render_one(env, templates_dir, rel, template, data, ctx, root, csp, values)
        result.pages += 1

    def unchanged(rel: str, *inputs: object) -> bool:
        """Record the page's fingerprint; True (and reuse it) when the current site has it."""
        fingerprint = _hash(base_key, rel, repr(inputs))
        result.fingerprints[rel] = fingerprint
        if previous is None or cache.get(rel) != fingerprint:
            return False
        if not present(rel):
            return False
        result.reused.append(rel)
        result.pages += 1
        return True

    listings: dict[str, set[str]] = {}

    def present(rel: str) -> bool:
        """The previous version has this file (one directory listing, not a stat per page)."""
        folder, _, name = rel.rpartition("/")
        names = listings.get(folder)
        if names is None:
            try:
                with os.scandir(os.path.join(previous_dir, folder)) as entries:
                    names = {e.name for e in entries if e.is_file(follow_symlinks=False)}
            except OSError:
                names = set()
            listings[folder] = names
        return name in names

    def sig(story: Story) -> str:
        found = signatures.get(story.id)
        if found is None:
            found = signatures[story.id] = _story_signature(story)
        return found

    def card(story: Story) -> StoryCard:
        found = cards.get(story.id)
        if found is None:
            found = cards[story.id] = ctx.card(story)
        return found

    def listed(stories: list[Story]) -> list[tuple[str, str]]:
        return [(sig(s), ctx.story_href(s)) for s in stories]

    stories = ctx.all_stories()
    known = {s.id for s in stories}
    window = [s for s in data.stories if s.id in known]
    for story in stories:
        href = ctx.story_href(story)
        if unchanged(href, sig(story)):
            continue
        view = card(story)
        items = [ctx.item_view(item) for item in visible_items(story)]
        render(href, "site/story.html", card=view, story=view.story, items=items)
        result.rendered += 1

    # An old story id (the clustering merged or split it) keeps its page: it points onwards.
    pages_taken = set(result.fingerprints)
    for old_id, new_id in sorted(data.redirects.items()):
        old_href = ctx.story_href_for_id(old_id)
        new_href = ctx.story_href_for_id(new_id)
        if old_href in pages_taken or new_href not in pages_taken:
            continue
        pages_taken.add(old_href)
        target = PurePosixPath(new_href).name
        render(old_href, "site/redirect.html", target=target, old_id=old_id)

    sections = []
    for topic in data.topics:
        topic_stories = [s for s in topic.stories if s.id in known]
        if topic_stories:
            first = [card(s) for s in topic_stories[:TOPIC_SECTION_LIMIT]]
            sections.append(TopicSection(topic, ctx.topic_href(topic), first, len(topic_stories)))
    days = ctx.days(stories)
    day_links = [DayLink(day, f"days/{day}.html", len(ss)) for day, ss in days.items()]
    render(
        "index.html",
        "site/index.html",
        cards=[card(s) for s in window[:FRONT_PAGE_STORIES]],
        total=len(window),
        sections=sections,
        recent_days=day_links[:7],
    )
    for topic in data.topics:
        href = ctx.topic_href(topic)
        topic_stories = [s for s in topic.stories if s.id in known]
        shown = topic_stories[:TOPIC_PAGE_STORIES]
        feeds = _feed_paths(f"topics/{PurePosixPath(href).stem}")
        if unchanged(href, topic.name, topic.slug, len(topic_stories), listed(shown)):
            continue
        topic_cards = [card(s) for s in shown]
        render(
            href,
            "site/topic.html",
            topic=topic,
            cards=topic_cards,
            total=len(topic_stories),
            feeds=feeds,
        )
    render("days/index.html", "site/days.html", days=day_links)
    for i, link in enumerate(day_links):
        newer = day_links[i - 1] if i > 0 else None
        older = day_links[i + 1] if i + 1 < len(day_links) else None
        if unchanged(link.href, link, newer, older, listed(days[link.day])):
            continue
        day_cards = [card(s) for s in days[link.day]]
        render(link.href, "site/day.html", day=link, cards=day_cards, newer=newer, older=older)
    feed_pages = {feed.id: ctx.feed_href(feed.id) for feed in data.feeds}
    render("sources.html", "site/sources.html", feeds=data.feeds, feed_pages=feed_pages)
    # Sorted newest first once, so each source's list comes out sorted.
    by_feed: dict[str, list[Story]] = {}
    for story in sorted(window, key=lambda s: (-s.last_published.timestamp(), s.id)):
        for feed_id in dict.fromkeys(f for i in visible_items(story) for f in i.feeds):
            by_feed.setdefault(feed_id, []).append(story)
    for feed in data.feeds:
        mine = by_feed.get(feed.id, [])
        shown = mine[:SOURCE_PAGE_STORIES]
        href = feed_pages[feed.id]
        if unchanged(href, feed, len(mine), listed(shown)):
            continue
        source_cards = [card(s) for s in shown]
        render(href, "site/source.html", feed=feed, cards=source_cards, total=len(mine))
    render("about.html", "site/about.html", search=search)
    render("search.html", "site/search.html", csp=SEARCH_CSP, search=search)
    # A 404 page is served for any missing path, at any depth: its links start at the site's
    # path on the server (from base_url), not relative to itself.
    files["404.html"] = _render_one(
        env, templates_dir, "404.html", "site/404.html", data, ctx, _site_path(data), CSP, {}
    )
    result.pages += 1

    files.update(_output_feeds(data, ctx, window, known, card))
    files.update(_static_files(templates_dir))
    return result


def _render_one(
    env: jinja2.Environment,
    templates_dir: Path | None,
    rel: str,
    template: str,
    data: SiteData,
    ctx: SiteContext,
    root: str,
    csp: str,
    values: Mapping[str, object],
) -> bytes:
    try:
        text = env.get_template(template).render(
            site=data.site,
            site_lang=ctx.site_lang,
            site_dir=ctx.site_dir,
            root=root,
            page=rel,
            csp=csp,
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


def _hash(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:32]


# Where an item's datetimes sit among its values (a check per field would cost twice as much);
# a datetime elsewhere only makes the signature take repr's slower path.
_ITEM_TIMES = [n for n, f in enumerate(fields(StoredItem)) if "datetime" in str(f.type)]


def _story_signature(story: Story) -> str:
    """A hash of everything a story and its items hold, but the score (it moves with the clock)."""
    # Values only (the dataclasses fix the order of their fields). marshal (format 2: no
    # back-references, so equal values always give equal bytes) is over twice as fast as repr
    # here, which matters at 5k stories. Datetimes become their POSIX time first (every one is
    # aware, and the pages show them in UTC, so the instant is all a page depends on).
    values = [
        v.timestamp() if type(v) is datetime else v
        for k, v in vars(story).items()
        if k != "score" and k != "items"
    ]
    items = [list(vars(item).values()) for item in story.items]
    for values_of_item in items:
        for at in _ITEM_TIMES:
            when = values_of_item[at]
            if type(when) is datetime:
                values_of_item[at] = when.timestamp()
    try:
        encoded = marshal.dumps((values, items), 2)
    except ValueError:  # a value marshal cannot encode (a field type added later)
        encoded = repr((values, items)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


def _base_key(data: SiteData, ctx: SiteContext, templates_dir: Path | None, search: bool) -> str:
    """What every page depends on: the code, the templates, the config, feed and topic names."""
    h = hashlib.sha256(f"{MANIFEST_VERSION}\0{data.site!r}\0{search}\0".encode())
    names = (sorted(ctx.feed_names.items()), [(t.name, t.slug) for t in data.topics])
    h.update(repr(names).encode("utf-8", "surrogatepass"))
    package = Path(digest.__file__).resolve().parent
    sources = [package / name for name in ("site/pages.py", "site/views.py", "render.py")]
    for folder in (templates_root(), Path(templates_dir) if templates_dir else None):
        if folder is not None and folder.is_dir():
            sources += sorted(p for p in folder.rglob("*") if p.is_file())
    for path in sources:
        h.update(str(path).encode("utf-8", "surrogatepass") + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"unreadable")
    return h.hexdigest()


def _site_path(data: SiteData) -> str:
    from urllib.parse import urlsplit

    path = urlsplit(data.site.base_url).path or "/"
    return path if path.endswith("/") else path + "/"


def _feed_paths(stem: str) -> dict[str, str]:
    return {"atom": f"feeds/{stem}.atom", "json": f"feeds/{stem}.json"}


def _output_feeds(
    data: SiteData,
    ctx: SiteContext,
    window: list[Story],
    known: set[str],
    card: Callable[[Story], StoryCard],
) -> dict[str, bytes]:
    """Atom and JSON Feed of the window's stories, one pair per topic, and the sources' OPML."""
    base = data.site.base_url if data.site.base_url.endswith("/") else data.site.base_url + "/"

    def entries(stories: list[Story]) -> list[FeedEntry]:
        newest = sorted(stories, key=lambda s: (-s.last_published.timestamp(), s.id))
        out = []
        for story in newest[:FEED_ENTRIES]:
            view = card(story)
            out.append(
                FeedEntry(
                    id=story.id,
                    title=view.headline.value,
                    path=view.href,
                    summary=view.summary.value if view.summary else "",
                    published=as_utc(view.story.first_published),
                    updated=as_utc(view.story.last_published),
                    lang=view.headline.lang,
                    outlets=view.outlets,
                    topics=[t.name for t in view.topics],
                )
            )
        return out

    files: dict[str, bytes] = {}

    def pair(stem: str, title: str, home: str, stories: list[Story]) -> None:
        listed = entries(stories)
        for kind, render in (("atom", atom_feed), ("json", json_feed)):
            path = _feed_paths(stem)[kind]
            meta = FeedMeta(title, base, path, home, ctx.site_lang, data.site.title)
            files[path] = render(meta, listed)

    pair("stories", data.site.title, "index.html", window)
    for topic in data.topics:
        href = ctx.topic_href(topic)
        stem = f"topics/{PurePosixPath(href).stem}"
        topic_stories = [s for s in topic.stories if s.id in known]
        pair(stem, f"{data.site.title}: {topic.name}", href, topic_stories)
    files["sources.opml"] = opml_sources(data.site.title, data.feeds)
    return files


def _check_extra_path(rel: str, files: Mapping[str, bytes]) -> None:
    parts = PurePosixPath(rel).parts
    if (
        not parts
        or rel.startswith("/")
        or "\\" in rel
        or any(p in ("", ".", "..") or p.startswith(".") for p in parts)
        or parts[0] in (SEARCH_DIR, "stories", "static")
    ):
        raise StageError(f"extra site file has an unsafe path: {rel!r}")
    if rel in files:
        raise StageError(f"extra site file {rel!r} would replace a page of the site")


def _static_files(templates_dir: Path | None) -> dict[str, bytes]:
    """The static assets, an override folder's files replacing built-ins of the same name."""
    found: dict[str, Path] = {}
    folders = [templates_root() / "site" / "static"]
    if templates_dir is not None:
        folders.append(Path(templates_dir) / "site" / "static")
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and is_safe_name(path.name.replace(".", "_")):
                found[path.name] = path
    files: dict[str, bytes] = {}
    for name, path in sorted(found.items()):
        # Browsers ask for /favicon.ico by themselves: it lives at the root.
        rel = name if name == "favicon.ico" else f"static/{name}"
        try:
            files[rel] = path.read_bytes()
        except OSError as exc:
            raise StageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return files


def _read_manifest(previous: Path | None) -> dict[str, object]:
    if previous is None:
        return {}
    try:
        record = json.loads((previous / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("version") != MANIFEST_VERSION:
        return {}
    pages = record.get("pages")
    if not isinstance(pages, dict):
        record["pages"] = {}
    return record


def _build_json(data: SiteData, pages: int) -> bytes:
    record = {
        "generated_at": iso_utc(as_utc(data.generated_at)),
        "pages": pages,
        "stories": len(data.stories),
        "topics": len(data.topics),
        "feeds": len(data.feeds),
    }
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
