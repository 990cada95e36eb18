"""Run the digest CLI with a pause point, so a test can kill -9 it mid-stage (tests only).

    python tests/crashhook.py [digest CLI arguments]

Environment:
    DIGEST_CRASH_AT    where to stop:
                       sql:TEXT:N   after the N-th executed SQL statement containing TEXT
                                    (inside the stage's open transaction)
                       fsync:N      at the N-th os.fsync (a site file being written)
                       switch:NAME  at the os.replace that would switch the link NAME
    DIGEST_CRASH_MARK  a file written once the point is reached; the process then sleeps
                       until the test kills it.

The points wrap sqlite3 and os from outside: digest itself carries no test hook.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _pause(what: str) -> None:
    mark = Path(os.environ["DIGEST_CRASH_MARK"])
    # written whole, then renamed: the test reads the mark as soon as it exists
    part = mark.with_name(mark.name + ".part")
    part.write_text(f"{os.getpid()} {what}\n", encoding="utf-8")
    os.replace(part, mark)
    while True:  # until SIGKILL
        time.sleep(60)


def _install(spec: str) -> None:
    kind, _, rest = spec.partition(":")
    lock = threading.Lock()
    count = 0

    def hit() -> bool:
        nonlocal count
        with lock:
            count += 1
            return count

    if kind == "sql":
        needle, _, nth = rest.rpartition(":")
        target = int(nth)

        class PausingConnection(sqlite3.Connection):
            def execute(self, sql: str, *args: Any, **kw: Any) -> sqlite3.Cursor:
                cur = super().execute(sql, *args, **kw)
                if needle in sql and hit() == target:
                    _pause(f"sql {needle} #{target} in_transaction={self.in_transaction}")
                return cur

            def executemany(self, sql: str, *args: Any, **kw: Any) -> sqlite3.Cursor:
                cur = super().executemany(sql, *args, **kw)
                if needle in sql and hit() == target:
                    _pause(f"sql {needle} #{target} in_transaction={self.in_transaction}")
                return cur

        real_connect = sqlite3.connect

        def connect(*args: Any, **kw: Any) -> sqlite3.Connection:
            kw.setdefault("factory", PausingConnection)
            return real_connect(*args, **kw)

        sqlite3.connect = connect  # type: ignore[assignment]
    elif kind == "fsync":
        target = int(rest)
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            real_fsync(fd)
            if hit() == target:
                _pause(f"fsync #{target}")

        os.fsync = fsync
    elif kind == "switch":
        real_replace = os.replace

        def replace(src: Any, dst: Any, *args: Any, **kw: Any) -> None:
            if Path(dst).name == rest:
                _pause(f"switch {rest}")
            real_replace(src, dst, *args, **kw)

        os.replace = replace
    elif spec:
        raise SystemExit(f"crashhook: unknown DIGEST_CRASH_AT {spec!r}")


if __name__ == "__main__":
    _install(os.environ.get("DIGEST_CRASH_AT", ""))
    from digest.cli import main

    sys.argv[0] = "digest"
    main()
