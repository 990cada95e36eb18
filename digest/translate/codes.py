"""Argos language codes for BCP 47 tags, and the pivot language (no I/O, no model)."""

from __future__ import annotations

import re

__all__ = ["PIVOT", "argos_codes"]

# Pairs without a direct package go through this language.
PIVOT = "en"

_TRADITIONAL_REGIONS = frozenset({"hant", "tw", "hk", "mo"})
_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "no": "nb", "cmn": "zh"}


def argos_codes(lang: str) -> tuple[str, ...]:
    """Argos language codes to try for a BCP 47 tag, best first ('zh-Hant' -> ('zt', 'zh')).

    Simplified and Traditional Chinese fall back to each other: the public zh_en and zt_en
    packages share one model and differ only in their sentence splitter.
    """
    parts = lang.strip().replace("_", "-").lower().split("-")
    primary = _ALIASES.get(parts[0], parts[0])
    if not re.fullmatch(r"[a-z]{2,3}", primary):
        return ()
    rest = set(parts[1:])
    if primary in ("zh", "zt"):
        traditional = primary == "zt" or ("hans" not in rest and bool(rest & _TRADITIONAL_REGIONS))
        return ("zt", "zh") if traditional else ("zh", "zt")
    if primary == "pt":
        return ("pb", "pt") if "br" in rest else ("pt", "pb")
    return (primary,)
