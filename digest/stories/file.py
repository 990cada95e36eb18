"""`digest cluster-file`: the pipeline's clustering over a JSON-lines file of arbitrary items."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from digest.atomic import write_atomic
from digest.errors import InputError
from digest.language import detect_language, normalize_language
from digest.progress import QUIET, Progress
from digest.records import Config, TopicConfig
from digest.store import Store, text_hash, utc_now
from digest.stories.assign import cluster_new_stories
from digest.stories.features import ClusterDoc
from digest.stories.labels import LabelDoc, label_stories
from digest.stories.names import rare_names
from digest.stories.pairs import center_for
from digest.stories.vectors import EMBED_BATCH, combine_vectors, topic_vectors
from digest.times import parse_time
from digest.translate.embed import Embedder, embedding_text, make_embedder
from digest.wording import plural
from digest.workspace import Workspace

__all__ = ["ClusterFileSummary", "cluster_file", "read_items", "run_cluster_file"]

# Items without a date are all taken to be published at this one time ("same time").
UNDATED = datetime(2000, 1, 1, tzinfo=UTC)
MAX_LINE = 10_000_000  # bytes: one item this large is an error, not a record


@dataclass
class ClusterFileSummary:
    """What one cluster-file call did."""

    items: int
    stories: int
    topics: int

    def line(self) -> str:
        """One line for the terminal."""
        counts = [
            plural(self.items, "item"),
            plural(self.stories, "story"),
            plural(self.topics, "topic"),
        ]
        return f"cluster-file: {', '.join(counts)}"


@dataclass(frozen=True)
class _Record:
    id: str
    title: str
    text: str
    lang: str
    date: datetime
    feed: str | None


def _field(obj: dict[str, object], key: str, where: str) -> str:
    value = obj.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{where}: '{key}' must be a string", "see `digest cluster-file --help`")
    return value


def _parse_date(value: object, where: str) -> datetime:
    if value is None or value == "":
        return UNDATED
    hint = "e.g. 2026-05-28T09:00:00Z or Thu, 28 May 2026 09:00:00 +0000"
    if not isinstance(value, str):
        raise InputError(f"{where}: 'date' must be an ISO 8601 or RFC 822 string", hint)
    parsed = parse_time(value)
    if parsed is None:
        raise InputError(f"{where}: 'date' {value[:40]!r} is not ISO 8601 or RFC 822", hint)
    return parsed


def read_items(path: Path) -> list[_Record]:
    """Read and check `{id, title, text, lang?, date?, feed?}` lines; errors name file and line."""
    records: list[_Record] = []
    seen: dict[str, int] = {}
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            if len(raw) > MAX_LINE:
                raise InputError(f"{where}: line longer than {MAX_LINE} bytes")
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{where}: not UTF-8 text") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: not valid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise InputError(f"{where}: expected a JSON object {{id, title, text}}")
            raw_id = obj.get("id")
            if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
                raise InputError(f"{where}: 'id' must be a string or an integer")
            item_id = str(raw_id)
            if not item_id.strip():
                raise InputError(f"{where}: 'id' is empty")
            if item_id in seen:
                raise InputError(f"{where}: id {item_id[:60]!r} repeats line {seen[item_id]}")
            seen[item_id] = number
            title, text = _field(obj, "title", where), _field(obj, "text", where)
            declared = obj.get("lang")
            if declared is not None and not isinstance(declared, str):
                raise InputError(f"{where}: 'lang' must be a string such as 'en' or 'zh'")
            lang = normalize_language(declared) if declared else None
            if declared and lang is None:
                raise InputError(f"{where}: 'lang' {declared[:20]!r} is not a language code")
            lang = lang or detect_language(f"{title}\n{text}") or "und"
            date = _parse_date(obj.get("date"), where)
            feed = obj.get("feed")
            if feed is not None and (not isinstance(feed, str) or not feed.strip()):
                raise InputError(f"{where}: 'feed' must be a feed id (a non-empty string)")
            records.append(_Record(item_id, title, text, lang, date, feed))
    return records


def cluster_file(
    in_path: Path,
    out_path: Path,
    topics: Sequence[TopicConfig] = (),
    *,
    embedder: Embedder | None = None,
    store: Store | None = None,
    site_language: str = "en",
    discover: bool = True,
    progress: Progress = QUIET,
) -> ClusterFileSummary:
    """Cluster a JSON-lines file as the pipeline does; write `{id, story, topics}` per line.

    `embedder`: the multilingual model that joins reports across languages (None: words
    only); `store`: where vectors are cached between calls. Items without a `feed` each count
    as their own outlet.
    """
    records = read_items(in_path)
    vectors = _vectors(records, embedder, store, progress)
    docs = [
        ClusterDoc(
            id=r.id,
            text=f"{r.title}. {r.text}",
            lang=r.lang,
            published=r.date,
            feed_ids=(r.feed,) if r.feed else (),
            source_lang=r.lang,
            names=rare_names(r.title, r.lang),
            vector=vectors.get(r.id),
        )
        for r in records
    ]
    stories, _ = cluster_new_stories(docs, {})
    by_id = {r.id: r for r in records}
    site = site_language.split("-")[0]

    def comparable(r: _Record) -> bool:
        return r.lang.split("-")[0] == site or r.id in vectors

    labels = label_stories(
        {
            sid: [
                LabelDoc(
                    text=f"{by_id[i].title}. {by_id[i].text}",
                    lang=by_id[i].lang,
                    texts=(by_id[i].title, by_id[i].text),
                    source_lang=by_id[i].lang,
                    comparable=comparable(by_id[i]),
                    title=by_id[i].title,
                    vector=vectors.get(i),
                )
                for i in ids
            ]
            for sid, ids in stories.items()
        },
        topics,
        site_language,
        discover=discover,
        topic_vectors=topic_vectors(topics, embedder, store),
    )
    story_of = {item: sid for sid, ids in stories.items() for item in ids}
    lines = [
        json.dumps(
            {"id": r.id, "story": story_of[r.id], "topics": labels[story_of[r.id]].topics},
            ensure_ascii=False,
        )
        for r in records
    ]
    _write_atomically(out_path, "".join(line + "\n" for line in lines))
    names = {t for lab in labels.values() for t in lab.topics}
    return ClusterFileSummary(items=len(records), stories=len(stories), topics=len(names))


def run_cluster_file(
    in_path: Path,
    out_path: Path,
    *,
    config: Config | None = None,
    ws: Workspace | None = None,
    progress: Progress = QUIET,
) -> ClusterFileSummary:
    """`digest cluster-file`: the taxonomy and embedder from `config` when one was given (else
    topics are only discovered and the embedder is `auto`); vectors cached in `ws`'s store."""
    spec = config.stories.embedder if config is not None else "auto"
    embedder = make_embedder(spec)
    topics = config.topics if config is not None else ()
    site_language = config.site.language if config is not None else "en"
    discover = config.stories.discover_topics if config is not None else True
    if ws is None:
        return cluster_file(
            in_path, out_path, topics, embedder=embedder, site_language=site_language,
            discover=discover, progress=progress,
        )  # fmt: skip
    with ws.open_store() as store:
        return cluster_file(
            in_path, out_path, topics, embedder=embedder, store=store,
            site_language=site_language, discover=discover, progress=progress,
        )  # fmt: skip


def _vectors(
    records: Sequence[_Record], embedder: Embedder | None, store: Store | None, progress: Progress
) -> dict[str, np.ndarray]:
    """Centred vectors of the records the model reads, through the store's cache if any."""
    if embedder is None:
        return {}
    texts = {r.id: embedding_text(r.title, r.text) for r in records if embedder.covers(r.lang)}
    by_hash = {text_hash(t): t for t in texts.values() if t}
    found = store.cached_vectors(embedder.name, by_hash) if store is not None else {}
    missing = sorted(h for h in by_hash if h not in found)
    progress.start("embed", len(missing))
    for start in range(0, len(missing), EMBED_BATCH):
        part = missing[start : start + EMBED_BATCH]
        fresh = dict(zip(part, embedder.embed([by_hash[h] for h in part]), strict=True))
        if store is not None:
            store.save_vectors(embedder.name, fresh, utc_now())
        found.update(fresh)
        progress.advance(len(part))
    progress.close()
    center = center_for(embedder.name, embedder.dim)
    out = {}
    for item_id, text in texts.items():
        vector = found.get(text_hash(text)) if text else None
        if vector is not None:
            out[item_id] = combine_vectors([vector], center)
    return out


def _write_atomically(path: Path, text: str) -> None:
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
