"""Model work on a Dask cluster: models live in the workers, results come back to one writer.

A WorkerPlugin gives every worker one ArgosTranslator, which builds one CTranslate2 translator
per package the first time a pair is asked for. Only package names, settings and text travel
(CTranslate2 objects cannot be pickled), and all of it lives in this installed module: code
defined in `__main__` would be shipped by value and reload its models with every task.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import dask
from distributed import (
    Client,
    Future,
    KilledWorker,
    LocalCluster,
    WorkerPlugin,
    as_completed,
    get_worker,
)
from distributed.client import FutureCancelledError

from digest.errors import StageError
from digest.records import TranslationConfig
from digest.translate.batches import DASK_BATCH_ITEMS, EMBED, Batch, ExecutorLost, run_batch
from digest.translate.embed import Embedder, make_embedder
from digest.translate.engine import ArgosTranslator

log = logging.getLogger(__name__)

PLUGIN_NAME = "digest-translation"
TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler
WORKER_TIMEOUT = 30.0  # seconds to wait for a first worker to join it
SCHEDULER_HINT = (
    "start one with `dask scheduler` and workers with `dask worker ADDRESS --nthreads 1`, "
    "or check translation.cluster / --cluster"
)


def digest_version() -> str:
    """The installed digest version, which must be the same on the caller and every worker."""
    try:
        return version("digest")
    except PackageNotFoundError:
        return "dev"


class WorkerSetupError(RuntimeError):
    """A worker cannot translate as asked (other digest version, other packages)."""


class TranslationPlugin(WorkerPlugin):
    """Gives a worker one translator for the run's settings; models load on first use."""

    name = PLUGIN_NAME

    def __init__(
        self, cfg: TranslationConfig, caller_version: str, embedder: str | None = None
    ) -> None:
        self.cfg = cfg
        self.caller_version = caller_version
        self.embedder_spec = embedder
        self.embedder: Embedder | None = None
        self.translator: ArgosTranslator | None = None
        self.problem: str | None = None
        self.address = "?"

    def setup(self, worker: Any) -> None:
        """Build the worker's translator: threads set explicitly, as Dask sets OMP to 1."""
        self.address = str(worker.address)
        _undo_malloc_trim()
        mine = digest_version()
        if mine != self.caller_version:
            self.problem = (
                f"worker {self.address} runs digest {mine}, the caller {self.caller_version}"
            )
            return
        cfg = self.cfg
        if cfg.packages_dir is not None and not cfg.packages_dir.is_dir():
            cfg = replace(cfg, packages_dir=None)  # this machine's own ARGOS_PACKAGES_DIR
        # Each of the worker's threads runs one batch; each batch gets intra_threads cores.
        threads = max(1, int(getattr(worker.state, "nthreads", 1) or 1))
        cfg = replace(
            cfg,
            inter_threads=threads,
            intra_threads=cfg.intra_threads or 1,
            executor="local",
            cluster=None,
        )
        self.translator = ArgosTranslator(cfg)

    def embed(self, batch: Batch) -> list[Any]:
        """Embed one batch here, with the model the caller expects (loaded on first use)."""
        if self.problem:
            raise WorkerSetupError(self.problem)
        if self.embedder is None and self.embedder_spec:
            # One thread per batch: the worker's threads each run a batch.
            self.embedder = make_embedder(self.embedder_spec, threads=1)
        if self.embedder is None or self.embedder.name != batch.model:
            have = self.embedder.name if self.embedder is not None else "no embedder"
            raise WorkerSetupError(
                f"worker {self.address} has {have}, the caller uses {batch.model}: every "
                "worker needs the same digest and embedding model"
            )
        return run_batch(batch, None, self.embedder)

    def translate(self, batch: Batch) -> list[str]:
        """Translate one batch here, with the model the caller expects."""
        if self.problem:
            raise WorkerSetupError(self.problem)
        assert self.translator is not None  # setup ran
        ref = self.translator.model_for(batch.src, batch.tgt)
        if ref is None or ref.name != batch.model:
            have = ref.name if ref is not None else "no model"
            raise WorkerSetupError(
                f"worker {self.address} has {have} for {batch.src}→{batch.tgt}, the caller "
                f"uses {batch.model}: every worker needs the same argos packages"
            )
        return self.translator.translate(batch.texts, batch.src, batch.tgt)


# glibc mallopt parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _undo_malloc_trim() -> bool:
    """Give CTranslate2 back glibc's large-allocation behaviour under a Dask nanny.

    A nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which freezes glibc's mmap
    threshold at 128 KiB: every decoder buffer is then mapped and unmapped anew, and a
    Transformer-base translates at half speed here (9.2 s instead of 4.4 s for one batch).
    Setting the thresholds high again, as glibc's dynamic tuning would, restores the speed;
    the price is that a worker keeps its peak heap instead of trimming it.
    """
    if not os.environ.get("MALLOC_TRIM_THRESHOLD_") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        ok = libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
    except (OSError, AttributeError):
        return False
    return bool(ok)


def translate_on_worker(batch: Batch) -> list[Any]:
    """The task: translate or embed one batch with this worker's plugin."""
    plugin = get_worker().plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, TranslationPlugin):
        raise WorkerSetupError("this worker has no digest translation plugin registered")
    if batch.task == EMBED:
        return plugin.embed(batch)
    return plugin.translate(batch)


def worker_loads(dask_worker: Any) -> dict[str, int]:
    """Models built on this worker, by package (for tests and the benchmark)."""
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, TranslationPlugin) or plugin.translator is None:
        return {}
    return dict(plugin.translator.loads)


def worker_rss(dask_worker: Any) -> int:
    """Resident memory of this worker process, in bytes."""
    import psutil

    return int(psutil.Process(os.getpid()).memory_info().rss)


class DaskExecutor:
    """Sends batches to a Dask cluster, a bounded number in flight, yielding as they finish."""

    def __init__(
        self,
        cfg: TranslationConfig,
        *,
        address: str | None = None,
        workers: int | None = None,
        in_flight: int | None = None,
        batch_items: int = DASK_BATCH_ITEMS,
        threads_per_worker: int | None = None,
        embedder: str | None = None,
    ) -> None:
        self.cluster: LocalCluster | None = None
        self.address = address
        self.in_flight = in_flight
        self.batch_items = batch_items
        try:
            if address is None:
                # One process whose threads share one copy of each model was fastest here
                # (bench/scale); with more processes, the cores are shared out among them.
                n = workers or cfg.workers or 1
                threads = threads_per_worker or max(1, _cores() // n)
                # The nannies would also set this in our own environment (see _undo_malloc_trim).
                with dask.config.set({TRIM_KEY: None}):
                    self.cluster = LocalCluster(
                        n_workers=n,
                        threads_per_worker=threads,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=":0",  # its HTTP routes, on a free loopback port
                        silence_logs=logging.ERROR,
                    )
                self.client = Client(self.cluster, set_as_default=False)
                self.description = (
                    f"a local Dask cluster ({n} worker{'s' * (n > 1)} × "
                    f"{threads} thread{'s' * (threads > 1)})"
                )
            else:
                self.client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
                self.description = f"the Dask cluster at {address}"
            self.client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self.close()
            where = f"the Dask cluster at {address}" if address else "a local Dask cluster"
            raise StageError(
                f"cannot use {where}: {exc or type(exc).__name__}", hint=SCHEDULER_HINT
            ) from exc
        try:
            plugin = TranslationPlugin(cfg, digest_version(), embedder)
            self.client.register_plugin(plugin, PLUGIN_NAME)
        except Exception as exc:  # e.g. a worker without digest cannot unpickle the plugin
            self.close()
            raise StageError(
                f"the workers of {self.description} cannot set up digest's translation: "
                f"{type(exc).__name__}: {exc}",
                hint=f"install digest {digest_version()} and the argos packages on every worker",
            ) from exc

    def threads(self) -> int:
        """Worker threads in the cluster now."""
        return sum(self.client.nthreads().values())

    def run(self, batches: Iterable[Batch]) -> Iterator[tuple[Batch, list[Any]]]:
        """Submit batches (at most `in_flight` unfinished) and yield each result once."""
        todo = iter(batches)
        limit = self.in_flight or max(2, 2 * self.threads())
        waiting: dict[Future, Batch] = {}

        def submit() -> Future | None:
            batch = next(todo, None)
            if batch is None:
                return None
            future = self.client.submit(translate_on_worker, batch, pure=False)
            waiting[future] = batch
            return future

        first = [f for f in (submit() for _ in range(limit)) if f is not None]
        if not first:
            return
        done = as_completed(first, loop=self.client.loop)
        for future in done:
            batch = waiting.pop(future)
            try:
                result = future.result()
            except (FutureCancelledError, OSError, TimeoutError) as exc:
                why = getattr(exc, "reason", None) or type(exc).__name__
                raise ExecutorLost(
                    f"lost {self.description} mid-run ({why})",
                    hint="the next run translates the rest; " + SCHEDULER_HINT,
                ) from exc
            except KilledWorker as exc:
                raise StageError(
                    f"a translation batch killed {self.description}'s workers again and again "
                    "(out of memory?)",
                    hint="give each worker more memory, or fewer threads per worker",
                ) from exc
            except WorkerSetupError as exc:
                raise StageError(
                    str(exc),
                    hint="install the same digest and packages on every "
                    "worker (digest models list shows them)",
                ) from exc
            except Exception as exc:  # a task error comes back as the worker raised it
                raise StageError(
                    f"translation failed on {self.description}: {type(exc).__name__}: {exc}",
                    hint="run with --verbose for the traceback",
                ) from exc
            finally:
                future.release()
            yield batch, result
            more = submit()
            if more is not None:
                done.add(more)

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this executor started one."""
        # After a lost scheduler the client logs its failed reconnects as tracebacks: the
        # stage has already said what happened, in one line.
        quiet = logging.getLogger("distributed")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            client = getattr(self, "client", None)
            if client is not None:
                client.close()
            if self.cluster is not None:
                self.cluster.close()
                self.cluster = None
        finally:
            quiet.setLevel(level)


def dask_setup(worker: Any) -> None:
    """`dask worker --preload digest.scaleout`: import the translation stack at start.

    A worker without ctranslate2 or sentencepiece then fails when it starts, not at its first
    batch, and the first batch does not pay the imports.
    """
    import ctranslate2  # noqa: F401
    import sentencepiece  # noqa: F401

    log.info("digest %s translation worker at %s", digest_version(), worker.address)


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
