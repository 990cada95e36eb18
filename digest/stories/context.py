"""What every step of one cluster run shares: the run's settings, documents and label inputs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from digest.progress import Progress
from digest.records import Config, StoredItem
from digest.store import Store
from digest.stories.features import ClusterDoc
from digest.stories.labels import LabelDoc, StoryLabels, label_doc
from digest.stories.names import rare_names
from digest.stories.summary import candidates, summarize, summary_record
from digest.stories.topicids import settle
from digest.stories.vectors import EmbedSummary, item_vectors, text_vectors, topic_vectors
from digest.translate.embed import Embedder

__all__ = ["ClusterRun", "doc_of", "label_context", "window_members"]


@dataclass
class ClusterRun:
    """What every step of one cluster run shares."""

    config: Config
    store: Store
    now: datetime
    since: datetime
    embedder: Embedder | None
    progress: Progress
    embed: EmbedSummary = field(default_factory=EmbedSummary)
    _topic_vectors: dict[str, np.ndarray] | None = None
    _vectors: dict[str, np.ndarray | None] = field(default_factory=dict)  # item id, this run
    sentences: EmbedSummary = field(default_factory=EmbedSummary)  # for "what happened"

    def docs(self, items: Sequence[StoredItem], *, count: bool = True) -> dict[str, ClusterDoc]:
        """The items as documents to cluster, with vectors (embedding what is new).

        `count`: add what was embedded to the run's summary; labelling passes False and reads
        the vectors this run already looked up from memory instead of the store.
        """
        site_lang = self.config.site.language
        todo = items if count else [it for it in items if it.id not in self._vectors]
        if todo:
            vectors, summary = item_vectors(
                self.config, self.store, todo, self.embedder, progress=self.progress
            )
            self._vectors.update({it.id: vectors.get(it.id) for it in todo})
            if count:
                self.embed.model = summary.model
                self.embed.embedded += summary.embedded
                self.embed.cached += summary.cached
                self.embed.items += summary.items
                self.embed.unreadable.update(summary.unreadable)
        return {it.id: doc_of(it, site_lang, self._vectors.get(it.id)) for it in items}

    def comparable(self, item: StoredItem) -> bool:
        """Could this report have been matched with reports in the site language?"""
        site = self.config.site.language
        if item.lang.split("-")[0] == site.split("-")[0] or item.translation == "translated":
            return True
        e = self.embedder
        return e is not None and e.covers(item.lang) and e.covers(site)

    def label_doc(
        self, item: StoredItem, terms: Sequence[str] | None, vector: np.ndarray | None = None
    ) -> LabelDoc:
        """The item as labelling sees it."""
        doc = doc_of(item, self.config.site.language, vector)
        return label_doc(doc, item, terms, comparable=self.comparable(item))

    def topic_vectors(self) -> dict[str, np.ndarray]:
        """The taxonomy's topics as vectors (embedded once, cached in the store)."""
        if self._topic_vectors is None:
            self._topic_vectors = topic_vectors(self.config.topics, self.embedder, self.store)
        return self._topic_vectors

    def settle_topics(
        self, found: Mapping[str, StoryLabels], previous: Mapping[str, Sequence[str]]
    ) -> None:
        """Give newly discovered groups their ids (an earlier topic's when they hold most of
        its stories), in place, and record them."""
        records = self.store.topic_records()
        names = {t.name for t in self.config.topics}
        groups: dict[str, list[str]] = defaultdict(list)
        for sid, lab in found.items():
            if lab.discovered:
                for t in lab.topics:
                    if t not in records and t not in names:
                        groups[t].append(sid)
        if not groups:
            return
        before = {sid: t for sid, ts in previous.items() for t in ts if t in records}
        ids = settle(groups, before, records.keys())
        for lab in found.values():
            if lab.discovered:
                lab.topics = [ids.get(t, t) for t in lab.topics]
        self.store.save_discovered_topics({ids[k]: k for k in groups}, self.now)

    def summaries(
        self, members: Mapping[str, Sequence[StoredItem]], headlines: Mapping[str, str]
    ) -> dict[str, list[dict[str, object]]]:
        """story id -> its "what happened" sentences as stored (digest.stories.summary), for
        these stories; their sentences are embedded once per text and model (cached)."""
        site_lang = self.config.site.language
        found = {
            sid: candidates(items, site_lang, headlines.get(sid, ""))
            for sid, items in members.items()
        }
        vectors = {}
        e = self.embedder
        if e is not None and any(found.values()):
            texts = [c.text for cs in found.values() for c in cs if e.covers(c.lang)]
            vectors = text_vectors(
                self.config, self.store, texts, e, progress=self.progress, summary=self.sentences
            )
        return {sid: summary_record(summarize(cs, vectors)) for sid, cs in found.items()}

    def vector_languages(self, items: Sequence[StoredItem]) -> set[str]:
        """The (base) languages of these reports the embedder gives comparable vectors."""
        e, site = self.embedder, self.config.site.language
        if e is None or not e.covers(site):
            return set()
        return {it.lang.split("-")[0].lower() for it in items if e.covers(it.lang)}

    def label_context(self) -> str:
        """What every story's labels depend on besides its reports."""
        name = self.embedder.name if self.embedder is not None else "none"
        return f"{label_context(self.config)}\0{name}"


def doc_of(it: StoredItem, site_lang: str, vector: np.ndarray | None = None) -> ClusterDoc:
    """A stored item as a document to cluster (its translation when there is one)."""
    names = rare_names(it.title, it.lang)
    if it.translation == "translated" and it.title_translated:
        names |= rare_names(it.title_translated, site_lang)
    return ClusterDoc(
        id=it.id,
        text=f"{it.display_title}. {it.display_summary}",
        lang=site_lang if it.translation == "translated" else it.lang,
        published=it.published,
        feed_ids=tuple(it.feeds),
        source_lang=it.lang,
        names=names,
        vector=vector,
    )


def label_context(config: Config) -> str:
    """What labels depend on besides the reports: site language, taxonomy, discovery."""
    return f"{config.site.language}\0{config.topics!r}\0{config.stories.discover_topics}"


def window_members(
    store: Store, story_ids: Collection[str], since: datetime, site_lang: str
) -> dict[str, list[StoredItem]]:
    """story id -> its items published since then."""
    ids = [i for members in store.story_members(story_ids).values() for i in members]
    grouped: dict[str, list[StoredItem]] = defaultdict(list)
    for it in store.items(since=since, site_lang=site_lang, ids=ids):
        grouped[str(it.story)].append(it)
    return grouped
