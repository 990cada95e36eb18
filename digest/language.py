"""Language codes, scripts, detection, direction and names: one place for every stage.

Detection looks at the script first (Han, kana, Hangul, Tibetan decide by themselves) and asks
py3langid only among the languages the script allows.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

from digest.text import plain

__all__ = [
    "DETECT_CAP",
    "RTL_LANGS",
    "UNDETERMINED",
    "chinese_variant",
    "detect_language",
    "fits_script",
    "lang_tag",
    "language_name",
    "normalize_language",
    "opencc_available",
    "opencc_convert",
    "text_direction",
    "to_simplified",
]

UNDETERMINED = "und"
# Detection reads at most this much of a text.
DETECT_CAP = 2_000

RTL_LANGS = frozenset({"ar", "fa", "he", "ug", "ur", "ps", "ku", "ckb", "yi", "dv", "sd"})
_LANG_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,4}")


def text_direction(lang: str) -> str:
    """'rtl' for right-to-left languages, else 'ltr'."""
    return "rtl" if lang.split("-")[0].lower() in RTL_LANGS else "ltr"


def lang_tag(lang: str | None) -> str:
    """The code for a lang="" attribute: well-formed BCP 47-ish tags only, else 'und'."""
    if lang and _LANG_TAG.fullmatch(lang):
        return lang
    return "und"


_LANGUAGE_NAMES = {
    "ar": "Arabic", "bo": "Tibetan", "de": "German", "en": "English", "es": "Spanish",
    "fa": "Persian", "fr": "French", "it": "Italian", "ja": "Japanese", "kk": "Kazakh",
    "km": "Khmer", "ko": "Korean", "lo": "Lao", "my": "Burmese", "pl": "Polish",
    "ps": "Pashto", "pt": "Portuguese", "ru": "Russian", "th": "Thai", "tr": "Turkish",
    "ug": "Uyghur", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "yue": "Cantonese",
    "zh": "Chinese",
}  # fmt: skip


def language_name(code: str) -> str:
    """The English name of a language code's base ('zh-Hant' -> 'Chinese'), else the code."""
    base = code.split("-")[0].lower()
    return _LANGUAGE_NAMES.get(base, base or "unknown")


_LEGACY = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro"}
_THREE_LETTER = {
    "eng": "en", "zho": "zh", "chi": "zh", "cmn": "zh", "fas": "fa", "per": "fa",
    "uig": "ug", "bod": "bo", "tib": "bo", "ara": "ar", "urd": "ur", "rus": "ru",
    "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es", "jpn": "ja",
    "kor": "ko", "vie": "vi", "pus": "ps", "kaz": "kk", "uzb": "uz", "mya": "my",
    "bur": "my", "khm": "km", "lao": "lo", "tha": "th", "tur": "tr", "por": "pt",
}  # fmt: skip
_NAMES = {
    "english": "en", "chinese": "zh", "mandarin": "zh", "cantonese": "yue",
    "persian": "fa", "farsi": "fa", "uyghur": "ug", "uighur": "ug", "tibetan": "bo",
    "arabic": "ar", "urdu": "ur", "russian": "ru", "french": "fr", "spanish": "es",
    "german": "de", "japanese": "ja", "korean": "ko", "vietnamese": "vi",
}  # fmt: skip
_TRAD_SUBTAGS = frozenset({"hant", "tw", "hk", "mo"})
_NO_LANGUAGE = frozenset({"und", "mul", "zxx", "mis"})
_PRIMARY_RE = re.compile(r"^[a-z]{2,3}$")


def normalize_language(code: str | None) -> str | None:
    """A BCP 47-ish code: en-US -> en, zh-CN/zh-Hans -> zh, zh-TW/zh-HK/zh-Hant -> zh-Hant."""
    if not code or not isinstance(code, str):
        return None
    s = code.strip().replace("_", "-").lower()[:40]
    if s in _NAMES:
        return _NAMES[s]
    parts = [p for p in s.split("-") if p]
    if not parts:
        return None
    primary = parts[0]
    primary = _THREE_LETTER.get(primary, _LEGACY.get(primary, primary))
    if not _PRIMARY_RE.match(primary) or primary in _NO_LANGUAGE:
        return None
    if primary == "zt":  # argostranslate's code for Traditional Chinese
        return "zh-Hant"
    if primary == "zh":
        return "zh-Hant" if _TRAD_SUBTAGS.intersection(parts[1:]) else "zh"
    return primary


# Script of a character, by block. Only the scripts the rules below need.
_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "Latin"), (0x0061, 0x007A, "Latin"), (0x00C0, 0x024F, "Latin"),
    (0x1E00, 0x1EFF, "Latin"),
    (0x0400, 0x052F, "Cyrillic"),
    (0x0600, 0x06FF, "Arabic"), (0x0750, 0x077F, "Arabic"), (0x08A0, 0x08FF, "Arabic"),
    (0xFB50, 0xFDFF, "Arabic"), (0xFE70, 0xFEFE, "Arabic"),
    (0x0F00, 0x0FFF, "Tibetan"),
    (0x1100, 0x11FF, "Hangul"), (0x3130, 0x318F, "Hangul"), (0xAC00, 0xD7AF, "Hangul"),
    (0x3040, 0x309F, "Kana"), (0x30A0, 0x30FF, "Kana"), (0x31F0, 0x31FF, "Kana"),
    (0xFF66, 0xFF9F, "Kana"),
    (0x3400, 0x4DBF, "Han"), (0x4E00, 0x9FFF, "Han"), (0xF900, 0xFAFF, "Han"),
    (0x20000, 0x3134F, "Han"),
)  # fmt: skip

# A CJK character carries about as much as a short word: weigh it against letters.
_CJK_WEIGHT = 3
_CJK = frozenset({"Han", "Kana", "Hangul"})


@lru_cache(maxsize=1 << 16)
def _char_script(ch: str) -> str | None:
    cp = ord(ch)
    for lo, hi, name in _SCRIPT_RANGES:
        if lo <= cp <= hi:
            return name
    return "Other" if ch.isalpha() else None


_ASCII_LETTER_RE = re.compile(r"[A-Za-z]")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")


def _script_counts(text: str) -> dict[str, int]:
    """Letters per script; ASCII letters are Latin, counted in C (most text is mostly ASCII)."""
    counts: dict[str, int] = {}
    latin = len(_ASCII_LETTER_RE.findall(text))
    if latin:
        counts["Latin"] = latin
    if text.isascii():
        return counts
    for ch in _NON_ASCII_RE.findall(text):
        script = _char_script(ch)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    return counts


def _dominant_script(counts: dict[str, int]) -> tuple[str | None, int]:
    """The script with the most weight, and the total weight."""
    weights = {s: n * (_CJK_WEIGHT if s in _CJK else 1) for s, n in counts.items()}
    total = sum(weights.values())
    if not total:
        return None, 0
    # Japanese mixes kana with Han: any real share of kana makes it Japanese.
    kana, han = counts.get("Kana", 0), counts.get("Han", 0)
    cjk_share = (weights.get("Kana", 0) + weights.get("Han", 0)) * 2 >= total
    if kana and kana * 20 >= kana + han and cjk_share:
        return "Kana", total
    return max(weights, key=lambda s: weights[s]), total


# Characters that differ between Simplified and Traditional Chinese, pairwise.
_SIMPLIFIED = frozenset(
    "个们这来为说国会时与对从过还后见进长开关问题学经发当现实体无点动应将于东车马鱼书门电气华"
    "湾区权议让军认观报记网络总统选举业声广产党亚万条员办务际间样机构众听视讯审监维护删币难脸紧爱乐并"
)
_TRADITIONAL = frozenset(
    "個們這來為說國會時與對從過還後見進長開關問題學經發當現實體無點動應將於東車馬魚書門電氣華"
    "灣區權議讓軍認觀報記網絡總統選舉業聲廣產黨亞萬條員辦務際間樣機構眾聽視訊審監維護刪幣難臉緊愛樂並"
)


def chinese_variant(text: str) -> str:
    trad = sum(1 for ch in text if ch in _TRADITIONAL)
    simp = sum(1 for ch in text if ch in _SIMPLIFIED)
    return "zh-Hant" if trad > simp else "zh"


_ARABIC_SCRIPT_LANGS = ("ug", "fa", "ar", "ur")
_LANGID_ALIASES = {"ary": "ar", "arz": "ar", "uzs": "uz", "no": "nb"}
_MIN_CONFIDENCE = 0.5
_MIN_WEIGHT = 4

_identifier: Any = None
_identifier_lock = threading.Lock()


def _langid() -> Any:
    """py3langid's identifier, loaded once on first use (loading takes most of a second)."""
    global _identifier
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def detect_language(text: str) -> str | None:
    """The language of a text from its script and py3langid (model in the wheel); None if unsure."""
    if not text:
        return None
    text = plain(text[:DETECT_CAP])
    counts = _script_counts(text)
    script, total = _dominant_script(counts)
    if script is None or total < _MIN_WEIGHT:
        return None
    if script == "Tibetan":
        return "bo"
    if script == "Kana":
        return "ja"
    if script == "Hangul":
        return "ko"
    if script == "Han":
        return chinese_variant(text)
    ranked: list[tuple[str, float]] = _langid().rank(text)
    if script == "Arabic":
        # The script already says it is one of these: let the model choose among them only.
        candidates = [(lang, p) for lang, p in ranked if lang in _ARABIC_SCRIPT_LANGS]
        return max(candidates, key=lambda lp: lp[1])[0] if candidates else None
    lang, prob = ranked[0]
    if prob < _MIN_CONFIDENCE:
        return None
    lang = _LANGID_ALIASES.get(lang, lang)
    return None if lang in _NO_LANGUAGE else normalize_language(lang)


# Which declared languages a dominant script can belong to; a declaration that does not
# fit (a WordPress default of en-US over Chinese text) loses to detection.
_SCRIPT_LANGS = {
    "Han": frozenset({"zh", "ja", "yue", "wuu", "gan", "hak", "nan", "lzh", "ko"}),
    "Kana": frozenset({"ja"}),
    "Hangul": frozenset({"ko"}),
    "Tibetan": frozenset({"bo", "dz", "sa"}),
    "Arabic": frozenset(
        {"ar", "fa", "ug", "ur", "ps", "ku", "ckb", "sd", "ks", "prs", "bal", "az", "uz"}
        | {"ms", "pa", "ha", "kk", "ky", "tk", "sdh"}
    ),
}
_NON_LATIN_ONLY = frozenset({"zh", "ja", "ko", "bo", "ar", "fa", "ur", "ps", "my", "km", "th"})


def fits_script(lang: str, text: str) -> bool:
    """False when the text is clearly written in a script the language does not use."""
    script, total = _dominant_script(_script_counts(text[:DETECT_CAP]))
    if script is None or total < 8:
        return True
    base = lang.split("-")[0]
    if script in _SCRIPT_LANGS:
        return base in _SCRIPT_LANGS[script]
    if script == "Latin":
        return base not in _NON_LATIN_ONLY
    return True


# ---------------------------------------------------------------- Traditional and Simplified

_CONVERTERS: dict[str, Any] = {}


def opencc_available() -> bool:
    """Is OpenCC (the `opencc` package) installed? Without it zh-Hant goes to zh as it is."""
    try:
        opencc_convert("t2s")
    except ImportError:
        return False
    return True


def opencc_convert(config: str) -> Any:
    """A cached OpenCC converter's convert function, e.g. for 't2s' (ImportError if absent)."""
    convert = _CONVERTERS.get(config)
    if convert is None:
        import opencc

        converter = opencc.OpenCC(f"{config}.json")
        convert = _CONVERTERS[config] = converter.convert
    return convert


def to_simplified(text: str) -> str:
    """Traditional Chinese text converted to Simplified with OpenCC (t2s)."""
    return str(opencc_convert("t2s")(text))
