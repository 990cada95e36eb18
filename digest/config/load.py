"""Load and validate feeds.yaml into the typed records of models.py.

Every problem is one ConfigError of the form ``FILE:LINE: KEY.PATH: what is wrong`` with a hint,
so a user can go straight to the line. Only the keys of the design doc are accepted.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from digest.errors import ConfigError
from digest.ids import (
    feed_url_key,
    feed_url_problem,
    is_language_code,
    is_slug,
    name_from_url,
    slugify,
)
from digest.records import (
    Config,
    FeedConfig,
    FetchConfig,
    NewsletterConfig,
    SiteConfig,
    SmtpConfig,
    StoreConfig,
    TopicConfig,
    TranslationConfig,
)
from digest.text import has_control

_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MISSING_HINT = "create one or pass --config"
_SECRET_KEYS = dict.fromkeys(
    ("password", "pass", "passwd", "secret"), "password_env"
) | dict.fromkeys(("username", "user", "login"), "username_env")


def load_config(path: Path) -> Config:
    """Load and validate feeds.yaml; ConfigError naming file, line and key path on any problem."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        msg = f"{path}: cannot read the configuration: {reason}"
        raise ConfigError(msg, _MISSING_HINT) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: the file is not UTF-8 text (byte {data[exc.start]:#04x})",
            "save feeds.yaml as UTF-8",
        ) from None
    return parse_config(text, Path(path))


def parse_config(text: str, path: Path) -> Config:
    """Validate feeds.yaml text; `path` names it in errors and anchors relative paths."""
    ctx = _Ctx(str(path), Path(os.path.abspath(Path(path).parent)))
    root = _load_yaml(text, ctx)
    if root is None:
        raise ctx.error(
            1, None, "the file is empty", "start from the feeds.yaml shipped with digest"
        )
    if not isinstance(root, CommentedMap):
        raise ctx.error(
            _node_line(root),
            None,
            f"the file must be a mapping of sections (site, feeds, ...), not {_kind(root)}",
            "start from the feeds.yaml shipped with digest",
        )
    _check_keys(ctx, root, None, _TOP_KEYS)
    site = _section(ctx, root, "site", _SITE_FIELDS)
    store = _section(ctx, root, "store", _STORE_FIELDS)
    fetch = _section(ctx, root, "fetch", _FETCH_FIELDS)
    translation = _section(ctx, root, "translation", _TRANSLATION_FIELDS)
    _check_executor(ctx, root, translation)
    return Config(
        path=Path(path),
        site=SiteConfig(**site),
        store=StoreConfig(**store),
        fetch=FetchConfig(**fetch),
        translation=TranslationConfig(**translation),
        newsletter=_newsletter(ctx, root),
        topics=_topics(ctx, root),
        feeds=_feeds(ctx, root),
    )


@dataclass(frozen=True)
class _Ctx:
    """Where we are: the file name as given and the folder relative paths resolve against."""

    name: str
    base: Path

    def error(self, line: int | None, keypath: str | None, msg: str, hint: str) -> ConfigError:
        """One ConfigError in the agreed shape."""
        where = f"{self.name}:{line}" if line is not None else self.name
        what = f"{keypath}: {msg}" if keypath else msg
        return ConfigError(f"{where}: {what}", hint)


def _load_yaml(text: str, ctx: _Ctx) -> Any:
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


def _node_line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    return (lc.line + 1) if lc is not None and lc.line is not None else 1


def _key_line(mapping: CommentedMap, key: Any) -> int:
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return _node_line(mapping)  # e.g. a key that came from a `<<:` merge


def _value_line(mapping: CommentedMap, key: Any) -> int:
    if mapping.get(key) is None:
        return _key_line(mapping, key)  # an empty value's mark is wherever the next token is
    try:
        return int(mapping.lc.value(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return _key_line(mapping, key)


def _item_line(seq: CommentedSeq, index: int) -> int:
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return _node_line(seq)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | ScalarBoolean)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if _is_bool(value):
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


def _join(parent: str | None, key: str) -> str:
    return f"{parent}.{key}" if parent else key


# ---------------------------------------------------------------- value converters

# A converter turns one raw YAML value into the typed value, or raises ConfigError.
_Conv = Callable[[_Ctx, Any, int, str], Any]


def _fail(ctx: _Ctx, line: int, keypath: str, msg: str, example: str) -> ConfigError:
    key = re.sub(r"\[\d+\]$", "", keypath.rsplit(".", 1)[-1])
    return ctx.error(line, keypath, msg, f"for example `{key}: {example}`")


def _int(
    minimum: int, *, maximum: int | None = None, nullable: bool = False, example: str = "1"
) -> _Conv:
    def conv(ctx: _Ctx, value: Any, line: int, keypath: str) -> int | None:
        if value is None and nullable:
            return None
        if _is_bool(value) or not isinstance(value, int):
            want = "a whole number" + (" or null" if nullable else "")
            raise _fail(ctx, line, keypath, f"expected {want}, got {_kind(value)}", example)
        if value < minimum:
            msg = f"must be at least {minimum}, got {value}"
            raise _fail(ctx, line, keypath, msg, example)
        if maximum is not None and value > maximum:
            msg = f"must be at most {maximum}, got {value}"
            raise _fail(ctx, line, keypath, msg, example)
        return int(value)

    return conv


def _positive_float(example: str) -> _Conv:
    def conv(ctx: _Ctx, value: Any, line: int, keypath: str) -> float:
        if _is_bool(value) or not isinstance(value, int | float):
            msg = f"expected a number of seconds, got {_kind(value)}"
            raise _fail(ctx, line, keypath, msg, example)
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            raise _fail(ctx, line, keypath, f"must be greater than 0, got {value}", example)
        return number

    return conv


def _str(
    *,
    nullable: bool = False,
    choices: tuple[str, ...] = (),
    check: Callable[[str], str | None] | None = None,
    example: str = "text",
) -> _Conv:
    def conv(ctx: _Ctx, value: Any, line: int, keypath: str) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            want = "a string" + (" or null" if nullable else "")
            raise _fail(ctx, line, keypath, f"expected {want}, got {_kind(value)}", example)
        text = str(value)
        if choices and text not in choices:
            msg = f"must be one of {' | '.join(choices)}, got {text!r}"
            raise _fail(ctx, line, keypath, msg, example)
        if not text.strip():
            raise _fail(ctx, line, keypath, "must not be empty", example)
        if has_control(text):
            msg = "must be one line without control characters"
            raise _fail(ctx, line, keypath, msg, example)
        problem = check(text) if check else None
        if problem:
            raise _fail(ctx, line, keypath, problem, example)
        return text

    return conv


def _lang_problem(text: str) -> str | None:
    if is_language_code(text):
        return None
    return f"{text!r} is not a language code (like en, zh, zh-Hant)"


def _base_url_problem(text: str) -> str | None:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{text!r} is not an absolute http(s) URL"
    return None


def _base_url(ctx: _Ctx, value: Any, line: int, keypath: str) -> str:
    inner = _str(check=_base_url_problem, example="https://example.org/digest/")
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


def _env_problem(text: str) -> str | None:
    if _ENV_RE.match(text):
        return None
    return f"{text!r} is not an environment variable name"


def _path(example: str = "null") -> _Conv:
    inner = _str(nullable=True, example=example)

    def conv(ctx: _Ctx, value: Any, line: int, keypath: str) -> Path | None:
        text = inner(ctx, value, line, keypath)
        if text is None:
            return None
        path = Path(os.path.expanduser(text))
        return path if path.is_absolute() else ctx.base / path

    return conv


def _bool(example: str = "true") -> _Conv:
    def conv(ctx: _Ctx, value: Any, line: int, keypath: str) -> bool:
        if not _is_bool(value):
            msg = f"expected true or false, got {_kind(value)}"
            raise _fail(ctx, line, keypath, msg, example)
        return bool(value)

    return conv


def _str_list(*, non_empty: bool = False, nullable: bool = True, example: str = "[a, b]") -> _Conv:
    item_conv = _str(example=example)

    def conv(ctx: _Ctx, value: Any, line: int, keypath: str) -> tuple[str, ...]:
        if value is None and nullable and not non_empty:
            return ()
        if not isinstance(value, CommentedSeq):
            msg = f"expected a list of strings, got {_kind(value)}"
            raise _fail(ctx, line, keypath, msg, example)
        if non_empty and not value:
            raise _fail(ctx, line, keypath, "must list at least one entry", example)
        out = []
        for i, item in enumerate(value):
            out.append(item_conv(ctx, item, _item_line(value, i), f"{keypath}[{i}]"))
        return tuple(out)

    return conv


# ---------------------------------------------------------------- sections


_TOP_KEYS = ("site", "store", "fetch", "translation", "newsletter", "topics", "feeds")

_SITE_FIELDS: dict[str, _Conv] = {
    "title": _str(example="Digital Rights Digest"),
    "base_url": _base_url,
    "language": _str(check=_lang_problem, example="en"),
    "window_days": _int(1, example="7"),
    "templates_dir": _path(),
}
_STORE_FIELDS = {"retention_days": _int(1, nullable=True, example="null")}
_FETCH_FIELDS = {
    "timeout": _positive_float("20"),
    "connect_timeout": _positive_float("10"),
    "max_bytes": _int(1, example="10485760"),
    "concurrency": _int(1, example="32"),
    "per_host": _int(1, example="8"),
}
_TRANSLATION_FIELDS = {
    "engine": _str(choices=("argos", "none"), example="argos"),
    "packages_dir": _path(),
    "beam_size": _int(1, example="2"),
    "max_decoding_length": _int(1, example="256"),
    "inter_threads": _int(1, nullable=True, example="null"),
    # 0 lets CTranslate2 pick, as argostranslate's own default does
    "intra_threads": _int(0, nullable=True, example="null"),
    "executor": _str(choices=("local", "dask"), example="local"),
    "cluster": _str(nullable=True, check=scheduler_address_problem, example="tcp://10.0.0.5:8786"),
    "workers": _int(1, nullable=True, example="null"),
}
_SMTP_FIELDS = {
    "host": _str(example="smtp.example.org"),
    "port": _int(1, maximum=65535, example="587"),
    "security": _str(choices=("starttls", "tls", "none"), example="starttls"),
    "username_env": _str(nullable=True, check=_env_problem, example="DIGEST_SMTP_USER"),
    "password_env": _str(nullable=True, check=_env_problem, example="DIGEST_SMTP_PASSWORD"),
    "ca_file": _path(),
}
_NEWSLETTER_FIELDS = {
    "from": _str(example='"Digest <digest@example.org>"'),
    "to": _str_list(example="[readers@example.org]"),
    "list_id": _str(nullable=True, example="digest.example.org"),
    "list_unsubscribe": _str(nullable=True, example='"mailto:unsubscribe@example.org"'),
    "smtp": lambda *_: None,  # a section of its own, read by _newsletter
}
_TOPIC_FIELDS = {"keywords": _str_list(non_empty=True, nullable=False, example="[censor, 审查]")}


def _check_keys(
    ctx: _Ctx, mapping: CommentedMap, keypath: str | None, known: tuple[str, ...]
) -> None:
    for key in mapping:
        if not isinstance(key, str):
            msg, hint = f"keys must be names, got {_kind(key)}", f"known keys: {', '.join(known)}"
            raise ctx.error(_key_line(mapping, key), keypath, msg, hint)
        if key in known:
            continue
        secret = _SECRET_KEYS.get(key.lower()) if keypath == "newsletter.smtp" else None
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        suggestion = secret or (close[0] if close else None)
        msg = "unknown key" + (f" (did you mean '{suggestion}'?)" if suggestion else "")
        if secret:
            hint = (
                f"secrets never live in feeds.yaml: put it in an environment variable and "
                f"write its name, e.g. `{secret}: DIGEST_SMTP_"
                f"{'PASSWORD' if secret == 'password_env' else 'USER'}`"
            )
        else:
            hint = f"known keys: {', '.join(known)}"
        raise ctx.error(_key_line(mapping, key), _join(keypath, key), msg, hint)


def _mapping_or_none(
    ctx: _Ctx, parent: CommentedMap, key: str, keypath: str
) -> CommentedMap | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, CommentedMap):
        msg = f"expected a mapping of keys, got {_kind(value)}"
        hint = f"write `{key}:` followed by indented `name: value` lines"
        raise ctx.error(_value_line(parent, key), keypath, msg, hint)
    return value


def _fields(
    ctx: _Ctx, mapping: CommentedMap, keypath: str, spec: Mapping[str, _Conv]
) -> dict[str, Any]:
    _check_keys(ctx, mapping, keypath, tuple(spec))
    return {
        key: conv(ctx, mapping[key], _value_line(mapping, key), _join(keypath, key))
        for key, conv in spec.items()
        if key in mapping
    }


def _check_executor(ctx: _Ctx, root: CommentedMap, translation: dict[str, Any]) -> None:
    """A scheduler address only means something to the dask executor."""
    if translation.get("cluster") and translation.get("executor", "local") != "dask":
        section = root["translation"]
        line = _key_line(section, "cluster")
        msg = "a scheduler address is set but translation.executor is local"
        raise ctx.error(line, "translation.cluster", msg, "add `executor: dask` (or drop cluster)")


def _section(ctx: _Ctx, root: CommentedMap, key: str, spec: Mapping[str, _Conv]) -> dict[str, Any]:
    mapping = _mapping_or_none(ctx, root, key, key)
    return {} if mapping is None else _fields(ctx, mapping, key, spec)


def _newsletter(ctx: _Ctx, root: CommentedMap) -> NewsletterConfig | None:
    mapping = _mapping_or_none(ctx, root, "newsletter", "newsletter")
    if mapping is None:
        return None
    values = _fields(ctx, mapping, "newsletter", _NEWSLETTER_FIELDS)
    values.pop("smtp", None)
    if "from" in values:
        values["sender"] = values.pop("from")  # `from` is a Python keyword
    smtp = _mapping_or_none(ctx, mapping, "smtp", "newsletter.smtp")
    smtp_values = {} if smtp is None else _fields(ctx, smtp, "newsletter.smtp", _SMTP_FIELDS)
    return NewsletterConfig(**values, smtp=SmtpConfig(**smtp_values))


def _topics(ctx: _Ctx, root: CommentedMap) -> tuple[TopicConfig, ...]:
    example = "for example:\ntopics:\n  censorship: {keywords: [censor, 审查]}"
    mapping = _mapping_or_none(ctx, root, "topics", "topics")
    if mapping is None:
        return ()
    topics: list[TopicConfig] = []
    slugs: dict[str, tuple[str, int]] = {}
    for name, body in mapping.items():
        line = _key_line(mapping, name)
        if not isinstance(name, str) or not name.strip() or has_control(name):
            msg = f"a topic name must be a one-line string, got {_kind(name)}"
            raise ctx.error(line, "topics", msg, example)
        keypath = f"topics.{name}"
        hint = f"for example `{name}: {{keywords: [censor, 审查]}}`"
        if not isinstance(body, CommentedMap):
            msg = f"expected a mapping with keywords, got {_kind(body)}"
            raise ctx.error(_value_line(mapping, name), keypath, msg, hint)
        values = _fields(ctx, body, keypath, _TOPIC_FIELDS)
        if "keywords" not in values:
            msg = "missing: every topic needs keywords"
            raise ctx.error(line, f"{keypath}.keywords", msg, hint)
        slug = slugify(name)
        if slug in slugs:
            other, other_line = slugs[slug]
            msg = f"has the same slug '{slug}' as topic {other!r} (line {other_line})"
            raise ctx.error(line, keypath, msg, "rename or merge one of the two topics")
        slugs[slug] = (name, line)
        topics.append(TopicConfig(name=name, slug=slug, keywords=values["keywords"]))
    return tuple(topics)


def _feeds(ctx: _Ctx, root: CommentedMap) -> tuple[FeedConfig, ...]:
    example = "feeds:\n  - id: cdt-en\n    name: China Digital Times\n    url: https://..."
    value = root.get("feeds")
    if value is None:
        return ()
    if not isinstance(value, CommentedSeq):
        msg = f"expected a list of feeds, got {_kind(value)}"
        raise ctx.error(_value_line(root, "feeds"), "feeds", msg, f"for example:\n{example}")
    feeds: list[FeedConfig] = []
    by_id: dict[str, tuple[str, int]] = {}
    by_url: dict[str, tuple[str, int]] = {}
    for index, item in enumerate(value):
        keypath = f"feeds[{index}]"
        line = _item_line(value, index)
        if not isinstance(item, CommentedMap):
            msg = f"expected a mapping with at least a url, got {_kind(item)}"
            hint = "write each feed as `- url: https://...` with name, id, language, tags below it"
            raise ctx.error(line, keypath, msg, hint)
        feed, id_line, url_line = _feed(ctx, item, keypath, line)
        url_key = feed_url_key(feed.url, ctx.base)
        if url_key in by_url:
            other, other_line = by_url[url_key]
            msg = f"same feed URL as {other}.url (line {other_line})"
            raise ctx.error(url_line, f"{keypath}.url", msg, "remove one of the two entries")
        if feed.id in by_id:
            other, other_line = by_id[feed.id]
            derived = "" if "id" in item else " (derived from the name)"
            msg = f"'{feed.id}'{derived} is already the id of {other} (line {other_line})"
            hint = "give one of them a different explicit id"
            raise ctx.error(id_line, f"{keypath}.id", msg, hint)
        by_url[url_key] = (keypath, url_line)
        by_id[feed.id] = (keypath, id_line)
        feeds.append(feed)
    return tuple(feeds)


def _url_problem(text: str) -> str | None:
    problem = feed_url_problem(text)
    return f"{text[:80]!r} {problem}" if problem else None


def _id_problem(text: str) -> str | None:
    if is_slug(text):
        return None
    return f"{text!r} is not a slug (lower-case letters, digits, single hyphens: {slugify(text)!r})"


_FEED_FIELDS = {
    "id": _str(check=_id_problem, example="cdt-en"),
    "name": _str(example="China Digital Times"),
    "url": _str(check=_url_problem, example="https://chinadigitaltimes.net/feed/"),
    "language": _str(nullable=True, check=_lang_problem, example="zh"),
    "tags": _str_list(example="[china]"),
    "enabled": _bool(),
}


def _feed(ctx: _Ctx, item: CommentedMap, keypath: str, line: int) -> tuple[FeedConfig, int, int]:
    """One feed entry, with the lines of its id and url (for duplicate errors)."""
    values = _fields(ctx, item, keypath, _FEED_FIELDS)
    if "url" not in values:
        hint = "add `url: https://...` (or file:///path, or a path relative to feeds.yaml)"
        raise ctx.error(line, f"{keypath}.url", "missing: every feed needs a url", hint)
    values.setdefault("name", name_from_url(values["url"]))
    values.setdefault("id", slugify(values["name"]))
    id_key = next((k for k in ("id", "name") if k in item), None)
    id_line = _value_line(item, id_key) if id_key else line
    return FeedConfig(**values), id_line, _value_line(item, "url")
