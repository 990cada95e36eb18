"""Write the static site: render every page in memory, then publish it as a new version.

`out` is a symbolic link to a version directory beside it (`<name>.v<UTC time>-<n>`). A build
writes a fresh version directory, hard-linking every file whose bytes equal the same file in the
version `out` points to now, then renames a new link over `out`. Readers therefore see either the
old site or the new one, an unchanged rebuild writes no content and keeps every mtime, and the
two newest versions (current and previous) are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from digest.errors import ConfigError, StageError
from digest.models import SiteData, StoredItem, Story, TopicView, text_direction
from digest.render import as_utc, iso_utc, make_environment, templates_root

__all__ = ["BuildReport", "build_site"]

# How many headlines each topic section of the front page shows before "all N stories".
TOPIC_SECTION_LIMIT = 5
# The front page's one-line summary is cut at about this many characters.
SUMMARY_CHARS = 220

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")
_LANG_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,4}")
_SPACES = re.compile(r"\s+")


@dataclass
class BuildReport:
    """What a build did: the version directory, HTML pages rendered, files written and linked."""

    version_dir: Path
    pages: int  # HTML pages rendered
    written: int  # files whose bytes were written (new or changed)
    linked: int  # files hard-linked unchanged from the previous version


# ---------------------------------------------------------------- views handed to templates


@dataclass(frozen=True)
class Text:
    """A piece of feed text with the language and direction it is written in."""

    value: str
    lang: str
    dir: str


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


@dataclass(frozen=True)
class TopicSection:
    """A topic as the front page shows it: a few stories and a link to all of them."""

    view: TopicView
    href: str
    cards: list[StoryCard]
    total: int


# ---------------------------------------------------------------- public entry point


def build_site(data: SiteData, out: Path, *, templates_dir: Path | None = None) -> BuildReport:
    """Render every page into a new version dir beside `out` and switch `out` to it atomically."""
    if templates_dir is None:
        templates_dir = data.site.templates_dir
    if templates_dir is not None and not Path(templates_dir).is_dir():
        raise ConfigError(
            f"templates directory not found: {templates_dir}",
            hint="site.templates_dir must name a folder laid out like the built-in templates/",
        )
    files = render_files(data, templates_dir=templates_dir)
    pages = sum(1 for rel in files if rel.endswith(".html"))
    version_dir, written, linked = publish(files, Path(os.path.abspath(out)))
    return BuildReport(version_dir=version_dir, pages=pages, written=written, linked=linked)


# ---------------------------------------------------------------- rendering (no I/O but templates)


def render_files(data: SiteData, *, templates_dir: Path | None = None) -> dict[str, bytes]:
    """Every file of the site, by path relative to the site root, as bytes."""
    env = make_environment(templates_dir)
    ctx = _Context(data)
    files: dict[str, bytes] = {}

    def render(rel: str, template: str, **values: object) -> None:
        root = "../" * rel.count("/")
        try:
            text = env.get_template(template).render(
                site=data.site,
                site_lang=ctx.site_lang,
                site_dir=ctx.site_dir,
                root=root,
                page=rel,
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
        files[rel] = text.encode("utf-8", errors="replace")

    all_cards = [ctx.card(story) for story in data.stories]
    sections = [
        TopicSection(
            view=topic,
            href=ctx.topic_href(topic),
            cards=[ctx.card(s) for s in topic.stories[:TOPIC_SECTION_LIMIT]],
            total=len(topic.stories),
        )
        for topic in data.topics
        if topic.stories
    ]
    render("index.html", "site/index.html", cards=all_cards, sections=sections)

    for story in ctx.all_stories():
        card = ctx.card(story)
        items = [ctx.item_view(item) for item in story.items if not item.hidden]
        render(card.href, "site/story.html", card=card, story=story, items=items)

    for topic in data.topics:
        cards = [ctx.card(s) for s in topic.stories]
        render(ctx.topic_href(topic), "site/topic.html", topic=topic, cards=cards)

    render("sources.html", "site/sources.html", feeds=data.feeds)

    files.update(_static_files(templates_dir))
    files["build.json"] = _build_json(data, files)
    return files


class _Context:
    """Lookups shared by every page of one build: names, file names, languages."""

    def __init__(self, data: SiteData) -> None:
        self.data = data
        self.site_lang = _lang_tag(data.site.language)
        self.site_dir = text_direction(self.site_lang)
        self.feed_names = {f.id: f.name for f in data.feeds}
        self.topic_slugs: dict[str, str] = {}
        for topic in data.topics:
            self.topic_slugs.setdefault(topic.name, topic.slug)
        self._names = _NameTable()

    def all_stories(self) -> list[Story]:
        """The ranked stories, then any story only a topic lists; each story once."""
        seen: set[str] = set()
        result: list[Story] = []
        for story in [*self.data.stories, *(s for t in self.data.topics for s in t.stories)]:
            if story.id not in seen:
                seen.add(story.id)
                result.append(story)
        return result

    def story_href(self, story: Story) -> str:
        """The story page, relative to the site root."""
        return f"stories/{self._names.name('story', story.id)}.html"

    def topic_href(self, topic: TopicView) -> str:
        """The topic page, relative to the site root."""
        return f"topics/{self._names.name('topic', topic.slug)}.html"

    def card(self, story: Story) -> StoryCard:
        """The front-page view of a story."""
        visible = [i for i in story.items if not i.hidden]
        lead = next((i for i in visible if i.display_title == story.headline), None)
        if lead is None and visible:
            lead = visible[0]
        summary = None
        if lead is not None:
            line = _one_line(lead.display_summary, SUMMARY_CHARS)
            if line:
                summary = self._text(line, lead, translated=bool(lead.summary_translated))
        topics = [
            TopicLink(name, self._topic_href_by_name(name)) for name in _distinct(story.topics)
        ]
        return StoryCard(
            story=story,
            href=self.story_href(story),
            headline=self._headline(story.headline, visible),
            summary=summary,
            outlets=_distinct(story.outlets),
            languages=[_lang_tag(lang) for lang in _distinct(story.languages)],
            time=story.last_published,
            topics=topics,
        )

    def item_view(self, item: StoredItem) -> ItemView:
        """The story-page view of an item."""
        lang = _lang_tag(item.lang)
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
        lang = _lang_tag(item.lang)
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
        name = key if _SAFE_NAME.fullmatch(key) else _hashed_name(key)
        # Case-insensitive file systems would merge "Ab" and "ab": fall back to the hashed form.
        if (kind, name.casefold()) in self._taken:
            name = _hashed_name(key)
        self._taken.add((kind, name.casefold()))
        self._by_key[(kind, key)] = name
        return name


def _hashed_name(key: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-_")[:40] or "x"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{readable}-{digest}"


def _lang_tag(lang: str | None) -> str:
    # A language code lands in lang="" attributes: keep only well-formed BCP 47-ish tags.
    if lang and _LANG_TAG.fullmatch(lang):
        return lang
    return "und"


def _outbound_link(link: str) -> str | None:
    link = link.strip()
    if link.lower().startswith(("https://", "http://")) and not _SPACES.search(link):
        return link
    return None


def _one_line(text: str, limit: int) -> str:
    line = _SPACES.sub(" ", text).strip()
    if len(line) <= limit:
        return line
    cut = line[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


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
            if path.is_file() and _SAFE_NAME.fullmatch(path.name.replace(".", "_")):
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


def _build_json(data: SiteData, files: dict[str, bytes]) -> bytes:
    record = {
        "generated_at": iso_utc(as_utc(data.generated_at)),
        "pages": sum(1 for rel in files if rel.endswith(".html")),
        "stories": len(data.stories),
        "topics": len(data.topics),
        "feeds": len(data.feeds),
    }
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")


# ---------------------------------------------------------------- publishing (all the I/O)


def publish(files: dict[str, bytes], out: Path) -> tuple[Path, int, int]:
    """Write `files` into a new version beside `out` and switch `out`: (dir, written, linked)."""
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StageError(f"cannot create {parent}: {exc.strerror or exc}") from exc
    previous, empty_dir = _current_version(out)
    version = _new_version_dir(parent, out.name)
    try:
        written, linked = _fill_version(version, files, previous)
    except OSError as exc:
        shutil.rmtree(version, ignore_errors=True)
        raise StageError(
            f"cannot write the site into {version}: {exc.strerror or exc}",
            hint="check free space and permissions of the output folder",
        ) from exc
    try:
        if empty_dir:
            out.rmdir()
        _switch_link(out, version.name)
    except OSError as exc:
        shutil.rmtree(version, ignore_errors=True)
        raise StageError(f"cannot switch {out} to the new site: {exc.strerror or exc}") from exc
    _remove_old_versions(out, keep={version, *([previous] if previous else [])})
    return version, written, linked


def _current_version(out: Path) -> tuple[Path | None, bool]:
    """The directory `out` points to now (None if none), and whether `out` is an empty real dir."""
    if out.is_symlink():
        target = Path(os.readlink(out))
        if not target.is_absolute():
            target = out.parent / target
        return (target if target.is_dir() else None), False
    if not out.exists():
        return None, False
    if out.is_dir():
        if any(out.iterdir()):
            raise StageError(
                f"{out} is a real directory, not the link digest switches between site versions",
                hint=f"move it away (or empty it) and build again; digest will create {out} "
                "as a symbolic link",
            )
        return None, True
    raise StageError(
        f"{out} exists and is not a directory or a symbolic link",
        hint="choose another --out, or remove the file",
    )


def _version_pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"\.v\d{8}T\d{6}Z-\d+")


def _new_version_dir(parent: Path, name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 10_000):
        candidate = parent / f"{name}.v{stamp}-{n}"
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise StageError(f"cannot create {candidate}: {exc.strerror or exc}") from exc
        return candidate
    raise StageError(f"cannot find a free version directory name beside {parent / name}")


def _fill_version(version: Path, files: dict[str, bytes], previous: Path | None) -> tuple[int, int]:
    written = linked = 0
    made_dirs = {version}
    for rel in sorted(files):
        content = files[rel]
        dest = version / rel
        if dest.parent not in made_dirs:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(dest.parent)
        if previous is not None and _link_if_same(previous / rel, dest, content):
            linked += 1
            continue
        _write_file(dest, content)
        written += 1
    for folder in sorted(made_dirs, key=lambda p: len(p.parts), reverse=True):
        _fsync_dir(folder)
    return written, linked


def _link_if_same(old: Path, dest: Path, content: bytes) -> bool:
    """Hard-link `old` to `dest` when it is a regular file holding exactly `content`."""
    try:
        info = os.lstat(old)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(content):
            return False
        if old.read_bytes() != content:
            return False
        os.link(old, dest, follow_symlinks=False)
    except OSError:
        # Missing, unreadable, another file system, too many links: write the file instead.
        return False
    return True


def _write_file(dest: Path, content: bytes) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
        fh.flush()
        # The link switch must never point readers at files still only in the page cache.
        os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the data is still written
    finally:
        os.close(fd)


def _switch_link(out: Path, target_name: str) -> None:
    # A relative target keeps the folder copyable as a whole (mirrors, backups).
    tmp = out.parent / f".{out.name}.link-{os.getpid()}-{secrets.token_hex(4)}"
    os.symlink(target_name, tmp)
    try:
        os.replace(tmp, out)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(out.parent)


def _remove_old_versions(out: Path, keep: set[Path]) -> None:
    pattern = _version_pattern(out.name)
    # Compare by inode: the old link may name the same folder by another path.
    kept: set[tuple[int, int]] = set()
    for path in keep:
        with contextlib.suppress(OSError):
            info = os.stat(path)
            kept.add((info.st_dev, info.st_ino))
    for entry in out.parent.iterdir():
        if not pattern.fullmatch(entry.name) or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            info = os.stat(entry)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) not in kept:
            shutil.rmtree(entry, ignore_errors=True)
