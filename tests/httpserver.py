"""A loopback HTTP server for tests: routes, validators, redirects, slow drips, gzip.

Usage::

    with LoopbackServer() as srv:
        srv.route("/a.xml", body=b"<rss/>", etag='"v1"')
        srv.redirect("/old", "/a.xml", status=301)
        url = srv.url("/a.xml")
        ...
        assert srv.requests_for("/a.xml")[-1].headers["if-none-match"] == '"v1"'

Each connection is served by its own thread, so a slow route never blocks the others.
Routes are matched on the exact request target first, then on the path without its query.
"""

from __future__ import annotations

import gzip as gzip_module
import http.server
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received: method, target (path + query) and lower-case headers."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Response:
    """What a handler returns. `body` may be an iterable of chunks (sent as they come)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""


Handler = Callable[[RecordedRequest], Response]


@dataclass
class Route:
    """A registered route; see LoopbackServer.route for the meaning of each field."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    drip: float | None = None
    drip_chunk: bytes = b"x"
    drip_count: int | None = None
    gzip: bool = False
    handler: Handler | None = None


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LoopbackServer

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up (deadlines, caps, failed TLS) are expected here, not failures.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self.server.owner._serve(self)

    def do_HEAD(self) -> None:
        self.server.owner._serve(self)


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1, on a free port; a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self._stop = threading.Event()
        self._server = _Server((host, 0), _RequestHandler)
        self._server.owner = self
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None
        self.ssl_context: object | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> LoopbackServer:
        """Start serving in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; dripping responses end at their next chunk."""
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wrap_tls(self, certfile: str | Path, keyfile: str | Path) -> None:
        """Serve HTTPS with this certificate (call before start)."""
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.ssl_context = ctx

    # ------------------------------------------------------------ routes

    def url(self, path: str = "/") -> str:
        """The absolute URL of a path on this server."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{path}"

    def route(
        self,
        path: str,
        *,
        status: int = 200,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        delay: float = 0.0,
        drip: float | None = None,
        drip_chunk: bytes = b"x",
        drip_count: int | None = None,
        gzip: bool = False,
        handler: Handler | None = None,
    ) -> None:
        """Register a route.

        status/body/headers: the fixed response. etag/last_modified: sent, and a matching
        If-None-Match / If-Modified-Since gets a 304. delay: seconds before the headers.
        drip: send headers, then `drip_chunk` every `drip` seconds (`drip_count` times, or until
        the client goes away), with no Content-Length. gzip: compress `body` and say so.
        handler: a callable taking the RecordedRequest and returning a Response (overrides the
        fixed response; delay still applies).
        """
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._routes[path] = Route(
                status=status,
                headers=dict(headers or {}),
                body=data,
                etag=etag,
                last_modified=last_modified,
                delay=delay,
                drip=drip,
                drip_chunk=drip_chunk,
                drip_count=drip_count,
                gzip=gzip,
                handler=handler,
            )

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        """Register a redirect from `path` to `location` (a path or an absolute URL)."""
        self.route(path, status=status, headers={"Location": location})

    # ------------------------------------------------------------ what was received

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The requests received for one path (query ignored)."""
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    # ------------------------------------------------------------ serving

    def _find(self, target: str) -> Route | None:
        with self._lock:
            return self._routes.get(target) or self._routes.get(target.split("?", 1)[0])

    def _serve(self, h: _RequestHandler) -> None:
        req = RecordedRequest(
            method=h.command,
            path=h.path,
            headers={k.lower(): v for k, v in h.headers.items()},
        )
        with self._lock:
            self._requests.append(req)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            self._respond(h, req)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            h.close_connection = True
        finally:
            with self._lock:
                self._in_flight -= 1

    def _respond(self, h: _RequestHandler, req: RecordedRequest) -> None:
        route = self._find(req.path)
        if route is None:
            self._send(h, req, Response(404, {"Content-Type": "text/plain"}, b"not found"))
            return
        if route.delay:
            self._stop.wait(route.delay)
        if route.handler is not None:
            self._send(h, req, route.handler(req))
            return
        headers = dict(route.headers)
        if route.etag is not None:
            headers["ETag"] = route.etag
        if route.last_modified is not None:
            headers["Last-Modified"] = route.last_modified
        inm = req.headers.get("if-none-match")
        ims = req.headers.get("if-modified-since")
        if (route.etag is not None and inm == route.etag) or (
            route.last_modified is not None and inm is None and ims == route.last_modified
        ):
            self._send(h, req, Response(304, headers, b""))
            return
        if route.drip is not None:
            self._drip(h, route, headers)
            return
        body = route.body
        if route.gzip:
            body = gzip_module.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._send(h, req, Response(route.status, headers, body))

    def _send(self, h: _RequestHandler, req: RecordedRequest, resp: Response) -> None:
        h.send_response(resp.status)
        names = {k.lower() for k in resp.headers}
        for k, v in resp.headers.items():
            h.send_header(k, v)
        if isinstance(resp.body, bytes | bytearray):
            if "content-length" not in names:
                h.send_header("Content-Length", str(len(resp.body)))
            h.end_headers()
            if req.method != "HEAD" and resp.status not in (204, 304):
                h.wfile.write(resp.body)
            return
        # An iterable body: no length known, so close the connection at its end.
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        for chunk in resp.body:
            if self._stop.is_set():
                break
            h.wfile.write(chunk)
            h.wfile.flush()

    def _drip(self, h: _RequestHandler, route: Route, headers: dict[str, str]) -> None:
        h.send_response(route.status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        h.wfile.flush()
        for chunk in self._drip_chunks(route):
            h.wfile.write(chunk)
            h.wfile.flush()

    def _drip_chunks(self, route: Route) -> Iterator[bytes]:
        sent = 0
        assert route.drip is not None
        while not self._stop.is_set() and (route.drip_count is None or sent < route.drip_count):
            yield route.drip_chunk
            sent += 1
            if self._stop.wait(route.drip):
                return


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (for connection-refused tests)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def self_signed_cert(folder: Path) -> tuple[Path, Path] | None:
    """A throwaway self-signed certificate for 127.0.0.1 and localhost, made by openssl in
    folder: (cert, key), or None when openssl is missing or fails."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    done = subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        capture_output=True,
        check=False,
        timeout=30,
    )  # fmt: skip
    return (cert, key) if done.returncode == 0 else None


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` until true or `timeout` passes; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
