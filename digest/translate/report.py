"""`digest models list`: installed packages, and a translation path for each feed language."""

from __future__ import annotations

from digest.records import Config
from digest.translate.codes import PIVOT, argos_codes
from digest.translate.engine import ArgosTranslator, make_translator
from digest.translate.packages import installed_packages, packages_dir

__all__ = ["models_report"]


def models_report(config: Config) -> list[str]:
    """`digest models list`: installed packages, and a path for each feed language.

    Each language the feeds declare gets one line: direct, pivot through English (and
    whether OpenCC converts Traditional Chinese first), or which package is missing and how
    to install it.
    """
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
