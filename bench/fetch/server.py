"""One asyncio process serving 300 feeds on 30 loopback hosts, each answering after a delay.

Usage: server.py PORT DELAY  -- listens on 127.0.0.2..127.0.0.31:PORT, prints "ready" once
bound. /feed/N.xml answers a 5-item RSS feed after DELAY seconds; HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import asyncio
import sys

HOSTS = [f"127.0.0.{n}" for n in range(2, 32)]


def feed_body(host: str, path: str) -> bytes:
    """A 5-item RSS document whose GUIDs and titles are unique to this host and path."""
    key = f"{host}{path}"
    items = "".join(
        f"<item><guid isPermaLink='false'>{key}#{i}</guid>"
        f"<link>https://news.example/{host}/{path.strip('/')}/{i}</link>"
        f"<title>Report {i} from {key}: regulator orders new filtering rules</title>"
        f"<description>&lt;p&gt;Item {i} of {key}. The regulator ordered platforms to filter"
        f" posts and to keep logs of users for {i + 1} years.&lt;/p&gt;</description>"
        f"<pubDate>Thu, 19 Nov 2026 0{i}:00:00 GMT</pubDate></item>"
        for i in range(5)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>Feed {key}</title><link>https://news.example/</link><language>en</language>"
        f"{items}</channel></rss>"
    ).encode()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Serve requests on one connection until the client closes it."""
    host = writer.get_extra_info("sockname")[0]
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode("latin-1")
            await asyncio.sleep(delay)
            body = feed_body(host, path)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port: int, delay: float) -> None:
    """Bind every host, say ready, serve forever."""
    servers = [
        await asyncio.start_server(lambda r, w: handle(r, w, delay), host, port, backlog=1024)
        for host in HOSTS
    ]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
