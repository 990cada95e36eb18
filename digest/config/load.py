"""Load and validate feeds.yaml into the typed records of digest.records.

Every problem is reported in the form ``FILE:LINE: KEY.PATH: what is wrong`` with a hint, so a
user can go straight to the line. Validation goes on past a problem: one run reports every
mistake in the file (one ConfigError, ConfigProblems when there are several). Only the keys of
the design doc are accepted. Warnings (a value understood but written in a way to avoid, see
fields.py) come back in Config.warnings.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from digest.config.fields import (
    Conv,
    address_field,
    address_problem,
    base_url_field,
    bool_field,
    embedder_problem,
    env_problem,
    int_field,
    lang_problem,
    path_field,
    scheduler_address_problem,
    seconds_field,
    str_field,
    str_list_field,
)
from digest.config.yamltext import (
    Context,
    item_line,
    join_key,
    key_line,
    kind_of,
    load_yaml,
    node_line,
    value_line,
)
from digest.errors import ConfigError
from digest.ids import (
    feed_url_key,
    feed_url_problem,
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
    StoriesConfig,
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
    ctx = Context(str(path), Path(os.path.abspath(Path(path).parent)))
    root = load_yaml(text, ctx)
    if root is None:
        raise ctx.error(
            1, None, "the file is empty", "start from the feeds.yaml shipped with digest"
        )
    if not isinstance(root, CommentedMap):
        raise ctx.error(
            node_line(root),
            None,
            f"the file must be a mapping of sections (site, feeds, ...), not {kind_of(root)}",
            "start from the feeds.yaml shipped with digest",
        )
    _check_keys(ctx, root, None, _TOP_KEYS)
    site = _section(ctx, root, "site", _SITE_FIELDS)
    store = _section(ctx, root, "store", _STORE_FIELDS)
    fetch = _section(ctx, root, "fetch", _FETCH_FIELDS)
    translation = _section(ctx, root, "translation", _TRANSLATION_FIELDS)
    stories = _section(ctx, root, "stories", _STORIES_FIELDS)
    _check_executor(ctx, root, translation)
    newsletter = _newsletter(ctx, root)
    topics = _topics(ctx, root)
    feeds = _feeds(ctx, root)
    ctx.check()  # every problem found above, at once
    return Config(
        path=Path(path),
        site=SiteConfig(**site),
        store=StoreConfig(**store),
        fetch=FetchConfig(**fetch),
        translation=TranslationConfig(**translation),
        stories=StoriesConfig(**stories),
        newsletter=newsletter,
        topics=topics,
        feeds=feeds,
        warnings=ctx.warning_lines(),
    )


# ---------------------------------------------------------------- sections


_TOP_KEYS = (
    "site",
    "store",
    "fetch",
    "translation",
    "stories",
    "newsletter",
    "topics",
    "feeds",
)

_SITE_FIELDS: dict[str, Conv] = {
    "title": str_field(example="Digital Rights Digest"),
    "base_url": base_url_field,
    "language": str_field(check=lang_problem, example="en"),
    "window_days": int_field(1, example="7"),
    "templates_dir": path_field(),
}
_STORE_FIELDS = {"retention_days": int_field(1, nullable=True, example="null")}
_FETCH_FIELDS = {
    "timeout": seconds_field("20"),
    "connect_timeout": seconds_field("10"),
    "max_bytes": int_field(1, example="10485760"),
    "concurrency": int_field(1, example="32"),
    "per_host": int_field(1, example="8"),
    "max_items": int_field(1, example="200"),
    "allow_private": bool_field(),
}
_TRANSLATION_FIELDS = {
    "engine": str_field(choices=("argos", "none"), example="argos"),
    "packages_dir": path_field(),
    "beam_size": int_field(1, example="2"),
    "max_decoding_length": int_field(1, example="256"),
    "inter_threads": int_field(1, nullable=True, example="null"),
    # 0 lets CTranslate2 pick, as argostranslate's own default does
    "intra_threads": int_field(0, nullable=True, example="null"),
    "executor": str_field(choices=("local", "dask"), example="local"),
    "cluster": str_field(
        nullable=True, check=scheduler_address_problem, example="tcp://10.0.0.5:8786"
    ),
    "workers": int_field(1, nullable=True, example="null"),
}
_STORIES_FIELDS = {
    "embedder": str_field(check=embedder_problem, example="auto"),
    "discover_topics": bool_field(),
}
_SMTP_FIELDS = {
    "host": str_field(example="smtp.example.org"),
    "port": int_field(1, maximum=65535, example="587"),
    "security": str_field(choices=("starttls", "tls", "none"), example="starttls"),
    "username_env": str_field(nullable=True, check=env_problem, example="DIGEST_SMTP_USER"),
    "password_env": str_field(nullable=True, check=env_problem, example="DIGEST_SMTP_PASSWORD"),
    "ca_file": path_field(),
}
_NEWSLETTER_FIELDS = {
    "from": address_field(example='"Digest <digest@example.org>"'),
    # one address alone is a list of one
    "to": str_list_field(example="[readers@example.org]", single=True, check=address_problem),
    "list_id": str_field(nullable=True, example="digest.example.org"),
    "list_unsubscribe": str_field(nullable=True, example='"mailto:unsubscribe@example.org"'),
    "smtp": lambda *_: None,  # a section of its own, read by _newsletter
}
_TOPIC_FIELDS = {
    "keywords": str_list_field(non_empty=True, nullable=False, example="[censor, 审查]"),
    "description": str_field(nullable=True, example='"Blocking, deleting and banning speech"'),
}


def _check_keys(
    ctx: Context, mapping: CommentedMap, keypath: str | None, known: tuple[str, ...]
) -> None:
    for key in mapping:
        if not isinstance(key, str):
            msg, hint = f"keys must be names, got {kind_of(key)}", f"known keys: {', '.join(known)}"
            ctx.report(key_line(mapping, key), keypath, msg, hint)
            continue
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
        ctx.report(key_line(mapping, key), join_key(keypath, key), msg, hint)


def _misspelled(mapping: CommentedMap, key: str, known: Mapping[str, Conv]) -> bool:
    """True when an unknown key of the mapping was taken for `key` (already reported, so
    "missing `key`" would only repeat it)."""
    unknown = [k for k in mapping if isinstance(k, str) and k not in known]
    return any(
        difflib.get_close_matches(k, tuple(known), n=1, cutoff=0.6) == [key] for k in unknown
    )


def _mapping_or_none(
    ctx: Context, parent: CommentedMap, key: str, keypath: str
) -> CommentedMap | None:
    """The section's mapping; None when absent, or (reported) when it is not a mapping."""
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, CommentedMap):
        msg = f"expected a mapping of keys, got {kind_of(value)}"
        hint = f"write `{key}:` followed by indented `name: value` lines"
        ctx.report(value_line(parent, key), keypath, msg, hint)
        return None
    return value


def _fields(
    ctx: Context, mapping: CommentedMap, keypath: str, spec: Mapping[str, Conv]
) -> dict[str, Any]:
    """The valid values of a mapping; each bad key or value is reported and left out."""
    _check_keys(ctx, mapping, keypath, tuple(spec))
    values: dict[str, Any] = {}
    for key, conv in spec.items():
        if key in mapping:
            line = value_line(mapping, key)
            with ctx.gather(line):
                values[key] = conv(ctx, mapping[key], line, join_key(keypath, key))
    return values


def _check_executor(ctx: Context, root: CommentedMap, translation: dict[str, Any]) -> None:
    """A scheduler address only means something to the dask executor."""
    if translation.get("cluster") and translation.get("executor", "local") != "dask":
        section = root["translation"]
        line = key_line(section, "cluster")
        msg = "a scheduler address is set but translation.executor is local"
        ctx.report(line, "translation.cluster", msg, "add `executor: dask` (or drop cluster)")


def _section(
    ctx: Context, root: CommentedMap, key: str, spec: Mapping[str, Conv]
) -> dict[str, Any]:
    mapping = _mapping_or_none(ctx, root, key, key)
    return {} if mapping is None else _fields(ctx, mapping, key, spec)


def _newsletter(ctx: Context, root: CommentedMap) -> NewsletterConfig | None:
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


def _topics(ctx: Context, root: CommentedMap) -> tuple[TopicConfig, ...]:
    example = "for example:\ntopics:\n  censorship: {keywords: [censor, 审查]}"
    mapping = _mapping_or_none(ctx, root, "topics", "topics")
    if mapping is None:
        return ()
    topics: list[TopicConfig] = []
    slugs: dict[str, tuple[str, int]] = {}
    for name, body in mapping.items():
        line = key_line(mapping, name)
        if not isinstance(name, str) or not name.strip() or has_control(name):
            msg = f"a topic name must be a one-line string, got {kind_of(name)}"
            ctx.report(line, "topics", msg, example)
            continue
        keypath = f"topics.{name}"
        hint = f"for example `{name}: {{keywords: [censor, 审查]}}`"
        if not isinstance(body, CommentedMap):
            msg = f"expected a mapping with keywords, got {kind_of(body)}"
            ctx.report(value_line(mapping, name), keypath, msg, hint)
            continue
        values = _fields(ctx, body, keypath, _TOPIC_FIELDS)
        if "keywords" not in values:
            if "keywords" not in body and not _misspelled(body, "keywords", _TOPIC_FIELDS):
                msg = "missing: every topic needs keywords"
                ctx.report(line, f"{keypath}.keywords", msg, hint)
            continue
        slug = slugify(name)
        if slug in slugs:
            other, other_line = slugs[slug]
            msg = f"has the same slug '{slug}' as topic {other!r} (line {other_line})"
            ctx.report(line, keypath, msg, "rename or merge one of the two topics")
            continue
        slugs[slug] = (name, line)
        topics.append(
            TopicConfig(
                name=name,
                slug=slug,
                keywords=values["keywords"],
                description=values.get("description") or "",
            )
        )
    return tuple(topics)


def _feeds(ctx: Context, root: CommentedMap) -> tuple[FeedConfig, ...]:
    example = "feeds:\n  - id: cdt-en\n    name: China Digital Times\n    url: https://..."
    value = root.get("feeds")
    if value is None:
        return ()
    if not isinstance(value, CommentedSeq):
        msg = f"expected a list of feeds, got {kind_of(value)}"
        ctx.report(value_line(root, "feeds"), "feeds", msg, f"for example:\n{example}")
        return ()
    feeds: list[FeedConfig] = []
    by_id: dict[str, tuple[str, int]] = {}
    by_url: dict[str, tuple[str, int]] = {}
    for index, item in enumerate(value):
        keypath = f"feeds[{index}]"
        line = item_line(value, index)
        if not isinstance(item, CommentedMap):
            msg = f"expected a mapping with at least a url, got {kind_of(item)}"
            hint = "write each feed as `- url: https://...` with name, id, language, tags below it"
            ctx.report(line, keypath, msg, hint)
            continue
        found = _feed(ctx, item, keypath, line)
        if found is None:
            continue  # no usable url: reported
        feed, id_line, url_line = found
        url_key = feed_url_key(feed.url, ctx.base)
        if url_key in by_url:
            other, other_line = by_url[url_key]
            msg = f"same feed URL as {other}.url (line {other_line})"
            ctx.report(url_line, f"{keypath}.url", msg, "remove one of the two entries")
        elif feed.id in by_id and _id_usable(item, feed):
            other, other_line = by_id[feed.id]
            derived = "" if "id" in item else " (derived from the name)"
            msg = f"'{feed.id}'{derived} is already the id of {other} (line {other_line})"
            hint = "give one of them a different explicit id"
            ctx.report(id_line, f"{keypath}.id", msg, hint)
        else:
            by_url[url_key] = (keypath, url_line)
            by_id.setdefault(feed.id, (keypath, id_line))
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
    "id": str_field(check=_id_problem, example="cdt-en"),
    "name": str_field(example="China Digital Times"),
    "url": str_field(check=_url_problem, example="https://chinadigitaltimes.net/feed/"),
    "language": str_field(nullable=True, check=lang_problem, example="zh"),
    "tags": str_list_field(example="[china]"),
    "enabled": bool_field(),
    "outlet": str_field(nullable=True, example="Radio Free Asia"),
    "kind": str_field(nullable=True, example="exile media"),
    "region": str_field(nullable=True, example="china"),
}


def _feed(
    ctx: Context, item: CommentedMap, keypath: str, line: int
) -> tuple[FeedConfig, int, int] | None:
    """One feed entry, with the lines of its id and url (for duplicate errors); None when
    it has no usable url (reported)."""
    values = _fields(ctx, item, keypath, _FEED_FIELDS)
    if "url" not in values:
        if "url" not in item and not _misspelled(item, "url", _FEED_FIELDS):
            hint = "add `url: https://...` (or file:///path, or a path relative to feeds.yaml)"
            ctx.report(line, f"{keypath}.url", "missing: every feed needs a url", hint)
        return None
    values.setdefault("name", name_from_url(values["url"]))
    values.setdefault("id", slugify(values["name"]))
    id_key = next((k for k in ("id", "name") if k in item), None)
    id_line = value_line(item, id_key) if id_key else line
    return FeedConfig(**values), id_line, value_line(item, "url")


def _id_usable(item: CommentedMap, feed: FeedConfig) -> bool:
    """False when the entry's own id or name was rejected: the id in hand is a stand-in, and
    a clash with it would only be a second, misleading message."""
    return all(key not in item or item[key] == getattr(feed, key) for key in ("id", "name"))
