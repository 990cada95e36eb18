"""Rare names in headlines: a person, a place or an app named by two reports ties them together.

A headline's name-like words (capitalised words of spaced scripts, jieba's words of Chinese)
count when they are rare in everyday language, judged by wordfreq's frequency table for the
headline's language: "Li Mingyuan" or "Qinglang" are rare, "China" and "police" are not.
"""

from __future__ import annotations

import re
from functools import lru_cache

from digest.stories.features import HAN_CHAR
from digest.stories.words import chinese_words, simplified, stopwords

__all__ = ["RARE_ZIPF", "rare_names"]

# wordfreq's Zipf scale: 3 is a word used about once per million words. Names of people and
# small places sit below; country names and common nouns above.
RARE_ZIPF = 3.0
_LATIN_NAME = re.compile(r"(?<![\w'’])([A-ZÀ-ÞĀ-ſ][\w'’-]{2,})")
# Languages wordfreq has a table for.
_WORDFREQ_LANGS = frozenset(
    {"ar", "bg", "bn", "bs", "ca", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fil", "fr"}
    | {"he", "hi", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "mk", "ms", "nb", "nl", "pl"}
    | {"pt", "ro", "ru", "sh", "sk", "sl", "sr", "sv", "ta", "tr", "uk", "ur", "vi", "zh"}
)


@lru_cache(maxsize=200_000)
def _zipf(word: str, lang: str) -> float:
    try:
        from wordfreq import zipf_frequency

        return float(zipf_frequency(word, lang))
    except ImportError:
        # Without the table no word is known to be rare; wordfreq's Japanese and Korean
        # tables need MeCab, imported only at the first look-up (a title detected as
        # Japanese crashed cluster-file on THUCNews).
        return 8.0


def _table_lang(lang: str) -> str | None:
    base = lang.split("-")[0].lower()
    return base if base in _WORDFREQ_LANGS else None


def rare_names(title: str, lang: str) -> frozenset[str]:
    """The headline's rare name-like words, casefolded (Chinese in Simplified characters)."""
    table = _table_lang(lang)
    if table is None or not title:
        return frozenset()
    found: set[str] = set()
    if HAN_CHAR.search(title):
        stops = stopwords("zh")
        for word in chinese_words(simplified(title)):
            rare = len(word) >= 2 and word not in stops and _zipf(word, "zh") < RARE_ZIPF
            if rare and HAN_CHAR.search(word):
                found.add(word)
    stops = stopwords(table)
    for match in _LATIN_NAME.finditer(title):
        word = match.group(1).casefold().strip("'’-")
        if word in stops or any(ch.isdigit() for ch in word):
            continue
        if _zipf(word, table) < RARE_ZIPF:
            found.add(word)
    return frozenset(found)
