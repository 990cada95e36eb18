"""Progress on a terminal, silence elsewhere: cron mail gets one summary line per stage."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class Progress:
    """A progress bar on a terminal (tqdm), a no-op when stderr is not a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None

    def start(self, label: str, total: int) -> Progress:
        """Begin a bar for `total` steps (replacing any previous one)."""
        self.close()
        if self.enabled and total > 0:
            from tqdm import tqdm  # only on a terminal: keeps cron start-up lean

            self._bar = tqdm(total=total, desc=label, unit="", leave=False, file=sys.stderr)
        return self

    def advance(self, steps: int = 1, note: str | None = None) -> None:
        """Move the bar on."""
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note[:40], refresh=False)
            self._bar.update(steps)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


QUIET = Progress(enabled=False)
