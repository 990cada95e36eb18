"""Text hygiene in one place: characters that never belong in shown text, one-line text, cutting.

Every module that cleans, checks or cuts plain text goes through here, so the character
classes below are the only ones in the code (HTML is cleaned in ingest/sanitize.py, which
also uses them).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "BIDI_FORMATTING",
    "BIDI_MARKS",
    "CONTROLS",
    "CONTROLS_BUT_WHITESPACE",
    "INVISIBLE",
    "LINE_SEPARATORS",
    "NOT_CHARACTERS",
    "clip",
    "cut_text",
    "drop_unsafe",
    "has_control",
    "message_line",
    "model_input",
    "one_line",
    "plain",
    "printable",
    "url_text",
]

# ---------------------------------------------------------------- character classes
# (bodies of regular-expression character sets)

# C0 controls but tab, newline and CR (which are whitespace), DEL and the C1 controls.
CONTROLS_BUT_WHITESPACE = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# Every C0 control, DEL and C1.
CONTROLS = "\x00-\x1f\x7f-\x9f"
LINE_SEPARATORS = "\u2028\u2029"
# Embeddings, overrides and isolates: they reorder the text that follows them (a URL, a name).
BIDI_FORMATTING = "\u202a-\u202e\u2066-\u2069"
# Left-to-right, right-to-left and Arabic letter marks: invisible, harmless, but not content.
BIDI_MARKS = "\u200e\u200f\u061c"
# Zero-width space, word joiner and invisible operators, BOM, Mongolian vowel separator, soft
# hyphen, interlinear annotation. ZWNJ/ZWJ (U+200C/D) are not here: Persian and Indic
# spelling and emoji sequences need them.
INVISIBLE = "\u200b\u2060-\u2064\ufeff\u180e\u00ad\ufff9-\ufffb"
# Lone surrogates and the noncharacters U+FFFE/U+FFFF: not text, and not XML either.
NOT_CHARACTERS = "\ud800-\udfff\ufffe\uffff"

_CONTROL_RE = re.compile(f"[{CONTROLS}{LINE_SEPARATORS}]")
_UNSAFE_RE = re.compile(f"[{CONTROLS_BUT_WHITESPACE}{NOT_CHARACTERS}]")
_JUNK_RE = re.compile(
    f"[{BIDI_MARKS}{BIDI_FORMATTING}{INVISIBLE}{CONTROLS_BUT_WHITESPACE}{NOT_CHARACTERS}]"
)
_URL_INVISIBLE_RE = re.compile(f"[{BIDI_MARKS}{BIDI_FORMATTING}\u200b\u2060\ufeff]")
_BREAKS_RE = re.compile(f"[\\s{CONTROLS}{LINE_SEPARATORS}]+")
_BIDI_FORMATTING_RE = re.compile(f"[{BIDI_FORMATTING}]")
_MODEL_CONTROLS_RE = re.compile(f"[{CONTROLS_BUT_WHITESPACE}\t]")
_WS_RE = re.compile(r"\s+")

# ---------------------------------------------------------------- checks and cleaning


def has_control(text: str) -> bool:
    """True when text holds a control character or a line/paragraph separator."""
    return _CONTROL_RE.search(text) is not None


def drop_unsafe(text: str) -> str:
    """Text without controls (but tab, newline, CR) and non-characters: safe in HTML and XML."""
    return _UNSAFE_RE.sub("", text)


def plain(text: str) -> str:
    """NFC text without invisible, bidi or control characters, whitespace collapsed."""
    text = unicodedata.normalize("NFC", _JUNK_RE.sub("", text))
    return _WS_RE.sub(" ", text).strip()


def url_text(url: str) -> str:
    """A URL without the invisible and bidi characters that hide what it points at."""
    return _URL_INVISIBLE_RE.sub("", url)


def model_input(text: str) -> str:
    """Text for a tokenizer: no lone surrogates, CR/CRLF as newlines, controls and tabs spaces."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _MODEL_CONTROLS_RE.sub(" ", text)


def printable(text: str, replacement: str = "") -> str:
    """Text with every character str.isprintable() rejects replaced (logs, messages, codes)."""
    return "".join(ch if ch.isprintable() else replacement for ch in text)


def message_line(text: str, limit: int = 300) -> str:
    """One printable line for messages and logs: hostile URLs and server text break neither."""
    return clip(printable(text, "?"), limit)


def clip(text: str, limit: int) -> str:
    """Text of at most `limit` characters, the last one an ellipsis when cut (no word search)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- one line, cutting


def one_line(text: str, limit: int) -> str:
    """Text on one line (no control or bidi-override characters), cut at a word near `limit`."""
    line = _BREAKS_RE.sub(" ", _BIDI_FORMATTING_RE.sub("", text)).strip()
    if len(line) <= limit:
        return line
    cut = line[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


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
