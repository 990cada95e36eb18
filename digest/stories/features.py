"""Text features for the same-story decision: tokens per script, TF-IDF (pure, no I/O).

Spaced scripts give word tokens (an English stoplist, plural folding for English); scripts
written without spaces (Chinese, Japanese, Thai ...) give character 1-3-grams.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np

from digest.stories.terms import terms_version
from digest.stories.words import chinese_words, simplified, stem, stopwords

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
# Pieces of a \w+ token between CJK runs ("VPN" in "VPN被封"); "_" joins nothing.
_WORD_PART = re.compile(r"[^\W_]+")
HAN_CHAR = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
LETTER = re.compile(r"[^\W\d_]")
# "62,000" and "62.000" are one number, not "62" and "000".
_THOUSANDS = re.compile(r"(?<=\d)[,.](?=\d{3}(?!\d))")


@dataclass(frozen=True)
class ClusterDoc:
    """One document to cluster: its text, languages, date, feeds, vector and headline names."""

    id: str
    text: str  # title + summary in the site language (translated), else the original
    lang: str  # language of `text` ('en', 'zh', ...): CJK text needs character n-grams
    published: datetime  # UTC
    feed_ids: tuple[str, ...] = ()
    source_lang: str = ""  # the report's own language (same- or cross-language pairs); "" = lang
    names: frozenset[str] = frozenset()  # rare names of its headline(s) (names.py)
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def language(self) -> str:
        """The base code of the report's own language ("zh" for zh-Hant)."""
        return (self.source_lang or self.lang).split("-")[0].lower()


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


def _char_ngrams(run: str) -> Iterable[str]:
    # Unigrams help on Chinese (measured: SemEval zh-zh AUC 0.996 with 1-3 vs 0.990 with 2-3);
    # their IDF keeps function characters such as 的 quiet.
    for n in (1, 2, 3):
        for i in range(len(run) - n + 1):
            yield run[i : i + n]


def features(text: str, lang: str) -> list[str]:
    """Tokens of one document: stemmed words outside CJK-like runs; inside them character
    1-3-grams and, for Chinese (made Simplified first), jieba's words marked `w:`."""
    normalized = normalize_text(text)
    stops = stopwords(lang)
    stemmer = stem(lang)
    if not CONTINUOUS_CHAR.search(normalized):
        # The common case, spaced scripts only: no per-token search for CJK runs.
        return _plain_words(_WORD.findall(normalized), stops, stemmer)
    if HAN_CHAR.search(normalized):
        normalized = simplified(normalized)
    out: list[str] = []
    words: list[str] = []
    chinese_stops = stopwords("zh")
    for match in _WORD.finditer(normalized):
        token = match.group()
        pos = 0
        for run in CONTINUOUS_RUN.finditer(token):
            text_run = run.group()
            out.extend(_char_ngrams(text_run))
            if HAN_CHAR.search(text_run):
                out.extend(
                    "w:" + w
                    for w in chinese_words(text_run)
                    if len(w) > 1 and w not in chinese_stops
                )
            words.extend(_plain_words(_WORD_PART.findall(token[pos : run.start()]), stops, stemmer))
            pos = run.end()
        words.extend(_plain_words(_WORD_PART.findall(token[pos:]), stops, stemmer))
    # Word pairs were measured too: they lowered en-en AUC (0.949 vs 0.958), so unigrams only.
    out.extend(words)
    return out


def _plain_words(found: Iterable[str], stops: frozenset[str], stemmer: Any) -> list[str]:
    words = []
    for word in found:
        if len(word) < 2 or word in stops:
            continue
        words.append(stemmer(word) if stemmer is not None else word)
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
    digest = hashlib.sha1(terms_version().encode())  # stored key-term tokens too
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
