"""Ranking and headlines: the front-page score and a story's representative title (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from digest.records import StoredItem
from digest.stories.features import features, utc_seconds

__all__ = ["SCORE_HALF_LIFE_HOURS", "pick_headline", "story_score"]

# story_score = breadth * recency.
#   breadth = n_outlets + 0.5 * (n_languages - 1) + 0.25 * log2(1 + extra items)
#             (extra items: reports beyond one per outlet, e.g. follow-ups)
#   recency = 0.5 ** (age_hours / 36)
# So a story told by 3 outlets stays above a fresh single report for about 57 hours.
SCORE_HALF_LIFE_HOURS = 36.0


def story_score(n_outlets: int, n_languages: int, n_items: int, age_hours: float) -> float:
    """Front-page rank: breadth first, then recency and size (documented formula)."""
    outlets = max(1, n_outlets)
    languages = max(1, n_languages)
    extra = max(0, n_items - outlets)
    breadth = outlets + 0.5 * (languages - 1) + 0.25 * math.log2(1 + extra)
    age = age_hours if math.isfinite(age_hours) else math.inf
    recency = 0.5 ** (max(0.0, age) / SCORE_HALF_LIFE_HOURS)
    return breadth * recency


def _same_language(lang: str, site_language: str) -> bool:
    return lang.split("-")[0].lower() == site_language.split("-")[0].lower()


def pick_headline(items: Sequence[StoredItem], site_language: str) -> str:
    """The most representative report's title; a site-language original beats a translation."""
    visible = [i for i in items if not i.hidden] or list(items)

    def tier(item: StoredItem) -> int:
        if _same_language(item.lang, site_language) and item.title.strip():
            return 0  # an original written in the site language
        if item.title_translated and item.title_translated.strip():
            return 1  # a machine translation into it
        return 2  # only a foreign-language original

    titled = [i for i in visible if i.display_title.strip()]
    if not titled:
        summary = next((i.display_summary.strip() for i in visible if i.display_summary), "")
        return summary[:120]
    best_tier = min(tier(i) for i in titled)
    pool = [i for i in titled if tier(i) == best_tier]
    # Representative: the report sharing the most vocabulary with all the others.
    bags = {
        i.id: set(features(f"{i.display_title} {i.display_summary}", site_language)) for i in titled
    }

    def centrality(item: StoredItem) -> float:
        mine = bags[item.id]
        total = 0.0
        for other in titled:
            if other.id == item.id:
                continue
            theirs = bags[other.id]
            if mine and theirs:
                total += len(mine & theirs) / math.sqrt(len(mine) * len(theirs))
        return total

    best = min(pool, key=lambda i: (-centrality(i), utc_seconds(i.published), i.id))
    title = best.title if best_tier == 0 else best.display_title
    return " ".join(title.split())
