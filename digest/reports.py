"""What `digest feeds check|reset` and `digest models list` tell the user."""

from __future__ import annotations

from datetime import datetime

from digest.errors import InputError
from digest.pipeline import window_start
from digest.records import Config
from digest.store import utc_now
from digest.workspace import Workspace, run_lock


def _when(dt: datetime | None) -> str:
    return f"{dt:%Y-%m-%d %H:%M} UTC" if dt else "never"


def feed_report(config: Config, ws: Workspace) -> list[str]:
    """`digest feeds check`: one block per feed from the store, with what to do about it."""
    now = utc_now()
    with ws.open_store() as store:
        store.sync_feeds(config.feeds)
        health = store.feed_health(config.feeds, window_start(config, now))
        warnings = store.parse_warnings()
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
        elif h.id in warnings:
            state = "ok, with a warning"
        else:
            state = "ok"
        lines.append(
            f"{h.id}: {state}; last success {_when(h.last_success)}; "
            f"{h.items_total} items ({h.items_in_window} in window)"
        )
        if h.last_error:
            lines.append(f"  last error: {h.last_error}")
        if h.id in warnings:
            lines.append(f"  last parse warning: {warnings[h.id]}")
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
    """`digest models list`: installed packages, and a path for each feed language.

    Each language the feeds declare gets one line: direct, pivot through English (and
    whether OpenCC converts Traditional Chinese first), or which package is missing and how
    to install it.
    """
    from digest.translate.engine import PIVOT, ArgosTranslator, argos_codes, make_translator
    from digest.translate.packages import installed_packages, packages_dir

    tgt = config.site.language
    lines = [f"packages dir: {packages_dir(config.translation)}"]
    packages = installed_packages(config.translation)
    if not packages:
        lines.append("no translation packages installed")
    for p in packages:
        lines.append(f"installed: {p.name} {p.version} ({p.from_code}→{p.to_code})")
    translator = make_translator(config.translation)
    if translator is None:
        lines.append("translation is off (translation.engine: none)")
        return lines
    assert isinstance(translator, ArgosTranslator)
    languages = sorted({f.language for f in config.feeds if f.language} - {tgt})
    have = {(p.from_code, p.to_code) for p in packages}
    for lang in languages:
        if lang.split("-")[0] == tgt.split("-")[0]:
            continue
        plan = translator.plan(lang, tgt)
        if plan is not None:
            names = " + ".join(f"{p.name}-{p.version}" for p in plan.packages)
            how = f"pivot through {PIVOT} ({names})" if plan.pivot else f"direct ({names})"
            if plan.convert:
                how = f"OpenCC converts to Simplified, then {how}"
            elif argos_codes(lang)[:1] == ("zt",) and plan.packages[0].from_code == "zh":
                how += "; Traditional Chinese goes in unconverted: pip install opencc"
            lines.append(f"{lang}→{tgt}: {how}")
            continue
        codes = argos_codes(lang)
        tgt_code = (argos_codes(tgt) or (tgt,))[0]
        if not codes:
            lines.append(f"{lang}→{tgt}: not a language code argostranslate knows")
            continue
        src = codes[0]
        direct = f"translate-{src}_{tgt_code}"
        if PIVOT in (src, tgt_code):
            options = [direct]
        elif (src, PIVOT) in have:
            options = [f"translate-{PIVOT}_{tgt_code} (for the pivot)", direct]
        elif (PIVOT, tgt_code) in have:
            options = [f"translate-{src}_{PIVOT} (for the pivot)", direct]
        else:
            options = [direct, f"translate-{src}_{PIVOT} + translate-{PIVOT}_{tgt_code}"]
        if src == "zt":
            options.append(f"translate-zh_{tgt_code} (with opencc)")
        lines.append(
            f"{lang}→{tgt}: no model; missing {' or '.join(options)}; install: digest models"
            f" install {lang} {tgt} (online), or digest models install-file"
            f" {direct}-VERSION.argosmodel"
        )
    return lines
