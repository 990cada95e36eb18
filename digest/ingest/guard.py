"""Fetches stay on the public internet: names resolved once, every address checked, then dialled.

A feed from a stranger's OPML (or a public feed's redirect) must not make the digest fetch
from the machine itself or its private network and publish what answers. The check sits in
the connection layer: httpcore asks this backend for a TCP connection to a host; the backend
resolves the host, refuses when any address is not public (addresses.py says which), and
connects to the checked address itself, never to the name again, so DNS rebinding between
the check and the connection has no window. Every hop of every redirect goes through it.

`Network` is the seam: how a name becomes addresses (getaddrinfo) and which socket an address
is dialled on. Tests give it chosen addresses (a public-looking name resolving to 10.0.0.1)
and dial public-looking addresses on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpcore
import httpx

from digest.addresses import address_problem, parse_ip
from digest.ingest.aiostream import open_tcp
from digest.ingest.replies import FetchFailed

__all__ = [
    "PUBLIC_REFUSAL",
    "AddressRefused",
    "Network",
    "guarded_transport",
    "lookup_problems",
    "system_lookup",
]

#: What the public pages may say about a refused fetch: no address, no host, no port.
PUBLIC_REFUSAL = "refused: the feed led to an address outside the public internet"


def system_lookup(host: str) -> list[str]:
    """The addresses getaddrinfo gives for a host, in its order, without repeats."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _same(host: str, port: int) -> tuple[str, int]:
    return host, port


@dataclass(frozen=True)
class Network:
    """How names become addresses and which socket an address is dialled on (a test seam)."""

    lookup: Callable[[str], list[str]] = system_lookup
    dial: Callable[[str, int], tuple[str, int]] = field(default=_same)


class AddressRefused(FetchFailed):
    """A fetch refused because a host is, or resolves to, a non-public address."""

    public = PUBLIC_REFUSAL


def _problem(addresses: Iterable[str]) -> str | None:
    """'127.0.0.1 (loopback)' for the first non-public address, else None."""
    for text in addresses:
        ip = parse_ip(text.split("%")[0])
        problem = "not an IP address" if ip is None else address_problem(ip)
        if problem is not None:
            return f"{text} ({problem})"
    return None


async def _addresses(network: Network, host: str) -> list[str]:
    ip = parse_ip(host)
    if ip is not None:  # a literal, in whatever spelling: no resolver thread needed
        return [str(ip)]
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, network.lookup, host)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend: resolves, checks (when asked), then connects."""

    def __init__(self, network: Network, check: bool) -> None:
        self.network = network
        self.check = check

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve, refuse any non-public address, then connect to a checked address."""
        try:
            async with asyncio.timeout(timeout):
                addresses = await _addresses(self.network, host)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        problem = _problem(addresses) if self.check else None
        if problem is not None:
            raise AddressRefused(f"{host} resolves to {problem}, not a public address")
        for n, address in enumerate(addresses, 1):
            dial_host, dial_port = self.network.dial(address, port)
            try:
                return await open_tcp(dial_host, dial_port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                if n == len(addresses):
                    raise  # as it is: its chain says why (connection refused, ...)
        raise httpcore.ConnectError(f"{host}: no address answered")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never used: feeds are fetched over TCP only."""
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose every connection is checked."""

    def __init__(
        self, *, network: Network, check: bool, verify: typing.Any, limits: httpx.Limits
    ) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        if not isinstance(self._pool, httpcore.AsyncConnectionPool):  # httpx changed shape
            raise RuntimeError("httpx's transport no longer holds an httpcore connection pool")
        # httpx does not pass a network backend through; the pool it built is unused yet.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_GuardedBackend(network, check),
        )


def guarded_transport(
    network: Network, verify: typing.Any, limits: httpx.Limits, *, check: bool = True
) -> httpx.AsyncBaseTransport:
    """An httpx transport resolving through `network` that, when `check`, connects only to
    public addresses (checked after DNS, on the address it then dials)."""
    return _GuardedTransport(network=network, check=check, verify=verify, limits=limits)


def lookup_problems(hosts: Iterable[str], network: Network, timeout: float = 5.0) -> dict[str, str]:
    """Host -> '10.0.0.1 (private)' for hosts resolving to a non-public address.

    All hosts are looked up at once, in daemon threads, within `timeout` seconds overall: a
    host that does not answer in time, or does not resolve, is left out (it cannot be judged
    now; the fetch checks it again on every connection).
    """
    found: dict[str, list[str]] = {}

    def look(host: str) -> None:
        with contextlib.suppress(OSError, UnicodeError, ValueError):
            found[host] = network.lookup(host)

    threads = [
        threading.Thread(target=look, args=(h,), daemon=True, name="digest-lookup")
        for h in dict.fromkeys(hosts)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    problems = {}
    for host, addresses in list(found.items()):
        problem = _problem(addresses)
        if problem is not None:
            problems[host] = problem
    return problems
