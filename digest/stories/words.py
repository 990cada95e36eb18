"""Words of a text in its own language: stems, stopwords, Chinese segmentation (pure, cached).

Spaced scripts are cut into words, stopwords dropped and the rest stemmed with the Snowball
stemmer of the text's language. Chinese is converted to Simplified (OpenCC) and segmented
with jieba, helped by a short dictionary of this field's words (网信办, 自媒体, 翻墙 ...) that
jieba's general dictionary cuts into pieces.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from digest.language import opencc_available, to_simplified

__all__ = [
    "FIELD_WORDS",
    "chinese_words",
    "simplified",
    "stem",
    "stopwords",
]

# Snowball algorithms by language code (PyStemmer's names).
_SNOWBALL = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german",
    "el": "greek", "en": "english", "es": "spanish", "et": "estonian", "eu": "basque",
    "fa": "persian", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi",
    "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian",
    "lt": "lithuanian", "nb": "norwegian", "ne": "nepali", "nl": "dutch", "no": "norwegian",
    "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip

# Words of this field that jieba's dictionary splits (自媒体 -> 自 / 媒体): kept whole.
FIELD_WORDS = (
    "网信办", "网信", "国家网信办", "自媒体", "清朗", "翻墙", "防火长城", "墙外", "敏感词",
    "删帖", "封号", "禁言", "屏蔽", "人脸识别", "刷脸", "实名制", "实名认证", "属地", "IP属地",
    "网警", "网络警察", "寻衅滋事", "颠覆国家政权", "煽动颠覆", "国安法", "维权", "维权人士",
    "异见人士", "公民记者", "防疫", "健康码", "微博", "微信", "抖音", "快手", "小红书",
    "哔哩哔哩", "知乎", "百度", "网民", "网友", "舆情", "维吾尔", "维吾尔族", "新疆", "西藏",
    "藏人", "法轮功", "六四", "天安门", "香港国安法", "再教育营", "监控", "天网工程", "数据泄露",
    "个人信息", "网络安全法", "数据安全法", "网络暴力", "网暴", "间谍软件", "VPN",
)  # fmt: skip


def stem(lang: str) -> Any:
    """The Snowball stemmer's `stemWord` for a language, or None when there is none."""
    return _stemmer(lang.split("-")[0].lower())


@lru_cache(maxsize=64)
def _stemmer(base: str) -> Any:
    algorithm = _SNOWBALL.get(base)
    if algorithm is None:
        return None
    try:
        import Stemmer
    except ImportError:  # PyStemmer missing: words are used unstemmed
        return None
    return Stemmer.Stemmer(algorithm).stemWord


# A short English list kept beside stopwords-iso's: the site language is English by default
# and translated text is English; news function words matter most there.
_ENGLISH_EXTRA = frozenset(
    [
        "said",
        "says",
        "say",
        "new",
        "according",
        "reported",
        "report",
        "reports",
        "told",
        "year",
        "years",
        "week",
        "day",
        "days",
        "also",
        "would",
        "could",
        "one",
        "two",
        "three",
        "first",
        "last",
    ]
)


@lru_cache(maxsize=64)
def stopwords(lang: str) -> frozenset[str]:
    """Stopwords of a language (stopwords-iso; the English list grows with news words)."""
    base = lang.split("-")[0].lower()
    words: set[str] = set()
    try:
        import stopwordsiso

        if stopwordsiso.has_lang(base):
            words = set(stopwordsiso.stopwords(base))
    except ImportError:
        words = set()
    if base in ("en", ""):
        words |= _ENGLISH_EXTRA
    return frozenset(w.casefold() for w in words)


def simplified(text: str) -> str:
    """Chinese text in Simplified characters (unchanged without OpenCC)."""
    return to_simplified(text) if opencc_available() else text


_jieba_lock = threading.Lock()
_tokenizer: Any = None


def _jieba() -> Any:
    """A jieba tokenizer with the field's words, built once (jieba's dictionary takes a second)."""
    global _tokenizer
    if _tokenizer is None:
        with _jieba_lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                # jieba caches its prefix dictionary in the temp folder: keep it out of
                # shared /tmp trouble by letting it pick, but quiet.
                tok.initialize()
                for word in FIELD_WORDS:
                    tok.add_word(word, freq=50_000)
                _tokenizer = tok
    return _tokenizer


def chinese_words(run: str) -> list[str]:
    """jieba's words of a run of Chinese characters (already Simplified and casefolded)."""
    return [w for w in _jieba().lcut(run, HMM=True) if w.strip()]


def field_words() -> Iterable[str]:
    """The field's words, for a user dictionary elsewhere."""
    return FIELD_WORDS


def jieba_dictionary() -> Path | None:
    """Where jieba's own dictionary lies (for checks of word-ness), None without jieba."""
    try:
        import jieba
    except ImportError:
        return None
    return Path(jieba.__file__).resolve().parent / "dict.txt"
