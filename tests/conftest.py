"""Fixtures every test module may ask for by name; the plain builders are in builders.py.

srv, module_srv  a loopback HTTP server (tests/httpserver.py), for one test or one module
store            an empty Store in the test's tmp_path, closed afterwards
golden           compares output with files under tests/ and, with DIGEST_REGENERATE=1,
                 rewrites them instead (see tests/README.md)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from golden_files import REGENERATE_VAR, Golden
from httpserver import LoopbackServer

from digest.store import Store

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
