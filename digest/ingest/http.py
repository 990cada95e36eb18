"""Fetch stage: bring feed bytes home, politely and within limits.

httpx serves every request, one connection pool per origin. Concurrency is bounded overall
and per host; each feed has one deadline covering connect, headers, redirects and the whole
body, because httpx's own timeouts only count inactivity. Bodies are decompressed here, in
bounded pieces, rather than by httpx: its decoder expands a whole network chunk at once (one
64 KB read of a gzip bomb becomes about 64 MB), so the size cap could only be checked after
the damage.

Every hop stays on the public internet unless the feed is the operator's own intranet feed
(its configured URL is a private address) or `fetch.allow_private` is set: a host written as
a non-public address is refused here, and names are resolved and checked in the connection
layer (guard.py), where DNS cannot change its answer between the check and the connection.
Behind an HTTP(S)_PROXY the proxy resolves names, so only hosts written as addresses are
judged.

Local feeds (file:// URLs and plain paths) go through the same result type, with the file's
mtime and size standing in for Last-Modified.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from digest.addresses import host_problem, url_host_problem
from digest.ingest.guard import AddressRefused, Network, guarded_transport
from digest.ingest.inflate import Decoder
from digest.ingest.local import fetch_local, local_path
from digest.ingest.replies import (
    USER_AGENT,
    FetchFailed,
    FetchRequest,
    describe_error,
    header_safe,
    parse_retry_after,
    seconds_text,
    status_text,
)
from digest.records import FetchConfig, FetchResult
from digest.text import message_line

__all__ = ["MAX_REDIRECTS", "fetch_all", "fetch_all_async", "private_allowed", "run_async"]

T = TypeVar("T")

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_MAX_VALIDATOR = 1024  # longer ETag / Last-Modified values are not worth keeping
_MAX_RETRY_AFTER = timedelta(days=365)
_LAUNCH_STEP = 10  # requests started per turn of the event loop (see fetch_all_async)


# ---------------------------------------------------------------- HTTP


def private_allowed(cfg: FetchConfig, req: FetchRequest) -> bool:
    """May this request reach non-public addresses? Only by the operator's explicit choice."""
    return cfg.allow_private or url_host_problem(req.configured_url or req.url) is not None


def _proxied(url: httpx.URL, proxies: dict[str, str]) -> bool:
    """True when an HTTP(S)_PROXY / ALL_PROXY from the environment applies to this URL."""
    if url.scheme not in proxies and "all" not in proxies:
        return False
    return not urllib.request.proxy_bypass(url.host)


class _Fetcher:
    """Shared state for one fetch_all call: the client and the concurrency limits."""

    def __init__(self, cfg: FetchConfig, base_dir: Path, network: Network | None = None) -> None:
        self.cfg = cfg
        self.base_dir = base_dir
        self.network = network or Network()
        # read once: the environment is scanned for *_proxy names (a millisecond a time)
        self.proxies = urllib.request.getproxies_environment()
        self.proxied: dict[tuple[str, str], bool] = {}
        self.overall = asyncio.Semaphore(max(1, cfg.concurrency))
        self.hosts: dict[str, asyncio.Semaphore] = {}
        # One client (connection pool) per origin: httpcore's pool does work proportional to
        # its connections for every request, so one pool of 300 connections spends more CPU
        # than the network takes (2.6 s against 1.3 s for 300 feeds on 30 hosts). A pool per
        # origin holds at most per_host connections. One TLS context serves them all
        # (building one loads the CA bundle: tens of milliseconds).
        self.clients: dict[tuple[bool, str, str, int | None], httpx.AsyncClient] = {}
        self._tls: ssl.SSLContext | None = None
        self._no_tls: ssl.SSLContext | None = None
        self.timeout = httpx.Timeout(
            connect=cfg.connect_timeout, read=cfg.timeout, write=cfg.timeout, pool=None
        )

    def client_for(self, url: httpx.URL, private_ok: bool) -> httpx.AsyncClient:
        """The connection pool for this URL's origin (created on first use).

        Requests that must stay public get pools of their own whose connections are checked
        (a connection opened for an intranet feed is never lent to them).
        """
        proxied = self.proxied.get((url.scheme, url.host))
        if proxied is None:
            proxied = self.proxied[url.scheme, url.host] = _proxied(url, self.proxies)
        checked = not private_ok and not proxied
        key = (checked, url.scheme, url.host.lower(), url.port)
        client = self.clients.get(key)
        if client is None:
            tls = self._tls_for(url.scheme)
            size = max(1, min(self.cfg.per_host, self.cfg.concurrency))
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            # Proxied requests keep httpx's own transport, which honours HTTPS_PROXY/NO_PROXY;
            # the others resolve through self.network, checked unless private is allowed.
            transport = (
                None if proxied else guarded_transport(self.network, tls, limits, check=checked)
            )
            client = self.clients[key] = httpx.AsyncClient(
                timeout=self.timeout,
                limits=limits,
                verify=tls,
                follow_redirects=False,
                transport=transport,
            )
        return client

    def _tls_for(self, scheme: str) -> ssl.SSLContext:
        """The TLS context for a pool: the verifying one only where TLS can happen.

        Building it loads the CA bundle (50 ms). A plain-http pool with no proxy in the
        environment never speaks TLS; it gets a context with no CA at all, which would
        refuse every certificate if it ever did.
        """
        if scheme != "http" or self.proxies.keys() - {"no"}:  # NO_PROXY alone proxies nothing
            if self._tls is None:
                # what httpx builds for verify=True (SSL_CERT_FILE/DIR honoured)
                self._tls = httpx.create_ssl_context()
            return self._tls
        if self._no_tls is None:
            self._no_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, trusts nothing
        return self._no_tls

    async def aclose(self) -> None:
        """Close every connection pool."""
        clients, self.clients = list(self.clients.values()), {}
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)

    def host_slot(self, url: httpx.URL) -> asyncio.Semaphore:
        key = url.host.lower()  # politeness is per machine, whatever the port
        sem = self.hosts.get(key)
        if sem is None:
            sem = self.hosts[key] = asyncio.Semaphore(max(1, self.cfg.per_host))
        return sem

    async def fetch(self, req: FetchRequest) -> FetchResult:
        """Fetch one request; every failure becomes `error` on the result."""
        try:
            path = local_path(req.url, self.base_dir)
            if path is None:
                return await self._fetch_http(req)
            start = time.monotonic()
            async with self.overall:
                res = await asyncio.to_thread(fetch_local, req, path, self.cfg.max_bytes)
            res.duration = time.monotonic() - start
            return res
        except Exception as exc:  # never let one feed's surprise end the whole run
            public = None
            if isinstance(exc, FetchFailed):
                msg = str(exc)
                public = exc.public if isinstance(exc, AddressRefused) else None
            elif isinstance(exc, ValueError):  # urlsplit, or a NUL byte in a path
                why = message_line(str(exc), 80)
                msg = f"{message_line(req.url)}: not a valid URL or path ({why})"
            else:
                msg = describe_error(req.url, exc, self.cfg)
            return FetchResult(
                feed_id=req.feed_id,
                url=req.url,
                error=msg,
                public_error=public,
                etag=req.etag,
                last_modified=req.last_modified,
            )

    async def _fetch_http(self, req: FetchRequest) -> FetchResult:
        cfg = self.cfg
        res = FetchResult(feed_id=req.feed_id, url=req.url, final_url=req.url)
        headers = {
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "gzip, deflate",
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9,"
            " text/xml;q=0.9, */*;q=0.5",
        }
        etag = header_safe(req.etag)
        last_modified = header_safe(req.last_modified)
        if etag:
            headers["If-None-Match"] = etag
        if last_modified and not last_modified.startswith("mtime:"):
            headers["If-Modified-Since"] = last_modified
        budget = cfg.timeout  # seconds of deadline left, spent only while holding a slot
        active = 0.0
        permanent = True
        url_text = req.url
        private_ok = private_allowed(cfg, req)
        hop = 0
        try:
            for hop in range(MAX_REDIRECTS + 1):
                url = httpx.URL(url_text)
                if url.scheme not in ("http", "https"):
                    raise FetchFailed(
                        f"{message_line(req.url)}: cannot fetch {message_line(url_text)}"
                        f" (scheme {message_line(url.scheme)!r} is not http or https)"
                    )
                res.final_url = url_text
                problem = None if private_ok else host_problem(url.host)
                if problem is not None:
                    raise AddressRefused(f"its host {problem}")
                async with self.host_slot(url), self.overall:
                    start = time.monotonic()
                    deadline = asyncio.timeout(budget)
                    try:
                        async with deadline:
                            location = await self._one_hop(url, private_ok, headers, res)
                    except TimeoutError:
                        if not deadline.expired():
                            raise
                        raise FetchFailed(
                            f"{message_line(req.url)}: no complete answer within "
                            f"{seconds_text(cfg.timeout)} s (overall deadline)"
                        ) from None
                    finally:
                        spent = time.monotonic() - start
                        active += spent
                        budget = max(budget - spent, 0.001)
                if location is None:
                    break
                if res.status not in _PERMANENT:
                    permanent = False
                if hop == MAX_REDIRECTS:
                    raise FetchFailed(
                        f"{message_line(req.url)}: too many redirects (more than {MAX_REDIRECTS}),"
                        f" last to {message_line(location)}"
                    )
                url_text = location
            if res.error is None and hop > 0 and permanent:
                res.permanent_url = url_text
        except AddressRefused as exc:
            where = f"redirected to {message_line(url_text)}, " if hop else ""
            res.error = (
                f"{message_line(req.url)}: refused ({where}{exc}); fetch.allow_private: true"
                " allows it"
            )
            res.public_error = exc.public
            res.body = None
        except FetchFailed as exc:
            res.error = str(exc)
            res.body = None
        except Exception as exc:  # never let one feed's surprise end the whole run
            res.error = describe_error(res.final_url or req.url, exc, cfg)
            res.body = None
        res.duration = active
        if res.not_modified:
            res.etag = res.etag or req.etag
            res.last_modified = res.last_modified or req.last_modified
        elif res.error is not None:
            # Validators are "what to send next time": an error must not forget them.
            res.etag, res.last_modified = req.etag, req.last_modified
        return res

    async def _one_hop(
        self, url: httpx.URL, private_ok: bool, headers: dict[str, str], res: FetchResult
    ) -> str | None:
        """One request; returns the next URL for a redirect, else None (result filled in)."""
        shown = message_line(str(url))
        client = self.client_for(url, private_ok)
        async with client.stream("GET", url, headers=headers) as resp:
            status = resp.status_code
            res.status = status
            res.headers = _header_dict(resp.headers)
            res.etag = header_safe(resp.headers.get("etag"))
            res.last_modified = header_safe(resp.headers.get("last-modified"))
            if status in _REDIRECTS:
                target = resp.headers.get("location")
                if not target:
                    raise FetchFailed(f"{shown}: {status_text(status)} without a Location")
                try:
                    return str(url.join(target.strip()))
                except Exception:
                    raise FetchFailed(
                        f"{shown}: {status_text(status)} to an invalid Location"
                        f" {message_line(target)!r}"
                    ) from None
            if status == 304:
                res.not_modified = True
                return None
            if status == 410:
                res.gone = True
                res.error = f"{shown}: {status_text(status)} (the feed was removed)"
                return None
            if status in (429, 503):
                res.retry_after = parse_retry_after(
                    resp.headers.get("retry-after"), datetime.now(UTC)
                )
                when = (
                    f"; retry after {res.retry_after:%Y-%m-%d %H:%M:%S} UTC"
                    if res.retry_after
                    else ""
                )
                res.error = f"{shown}: {status_text(status)}{when}"
                return None
            if not 200 <= status < 300:
                res.error = f"{shown}: {status_text(status)}"
                return None
            res.body = await self._read_body(resp, shown)
            return None

    async def _read_body(self, resp: httpx.Response, shown: str) -> bytes:
        cap = self.cfg.max_bytes
        too_big = f"{shown}: body larger than the {cap}-byte cap (fetch.max_bytes)"
        try:
            decoder = Decoder(resp.headers.get("content-encoding"))
        except ValueError as exc:
            raise FetchFailed(
                f"{shown}: unsupported Content-Encoding {message_line(str(exc), 40)!r}"
            ) from None
        declared = resp.headers.get("content-length", "")
        if not decoder.layers and declared.isdigit() and int(declared) > cap:
            raise FetchFailed(too_big)
        parts: list[bytes] = []
        size = raw = 0
        try:
            async for chunk in resp.aiter_raw():
                raw += len(chunk)
                if raw > cap:  # compressed junk that never inflates still counts
                    raise FetchFailed(too_big)
                for piece in decoder.feed(chunk):
                    size += len(piece)
                    if size > cap:
                        raise FetchFailed(too_big)
                    parts.append(piece)
            for piece in decoder.finish():
                size += len(piece)
                if size > cap:
                    raise FetchFailed(too_big)
                parts.append(piece)
        except zlib.error as exc:
            reason = message_line(str(exc), 80)
            raise FetchFailed(f"{shown}: corrupt compressed body ({reason})") from None
        if size == 0:
            raise FetchFailed(f"{shown}: empty response body")
        return b"".join(parts)


def _header_dict(headers: httpx.Headers) -> dict[str, str]:
    """Response headers with lower-case names; repeated headers joined with ", "."""
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


# ---------------------------------------------------------------- public entry points


async def fetch_all_async(
    requests: Sequence[FetchRequest],
    cfg: FetchConfig,
    *,
    base_dir: Path,
    on_result: Callable[[FetchResult], None] | None = None,
    network: Network | None = None,
) -> list[FetchResult]:
    """Fetch every request concurrently; results in request order. Never raises for one feed."""
    results: list[FetchResult | None] = [None] * len(requests)
    fetcher = _Fetcher(cfg, base_dir, network)

    async def run(i: int, req: FetchRequest) -> tuple[int, FetchResult]:
        return i, await fetcher.fetch(req)

    tasks: list[asyncio.Task[tuple[int, FetchResult]]] = []
    finished: asyncio.Queue[asyncio.Task[tuple[int, FetchResult]]] = asyncio.Queue()

    async def launch() -> None:
        # A few requests per turn of the event loop: all at once, every request would take
        # its first step before any took its second, and none would leave before all had
        # been set up (0.5 s for 300 here). So the first answers come back, and are parsed
        # in the workers, while later requests are still being set up.
        for start in range(0, len(requests), _LAUNCH_STEP):
            for i in range(start, min(start + _LAUNCH_STEP, len(requests))):
                task = asyncio.create_task(run(i, requests[i]))
                task.add_done_callback(finished.put_nowait)
                tasks.append(task)
            await asyncio.sleep(0)

    launcher = asyncio.create_task(launch())
    try:
        for _ in requests:
            i, res = (await finished.get()).result()
            results[i] = res
            if on_result is not None:
                on_result(res)
        await launcher
    finally:
        launcher.cancel()
        for t in tasks:
            t.cancel()
        await asyncio.gather(launcher, *tasks, return_exceptions=True)
        await fetcher.aclose()
    return [r for r in results if r is not None]


def run_async(job: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion, in a thread of its own when a loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(job())
    box: list[T] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            box.append(asyncio.run(job()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker, name="digest-fetch")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


def fetch_all(
    requests: Sequence[FetchRequest],
    cfg: FetchConfig,
    *,
    base_dir: Path,
    on_result: Callable[[FetchResult], None] | None = None,
    network: Network | None = None,
) -> list[FetchResult]:
    """Fetch every request concurrently; results in request order. Never raises for one feed."""
    return run_async(
        lambda: fetch_all_async(
            requests, cfg, base_dir=base_dir, on_result=on_result, network=network
        )
    )
