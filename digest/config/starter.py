"""`digest init`: a starter feeds.yaml, the real outlet list with every key at its default.

The starter is the repository's own feeds.yaml. A wheel carries it as digest/starter/feeds.yaml
(pyproject.toml force-includes it, as it does templates/), so a pip-installed digest can start
a digest anywhere; a source checkout or an editable install reads the repository's file. There
is one copy, so the two cannot drift apart.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from digest.atomic import write_new
from digest.config.load import parse_config
from digest.config.opml import (
    MAX_OPML_BYTES,
    OpmlImport,
    check_opml_size,
    plan_import,
    read_opml,
)
from digest.config.yamledit import feeds_block
from digest.errors import ConfigError, InputError, StageError
from digest.records import Config
from digest.wording import plural

__all__ = ["InitResult", "init_digest", "starter_path", "starter_text"]

STARTER = "feeds.yaml"
_FEEDS_LINE = re.compile(r"^feeds:[ \t]*(?:#.*)?$", re.MULTILINE)
_TOP_KEY = re.compile(r"^[A-Za-z_][\w-]*:", re.MULTILINE)
_KINDS = (
    "exile media | international broadcaster | international media | state media |\n"
    "  #   hong kong media | NGO | research | tech media"
)


def starter_path() -> Path:
    """The starter feeds.yaml: the wheel's digest/starter/ copy, else the repository's file."""
    package_dir = Path(__file__).resolve().parents[1]  # digest/config/ -> digest/
    shipped = package_dir / "starter" / STARTER
    if shipped.is_file():
        return shipped
    return package_dir.parent / STARTER


def starter_text() -> str:
    """The starter feeds.yaml's text."""
    path = starter_path()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StageError(
            f"the starter feeds.yaml shipped with digest is missing: {path}",
            "reinstall digest (pip install --force-reinstall digest)",
        ) from exc


@dataclass(frozen=True)
class InitResult:
    """What `digest init` wrote: the file, its feeds, and the languages that need models."""

    path: Path
    feeds: int
    outlets: int
    site_language: str
    languages: tuple[str, ...]  # declared feed languages but the site's, most feeds first
    imported: OpmlImport | None = None  # with --opml: what was taken and skipped
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def lines(self, command: str = "digest") -> list[str]:
        """The report and the next steps, in the order a new user takes them; `command` is
        how cron finds digest (an absolute path: cron's PATH is short)."""
        folder = Path(os.path.abspath(self.path.parent))
        config = "" if self.path.name == STARTER else f" --config {self.path.name}"
        digest = f"digest{config}"
        source = "from the OPML file" if self.imported is not None else "the outlets digest follows"
        out = [
            f"wrote {self.path}: {plural(self.feeds, 'feed')} of "
            f"{plural(self.outlets, 'outlet')} ({source}), every other setting at its default"
        ]
        out += [f"  skipped {what}: {why}" for what, why in self.skipped]
        out.append("next steps:")
        if folder != Path.cwd():
            out.append(f"  0. cd {folder}")
        out.append(
            f"  1. read {self.path.name}: set site.title and site.base_url (where the site will"
            " be published); drop the feeds you do not want, add your own"
        )
        if self.languages:
            out.append(
                "  2. install a translation model per language (once; translation then runs"
                " offline), from the Argos package index:"
            )
            out += [
                f"       {digest} models install {lang} {self.site_language}"
                for lang in self.languages
            ]
            out.append(
                f"     or from a file you have: {digest} models install-file FILE.argosmodel;"
                f" `{digest} models list` shows what is missing"
            )
        else:
            out.append("  2. no translation model needed: every feed is in the site's language")
        out += [
            f"  3. {digest} run      fetch, translate, group into stories, build the site in"
            f" {folder / 'site'}",
            f"     {digest} serve    preview it on http://127.0.0.1:8000/",
            "  4. run it every hour from cron (crontab -e):",
            f"       17 * * * *  cd {folder} && {command}{config} run >> .digest/cron.log 2>&1",
            "  5. the newsletter: fill in the newsletter: section and uncomment it, then"
            f" `{digest} newsletter` (a dry run: .eml files to read) and"
            f" `{digest} newsletter --send`",
        ]
        return out


def init_digest(
    path: Path, *, opml: Path | BinaryIO | None = None, allow_private: bool = False
) -> InitResult:
    """Write the starter config at `path` (never over an existing file); with `opml` (a file,
    or a stream such as stdin), its feeds replace the starter's outlet list, the rest stays;
    feeds on non-public addresses are taken only with `allow_private`."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise InputError(
            f"{path} already exists: digest init never overwrites it",
            "edit that file, move it aside, or give init another folder: digest init DIR",
        )
    text = starter_text()
    imported = None
    if opml is not None:
        if isinstance(opml, Path):
            data, name = read_opml(opml), str(opml)
        else:
            name = "the OPML on standard input"
            data = check_opml_size(opml.read(MAX_OPML_BYTES + 1), name)
        text, imported = _with_opml_feeds(text, path, data, name, allow_private)
    config = _validated(text, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{path.parent}: cannot make the folder: {exc.strerror or exc}",
            "give digest init a folder that does not exist yet, or an empty one",
        ) from None
    try:
        write_new(path, text.encode("utf-8"))
    except FileExistsError:
        raise InputError(
            f"{path} already exists: digest init never overwrites it",
            "edit that file, move it aside, or give init another folder: digest init DIR",
        ) from None
    except OSError as exc:
        raise InputError(
            f"{path}: cannot write: {exc.strerror or exc}", "pick a folder you can write to"
        ) from None
    site = config.site.language
    base = site.split("-")[0].lower()
    # The languages that need a model, those with the most feeds first.
    counts = Counter(
        f.language for f in config.feeds if f.language and f.language.split("-")[0] != base
    )
    languages = sorted(counts, key=lambda lang: (-counts[lang], lang))
    return InitResult(
        path=path,
        feeds=len(config.feeds),
        outlets=len({f.outlet_name for f in config.feeds}),
        site_language=site,
        languages=tuple(languages),
        imported=imported,
        skipped=list(imported.skipped) if imported else [],
    )


def _validated(text: str, path: Path) -> Config:
    try:
        return parse_config(text, path)
    except ConfigError as exc:  # the shipped file is tested; this is a broken install
        raise StageError(
            f"the starter feeds.yaml does not load: {exc.message}",
            "reinstall digest; if it persists, report it",
        ) from exc


def _with_opml_feeds(
    text: str, path: Path, data: bytes, name: str, allow_private: bool
) -> tuple[str, OpmlImport]:
    """The starter's text with its `feeds:` list replaced by the OPML's feeds."""
    match = _FEEDS_LINE.search(text)
    if match is None:
        raise StageError("the starter feeds.yaml has no feeds: section", "reinstall digest")
    rest = _TOP_KEY.search(text, match.end())
    tail = text[rest.start() :] if rest else ""
    empty = parse_config(text[: match.start()] + tail, path)
    result = plan_import(empty, data, name, allow_private=allow_private)
    if not result.added:
        if result.skipped:
            what, why = result.skipped[0]
            more = f" (and {len(result.skipped) - 1} more)" if len(result.skipped) > 1 else ""
            raise InputError(
                f"{name}: no feed to take: skipped {what}: {why}{more}",
                "fix the OPML, or run digest init without --opml for the starter's outlet list",
            )
        raise InputError(
            f"{name}: no feed to take (no outline with an http(s) feed URL)",
            "export the subscriptions from your feed reader as OPML, or run digest init"
            " without --opml for the starter's outlet list",
        )
    head = (
        f"feeds:\n  # Imported from {name.replace(chr(10), ' ')}. Per feed: id, name, url,"
        " language (BCP 47),\n  # outlet (feeds of one outlet count once in a story's"
        f" coverage), region, tags, enabled, and\n  # kind: {_KINDS}\n"
    )
    block = head + feeds_block(result.added)
    return text[: match.start()] + block + ("\n" + tail if tail else ""), result
