"""httpcore's network stream on asyncio's own streams, with no anyio in between.

httpcore reaches asyncio through anyio, which opens a cancel scope for every read and write
and answers httpcore's frequent "is this pooled connection still open?" by building a mapping
of attribute getters each time (30 us here): on 300 feeds that was a fifth of the fetch's
CPU in its event loop. This stream reads and writes asyncio's StreamReader and StreamWriter
under asyncio.timeout, answers the question from the reader's state, and raises httpcore's
errors (ConnectError, ReadTimeout, ...) with the OS error as their cause, as httpcore's own
backends do, so callers see the same chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import typing
from collections.abc import Iterable, Iterator

import httpcore

__all__ = ["AsyncioStream", "open_tcp"]

_OS_ERRORS = (OSError, ssl.SSLError, EOFError)


@contextlib.contextmanager
def _mapped(timeout_error: type[Exception], other: type[Exception], what: str) -> Iterator[None]:
    """OS and TLS errors (and a timeout of this step) as httpcore's exceptions."""
    try:
        yield
    except TimeoutError:
        raise timeout_error(f"{what} timed out") from None
    except _OS_ERRORS as exc:
        raise other(str(exc) or type(exc).__name__) from exc


async def open_tcp(
    host: str,
    port: int,
    timeout: float | None,
    local_address: str | None = None,
    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
) -> AsyncioStream:
    """A TCP connection to host:port within `timeout` seconds."""
    local = (local_address, 0) if local_address else None
    with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError, "connecting"):
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, local_addr=local)
    sock = writer.get_extra_info("socket")
    for option in socket_options or ():
        sock.setsockopt(*option)
    return AsyncioStream(reader, writer)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection, plain or TLS, as httpcore's connection pool uses it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to max_bytes, b"" once the peer has closed."""
        with _mapped(httpcore.ReadTimeout, httpcore.ReadError, "reading"):
            async with asyncio.timeout(timeout):
                return await self.reader.read(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """All of buffer, sent (or buffered within the transport's limits)."""
        if not buffer:
            return
        with _mapped(httpcore.WriteTimeout, httpcore.WriteError, "writing"):
            async with asyncio.timeout(timeout):
                self.writer.write(buffer)
                await self.writer.drain()

    async def aclose(self) -> None:
        """Close without waiting for the peer (a TLS goodbye is not worth a stalled run)."""
        self.writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """This connection upgraded to TLS, the certificate checked against server_hostname."""
        try:
            with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError, "the TLS handshake"):
                async with asyncio.timeout(timeout):
                    await self.writer.start_tls(ssl_context, server_hostname=server_hostname)
        except BaseException:
            self.writer.close()
            raise
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        """What httpcore asks of a connection: its TLS object, addresses, socket, and whether
        it is readable (the peer closed, or sent what nobody asked for: not reusable)."""
        if info == "is_readable":
            reader = self.reader
            if reader.at_eof() or reader.exception() is not None or self.writer.is_closing():
                return True
            return bool(getattr(reader, "_buffer", b""))  # data nobody asked for (read eagerly)
        if info == "ssl_object":
            return self.writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self.writer.get_extra_info("sockname")
        if info == "server_addr":
            return self.writer.get_extra_info("peername")
        if info == "socket":
            return self.writer.get_extra_info("socket")
        return None
