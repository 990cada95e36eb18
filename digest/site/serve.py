"""`digest serve`: a local preview of the built site over HTTP (search needs http://)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from digest.errors import InputError


class SiteHandler(SimpleHTTPRequestHandler):
    """Static files with the site's 404 page, the right types, and no request log on stderr."""

    extensions_map = {  # noqa: RUF012 - the base class declares it as a plain dict
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
        ".atom": "application/atom+xml",
        ".opml": "text/x-opml",
        ".pagefind": "application/octet-stream",
        ".pf_meta": "application/octet-stream",
        ".pf_index": "application/octet-stream",
        ".pf_fragment": "application/octet-stream",
    }

    prefix = "/"  # the site's path in base_url: the 404 page links from there
    link = ""  # the site link (--out): followed again for every request

    def do_GET(self) -> None:
        """Serve from the version the link names now."""
        self._follow_link()
        super().do_GET()

    def do_HEAD(self) -> None:
        """As GET, without the body."""
        self._follow_link()
        super().do_HEAD()

    def _follow_link(self) -> None:
        # Each request resolves the link again, so a build during the preview (a takedown
        # among them) shows at once, and a removed old version is never served from.
        if self.link:
            self.directory = os.path.realpath(self.link)

    def translate_path(self, path: str) -> str:
        """Serve the site at / and at its base_url path, so the 404 page's links work too."""
        if self.prefix != "/" and path.startswith(self.prefix):
            path = "/" + path[len(self.prefix) :]
        return super().translate_path(path)

    def send_head(self) -> Any:
        """No dotfile (.digest-manifest.json) is served: 404, as for a missing file."""
        path = unquote(urlsplit(self.path).path)
        if any(part.startswith(".") for part in path.replace("\\", "/").split("/")):
            self.send_error(404)
            return None
        return super().send_head()

    def list_directory(self, path: Any) -> None:
        """Directories are never listed: 404, as for a missing file."""
        self.send_error(404)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Missing files get the site's own 404 page when it has one."""
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a preview server's access log is noise."""


def make_server(out: Path, port: int, prefix: str = "/") -> ThreadingHTTPServer:
    """An HTTP server for the site `out` links to, on 127.0.0.1 (port 0: any free).

    Every request follows the link again: the preview always shows the current version.

    `prefix` is the site's path on its real server (from site.base_url), also served.
    """
    if not out.exists():
        raise InputError(f"{out}: no site built yet", "run `digest build` (or `digest run`) first")
    link = os.path.abspath(out)
    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
    handler_class = type("PrefixedSiteHandler", (SiteHandler,), {"prefix": prefix, "link": link})
    handler = functools.partial(handler_class, directory=link)
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise InputError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", "choose another --port"
        ) from exc


def serve_site(
    out: Path, port: int, announce: Callable[[str], None] = print, base_url: str = ""
) -> None:
    """Serve `out` on 127.0.0.1 until interrupted."""
    with make_server(out, port, urlsplit(base_url).path or "/") as server:
        announce(f"serving {out} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
