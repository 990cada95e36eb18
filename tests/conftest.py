"""Fixtures every test module may ask for by name; the plain builders are in builders.py.

srv, module_srv  a loopback HTTP server (tests/httpserver.py), for one test or one module
store            an empty Store in the test's tmp_path, closed afterwards
golden           compares output with files under tests/ and, with DIGEST_REGENERATE=1,
                 rewrites them instead (see tests/README.md)

Every test also runs with name lookups answered locally (no_dns): addresses and localhost
resolve, any other name does not, so no test asks a DNS server (OPML import resolves hosts).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from golden_files import REGENERATE_VAR, Golden
from httpserver import LoopbackServer

from digest.store import Store

# ---------------------------------------------------------------- no DNS


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo answers for addresses and localhost only: names fail as if unknown."""
    real = socket.getaddrinfo

    def local_only(host: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or str(name).lower().rstrip(".") == "localhost":
            return real(host, *args, **kwargs)
        rest = list(args)
        if len(rest) >= 5:  # port, family, type, proto, flags given by position
            rest[4] = int(rest[4] or 0) | socket.AI_NUMERICHOST
        else:
            kwargs["flags"] = int(kwargs.get("flags") or 0) | socket.AI_NUMERICHOST
        try:
            return real(host, *rest, **kwargs)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    monkeypatch.setattr(socket, "getaddrinfo", local_only)


# ---------------------------------------------------------------- servers and stores


@pytest.fixture
def srv() -> Iterator[LoopbackServer]:
    """A loopback HTTP server for one test."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture(scope="module")
def module_srv() -> Iterator[LoopbackServer]:
    """A loopback HTTP server shared by the tests of one module."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty store at tmp_path/db.sqlite (no feeds), closed after the test."""
    with Store.open(tmp_path / "db.sqlite") as opened:
        yield opened


# ---------------------------------------------------------------- golden files


@pytest.fixture(scope="session")
def golden() -> Golden:
    """Compare with checked-in files; DIGEST_REGENERATE=1 rewrites them from the output."""
    return Golden(regenerate=os.environ.get(REGENERATE_VAR) == "1")
