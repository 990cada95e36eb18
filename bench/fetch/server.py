"""One asyncio process serving 300 feeds on 30 loopback hosts, each answering after a delay.

Usage: server.py PORT DELAY  -- listens on 127.0.0.2..127.0.0.31:PORT, prints "ready" once
bound. /feed/N.xml answers a 5-item RSS feed after DELAY seconds; HTTP/1.1 keep-alive.
Two hostile documents answer the same way: /hostile/nested.xml, one item whose description is
100,000 nested <div>s, and /hostile/many.xml, 20,000 undated items (bench/hostile); and
/plain/N.xml as /feed/N.xml without a language (their baseline: the language model loads).
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


def hostile_body(path: str) -> bytes | None:
    """The hostile documents, or None for any other path."""
    head = "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>H</title>"
    if path == "/hostile/nested.xml":
        deep = "&lt;div&gt;" * 100_000
        item = f"<item><guid>nested</guid><title>Nested</title><description>{deep}</description>"
        return f"{head}{item}</item></channel></rss>".encode()
    if path == "/hostile/many.xml":
        items = "".join(
            f"<item><guid>m{i}</guid><link>https://many.example/{i}</link>"
            f"<title>Undated item {i}</title><description>Item {i}.</description></item>"
            for i in range(20_000)
        )
        return f"{head}{items}</channel></rss>".encode()
    return None


_HOSTILE: dict[str, bytes | None] = {}


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Serve requests on one connection until the client closes it."""
    host = writer.get_extra_info("sockname")[0]
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode("latin-1")
            await asyncio.sleep(delay)
            if path.startswith("/plain/"):  # as /feed/, without a <language>
                body = feed_body(host, path).replace(b"<language>en</language>", b"")
            elif path.startswith("/hostile/"):
                if path not in _HOSTILE:
                    _HOSTILE[path] = hostile_body(path)
                body = _HOSTILE[path] or b"not found"
            else:
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
