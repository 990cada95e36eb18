"""Is a shown term a word? Checks of key terms and topic names against jieba's dictionary,
the stopword lists and the texts they came from (used by test_terms.py)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from digest.stories.terms import NAME_JOIN
from digest.stories.words import (
    CHINESE_SURNAMES,
    FIELD_WORDS,
    PERSON_TITLES,
    is_number_word,
    jieba_dictionary,
    simplified,
    term_stopwords,
)

HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
TOPIC_JOIN = " · "


@lru_cache(maxsize=1)
def dictionary() -> frozenset[str]:
    """jieba's dictionary words and the field's words, in Simplified characters."""
    path = jieba_dictionary()
    assert path is not None and path.is_file(), "jieba's dictionary is missing"
    words = {line.split(" ", 1)[0] for line in path.read_text("utf-8").splitlines() if line}
    return frozenset(words | {w.casefold() for w in FIELD_WORDS})


def _stopwords(word: str, langs: Sequence[str]) -> frozenset[str]:
    """The stopwords a word is checked against: its texts' languages, English for Latin
    script, Chinese for Chinese."""
    out = set(term_stopwords("zh") if HAN.search(word) else ())
    for lang in langs:
        out |= term_stopwords(lang)
    if word.isascii():
        out |= term_stopwords("en")
    return frozenset(out)


def _introduced_name(word: str, texts: Sequence[str]) -> bool:
    """A person's name the dictionary lacks: a surname and one or two characters, written
    right after a word that introduces a person (律师李明远)."""
    if not 2 <= len(word) <= 3 or word[0] not in CHINESE_SURNAMES:
        return False
    titles = "|".join(PERSON_TITLES)
    pattern = re.compile(f"(?:{titles}){re.escape(word)}")
    return any(pattern.search(simplified(t)) for t in texts)


def term_problems(term: str, texts: Sequence[str], langs: Sequence[str] = ("en",)) -> list[str]:
    """What is wrong with a shown term (empty when it is a whole word or name of the texts,
    written in `langs`)."""
    problems = []
    words = [w for part in term.split(NAME_JOIN) for w in part.split()]
    if not words:
        return [f"{term!r}: empty"]
    lowered = [unicodedata.normalize("NFKC", t).casefold() for t in texts]
    for word in words:
        key = simplified(word).casefold()
        if is_number_word(word):
            problems.append(f"{term!r}: {word!r} is a number")
        if key in _stopwords(word, langs) and len(words) == 1:
            problems.append(f"{term!r}: {word!r} is a stopword")
        if HAN.search(word):
            if key not in dictionary() and not _introduced_name(key, texts):
                problems.append(f"{term!r}: {word!r} is not a word of jieba's dictionary")
            continue
        if len(word) < 2:
            problems.append(f"{term!r}: {word!r} is a single character")
        body = re.escape(unicodedata.normalize("NFKC", word).casefold())
        edge = "[a-z0-9]" if word.isascii() else "[^\\W_]"
        pattern = re.compile(rf"(?<!{edge}){body}(?!{edge})")
        if not any(pattern.search(t) for t in lowered):
            problems.append(f"{term!r}: {word!r} is not a whole word of its texts")
    return problems


def topic_name_terms(name: str) -> list[str]:
    """The terms a discovered topic's name is made of ("vpn · tor (2)" -> vpn, tor)."""
    name = re.sub(r" \(\d+\)$", "", name)
    return [t for t in name.split(TOPIC_JOIN) if t]


def all_problems(terms: Iterable[tuple[str, Sequence[str], Sequence[str]]]) -> list[str]:
    """Every problem of (term, texts, languages) triples."""
    return [p for term, texts, langs in terms for p in term_problems(term, texts, langs)]
