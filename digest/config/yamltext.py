"""Reading feeds.yaml as YAML: where each key and value sits (lines), and what kind it is."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from digest.config.yamlfast import load_fast
from digest.errors import ConfigError, ConfigProblems

__all__ = [
    "Context",
    "is_bool",
    "item_line",
    "join_key",
    "key_line",
    "kind_of",
    "load_yaml",
    "node_line",
    "value_line",
]


@dataclass(frozen=True)
class Context:
    """Where we are (the file name as given, the folder relative paths resolve against), and
    the problems and warnings found so far: validation goes on past a problem, so that one
    run reports every mistake in the file."""

    name: str
    base: Path
    problems: list[tuple[int, ConfigError]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)

    def error(self, line: int | None, keypath: str | None, msg: str, hint: str) -> ConfigError:
        """One ConfigError in the agreed shape."""
        where = f"{self.name}:{line}" if line is not None else self.name
        what = f"{keypath}: {msg}" if keypath else msg
        return ConfigError(f"{where}: {what}", hint)

    def report(self, line: int | None, keypath: str | None, msg: str, hint: str) -> None:
        """Record a problem and go on."""
        self.problems.append((line or 0, self.error(line, keypath, msg, hint)))

    def warn(self, line: int, keypath: str, msg: str) -> None:
        """Record a warning: the value was understood, but should be written otherwise."""
        self.warnings.append((line, f"{self.name}:{line}: {keypath}: {msg}"))

    @contextmanager
    def gather(self, line: int | None = None) -> Iterator[None]:
        """Record a ConfigError raised inside the block (which stops there) and go on."""
        try:
            yield
        except ConfigError as exc:
            self.problems.append((line or _line_of(exc, self.name), exc))

    def check(self) -> None:
        """Raise every problem recorded, as one ConfigError (ConfigProblems when several)."""
        if not self.problems:
            return
        ordered = [exc for _, exc in sorted(self.problems, key=lambda p: p[0])]
        if len(ordered) == 1:
            raise ordered[0]
        lines = [f"{self.name}: {len(ordered)} problems"]
        for exc in ordered:
            lines.append(f"  {exc.message}")
            for n, hint_line in enumerate((exc.hint or "").splitlines()):
                lines.append(f"      {'hint: ' if n == 0 else '      '}{hint_line}")
        raise ConfigProblems(
            "\n".join(lines),
            "fix them all, then run again: each names its line and key, with a fix beneath it",
            tuple(ordered),
        )

    def warning_lines(self) -> tuple[str, ...]:
        """The warnings, in file order."""
        return tuple(text for _, text in sorted(self.warnings, key=lambda w: w[0]))


def _line_of(exc: ConfigError, name: str) -> int:
    """The line a ConfigError's message names after the file name (0 when none)."""
    rest = exc.message[len(name) + 1 :] if exc.message.startswith(name + ":") else ""
    digits = rest.split(":", 1)[0]
    return int(digits) if digits.isdigit() else 0


def load_yaml(text: str, ctx: Context) -> Any:
    fast = load_fast(text)  # libyaml, when it gives what ruamel would (yamlfast.py)
    if fast is not None:
        return fast
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        if exc.context and exc.problem:
            problem = f"{problem} ({' '.join(str(exc.context).split())})"
        where = f"{ctx.name}:{mark.line + 1}:{mark.column + 1}" if mark else ctx.name
        raise ConfigError(
            f"{where}: invalid YAML: {problem}",
            "check the indentation and quoting around that line (YAML uses spaces, not tabs)",
        ) from None
    except ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise ConfigError(
            f"{ctx.name}:{line}: invalid YAML: unacceptable character {exc.character!r}",
            "remove the control character (or write it as an escape in a double-quoted string)",
        ) from None
    except YAMLError as exc:
        msg = f"{ctx.name}: invalid YAML: {' '.join(str(exc).split())}"
        raise ConfigError(msg, "check the file's syntax") from None
    except RecursionError:
        msg = f"{ctx.name}: invalid YAML: nested too deeply"
        raise ConfigError(msg, "check the file's syntax") from None


# ---------------------------------------------------------------- positions and kinds


def node_line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    return (lc.line + 1) if lc is not None and lc.line is not None else 1


def key_line(mapping: CommentedMap, key: Any) -> int:
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return node_line(mapping)  # e.g. a key that came from a `<<:` merge


def value_line(mapping: CommentedMap, key: Any) -> int:
    if mapping.get(key) is None:
        return key_line(mapping, key)  # an empty value's mark is wherever the next token is
    try:
        return int(mapping.lc.value(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return key_line(mapping, key)


def item_line(seq: CommentedSeq, index: int) -> int:
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return node_line(seq)


def is_bool(value: Any) -> bool:
    return isinstance(value, bool | ScalarBoolean)


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if is_bool(value):
        return f"a boolean ({str(bool(value)).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, datetime | date):
        return f"a date ({value})"
    return f"a {type(value).__name__}"


def join_key(parent: str | None, key: str) -> str:
    return f"{parent}.{key}" if parent else key
