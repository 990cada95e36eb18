"""The asyncio network stream answers httpcore as its own backends do."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable

import httpcore
import pytest

from digest.ingest.aiostream import open_tcp


async def _until(check: Callable[[], object], tries: int = 500) -> bool:
    """Let the event loop run until check() is true (bounded by turns, not by a clock)."""
    for _ in range(tries):
        if check():
            return True
        await asyncio.sleep(0.01)
    return False


def test_readable_means_closed_or_unasked_data() -> None:
    async def main() -> None:
        writers: list[asyncio.StreamWriter] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        idle = await open_tcp("127.0.0.1", port, timeout=5)
        chatty = await open_tcp("127.0.0.1", port, timeout=5)
        assert await _until(lambda: len(writers) == 2)
        assert idle.get_extra_info("is_readable") is False
        writers[1].write(b"HTTP/1.1 200 OK\r\n")  # nobody asked: not reusable
        await writers[1].drain()
        assert await _until(lambda: chatty.get_extra_info("is_readable"))
        writers[0].close()  # the server drops the idle keep-alive connection
        assert await _until(lambda: idle.get_extra_info("is_readable"))
        assert await idle.read(100, timeout=5) == b""
        await idle.aclose()
        await chatty.aclose()
        server.close()

    asyncio.run(main())


def test_errors_are_httpcores_with_the_os_error_as_cause() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        with pytest.raises(httpcore.ConnectError) as caught:
            await open_tcp("127.0.0.1", port, timeout=5)
        assert isinstance(caught.value.__cause__, ConnectionRefusedError)
        assert caught.value.__cause__.errno == errno.ECONNREFUSED

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # never answers

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        stream = await open_tcp("127.0.0.1", server.sockets[0].getsockname()[1], timeout=5)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(10, timeout=0.05)
        await stream.aclose()
        server.close()

    asyncio.run(main())
