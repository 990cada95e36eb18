"""Text features for the same-story decision: tokens per script, TF-IDF (pure, no I/O).

Spaced scripts give word tokens (an English stoplist, plural folding for English); scripts
written without spaces (Chinese, Japanese, Thai ...) give character 1-3-grams.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np

__all__ = [
    "CONTINUOUS_CHAR",
    "LETTER",
    "ClusterDoc",
    "Features",
    "doc_tokens",
    "feature_source_hash",
    "features",
    "is_continuous_text",
    "normalize_text",
    "tfidf",
    "tokenizer_version",
    "utc_seconds",
]

# Scripts written without spaces between words: word tokens mean nothing there, so their
# text is cut into character n-grams instead.
_CONTINUOUS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0002fa1f"  # CJK extensions B-F, compatibility supplement
)
CONTINUOUS_RUN = re.compile(f"[{_CONTINUOUS}]+")
CONTINUOUS_CHAR = re.compile(f"[{_CONTINUOUS}]")
_WORD = re.compile(r"\w+")
LETTER = re.compile(r"[^\W\d_]")
# "62,000" and "62.000" are one number, not "62" and "000".
_THOUSANDS = re.compile(r"(?<=\d)[,.](?=\d{3}(?!\d))")

# A short English list: the site language is English by default and translated text is
# English; other languages' function words get a low IDF anyway.
_STOPWORD_TEXT = """
    a about after again against all also an and any are as at be been before being between
    both but by can could did do does doing down during each few for from further had has have
    having he her here hers him his how i if in into is it its itself just me more most my no
    nor not now of off on once only or other our ours out over own same she should so some such
    than that the their theirs them then there these they this those through to too under until
    up very was we were what when where which while who whom why will with would you your
    said says say new according reported report reports told year years week day days
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class ClusterDoc:
    """One document to cluster: its id, comparable text, language, date and source feeds."""

    id: str
    text: str  # title + summary in the site language (translated), else the original
    lang: str  # language of `text` ('en', 'zh', ...): CJK text needs character n-grams
    published: datetime  # UTC
    feed_ids: tuple[str, ...] = ()


def normalize_text(text: str) -> str:
    """NFKC and casefolded text, thousands separators dropped: what tokens and keywords see."""
    # NFKC folds full-width Latin and digits, casefold makes matching case-insensitive.
    return _THOUSANDS.sub("", unicodedata.normalize("NFKC", text).casefold())


def is_continuous_text(text: str) -> bool:
    """True when most letters of the text belong to scripts written without spaces."""
    letters = len(LETTER.findall(text))
    if letters == 0:
        return False
    return len(CONTINUOUS_CHAR.findall(text)) * 2 >= letters


def _stem_en(word: str) -> str:
    # Plural folding only: enough to join "account"/"accounts" without a stemmer
    # dependency, and rarely wrong enough to join unrelated words.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _char_ngrams(run: str) -> Iterable[str]:
    # Unigrams help on Chinese (measured: SemEval zh-zh AUC 0.996 with 1-3 vs 0.990 with 2-3);
    # their IDF keeps function characters such as 的 quiet.
    for n in (1, 2, 3):
        for i in range(len(run) - n + 1):
            yield run[i : i + n]


def features(text: str, lang: str) -> list[str]:
    """Tokens of one document: words outside CJK-like runs, character 1-3-grams inside."""
    english = lang.split("-")[0].lower() in ("en", "")
    normalized = normalize_text(text)
    if not CONTINUOUS_CHAR.search(normalized):
        # The common case, spaced scripts only: no per-token search for CJK runs.
        return _plain_words("_".join(_WORD.findall(normalized)), english)
    out: list[str] = []
    words: list[str] = []
    for match in _WORD.finditer(normalized):
        token = match.group()
        pos = 0
        for run in CONTINUOUS_RUN.finditer(token):
            out.extend(_char_ngrams(run.group()))
            words.extend(_plain_words(token[pos : run.start()], english))
            pos = run.end()
        words.extend(_plain_words(token[pos:], english))
    # Word pairs were measured too: they lowered en-en AUC (0.949 vs 0.958), so unigrams only.
    out.extend(words)
    return out


def _plain_words(chunk: str, english: bool) -> list[str]:
    words = []
    for word in chunk.split("_"):
        if len(word) < 2 or word in _STOPWORDS:
            continue
        words.append(_stem_en(word) if english else word)
    return words


def tfidf(token_lists: Sequence[list[str]]) -> object:
    """L2-normalised sublinear TF-IDF matrix (CSR) of pre-tokenised documents."""
    # scikit-learn is slow to import: only the clustering pays for it.
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, norm="l2", dtype=np.float64)
    return vectorizer.fit_transform(token_lists)


def _identity(tokens: list[str]) -> list[str]:
    return tokens


# Known features per doc id: (text in a continuous script, _features tokens), as computed
# from the doc's text and language (digest.stories.assign keeps them in the store between runs).
Features = Mapping[str, tuple[bool, list[str]]]

_PROBES = (
    ("Residents' Faces scanned: 62,000 accounts closed, says the Cyberspace body.", "en"),
    ("Zensur im Netz: 62.000 Konten gesperrt", "de"),
    ("清朗行动关闭了62,400个自媒体账号 and Ｆｕｌｌ-width", "zh"),
    ("ข่าวสิทธิดิจิทัล 한국어 뉴스 日本語のニュース", "und"),
)


@lru_cache(maxsize=1)
def tokenizer_version() -> str:
    """A fingerprint of what the tokeniser makes of sample texts: changes when it changes."""
    digest = hashlib.sha1()
    for text, lang in _PROBES:
        for code in (lang, "und"):
            digest.update("\x1f".join(features(text, code)).encode() + b"\0")
        digest.update(b"1" if is_continuous_text(text) else b"0")
    return digest.hexdigest()[:12]


def feature_source_hash(text: str, lang: str) -> str:
    """What stored tokens of a text depend on: the tokeniser, the language and the text."""
    key = f"{tokenizer_version()}\0{lang}\0{text}"
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()


def doc_tokens(doc: ClusterDoc, known: Features | None) -> tuple[bool, list[str]]:
    """(written without spaces, tokens) of a doc: from `known` when there, else computed."""
    if known is not None and doc.id in known:
        return known[doc.id]
    return is_continuous_text(doc.text), features(doc.text, doc.lang)


def utc_seconds(when: datetime) -> float:
    """Unix seconds of a datetime; a naive one is taken as UTC, never as local time."""
    # A naive datetime is taken as UTC, never as the machine's local time.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
