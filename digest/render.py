"""The Jinja environment shared by the site and the newsletter: autoescape, strict, overridable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import jinja2

from digest.language import language_name
from digest.wording import plural, window_phrase

# Plain-text templates (the text part of the newsletter) must not be HTML-escaped: escaping
# there would only mangle "&" and "<" in what readers see. Everything else is escaped.
_PLAIN_TEXT_EXTENSIONS = ("txt",)


def templates_root() -> Path:
    """The built-in templates: digest/templates in a wheel, else the repo's top-level templates/."""
    package_dir = Path(__file__).resolve().parent  # this module sits at the package's top
    shipped = package_dir / "templates"
    if shipped.is_dir():
        return shipped
    # An editable install or a source checkout: the templates sit at the repository's top level.
    return package_dir.parent / "templates"


def make_environment(templates_dir: Path | None = None) -> jinja2.Environment:
    """Jinja env: autoescape, StrictUndefined; templates_dir's files override the built-ins."""
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.FileSystemLoader(str(templates_root())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            disabled_extensions=_PLAIN_TEXT_EXTENSIONS,
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["utc"] = utc_text
    env.filters["isotime"] = iso_utc
    # Plain words: {{ n | plural("story") }} is "1 story" or "3 stories"; {{ days | window }}
    # is "the last 7 days" ("" when the window keeps everything); {{ "zh" | language_name }}.
    env.filters["plural"] = plural
    env.filters["window"] = lambda days: window_phrase(int(days)) or ""
    env.filters["language_name"] = language_name
    return env


def as_utc(when: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def utc_text(when: datetime | None) -> str:
    """A reader-facing absolute time such as "2026-11-20 14:05 UTC" ("" for None)."""
    if when is None:
        return ""
    return as_utc(when).strftime("%Y-%m-%d %H:%M UTC")


def iso_utc(when: datetime | None) -> str:
    """A machine-readable time for <time datetime>, such as "2026-11-20T14:05:00Z" ("" for None)."""
    if when is None:
        return ""
    return as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")
