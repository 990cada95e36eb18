"""`digest models list`: installed packages, and a translation path for each feed language."""

from __future__ import annotations

from digest.language import UNDETERMINED
from digest.records import Config, SiteConfig, TranslationConfig
from digest.translate.codes import PIVOT, argos_codes
from digest.translate.engine import ArgosTranslator, make_translator
from digest.translate.packages import installed_packages, packages_dir
from digest.wording import plural
from digest.workspace import Workspace

__all__ = ["models_report"]


def models_report(config: Config | None = None, ws: Workspace | None = None) -> list[str]:
    """`digest models list`: installed packages, and a path for each language.

    The languages are those the feeds declare and those the store holds items in (detected
    while fetching), each with its item count. Each gets one line: direct, pivot through
    English (and whether OpenCC converts Traditional Chinese first), or which package is
    missing and how to install it. Without a config (no feeds.yaml yet) the defaults apply:
    $ARGOS_PACKAGES_DIR or argostranslate's folder, a site in English.
    """
    translation = config.translation if config is not None else TranslationConfig()
    tgt = config.site.language if config is not None else SiteConfig().language
    lines = [f"packages dir: {packages_dir(translation)}"]
    if config is None:
        lines.append(f"no feeds.yaml: the defaults apply (site language {tgt})")
    packages = installed_packages(translation)
    if not packages:
        lines.append("no translation packages installed")
    for p in packages:
        lines.append(f"installed: {p.name} {p.version} ({p.from_code}→{p.to_code})")
    seen = _store_languages(ws)
    translator = make_translator(translation)
    if translator is None:
        lines.append("translation is off (translation.engine: none)")
        return lines
    assert isinstance(translator, ArgosTranslator)
    declared = {f.language for f in config.feeds if f.language} if config is not None else set()
    languages = sorted((declared | set(seen)) - {tgt, UNDETERMINED})
    have = {(p.from_code, p.to_code) for p in packages}
    for lang in languages:
        if lang.split("-")[0] == tgt.split("-")[0]:
            continue
        lines.append(_language_line(translator, lang, tgt, have) + _count(lang, seen, declared))
    return lines


def _count(lang: str, seen: dict[str, int], declared: set[str]) -> str:
    """How many items the store holds in lang, for the end of its line."""
    if lang in seen:
        return f"; {plural(seen[lang], 'item')} in the store"
    return "; no items in the store yet" if seen and lang in declared else ""


def _store_languages(ws: Workspace | None) -> dict[str, int]:
    """Items per language in the workspace's store; {} when there is no store yet."""
    if ws is None or not ws.db_path.is_file():
        return {}
    with ws.open_store() as store:
        return store.language_counts()


def _language_line(
    translator: ArgosTranslator, lang: str, tgt: str, have: set[tuple[str, str]]
) -> str:
    """How lang reaches tgt: direct, through the pivot, or what is missing and how to get it."""
    plan = translator.plan(lang, tgt)
    if plan is not None:
        names = " + ".join(f"{p.name}-{p.version}" for p in plan.packages)
        how = f"pivot through {PIVOT} ({names})" if plan.pivot else f"direct ({names})"
        if plan.convert:
            how = f"OpenCC converts to Simplified, then {how}"
        elif argos_codes(lang)[:1] == ("zt",) and plan.packages[0].from_code == "zh":
            how += "; Traditional Chinese goes in unconverted: pip install opencc"
        return f"{lang}→{tgt}: {how}"
    codes = argos_codes(lang)
    tgt_code = (argos_codes(tgt) or (tgt,))[0]
    if not codes:
        return f"{lang}→{tgt}: not a language code argostranslate knows"
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
    return (
        f"{lang}→{tgt}: no model; missing {' or '.join(options)}; install: digest models"
        f" install {lang} {tgt} (online), or digest models install-file"
        f" {direct}-VERSION.argosmodel"
    )
