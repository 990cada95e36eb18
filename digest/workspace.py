"""Where a digest lives (config, state directory, site link) and the run lock."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from digest.errors import LockedError
from digest.store import Store

DB_NAME = "digest.db"
LOCK_NAME = "run.lock"


@dataclass(frozen=True)
class Workspace:
    """Where one digest keeps its config, state and site."""

    config_path: Path
    state_dir: Path

    @classmethod
    def resolve(cls, config: Path | None, state: Path | None) -> Workspace:
        """Apply the defaults: ./feeds.yaml, and .digest/ beside the config."""
        config_path = Path(config or os.environ.get("DIGEST_CONFIG") or "feeds.yaml")
        state_env = os.environ.get("DIGEST_STATE")
        state_dir = Path(state or state_env or config_path.parent / ".digest")
        return cls(config_path=config_path, state_dir=state_dir)

    @property
    def db_path(self) -> Path:
        """The SQLite database."""
        return self.state_dir / DB_NAME

    def out_dir(self, out: Path | None) -> Path:
        """The site link: --out, else site/ beside the config."""
        return Path(out) if out is not None else self.config_path.parent / "site"

    def open_store(self) -> Store:
        """Open the workspace's database."""
        return Store.open(self.db_path)


@contextmanager
def state_lock(ws: Workspace, name: str, holder_kind: str) -> Iterator[None]:
    """Hold lock file `name` of the state directory, or raise LockedError (exit 3)."""
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    path = ws.state_dir / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise LockedError(
                f"another {holder_kind} holds the lock {path} (pid {holder})",
                "wait for it to finish; the lock is released when that process ends",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock


@contextmanager
def run_lock(ws: Workspace) -> Iterator[None]:
    """Hold the state directory's run lock, or raise LockedError when another run has it."""
    with state_lock(ws, LOCK_NAME, "digest run"):
        yield
