"""Parsing and cleaning in worker processes: both cores, and a time budget per fetched body.

Each worker runs one job at a time: a fetched body in, its parsed channel and normalized items
out (`prepare`, pure). A job that is still running when its budget runs out has its worker
killed: that feed fails for this run with a message saying so, a new worker takes the next
job, and the run goes on and ends (and releases its lock) on time, however hostile the body.
A worker that dies fails only its own job.

Workers are forked from this process when it has no other thread (nothing to copy but the
imported code, so starting one costs milliseconds), else from multiprocessing's fork server
(started once per process). The event loop reads their answers as they arrive.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from digest.ingest.normalize import normalize_entry
from digest.ingest.parse import parse_feed
from digest.ingest.replies import seconds_text
from digest.records import FeedConfig, Item, ParsedFeed
from digest.text import message_line

__all__ = ["Job", "PreparePool", "Prepared", "prepare"]

_MAX_WORKERS = 4


@dataclass(frozen=True)
class Job:
    """One fetched body to parse and clean."""

    feed: FeedConfig
    body: bytes
    headers: dict[str, str]
    url: str  # where the body came from (relative links resolve against it)
    now: datetime
    max_items: int


@dataclass
class Prepared:
    """A fetched body parsed and cleaned, ready to store (or why it could not be)."""

    parsed: ParsedFeed | None
    items: list[Item] = field(default_factory=list)
    failure: str | None = None  # the job ran out of time or its worker died


def prepare(job: Job) -> Prepared:
    """Parse and normalize one body (pure: runs in a worker)."""
    parsed = parse_feed(job.body, job.headers, job.url, max_items=job.max_items)
    items = [
        item
        for entry in parsed.entries
        if (item := normalize_entry(entry, job.feed, parsed, job.now)) is not None
    ]
    parsed.entries = []  # the items carry everything now; no need to send them back
    return Prepared(parsed, items)


def _serve(
    conn: multiprocessing.connection.Connection,
    work: Callable[[Job], Prepared],
    inherited: list[int],
) -> None:
    """A worker's life: answer jobs until the pipe closes."""
    # A forked worker holds copies of the parent's pipe ends (its own and its elders'):
    # closed here, so that a pipe the parent closes (or a parent that dies) ends the worker.
    for fd in inherited:
        with contextlib.suppress(OSError):
            os.close(fd)
    conn.send(None)  # booted: the parent's clock for a job starts when it is sent
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer: Prepared = work(job)
        except Exception as exc:  # parse_feed never raises; anything else is one feed's loss
            answer = Prepared(None, failure=f"could not parse and clean it ({_describe(exc)})")
        try:
            conn.send(answer)
        except Exception as exc:  # an answer that does not pickle
            conn.send(Prepared(None, failure=f"could not return its items ({_describe(exc)})"))


def _describe(exc: BaseException) -> str:
    return message_line(f"{type(exc).__name__}: {exc}", 200)


class _Worker:
    """One worker process, its pipe, and the job it is running."""

    def __init__(self, work: Callable[[Job], Prepared], siblings: list[_Worker]) -> None:
        ctx: Any
        if sys.platform == "win32":
            ctx = multiprocessing.get_context("spawn")
        elif threading.active_count() == 1:
            ctx = multiprocessing.get_context("fork")
        else:  # forking a process with threads may copy a held lock: use the fork server
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload([__name__])
        self.conn, child = ctx.Pipe()
        forked = ctx.get_start_method() == "fork"
        inherited = [w.conn.fileno() for w in [*siblings, self]] if forked else []
        self.process = ctx.Process(
            target=_serve, args=(child, work, inherited), name="digest-parse", daemon=True
        )
        self.process.start()
        child.close()
        self.future: asyncio.Future[Prepared] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.booted = False

    def stop(self, kill: bool) -> None:
        """End the process: kill it now, or close its pipe and let it finish."""
        if kill:
            with contextlib.suppress(OSError):
                self.process.kill()
        self.conn.close()


class PreparePool:
    """Worker processes preparing fetched bodies, each job within `budget` seconds."""

    def __init__(self, size: int, budget: float, work: Callable[[Job], Prepared] = prepare) -> None:
        self.size = max(0, min(size, _MAX_WORKERS))  # 0: no job expected (started on demand)
        self.budget = budget
        self.work = work
        self.workers: list[_Worker] = []
        self.idle: list[_Worker] = []
        self.queue: collections.deque[tuple[Job, asyncio.Future[Prepared]]] = collections.deque()
        self.loop: asyncio.AbstractEventLoop | None = None
        for _ in range(self.size):
            self._start()

    @staticmethod
    def default_size(jobs: int) -> int:
        """One worker per core, no more than there are jobs."""
        return max(0, min(jobs, os.cpu_count() or 1, _MAX_WORKERS))

    def _start(self) -> None:
        worker = _Worker(self.work, self.workers)
        self.workers.append(worker)  # idle once it says it has booted
        if self.loop is not None:
            self.loop.add_reader(worker.conn.fileno(), self._answered, worker)

    def _attach(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return
        self.loop = loop
        for worker in self.workers:
            loop.add_reader(worker.conn.fileno(), self._answered, worker)

    async def run(self, job: Job) -> Prepared:
        """Prepare one body in a worker; a failure (budget, crash) comes back as `failure`."""
        self._attach()
        assert self.loop is not None
        future: asyncio.Future[Prepared] = self.loop.create_future()
        if not self.workers:
            self._start()
        self.queue.append((job, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        assert self.loop is not None
        while self.queue and self.idle:
            job, future = self.queue.popleft()
            if future.done():
                continue
            worker = self.idle.pop()
            worker.future = future
            try:
                worker.conn.send(job)
            except (OSError, ValueError):  # the worker is gone: fail nothing, start another
                worker.future = None
                self.queue.appendleft((job, future))
                self._replace(worker, kill=True)
                continue
            worker.timer = self.loop.call_later(self.budget, self._expired, worker)

    def _finish(self, worker: _Worker, answer: Prepared) -> None:
        if worker.timer is not None:
            worker.timer.cancel()
            worker.timer = None
        future, worker.future = worker.future, None
        if future is not None and not future.done():
            future.set_result(answer)

    def _answered(self, worker: _Worker) -> None:
        try:
            answer = worker.conn.recv()
        except (EOFError, OSError):  # it died (killed by the system, a crash in C code)
            self._finish(worker, Prepared(None, failure="the process parsing it died"))
            self._replace(worker, kill=True)
            self._dispatch()
            return
        if not worker.booted:
            worker.booted = True
        else:
            self._finish(worker, answer)
        self.idle.append(worker)
        self._dispatch()

    def _expired(self, worker: _Worker) -> None:
        worker.timer = None
        took = seconds_text(self.budget)
        why = f"parsing and cleaning took longer than {took} s; skipped this run"
        self._finish(worker, Prepared(None, failure=why))
        self._replace(worker, kill=True)
        self._dispatch()

    def _replace(self, worker: _Worker, kill: bool) -> None:
        if self.loop is not None:
            self.loop.remove_reader(worker.conn.fileno())
        worker.stop(kill)
        worker.process.join(1.0)
        self.workers.remove(worker)
        if worker in self.idle:
            self.idle.remove(worker)
        self._start()

    def close(self) -> None:
        """Stop every worker (a job still running is killed) and fail what is still queued."""
        for worker in self.workers:
            if self.loop is not None and not self.loop.is_closed():
                with contextlib.suppress(Exception):
                    self.loop.remove_reader(worker.conn.fileno())
            worker.stop(kill=worker.future is not None)
        for worker in self.workers:
            worker.process.join(2.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1.0)
        self.workers, self.idle = [], []
        for _, future in self.queue:
            if not future.done():
                future.cancel()
        self.queue.clear()

    def __enter__(self) -> PreparePool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
