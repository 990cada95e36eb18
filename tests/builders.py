"""Builders the test modules share: records, feeds, configs, stores, the CLI as a process.

Plain functions, imported by the test modules (`from builders import make_item`); the
fixtures built on them live in conftest.py. Every builder takes keyword overrides for the
fields a test cares about and fills the rest with plain, valid values.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape

import numpy as np
import pytest

from digest import cluster_stage, fetch_stage
from digest.cli import main
from digest.config import parse_config
from digest.ingest.normalize import content_key
from digest.records import (
    Config,
    FeedConfig,
    Item,
    SiteConfig,
    StoredItem,
    StoriesConfig,
    Story,
    TopicConfig,
    TranslationConfig,
)
from digest.store import Store, text_hash, utc_now
from digest.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo"

# The fixed clock of the builders: the default publication time of records.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# The clock of the parse and normalize tests, and of the feed quirks in tests/data/quirks.
PARSE_NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# The real clock when the tests started, for stores that stages read with their own clock.
REAL_NOW = utc_now()


def days_since(start: datetime) -> set[str]:
    """The UTC dates from `start` to now: a test (or the suite) may run across midnight."""
    end, day, out = utc_now(), start, set()
    while day.date() <= end.date():
        out.add(f"{day:%Y-%m-%d}")
        day += timedelta(days=1)
    return out


# ---------------------------------------------------------------- records


def make_item(
    n: int = 1,
    *,
    feed: str = "f",
    guid: str | None = None,
    title: str | None = None,
    summary: str | None = None,
    url: str | None = None,
    link: str | None = None,
    content_html: str = "",
    published: datetime | None = None,
    lang: str = "en",
    fallback: bool = False,
    key: str | None = None,
) -> Item:
    """A normalized Item, number `n` of a series.

    Unless given: guid `g{n}`, title `Report {n} on blocked sites`, summary `Summary {n}.`,
    url and link `https://example.net/{n}`, published `n` hours before NOW, and the content
    key a hash of title and summary. Items that must stay apart need their own `n` (or their
    own url, title and summary): the store merges items by URL and by title plus summary.
    """
    title = f"Report {n} on blocked sites" if title is None else title
    summary = f"Summary {n}." if summary is None else summary
    url = f"https://example.net/{n}" if url is None else url
    return Item(
        feed_id=feed,
        guid=f"g{n}" if guid is None else guid,
        url=url,
        link=url if link is None else link,
        title=title,
        summary=summary,
        content_html=content_html,
        published=NOW - timedelta(hours=n) if published is None else published,
        date_is_fallback=fallback,
        lang=lang,
        content_key=text_hash(title + summary) if key is None else key,
    )


def make_stored_item(
    id: str,
    *,
    title: str = "T",
    summary: str = "",
    lang: str = "en",
    feeds: Sequence[str] = ("f",),
    url: str | None = None,
    link: str | None = None,
    content_html: str = "",
    published: datetime = NOW,
    title_translated: str | None = None,
    summary_translated: str | None = None,
    translation: str | None = None,
    note: str | None = None,
) -> StoredItem:
    """A StoredItem (an item as read back from the store, with its sources and translation).

    Unless given: url and link `https://example.org/{id}` (a link given alone is the url
    too; `link=""` keeps the default url), and `translation` "translated" when there is a
    translated title, else "original".
    """
    if url is None:
        url = link or f"https://example.org/{id}"
    return StoredItem(
        id=id,
        url=url,
        link=url if link is None else link,
        title=title,
        summary=summary,
        content_html=content_html,
        published=published,
        lang=lang,
        feeds=list(feeds),
        title_translated=title_translated,
        summary_translated=summary_translated,
        translation=translation or ("translated" if title_translated else "original"),
        translation_note=note,
    )


def make_story(
    id: str,
    items: list[StoredItem],
    *,
    topics: Sequence[str] = (),
    outlets: Sequence[str] = (),
    headline: str | None = None,
    **kw: Any,
) -> Story:
    """A Story over these items: headline of the first item unless given, dates and languages
    from the items; other Story fields (coverage_gap, score...) as keywords."""
    return Story(
        id=id,
        headline=items[0].display_title if headline is None else headline,
        items=items,
        topics=list(topics),
        outlets=list(outlets),
        languages=list(dict.fromkeys(i.lang for i in items)),
        first_published=min(i.published for i in items),
        last_published=max(i.published for i in items),
        **kw,
    )


# ---------------------------------------------------------------- feeds


@dataclass(frozen=True)
class Entry:
    """One <item> of an RSS document; fields left None are left out."""

    guid: str | None = None
    link: str | None = None
    title: str | None = None
    description: str | None = None
    published: datetime | str | None = None  # a datetime, or the <pubDate> text as is


def rss(
    title: str,
    entries: Iterable[Entry] = (),
    *,
    lang: str | None = None,
    link: str = "https://news.example/",
) -> bytes:
    """An RSS 2.0 document, UTF-8, on one line: a channel and its items, text escaped."""
    items = "".join(_rss_item(e) for e in entries)
    language = f"<language>{escape(lang)}</language>" if lang else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>{language}{items}"
        "</channel></rss>"
    ).encode()


def _rss_item(e: Entry) -> str:
    published = e.published
    if isinstance(published, datetime):
        published = format_datetime(published.astimezone(UTC), usegmt=True)
    parts = [
        ("guid", e.guid),
        ("link", e.link),
        ("title", e.title),
        ("description", e.description),
        ("pubDate", published),
    ]
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in parts if v is not None)
    return f"<item>{fields}</item>"


def entries(
    rows: Iterable[tuple[str, str, str, str]],
    *,
    start: datetime = datetime(2026, 11, 19, tzinfo=UTC),
    step: timedelta = timedelta(hours=1),
) -> list[Entry]:
    """Entries from (guid, link, title, description) rows, dated `step` apart from `start`."""
    return [
        Entry(guid, link, title, description, start + i * step)
        for i, (guid, link, title, description) in enumerate(rows)
    ]


def rss_series(key: str, titles: Sequence[str], *, lang: str = "en", **kw: Any) -> bytes:
    """An RSS document of numbered entries: GUID `{key}-{i}`, link news.example/{key}/{i},
    description the title, dated 2026-11-19 at {i} hours {i} minutes (both modulo the clock).

    Keywords go to rss(); a `descriptions` list replaces the descriptions.
    """
    descriptions = kw.pop("descriptions", titles)
    entries = [
        Entry(
            guid=f"{key}-{i}",
            link=f"https://news.example/{key}/{i}",
            title=t,
            description=d,
            published=datetime(2026, 11, 19, i % 24, i % 60, tzinfo=UTC),
        )
        for i, (t, d) in enumerate(zip(titles, descriptions, strict=True))
    ]
    return rss(key, entries, lang=lang, **kw)


# ---------------------------------------------------------------- configs and stores


def write_text(path: Path, text: str) -> Path:
    """Write dedented text (a YAML config, an OPML file...) as UTF-8; returns the path."""
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_feeds_config(
    folder: Path,
    feeds: Mapping[str, str],
    *,
    names: Mapping[str, str] | None = None,
    extra: str = "",
) -> Path:
    """folder/feeds.yaml with these feeds (id -> URL, each named after its id unless `names`
    says otherwise), everything kept (a window of 36500 days), no translation, no embedder,
    and `extra` YAML lines before the feeds; its path."""
    lines = "".join(
        f'  - {{id: {fid}, name: "{(names or {}).get(fid, fid)}", url: "{url}"}}\n'
        for fid, url in feeds.items()
    )
    path = folder / "feeds.yaml"
    # Words alone match stories unless `extra` names an embedder: tests stay fast and exact.
    stories = "" if "stories:" in extra else "stories: {embedder: none}\n"
    path.write_text(
        f"site: {{window_days: 36500}}\ntranslation: {{engine: none}}\n{stories}{extra}"
        f"feeds:\n{lines}",
        encoding="utf-8",
    )
    return path


def feed_configs(*ids: str) -> tuple[FeedConfig, ...]:
    """Feeds with these ids: name the id in capitals, url https://example.org/{id}.xml."""
    return tuple(FeedConfig(id=f, name=f.upper(), url=f"https://example.org/{f}.xml") for f in ids)


def make_config(
    tmp_path: Path,
    *,
    feeds: Sequence[FeedConfig] | Sequence[str] = (),
    topics: Sequence[TopicConfig] = (),
    window_days: int = 7,
    translation: TranslationConfig | None = None,
    embedder: str = "none",
) -> Config:
    """A Config at tmp_path/feeds.yaml (never written): English site, these feeds (ids or
    FeedConfigs) and topics; words alone match stories unless `embedder` says otherwise."""
    feed_list = tuple(feed_configs(f)[0] if isinstance(f, str) else f for f in feeds)
    return Config(
        path=tmp_path / "feeds.yaml",
        site=SiteConfig(language="en", window_days=window_days),
        topics=tuple(topics),
        feeds=feed_list,
        stories=StoriesConfig(embedder=embedder),
        **({"translation": translation} if translation is not None else {}),
    )


def add_item(
    store: Store, feed: str, guid: str, title: str, hours_ago: float, lang: str = "en"
) -> str:
    """Store one report `hours_ago` hours before REAL_NOW, in its own transaction: its id."""
    item = make_item(
        feed=feed,
        guid=guid,
        title=title,
        summary="",
        url=f"https://example.org/{feed}/{guid}",
        published=REAL_NOW - timedelta(hours=hours_ago),
        lang=lang,
    )
    with store.transaction():
        item_id, _ = store.upsert_item(item, REAL_NOW)
    return item_id


def story_members(store: Store) -> dict[str, set[str]]:
    """Each stored story's item ids."""
    out: dict[str, set[str]] = {}
    for item, story in store.story_assignments().items():
        out.setdefault(story, set()).add(item)
    return out


def translation_store(
    tmp_path: Path, translation: TranslationConfig, items: Iterable[tuple[str, str, str]]
) -> tuple[Config, Store]:
    """A Config with one feed and an open Store holding these (lang, title, summary) items,
    published a minute apart before the real clock's now."""
    config = Config(
        path=tmp_path / "feeds.yaml",
        translation=translation,
        feeds=(FeedConfig(id="f", name="F", url="f.xml"),),
    )
    store = Store.open(tmp_path / "state.db")
    store.sync_feeds(config.feeds)
    now = datetime.now(UTC)
    with store.transaction():
        for i, (lang, title, summary) in enumerate(items):
            item = make_item(
                i,
                title=title,
                summary=summary,
                url=f"https://example.org/{i}",
                content_html="<p>not translated</p>",
                published=now - timedelta(minutes=i),
                lang=lang,
                key=content_key(title, summary),
            )
            store.upsert_item(item, now)
    return config, store


def newsletter_workspace(
    tmp_path: Path,
    to: tuple[str, ...] = ("alice@example.org", "bob@example.net"),
    smtp: str = "{host: 127.0.0.1, port: 1, security: none}",
) -> tuple[Config, Workspace]:
    """A newsletter config with two local feeds (three reports on 2026-11-20, from 00:00 an
    hour apart), fetched and clustered into its workspace at tmp_path/state."""
    reports = {
        "en": [
            ("en-1", "Internet shutdown in the capital", "Mobile data cut for a day."),
            ("en-2", "Censor deletes posts about the flood", "Posts about the flood deleted."),
        ],
        "zh": [("zh-1", "网信办关闭自媒体账号", "清朗行动。")],
    }
    for lang, rows in reports.items():
        dated = entries(
            [(g, f"https://example.org/{g}", t, d) for g, t, d in rows],
            start=datetime(2026, 11, 20, tzinfo=UTC),
        )
        feed = rss(lang.upper(), dated, lang=lang, link="https://example.org/")
        (tmp_path / f"{lang}.xml").write_bytes(feed)
    recipients = ", ".join(to)
    text = f"""
site: {{title: Digest test, base_url: "https://example.org/digest/", window_days: 36500}}
translation: {{engine: none}}
newsletter:
  from: "Digest test <digest@example.org>"
  to: [{recipients}]
  list_id: digest.example.org
  list_unsubscribe: "mailto:unsubscribe@example.org"
  smtp: {smtp}
topics:
  censorship: {{keywords: [censor]}}
feeds:
  - {{id: en, name: English feed, url: en.xml}}
  - {{id: zh, name: Chinese feed, url: zh.xml}}
"""
    cfg_path = tmp_path / "feeds.yaml"
    cfg_path.write_text(text, encoding="utf-8")
    cfg = parse_config(text, cfg_path)
    ws = Workspace(cfg_path, tmp_path / "state")
    with ws.open_store() as store:
        fetch_stage(cfg, store)
        cluster_stage(cfg, store)
    return cfg, ws


def copy_demo(dest: Path) -> Path:
    """The bundled demo's feeds.yaml and feeds/ copied into dest; the copy's config path."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(DEMO / "feeds", dest / "feeds")
    shutil.copy(DEMO / "feeds.yaml", dest / "feeds.yaml")
    return dest / "feeds.yaml"


# ---------------------------------------------------------------- the CLI


def digest_command() -> list[str]:
    """The installed `digest` command (or `python -m digest.cli` when it is not installed)."""
    exe = Path(sys.executable).with_name("digest")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "digest.cli"]


def digest_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child `digest`, without the DIGEST_* variables (the
    tests' own, and DIGEST_CONFIG/DIGEST_STATE, which would move its workspace), except
    DIGEST_PAGEFIND (where pagefind is); then `extra`."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DIGEST_") or k == "DIGEST_PAGEFIND"
    }
    return {**env, **(extra or {})}


def run_digest(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `digest ARGS` as a user would, to completion (`stdin` piped in): its exit status
    and output."""
    return subprocess.run(
        [*digest_command(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=digest_env(env),
        timeout=timeout,
        input=stdin,
    )


def main_exit(argv: Sequence[str]) -> int:
    """Run the CLI in this process (digest.cli.main): its exit status."""
    with pytest.raises(SystemExit) as done:
        main(list(argv))
        raise SystemExit(0)
    code = done.value.code
    return code if isinstance(code, int) else (0 if code is None else 1)


class ConceptEmbedder:
    """A deterministic stand-in for a multilingual model: a text's vector is the normalised
    sum of the concepts whose words (in any language) it contains; unknown text gets a
    small vector of its own. It cannot read Tibetan, as multilingual-e5 cannot."""

    CONCEPTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "qinglang": ("qinglang", "清朗", "self-media", "自媒体", "自媒體"),
        "faces": ("facial recognition", "face scan", "faces", "刷脸", "人脸识别", "人臉識別"),
        "beijing": ("beijing", "北京"),
        "police": ("cyber police", "网警", "網警", "informant", "举报"),
        "wechat": ("wechat", "微信", "candle", "蜡烛"),
        "iraq": ("iraq", "伊拉克", "exams", "考试"),
        "shutdown": ("internet shutdown", "cuts internet", "断网", "#keepiton"),
    }

    name = "concept-test"

    def __init__(self) -> None:
        self.dim = len(self.CONCEPTS) + 16
        self.calls = 0
        self.texts = 0

    def covers(self, lang: str) -> bool:
        return lang.split("-")[0] != "bo"

    def vector_of(self, text: str) -> np.ndarray:
        """The vector of one text (what embed() gives each)."""
        v = np.zeros(self.dim, dtype=np.float32)
        low = text.casefold()
        for k, words in enumerate(self.CONCEPTS.values()):
            if any(w in low for w in words):
                v[k] = 1.0
        # A little of the text itself, so unrelated texts are not all alike.
        h = hashlib.sha256(text.encode("utf-8")).digest()
        v[len(self.CONCEPTS) + h[0] % 16] += 0.3
        return v / float(np.linalg.norm(v))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for k, t in enumerate(texts):
            if t.strip():
                out[k] = self.vector_of(t)
        return out
