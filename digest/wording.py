"""Plain English for counts and spans of time: "1 feed", "3 stories", "the last 2 weeks".

Summary lines, the CLI and the site templates (as the `plural` and `window` filters) all count
through here, so no reader sees "1 feeds" or "the last 36500 days".
"""

from __future__ import annotations

__all__ = ["UNLIMITED_DAYS", "plural", "plural_word", "window_phrase"]

# A window this long means "everything kept": no one reads "the last 36500 days".
UNLIMITED_DAYS = 3650

# Nouns the digest counts whose plural is not made by the rules below.
_IRREGULAR = {"person": "people", "is": "are", "was": "were", "has": "have"}


def plural_word(n: int, word: str, many: str | None = None) -> str:
    """`word` agreeing with the count n: feed/feeds, story/stories, entry/entries."""
    if n == 1:
        return word
    if many is not None:
        return many
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def plural(n: int, word: str, many: str | None = None) -> str:
    """The count and its noun: "1 feed", "2 feeds", "1 entry", "0 stories"."""
    return f"{n} {plural_word(n, word, many)}"


def window_phrase(days: int) -> str | None:
    """How long a window of `days` is, in words ("the last 7 days", "the last 2 weeks",
    "the last day"); None when it is effectively unlimited (everything kept)."""
    if days >= UNLIMITED_DAYS:
        return None
    if days == 1:
        return "the last day"
    if days % 365 == 0:
        years = days // 365
        return "the last year" if years == 1 else f"the last {years} years"
    if days >= 14 and days % 7 == 0 and days < 70:
        return f"the last {days // 7} weeks"
    return f"the last {days} days"
