"""Model work in batches, and the executor seam: what runs a batch, and the in-process runner.

Two kinds of model work go through it: translation (the translate stage) and embedding (the
cluster stage's vectors step). The stage decides what to do and writes every result itself
(one writer, one transaction per batch); an executor only turns batches of texts into
translations or vectors and hands them back as they complete, in any order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from digest.errors import StageError
from digest.records import TranslationConfig
from digest.translate.embed import Embedder
from digest.translate.engine import Translator

DASK_HINT = "pip install 'digest[dask]'   (or set translation.executor: local)"
# Items per batch, which is also one transaction of the writer. In this process, big batches
# keep CTranslate2's parallel translators full. On a cluster, smaller ones spread the work
# evenly over the workers and lose less when one dies.
LOCAL_BATCH_ITEMS = 128
DASK_BATCH_ITEMS = 32


TRANSLATE = "translate"
EMBED = "embed"


@dataclass(frozen=True)
class Batch:
    """Texts for one model call; `key` ties the result to its items.

    A translation batch holds one language pair (src, tgt); an embedding batch (task EMBED)
    leaves them empty and gets one vector per text back.
    """

    key: int
    src: str
    tgt: str
    model: str  # the model name the writer caches under: a worker must use the same one
    texts: tuple[str, ...]
    task: str = TRANSLATE


class Executor(Protocol):
    """Runs batches and yields (batch, results) as each completes: a translation (str) or
    a vector (float32 array) per text."""

    description: str
    batch_items: int  # items per batch that suit this executor

    def run(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, list[Any]]]:
        """Run every batch; results may come back in any order."""
        ...

    def close(self) -> None:
        """Release what the executor started (worker processes, connections)."""
        ...


class ExecutorLost(StageError):
    """The executor went away mid-run (a Dask scheduler stopped): what was written stays."""


class LocalExecutor:
    """Runs batches in this process, one after another, with the given translator or embedder."""

    def __init__(self, translator: Translator | None, embedder: Embedder | None = None) -> None:
        self.translator = translator
        self.embedder = embedder
        self.description = "in this process"
        self.batch_items = LOCAL_BATCH_ITEMS

    def run(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, list[Any]]]:
        """Run each batch in turn."""
        for batch in batches:
            yield batch, run_batch(batch, self.translator, self.embedder)

    def close(self) -> None:
        """Nothing to release: the translator's models stay loaded for reuse."""


def run_batch(batch: Batch, translator: Translator | None, embedder: Embedder | None) -> list[Any]:
    """One batch's results with these models: translations, or vectors (float32 rows)."""
    if batch.task == EMBED:
        if embedder is None or embedder.name != batch.model:
            have = embedder.name if embedder is not None else "no embedder"
            raise StageError(f"an embedding batch for {batch.model} reached {have}")
        return list(np.asarray(embedder.embed(batch.texts), dtype=np.float32))
    if translator is None:
        raise StageError("a translation batch reached an executor without a translator")
    return translator.translate(batch.texts, batch.src, batch.tgt)


def uses_dask(cfg: TranslationConfig, cluster: str | None = None) -> bool:
    """Does this config (or an explicit scheduler address) send batches to Dask?"""
    return cfg.executor == "dask" or (cluster or cfg.cluster) is not None


def batch_items(cfg: TranslationConfig, cluster: str | None = None) -> int:
    """Items per batch for the executor this config asks for."""
    return DASK_BATCH_ITEMS if uses_dask(cfg, cluster) else LOCAL_BATCH_ITEMS
