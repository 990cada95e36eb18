"""Translation batches and the executor seam: what runs a batch, and the in-process runner.

The translate stage decides what to translate and writes every result itself (one writer, one
transaction per batch); an executor only turns batches of texts into translations and hands
them back as they complete, in any order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from digest.errors import StageError
from digest.records import TranslationConfig
from digest.translate.engine import Translator

DASK_HINT = "pip install 'digest[dask]'   (or set translation.executor: local)"
# Items per batch, which is also one transaction of the writer. In this process, big batches
# keep CTranslate2's parallel translators full. On a cluster, smaller ones spread the work
# evenly over the workers and lose less when one dies.
LOCAL_BATCH_ITEMS = 128
DASK_BATCH_ITEMS = 32


@dataclass(frozen=True)
class Batch:
    """Texts of one language pair for one model call; `key` ties the result to its items."""

    key: int
    src: str
    tgt: str
    model: str  # the model name the writer caches under: a worker must use the same one
    texts: tuple[str, ...]


class Executor(Protocol):
    """Runs batches and yields (batch, translations) as each completes."""

    description: str
    batch_items: int  # items per batch that suit this executor

    def run(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, list[str]]]:
        """Translate every batch; results may come back in any order."""
        ...

    def close(self) -> None:
        """Release what the executor started (worker processes, connections)."""
        ...


class ExecutorLost(StageError):
    """The executor went away mid-run (a Dask scheduler stopped): what was written stays."""


class LocalExecutor:
    """Translates in this process, batch after batch, with the given translator."""

    def __init__(self, translator: Translator) -> None:
        self.translator = translator
        self.description = "in this process"
        self.batch_items = LOCAL_BATCH_ITEMS

    def run(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, list[str]]]:
        """Translate each batch in turn."""
        for batch in batches:
            yield batch, self.translator.translate(batch.texts, batch.src, batch.tgt)

    def close(self) -> None:
        """Nothing to release: the translator's models stay loaded for reuse."""


def uses_dask(cfg: TranslationConfig, cluster: str | None = None) -> bool:
    """Does this config (or an explicit scheduler address) send batches to Dask?"""
    return cfg.executor == "dask" or (cluster or cfg.cluster) is not None


def batch_items(cfg: TranslationConfig, cluster: str | None = None) -> int:
    """Items per batch for the executor this config asks for."""
    return DASK_BATCH_ITEMS if uses_dask(cfg, cluster) else LOCAL_BATCH_ITEMS
