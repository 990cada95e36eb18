"""Offline sentence splitting for translation: no model, no download.

argostranslate splits with stanza or MiniSBD, both of which download models on first use; these
rules cover the scripts the digest reads: CJK 。！？, Latin .!? minding abbreviations and
quotes, Arabic-script and Indic/Tibetan stops. Over-long sentences are cut at a clause break.
"""

from __future__ import annotations

import re
import unicodedata

MAX_SENTENCE_CHARS = 300  # longer sentences are cut at a clause break, else hard

_CJK_ENDS = "。！？｡"
_LATIN_ENDS = ".!?"
_OTHER_ENDS = "؟۔।॥།"  # Arabic-script question mark and full stop, danda, Tibetan shad
_CLOSERS = "\"'”’」』）)]】》〉›»"
_SOFT_BREAKS = "，、；：,;:"
_ABBREVIATION_WORDS = """
    mr mrs ms dr prof st sr jr vs etc gen col lt sgt capt cmdr gov sen rep
    inc ltd co corp dept univ assn bros jan feb mar apr jun jul aug sep sept oct nov dec
    mt ft approx est cf al
"""
_ABBREVIATIONS = frozenset(re.findall(r"\S+", _ABBREVIATION_WORDS))
# Abbreviations only before a number: "No. 5" but "he said no. Then".
_NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "vol", "pp", "fig", "art", "ch", "sec", "p"})


def split_sentences(text: str) -> list[str]:
    """Split offline: CJK 。！？, Latin .!? minding abbreviations and quotes; long ones cut."""
    sentences: list[str] = []
    for line in re.split(r"[\n\r\u2028\u2029]+", text):
        for sentence in _split_line(line):
            sentences.extend(_cut_long(sentence, MAX_SENTENCE_CHARS))
    return sentences


def _split_line(line: str) -> list[str]:
    """Sentences of one line, each stripped, none empty."""
    out: list[str] = []
    start = 0
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        end = None
        if ch in _CJK_ENDS:
            end = _after_closers(line, _after_run(line, i + 1, _CJK_ENDS + _LATIN_ENDS))
        elif ch in _LATIN_ENDS or ch in _OTHER_ENDS:
            j = _after_closers(line, _after_run(line, i + 1, _LATIN_ENDS + _OTHER_ENDS))
            if _is_boundary(line, i, j):
                end = j
            else:
                i = j
                continue
        if end is None:
            i += 1
            continue
        piece = line[start:end].strip()
        if piece:
            out.append(piece)
        start = i = end
    rest = line[start:].strip()
    if rest:
        out.append(rest)
    return out


def _after_run(line: str, j: int, chars: str) -> int:
    """Index after a run of chars starting at j."""
    while j < len(line) and line[j] in chars:
        j += 1
    return j


def _after_closers(line: str, j: int) -> int:
    """Index after closing quotes and brackets starting at j."""
    while j < len(line) and line[j] in _CLOSERS:
        j += 1
    return j


def _is_boundary(line: str, i: int, j: int) -> bool:
    """Does the Latin-style terminator at i (its run and closers end at j) end a sentence?"""
    if j >= len(line):
        return True
    nxt = line[j]
    if not nxt.isspace():
        # "真的吗?是的" ends a sentence; "U.S.政府", "3.5", "example.org" do not.
        return line[i] in "!?" and _is_cjk(nxt)
    k = j
    while k < len(line) and line[k].isspace():
        k += 1
    if k >= len(line):
        return True
    if line[k].islower():
        return False  # '"Why?" he asked.' / "e.g. this"
    return not (line[i] == "." and j == i + 1 and _is_abbreviation(line, i, line[k]))


def _is_abbreviation(line: str, dot: int, following: str) -> bool:
    """Is the word ending at the period at index dot an abbreviation (Dr., U.S., J., No. 5)?"""
    start = dot
    # The word is the run of non-CJK letters and dots before the period: "是的。J." -> "J".
    while start > 0 and (line[start - 1] == "." or _is_word_letter(line[start - 1])):
        start -= 1
    word = line[start:dot].lstrip(".")
    if not word:
        return False
    if len(word) == 1 and word.isalpha() and word.isupper():
        return True  # an initial: "J. K. Rowling"
    if re.fullmatch(r"(?:[^\W\d_]\.)+[^\W\d_]", word):
        return True  # U.S, e.g, i.e
    lower = word.lower()
    return lower in _ABBREVIATIONS or (lower in _NUMBER_ABBREVIATIONS and following.isdigit())


def _is_word_letter(ch: str) -> bool:
    """A letter of a script that writes words between spaces."""
    return ch.isalpha() and not _is_cjk(ch)


def _is_cjk(ch: str) -> bool:
    """CJK ideographs, kana and Hangul: scripts that put no space between sentences."""
    code = ord(ch)
    return (
        0x3040 <= code <= 0x30FF
        or 0x3400 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3FFFF
    )


def _cut_long(sentence: str, limit: int) -> list[str]:
    """Cut a sentence longer than limit at clause breaks, else spaces, else anywhere."""
    pieces = []
    rest = sentence
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        head, rest = rest[:cut].strip(), rest[cut:].strip()
        if head:
            pieces.append(head)
    if rest:
        pieces.append(rest)
    return pieces


def _cut_point(text: str, limit: int) -> int:
    """Where to cut text so the head is at most limit characters and no shorter than half."""
    for chars in (_SOFT_BREAKS, None):
        for pos in range(limit - 1, limit // 2, -1):
            ch = text[pos]
            if ch.isspace() if chars is None else ch in chars:
                return pos + 1
    cut = limit
    # Keep a combining mark (or a joiner) with the character it belongs to.
    while cut > limit // 2 and (unicodedata.combining(text[cut]) or text[cut] in "\u200c\u200d"):
        cut -= 1
    return cut
