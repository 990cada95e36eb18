"""Words of a text in its own language: stems, stopwords, Chinese segmentation (pure, cached).

Spaced scripts are cut into words, stopwords dropped and the rest stemmed with the Snowball
stemmer of the text's language. Chinese is converted to Simplified (OpenCC) and segmented
with jieba, helped by a short dictionary of this field's words (网信办, 自媒体, 翻墙 ...) that
jieba's general dictionary cuts into pieces.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from digest.language import opencc_available, to_simplified

__all__ = [
    "CHINESE_SURNAMES",
    "FIELD_WORDS",
    "PERSON_TITLES",
    "chinese_dictionary_words",
    "chinese_words",
    "is_number_word",
    "simplified",
    "stem",
    "stopwords",
    "term_stopwords",
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


def _listed(words: str) -> list[str]:
    """The words of a space-separated list (long lists read better as one string)."""
    return words.split()


# Chinese news words that say nothing about a story (stopwords-iso's list is of function words).
_CHINESE_EXTRA = frozenset(
    _listed(
        "表示 进行 报道 记者 消息 目前 今天 昨天 日前 近日 当天 今年 去年 已经 正在 认为 指出 "
        "称 据 说 相关 有关 情况 问题 方面 工作 继续 开始 发生 出现 提供 通过 包括 表明 获得 "
        "需要 要求 希望 成为 没有 可能 一名 一位 一些 这些 那些 其中 之后 之前 以来 以及 还是 "
        "不是 就是 这是 可以 能够 因为 所以 但是 如果 虽然 他们 我们 你们 她们 自己 什么 怎么 "
        "这个 那个 这样 那样 来说 而言 人士 方式 时间 今日 本周 上周 本月 上月 日电 电讯 新闻 "
        "记者会 发布 宣布 透露 强调 提到 告诉 采访 文章 视频 图片 来源 全文 详情 更新 最新"
    )
)

# Short lists kept in the repository where stopwords-iso has none: Uyghur (Arabic script)
# and Tibetan. Function words, pronouns, copulas and the commonest auxiliaries.
_STOPWORDS_REPO = {
    "ug": frozenset(
        _listed(
            "ۋە ھەم ياكى بىلەن ئۈچۈن بىر بۇ ئۇ شۇ ئەنە مۇشۇ بۇنىڭ ئۇنىڭ شۇنىڭ ئۇلار بىز سىز مەن "
            "سەن ئۆز ئۆزى ئۆزىنىڭ بولۇپ بولغان بولىدۇ بولسا بولدى بولۇش بار يوق ئىدى ئىكەن دەپ "
            "دېدى دەيدۇ قىلىپ قىلغان قىلىدۇ قىلدى قىلىش ئەمەس ئەڭ يەنە ھەتتا پەقەت ھەممە ھەر "
            "بارلىق كېيىن ئىلگىرى ئالدىدا ھازىر نۆۋەتتە تېخى ئارقىلىق توغرىسىدا ھەققىدە "
            "دائىر قارىتا بويىچە ئارىسىدا ئىچىدە ئۈستىدە ئاستىدا تەرىپىدىن تەرىپىدە يېقىندا "
            "مۇمكىن كېرەك لازىم چۈنكى ئەگەر لېكىن ئەمما بىراق شۇڭا شۇنداق مۇنداق قانداق نېمە "
            "كىم قەيەردە قاچان نەچچە قايسى ئىبارەت ھېچ بەزى كۆپ ئاز"
        )
    ),
    "bo": frozenset(
        _listed(
            "གི ཀྱི གྱི འི ཡི གིས ཀྱིས གྱིས ཡིས ས ལ ན ར རུ སུ ཏུ དུ ཏེ དེ སྟེ ནས ལས དང ནི ཡང "
            "འང ཀྱང ཡིན རེད འདུག ཡོད མ མི མིན མེད བྱས བྱེད བྱ གྱུར སོང པ པོ བ བོ མ མོ "
            "དེ འདི དེའི འདིའི དེ་ཚོ འདི་ཚོ ཚོ རྣམས སོགས ཅིག ཞིག ཤིག གཅིག ཙམ ཡོང ཐུབ "
            "ཀྱི་ཡོད ཡོད་པ རེད་པ ལ་ཡང གང ཅི ག་རེ སུ ཇི ལྟར ཕྱིར ཆེད ཁོ ཁོང ང ངེད ཁྱེད"
        )
    ),
}


@lru_cache(maxsize=64)
def stopwords(lang: str) -> frozenset[str]:
    """Stopwords of a language for similarity (stopwords-iso; the English list grows with
    news words). The same-story model was fitted with these: change them with it."""
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


# Common Chinese surnames and the words that introduce a person in news (律师李明远): a surname
# after one of these starts a name that jieba's dictionary does not know and would cut
# (李 / 明远).
CHINESE_SURNAMES = frozenset(
    "李王张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋"
    "蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万"
    "段雷钱汤尹黎易常武乔贺赖龚文艾习胡温朴游郁"
)
PERSON_TITLES = (
    "律师", "记者", "人士", "博主", "作家", "教授", "学者", "牧师", "主席", "总统", "总理",
    "部长", "书记", "网民", "网友", "学生", "艺术家", "公民", "法官", "警官", "维权者",
    "异见者", "活动家", "导演", "歌手", "演员", "画家", "诗人", "医生", "工程师", "商人",
)  # fmt: skip


@lru_cache(maxsize=64)
def term_stopwords(lang: str) -> frozenset[str]:
    """Words never shown as terms: stopwords() of the language, the short lists kept here
    where stopwords-iso has none (Uyghur, Tibetan), and Chinese news words."""
    base = lang.split("-")[0].lower()
    words = set(stopwords(base)) | set(_STOPWORDS_REPO.get(base, ()))
    if base == "zh":
        words |= _CHINESE_EXTRA
    return frozenset(w.casefold() for w in words)


# Number words: counts are not terms. Digits of every script are caught by isnumeric();
# Chinese numerals are too (unicodedata gives 五 the value 5), so only the spelled-out words
# of spaced languages need lists.
_NUMBER_WORDS = frozenset(
    _listed(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
        "eighty ninety hundred hundreds thousand thousands million millions billion billions "
        "trillion dozen dozens first second third fourth fifth sixth seventh eighth ninth tenth "
        "half once twice "
        # Persian
        "یک دو سه چهار پنج شش هفت هشت نه ده صد هزار میلیون میلیارد اول دوم سوم "
        # Uyghur
        "بىر ئىككى ئۈچ تۆت بەش ئالتە يەتتە سەككىز توققۇز ئون يىگىرمە ئوتتۇز يۈز مىڭ مىليون "
        "مىليارد بىرىنچى ئىككىنچى "
        # Tibetan
        "གཅིག གཉིས གསུམ བཞི ལྔ དྲུག བདུན བརྒྱད དགུ བཅུ བརྒྱ སྟོང ཁྲི འབུམ"
    )
)
# Chinese characters that make a number with numerals (两 "two", 第 "-th", 几 "a few", ...)
# and the measure words that follow one (三名, 两个, 十余家).
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th|s)")
_CHINESE_NUMBER_PARTS = frozenset("零〇两第几多余半数")
_CHINESE_MEASURES = frozenset("个名人位次年月日号岁条件起家项所座部天周期批层届点")


@lru_cache(maxsize=200_000)
def is_number_word(word: str) -> bool:
    """Is this word a number (62, ۱۲, 十万, 第一, 两个, seven, یک)?"""
    if not word:
        return False
    if word.casefold() in _NUMBER_WORDS:
        return True
    if not any(ch.isalpha() for ch in word):
        return True  # 62, 2024, ۱۴۰۳ (no letters: nothing but a number)
    if _ORDINAL.fullmatch(word.casefold()):
        return True  # 1st, 10th, 90s; 5G, H5N1 and G7 are names
    numeric = [ch.isnumeric() or ch in _CHINESE_NUMBER_PARTS for ch in word]
    if all(numeric):
        return True
    # A numeral run followed by measure words: 三名, 两个, 十余家, 第三次.
    k = 0
    while k < len(word) and numeric[k]:
        k += 1
    return k > 0 and all(ch in _CHINESE_MEASURES for ch in word[k:])


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


def chinese_dictionary_words(run: str) -> list[str]:
    """Dictionary words only (no HMM guesses) of a run of Simplified Chinese: what may be shown.

    jieba's HMM joins unknown characters into "words" that are often fragments (习近 and 近平
    of one name); the dictionary and the field's words never cut a word it knows.
    """
    return [w for w in _jieba().lcut(run, HMM=False) if w.strip()]


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
