"""`digest serve`: a local preview of the built site over HTTP (search needs http://)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .errors import InputError


def serve_site(out: Path, port: int, announce: Callable[[str], None] = print) -> None:
    """Serve `out` on 127.0.0.1 until interrupted."""
    if not out.exists():
        raise InputError(f"{out}: no site built yet", "run `digest build` (or `digest run`) first")
    # Serve the version the link points at now, so a rebuild mid-preview cannot mix versions.
    root = out.resolve()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        announce(f"serving {out} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
