"""What `digest feeds check|reset` and `digest models list` tell the user."""

from __future__ import annotations

from datetime import datetime

from .errors import InputError
from .models import Config
from .pipeline import window_start
from .store import utc_now
from .workspace import Workspace, run_lock


def _when(dt: datetime | None) -> str:
    return f"{dt:%Y-%m-%d %H:%M} UTC" if dt else "never"


def feed_report(config: Config, ws: Workspace) -> list[str]:
    """`digest feeds check`: one block per feed from the store, with what to do about it."""
    now = utc_now()
    with ws.open_store() as store:
        store.sync_feeds(config.feeds)
        health = store.feed_health(config.feeds, window_start(config, now))
    lines = []
    for h in health:
        if not h.enabled:
            state = "disabled"
        elif h.gone:
            state = "GONE"
        elif h.consecutive_failures:
            state = f"FAILING ({h.consecutive_failures} in a row)"
        elif h.last_attempt is None:
            state = "not fetched yet"
        else:
            state = "ok"
        lines.append(
            f"{h.id}: {state}; last success {_when(h.last_success)}; "
            f"{h.items_total} items ({h.items_in_window} in window)"
        )
        if h.last_error:
            lines.append(f"  last error: {h.last_error}")
        if h.next_fetch and h.next_fetch > now:
            lines.append(f"  next retry: {_when(h.next_fetch)}")
        if h.gone:
            lines.append(f"  fix the URL if it moved, then: digest feeds reset {h.id}")
        if h.effective_url and h.effective_url != h.url:
            lines.append(
                f"  moved permanently to {h.effective_url}: update its url in {config.path}"
            )
    return lines


def reset_feed(config: Config, ws: Workspace, feed_id: str) -> None:
    """`digest feeds reset ID`: revive a gone feed and clear its backoff."""
    if config.feed(feed_id) is None:
        known = ", ".join(f.id for f in config.feeds) or "none"
        raise InputError(f"unknown feed id: {feed_id}", f"configured feeds: {known}")
    with run_lock(ws), ws.open_store() as store:
        store.sync_feeds(config.feeds)
        store.reset_feed(feed_id)


def models_report(config: Config) -> list[str]:
    """`digest models list`: installed packages, and a path for each feed language."""
    from .packages import installed_packages, packages_dir
    from .translate import argos_codes, make_translator, missing_model_note

    tgt = config.site.language
    lines = [f"packages dir: {packages_dir(config.translation)}"]
    packages = installed_packages(config.translation)
    if not packages:
        lines.append("no translation packages installed")
    for p in packages:
        lines.append(f"installed: {p.name} {p.version} ({p.from_code}→{p.to_code})")
    translator = make_translator(config.translation)
    languages = sorted({f.language for f in config.feeds if f.language} - {tgt})
    for lang in languages:
        if lang.split("-")[0] == tgt.split("-")[0]:
            continue
        ref = translator.model_for(lang, tgt) if translator else None
        if ref is not None:
            lines.append(f"{lang}→{tgt}: ok ({ref.name})")
        else:
            lines.append(
                f"{lang}→{tgt}: {missing_model_note(lang, tgt)}; "
                f"hint: get translate-{argos_codes(lang)[0]}_{tgt}-*.argosmodel from the Argos "
                "package index, then: digest models install-file PATH"
            )
    return lines
