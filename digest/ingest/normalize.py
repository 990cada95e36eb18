"""Clean raw entries into items: plain text, language, canonical URL, content hash, dates."""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from digest.ingest.sanitize import html_to_text, safe_url, sanitize_html
from digest.records import FeedConfig, Item, ParsedFeed, RawEntry

SUMMARY_MAX = 600
TITLE_MAX = 500
AUTHOR_MAX = 200
GUID_MAX = 512
UNDETERMINED = "und"

# Hostile feeds send megabytes in a field: bound the work before cleaning.
_RAW_TEXT_CAP = 20_000
_RAW_SUMMARY_CAP = 100_000
_RAW_CONTENT_CAP = 2_000_000
_DETECT_CAP = 2_000

MIN_YEAR = 1990
FUTURE_SLACK = timedelta(days=1)

# ---------------------------------------------------------------- plain text

# Bidi controls, zero-width and other invisible format characters, C0/C1 controls (tab,
# newline and CR are whitespace and collapse below), lone surrogates and noncharacters.
# ZWNJ/ZWJ (U+200C/D) stay: Persian and Indic spelling and emoji sequences need them.
_JUNK_RE = re.compile(
    "[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c"
    "\u200b\u2060-\u2064\ufeff\u180e\u00ad\ufff9-\ufffb"
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\ud800-\udfff\ufffe\uffff]"
)
_WS_RE = re.compile(r"\s+")


def _strip_junk(text: str) -> str:
    """NFC, invisible and control characters removed, whitespace collapsed."""
    text = unicodedata.normalize("NFC", _JUNK_RE.sub("", text))
    return _WS_RE.sub(" ", text).strip()


def clean_text(text: str) -> str:
    """Plain text: no markup, entities decoded, bidi controls/zero-width chars stripped, whitespace collapsed."""  # noqa: E501
    if not text:
        return ""
    return _strip_junk(html_to_text(text))


# Sentence ends (Latin, CJK, Arabic, Devanagari, Tibetan shad) and word separators
# (space, Tibetan tsheg).
_SENTENCE_END = ".!?。！？؟۔।།"
_WORD_SEP = " \u0f0b"


def cut_text(text: str, limit: int) -> str:
    """Cut text to at most `limit` chars at a sentence or word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    window = text[: limit - 1]
    for i in range(len(window) - 2, limit // 2, -1):
        if window[i] in _SENTENCE_END and not text[i + 1].isalnum():
            # a whole sentence ends here: keep its stop, mark what follows as cut
            return text[: i + 1] + (" …" if window[i].isascii() else "…")
    cut = max(window.rfind(c) for c in _WORD_SEP)
    if cut <= limit * 2 // 3:
        # no word boundary near the end (CJK, one long token): cut anywhere, but never
        # split a base character from its combining marks (Tibetan stacks, Arabic harakat)
        cut = len(window)
        while cut > 1 and unicodedata.category(text[cut])[0] == "M":
            cut -= 1
    return text[:cut].rstrip(" ,;:、，\u0f0b") + "…"


# ---------------------------------------------------------------- languages

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
    """BCP 47-ish code: 'en-US'->'en', 'zh-CN'/'zh-Hans'->'zh', 'zh-TW'/'zh-HK'/'zh-Hant'->'zh-Hant', 'UG'->'ug'."""  # noqa: E501
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


def _char_script(ch: str) -> str | None:
    cp = ord(ch)
    for lo, hi, name in _SCRIPT_RANGES:
        if lo <= cp <= hi:
            return name
    return "Other" if ch.isalpha() else None


def _script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isascii() and not ch.isalpha():
            continue
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


def _chinese_variant(text: str) -> str:
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
    """Language of a text from its script and py3langid (model ships in the wheel); None if unsure."""  # noqa: E501
    if not text:
        return None
    text = _strip_junk(text[:_DETECT_CAP])
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
        return _chinese_variant(text)
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


def _fits_script(lang: str, text: str) -> bool:
    """False when the text is clearly written in a script the language does not use."""
    script, total = _dominant_script(_script_counts(text[:_DETECT_CAP]))
    if script is None or total < 8:
        return True
    base = lang.split("-")[0]
    if script in _SCRIPT_LANGS:
        return base in _SCRIPT_LANGS[script]
    if script == "Latin":
        return base not in _NON_LATIN_ONLY
    return True


def _choose_language(feed: FeedConfig, entry: RawEntry, parsed: ParsedFeed, text: str) -> str:
    """Config > entry > channel > detection; a declaration contradicted by the script loses."""
    configured = normalize_language(feed.language)
    if configured:
        return configured
    detected: str | None = None
    detected_done = False
    for raw in (entry.language, parsed.language):
        declared = normalize_language(raw)
        if not declared:
            continue
        if not _fits_script(declared, text):
            detected = detect_language(text)
            detected_done = True
            if detected:
                return detected
            continue
        if declared == "zh" and raw is not None and "-" not in raw.strip().replace("_", "-"):
            # a bare "zh" does not say which script: the text can
            return _chinese_variant(text)
        return declared
    if not detected_done:
        detected = detect_language(text)
    return detected or UNDETERMINED


# ---------------------------------------------------------------- URLs and keys

_TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_", "hsa_", "_hs", "__hs", "oly_", "vero_")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "igshid", "li_fat_id", "mc_cid", "mc_eid", "_ga", "_gl",
        "ocid", "cmpid", "ncid", "sr_share", "spm", "mkt_tok", "s_cid", "wt_mc", "wt.mc_id",
        "ref_src", "ref_url", "rb_clickid", "srsltid",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")


def _normalize_escapes(part: str, safe: str) -> str:
    """Percent-encode what must be, upper-case escapes, decode escaped unreserved chars."""
    part = quote(part, safe=safe + "%")

    def fix(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    return _PCT_RE.sub(fix, part)


def _is_tracking(name: str) -> bool:
    key = unquote(name).strip().lower()
    return key in _TRACKING_NAMES or key.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Lower-case scheme/host, drop fragment, default ports and tracking params (utm_*, fbclid, gclid, ...), sort query."""  # noqa: E501
    if not url:
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.rstrip(".")  # urlsplit lower-cases it
    with contextlib.suppress(UnicodeError, ValueError):
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _normalize_escapes(parts.path or "/", safe="/:@!$&'()*+,;=")
    pairs = [p for p in parts.query.split("&") if p and not _is_tracking(p.split("=", 1)[0])]
    query = "&".join(sorted(_normalize_escapes(p, safe="/?:@!$&'()*+,;=") for p in pairs))
    return urlunsplit((scheme, netloc, path, query, ""))


_KEY_STRIP_RE = re.compile(r"[\W_]+")


def content_key(title: str, summary: str) -> str:
    """Hash of the normalised title + summary, for spotting one article on mirror hosts."""

    def norm(s: str) -> str:
        return _KEY_STRIP_RE.sub("", unicodedata.normalize("NFKC", _strip_junk(s)).casefold())

    data = f"{norm(title)}\x1f{norm(summary)}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


# ---------------------------------------------------------------- entries


def _clean_guid(guid: str | None) -> str:
    if not guid or not isinstance(guid, str):
        return ""
    guid = _strip_junk(guid)
    if len(guid) > GUID_MAX:
        # still stable, but bounded in size
        return "sha256:" + hashlib.sha256(guid.encode("utf-8", "surrogatepass")).hexdigest()
    return guid


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def plausible_date(value: datetime | None, now: datetime) -> datetime | None:
    """The date in UTC, or None when it is before 1990 or more than a day ahead of now."""
    if value is None:
        return None
    try:
        value = _as_utc(value)
    except (OverflowError, ValueError):
        return None
    if value.year < MIN_YEAR or value > _as_utc(now) + FUTURE_SLACK:
        return None
    return value


def normalize_entry(
    entry: RawEntry, feed: FeedConfig, parsed: ParsedFeed, now: datetime
) -> Item | None:
    """Clean one entry; None when it has neither a title, a summary nor a link."""
    title = cut_text(clean_text((entry.title or "")[:_RAW_TEXT_CAP]), TITLE_MAX)
    summary_src = entry.summary_html or entry.content_html or ""
    summary = cut_text(clean_text(summary_src[:_RAW_SUMMARY_CAP]), SUMMARY_MAX)
    link = safe_url(entry.link, feed.url)
    if not (title or summary or link):
        return None
    content_src = (entry.content_html or entry.summary_html or "")[:_RAW_CONTENT_CAP]
    content_html = sanitize_html(content_src, base_url=link or feed.url)

    published = plausible_date(entry.published, now)
    date_is_fallback = published is None
    if published is None:
        published = _as_utc(now)

    author = cut_text(clean_text((entry.author or "")[:_RAW_TEXT_CAP]), AUTHOR_MAX) or None
    key = content_key(title, summary) if (title or summary) else content_key(link, "")
    guid = _clean_guid(entry.guid) or link or key
    return Item(
        feed_id=feed.id,
        guid=guid,
        url=canonical_url(link) if link else "",
        link=link,
        title=title,
        summary=summary,
        content_html=content_html,
        published=published,
        date_is_fallback=date_is_fallback,
        lang=_choose_language(feed, entry, parsed, f"{title} {summary}"),
        content_key=key,
        author=author,
    )
