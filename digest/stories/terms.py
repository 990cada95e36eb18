"""Terms a reader sees (key terms, topic names): whole words, never character n-grams (pure).

Words are runs of letters, marks and the zero-width non-joiner (so a Persian word with a ZWNJ
or a Tibetan syllable with vowel signs stays whole). Chinese runs are made Simplified and cut
by jieba's dictionary (no HMM guesses, which cut names into overlapping fragments) helped by the
field's words; single characters are never terms. Stopwords of the text's language (and of
English for Latin words in other texts) and number words are dropped. Names stay whole: in a
sentence that is not in title case, consecutive capitalised words ("Li Mingyuan", "Great
Firewall") are one term, joined by a no-break space.

Terms are keys (casefolded, Simplified); `surface_forms` finds how the texts write them (the
case of "VPN", the Traditional characters of a Traditional report) for display. Tibetan has no
word segmenter here: its syllables (particles dropped) help to group topics but are not shown,
since a syllable may be part of a word.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

from digest.stories.words import (
    CHINESE_SURNAMES,
    PERSON_TITLES,
    chinese_dictionary_words,
    is_number_word,
    simplified,
    term_stopwords,
)

__all__ = [
    "NAME_JOIN",
    "displayable",
    "surface_forms",
    "term_tokens",
    "term_words",
    "terms_version",
]

NAME_JOIN = "\u00a0"  # joins the words of a name in one term (stored terms are space-separated)
_MAX_NAME_WORDS = 4
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_TIBETAN = re.compile("[\u0f00-\u0fff]")
# Scripts without spaces that no segmenter here reads: no terms from them.
_UNSEGMENTED = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\uac00-\ud7af]")
_UNSPACED = re.compile(f"{_HAN.pattern}|{_TIBETAN.pattern}|{_UNSEGMENTED.pattern}")
# Languages whose capitals mark names (German capitalises every noun: not there).
_CAPITAL_NAMES = frozenset({"en", "fr", "es", "it", "pt", "ca", "id", "ms", "tr", "pl", "cs"})
# Words that end a name in English even when capitalised ("The", "Mr", "Monday"); the full
# stopword list holds "Li", "Great" and "New", which are parts of names.
_NAME_BREAKERS = frozenset(
    str.split(
        "the a an of in on at to for from by with and or but as is are was were be been has "
        "have had will would can could may might should must this that these those it its he "
        "she they we you i his her their our your my not no nor so if then than after before "
        "over under into about says said say says mr mrs ms dr prof sir st "
        "monday tuesday wednesday thursday friday saturday sunday january february march "
        "april june july august september october november december"
    )
)


# Combining marks of the scripts the feeds use (Python's \w leaves them out, and a Tibetan
# vowel sign or an Arabic diacritic would cut a word), and the zero-width (non-)joiner.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0963\u0966-\u0dff\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"
    "\u0f18\u0f19\u0f35\u0f37\u0f39\u0f3e\u0f3f\u0f71-\u0f84\u0f86\u0f87\u0f8d-\u0fbc"
    "\u102b-\u103e\u1ab0-\u1aff\u1dc0-\u1dff\u200c\u200d\u20d0-\u20ff\ufe20-\ufe2f"
)
_WORD = re.compile(f"(?:[^\\W_]|[{_MARKS}])+(?:['’-](?:[^\\W_]|[{_MARKS}])+)*")
_END = re.compile("[.!?。！？؟:;|\n\u0f0d\u0f0e]")


def _scan(text: str) -> Iterable[tuple[str, bool]]:
    """(word, starts a sentence) for each word, in order."""
    last = 0
    first = True
    for m in _WORD.finditer(text):
        starts = first or bool(_END.search(text, last, m.start()))
        first = False
        last = m.end()
        word = m.group().strip("\u200c\u200d")
        if word:
            yield word, starts


def _capitalised(word: str) -> bool:
    return word[:1].isupper()


def _title_case(words: Sequence[str]) -> bool:
    """Most longer words capitalised: a headline in Title Case says nothing about names."""
    longer = [w for w in words if len(w) > 3 and w[:1].isalpha()]
    return len(longer) >= 3 and sum(_capitalised(w) for w in longer) * 4 >= len(longer) * 3


def _stop(word: str, lang: str) -> bool:
    key = word.casefold()
    if key in term_stopwords(lang):
        return True
    return word.isascii() and key in term_stopwords("en")


@lru_cache(maxsize=200_000)
def _keep(word: str, lang: str) -> bool:
    if len(word) < 2 or _stop(word, lang) or word.casefold() in _NAME_BREAKERS:
        return False
    return not any(is_number_word(part) for part in word.split("-"))


@lru_cache(maxsize=200_000)
def _name_part(word: str, lang: str) -> bool:
    if not _capitalised(word) or is_number_word(word):
        return False
    key = word.casefold()
    if key in _NAME_BREAKERS:
        return False
    return lang == "en" or key not in term_stopwords(lang)


def _sentences(text: str) -> list[list[tuple[str, bool]]]:
    out: list[list[tuple[str, bool]]] = []
    for word, first in _scan(text):
        if first or not out:
            out.append([])
        out[-1].append((word, first))
    return out


def term_tokens(text: str, lang: str) -> list[str]:
    """The term keys of one text in its language: casefolded words, names joined whole,
    Chinese as dictionary words in Simplified characters; no stopwords or numbers."""
    text = unicodedata.normalize("NFKC", text)
    base = lang.split("-")[0].lower()
    names = base in _CAPITAL_NAMES
    out: list[str] = []
    for sentence in _sentences(text):
        titled = not names or _title_case([w for w, _ in sentence])
        name: list[str] = []
        for k, (word, _) in enumerate(sentence):
            if not word.isascii() and _UNSPACED.search(word):
                _flush(name, lang, out)
                out.extend(_unspaced(word, lang))
                continue
            # A name: capitalised words in a row, not stopwords, not in a Title Case line.
            nameish = not titled and len(name) < _MAX_NAME_WORDS and _name_part(word, lang)
            following = k + 1 < len(sentence) and _name_part(sentence[k + 1][0], lang)
            if nameish and (k > 0 or following):
                name.append(word)
                continue
            _flush(name, lang, out)
            if _keep(word, lang):
                out.append(word.casefold())
        _flush(name, lang, out)
    return out


def _flush(name: list[str], lang: str, out: list[str]) -> None:
    """Put the name being read into `out` (whole, or its words when it is only stopwords)."""
    if len(name) > 1 and any(_keep(w, lang) or w.isupper() for w in name):
        out.append(NAME_JOIN.join(w.casefold() for w in name))
    elif len(name) > 1:
        out.extend(w.casefold() for w in name if _keep(w, lang))
    elif name and _keep(name[0], lang):
        out.append(name[0].casefold())
    name.clear()


def _unspaced(word: str, lang: str) -> list[str]:
    """Terms of a token holding Chinese or Tibetan (or another unspaced script)."""
    out: list[str] = []
    if _HAN.search(word):
        run = simplified(word).casefold()
        zh_stops = term_stopwords("zh")
        for w in _with_names(chinese_dictionary_words(run)):
            if len(w) < 2 or w in zh_stops or is_number_word(w):
                continue
            if w.isascii() and not _keep(w, "en"):
                continue
            out.append(w)
        return out
    if _TIBETAN.search(word):
        bo_stops = term_stopwords("bo")
        syllables = re.split("[\u0f0b\u0f0c]", word)
        return [s for s in syllables if s and s not in bo_stops and not is_number_word(s)]
    return []


# Characters that follow a name rather than end it (张展 被判刑, 王某 在 北京).
_AFTER_NAME = frozenset("被在因说和与的等称已将于向对为是也都又遭获曾从把让给")


def _with_names(words: list[str]) -> list[str]:
    """Dictionary words with a person's name put back together: a surname after a word that
    introduces a person (律师 李 明远 -> 律师 李明远), with the one or two characters after it."""
    out: list[str] = []
    k = 0
    while k < len(words):
        word = words[k]
        introduced = bool(out) and out[-1].endswith(PERSON_TITLES)
        if introduced and len(word) == 1 and word in CHINESE_SURNAMES and k + 1 < len(words):
            given = words[k + 1]
            third = words[k + 2] if k + 2 < len(words) else ""
            if len(given) == 1 and len(third) == 1 and third not in _AFTER_NAME:
                given += third
            if 1 <= len(given) <= 2 and all(_HAN.match(ch) for ch in given):
                out.append(word + given)
                k += 1 + (1 if len(given) == len(words[k + 1]) else 2)
                continue
        out.append(word)
        k += 1
    return out


def term_words(term: str) -> list[str]:
    """The words of a term (a name's words, or the term itself)."""
    return term.split(NAME_JOIN)


def displayable(term: str) -> bool:
    """May this term be shown? Not a lone character, a number, or a Tibetan syllable."""
    if len(term) < 2 or is_number_word(term):
        return False
    return not _TIBETAN.search(term) and not _UNSEGMENTED.search(term)


def surface_forms(terms: Sequence[str], texts: Sequence[str]) -> list[str]:
    """Each term as the texts write it most often (case, Traditional characters); else as is."""
    out = []
    for term in terms:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_occurrences(term, text))
        out.append(counts.most_common(1)[0][0] if counts else term)
    return out


@lru_cache(maxsize=4096)
def _pattern(term: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in term_words(term)]
    body = r"\s+".join(words)
    if _HAN.search(term):
        return re.compile(body)
    if term.isascii():  # "BBC" in 英国BBC中文网 is a whole word: only Latin letters join it
        return re.compile(rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])", re.IGNORECASE)
    return re.compile(rf"(?<![\w\u200c]){body}(?![\w\u200c])", re.IGNORECASE)


def _occurrences(term: str, text: str) -> list[str]:
    original = unicodedata.normalize("NFKC", text)
    if not _HAN.search(term):
        return [NAME_JOIN.join(m.group().split()) for m in _pattern(term).finditer(original)]
    converted = simplified(original).casefold()
    if len(converted) != len(original):  # spans would not line up: the key as it is
        return [term] if term in converted else []
    return [original[m.start() : m.end()] for m in _pattern(term).finditer(converted)]


_PROBES = (
    ("Li Mingyuan, a VPN user, was detained; 62 two-thirds of accounts closed.", "en"),
    ("清朗行动关闭了62,400个自媒体账号，微信被封，習近平", "zh"),
    ("ئۇيغۇر ۋە بىر مىڭ خەۋەر", "ug"),
    ("می‌خواهد سانسور اینترنت", "fa"),
    ("བོད་ཀྱི་གནས་ཚུལ།", "bo"),
)


@lru_cache(maxsize=1)
def terms_version() -> str:
    """A fingerprint of what term_tokens makes of sample texts: changes when it changes."""
    return "|".join(" ".join(term_tokens(t, lang)) for t, lang in _PROBES)
