"""The cluster stage's first step: a multilingual vector for every report that can have one.

Each report's title and summary lead are embedded in its own language, and its translation
too when there is one; the two vectors (centred on the model's mean, see pairs.py) are
averaged. Vectors are cached in the store by model and text, so a re-run embeds nothing again;
the model runs through the same executor seam as translation (in this process, or on the Dask
workers, each loading the model once). A report in a language the model cannot read
(Tibetan for multilingual-e5) gets no vector: it is matched by its words alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from digest.progress import QUIET, Progress
from digest.records import Config, StoredItem, TopicConfig
from digest.store import Store, text_hash, utc_now
from digest.stories.filing import topic_texts
from digest.stories.pairs import center_for
from digest.translate.batches import EMBED, Batch, Executor
from digest.translate.embed import Embedder, embedding_text
from digest.translate.executors import make_executor
from digest.wording import plural

__all__ = [
    "EMBED_BATCH",
    "VECTOR_LANGS",
    "EmbedSummary",
    "combine_vectors",
    "item_texts",
    "item_vectors",
    "text_vectors",
    "topic_vectors",
]

# Texts per embedding batch: one model call, one transaction of the writer.
EMBED_BATCH = 32
# The cluster state's key for the (base) languages whose reports have vectors comparable
# across languages, space-separated: what the edition may claim coverage gaps for.
VECTOR_LANGS = "vector_langs"


@dataclass
class EmbedSummary:
    """What one embedding step did."""

    model: str | None = None
    embedded: int = 0  # texts through the model this run
    cached: int = 0  # texts whose vector was already stored
    items: int = 0  # reports with a vector
    unreadable: Counter[str] = field(
        default_factory=Counter
    )  # lang -> reports the model cannot read
    executor: str | None = None  # where the model ran, when not in this process

    def line(self) -> str:
        """One line for cron mail."""
        if self.model is None:
            return "embed: off (stories.embedder: none); stories are matched by their words"
        text = (
            f"embed: {plural(self.items, 'report')} with vectors, "
            f"{plural(self.embedded, 'text')} embedded, "
            f"{self.cached} from cache ({self.model})"
        )
        if self.executor:
            text += f" on {self.executor}"
        for lang, n in sorted(self.unreadable.items()):
            text += f"; {n} in {lang} matched by words only (the model cannot read {lang})"
        return text


def item_texts(item: StoredItem, embedder: Embedder, site_lang: str) -> list[str]:
    """What is embedded of a report: its own text (when the model reads its language), and
    its translation when there is one."""
    texts = []
    if embedder.covers(item.lang):
        text = embedding_text(item.title, item.summary)
        if text:
            texts.append(text)
    if item.translation == "translated" and embedder.covers(site_lang):
        text = embedding_text(item.title_translated or "", item.summary_translated or "")
        if text:
            texts.append(text)
    return texts


def item_vectors(
    config: Config,
    store: Store,
    items: Sequence[StoredItem],
    embedder: Embedder | None,
    *,
    executor: Executor | None = None,
    progress: Progress = QUIET,
) -> tuple[dict[str, np.ndarray], EmbedSummary]:
    """item id -> centred, normalised vector for the items that get one; embeds what is new."""
    summary = EmbedSummary()
    if embedder is None:
        return {}, summary
    summary.model = embedder.name
    site_lang = config.site.language
    texts_of = {it.id: item_texts(it, embedder, site_lang) for it in items}
    for it in items:
        if not texts_of[it.id]:
            summary.unreadable[it.lang] += 1
    found = _vectors_by_hash(
        config, store, [t for ts in texts_of.values() for t in ts], embedder, executor,
        progress, summary,
    )  # fmt: skip
    center = center_for(embedder.name, embedder.dim)
    out: dict[str, np.ndarray] = {}
    for item_id, texts in texts_of.items():
        vecs = [found[h] for h in (text_hash(t) for t in texts) if h in found]
        if vecs:
            out[item_id] = combine_vectors(vecs, center)
    summary.items = len(out)
    return out, summary


def text_vectors(
    config: Config,
    store: Store,
    texts: Sequence[str],
    embedder: Embedder,
    *,
    executor: Executor | None = None,
    progress: Progress = QUIET,
    summary: EmbedSummary | None = None,
) -> dict[str, np.ndarray]:
    """text -> centred, normalised vector (as combine_vectors gives one text), embedding only
    texts the store has no vector of for this model (the cache item vectors use too)."""
    found = _vectors_by_hash(
        config, store, texts, embedder, executor, progress, summary or EmbedSummary()
    )
    center = center_for(embedder.name, embedder.dim)
    out = {}
    for text in texts:
        vector = found.get(text_hash(text))
        if vector is not None and text not in out:
            out[text] = combine_vectors([vector], center)
    return out


def _vectors_by_hash(
    config: Config,
    store: Store,
    texts: Sequence[str],
    embedder: Embedder,
    executor: Executor | None,
    progress: Progress,
    summary: EmbedSummary,
) -> dict[str, np.ndarray]:
    """text hash -> the model's vector, from the cache, embedding what is missing."""
    by_hash = {text_hash(t): t for t in texts}
    found = store.cached_vectors(embedder.name, by_hash)
    summary.cached += len(found)
    missing = sorted(h for h in by_hash if h not in found)
    if missing:
        found.update(_embed(config, store, embedder, missing, by_hash, executor, progress, summary))
    return found


def combine_vectors(vectors: Sequence[np.ndarray], center: np.ndarray) -> np.ndarray:
    """The mean of the centred vectors, normalised."""
    total = np.zeros_like(center, dtype=np.float32)
    for v in vectors:
        c = np.asarray(v, dtype=np.float32) - center
        total += c / max(float(np.linalg.norm(c)), 1e-9)
    return total / max(float(np.linalg.norm(total)), 1e-9)


def _embed(
    config: Config,
    store: Store,
    embedder: Embedder,
    missing: Sequence[str],
    texts: Mapping[str, str],
    executor: Executor | None,
    progress: Progress,
    summary: EmbedSummary,
) -> dict[str, np.ndarray]:
    """Embed these texts (by hash) batch by batch, storing each batch as it comes back."""
    batches = [
        Batch(k, "", "", embedder.name, tuple(texts[h] for h in part), task=EMBED)
        for k, part in enumerate(
            missing[start : start + EMBED_BATCH] for start in range(0, len(missing), EMBED_BATCH)
        )
    ]
    hashes = {b.key: missing[b.key * EMBED_BATCH : (b.key + 1) * EMBED_BATCH] for b in batches}
    runner = executor or make_executor(
        config.translation, None, embedder=embedder, embedder_spec=config.stories.embedder
    )
    if executor is None and runner.description != "in this process":
        summary.executor = runner.description
    out: dict[str, np.ndarray] = {}
    progress.start("embed", len(missing))
    try:
        for batch, vectors in runner.run(batches):
            fresh = dict(zip(hashes[batch.key], vectors, strict=True))
            store.save_vectors(embedder.name, fresh, utc_now())
            out.update(fresh)
            summary.embedded += len(fresh)
            progress.advance(len(fresh))
    finally:
        if executor is None:
            runner.close()
        progress.close()
    return out


def topic_vectors(
    topics: Sequence[TopicConfig], embedder: Embedder | None, store: Store | None = None
) -> dict[str, np.ndarray]:
    """Taxonomy topic name -> its texts' centred, normalised vectors (cached in the store)."""
    if embedder is None or not topics:
        return {}
    texts = {t.name: topic_texts(t) for t in topics}
    by_hash = {text_hash(x): x for xs in texts.values() for x in xs}
    found = store.cached_vectors(embedder.name, by_hash) if store is not None else {}
    missing = sorted(h for h in by_hash if h not in found)
    if missing:
        fresh = dict(zip(missing, embedder.embed([by_hash[h] for h in missing]), strict=True))
        if store is not None:
            store.save_vectors(embedder.name, fresh, utc_now())
        found.update(fresh)
    center = center_for(embedder.name, embedder.dim)
    return {
        name: np.vstack([combine_vectors([found[text_hash(x)]], center) for x in xs])
        for name, xs in texts.items()
        if xs
    }
