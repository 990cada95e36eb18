"""What the search index reads of a story: its headline and reports, words marked (pure).

Pagefind cuts an index's text into words at spaces and, for an English index, stems them, so
the index is built as English and Chinese text is given to it already cut into words: jieba's
dictionary (helped by the field's words) finds the boundaries on the Simplified form, and the
words are written as the report wrote them, separated by spaces. Tibetan syllables are
separated the same way (no word segmenter here). The search page cuts a Chinese query with
the vocabulary of the index (`chinese_vocabulary`), so a query matches whole words: 微软 does
not match the 微 of 微博.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from digest.stories.words import chinese_dictionary_words, simplified

__all__ = [
    "SEARCH_FORMAT",
    "SearchDoc",
    "chinese_vocabulary",
    "index_text",
    "search_page",
]

SEARCH_FORMAT = "words-3"  # bumped when what is indexed changes: the index is built again

# Han characters with the CJK punctuation around them: one run, cut by jieba.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_PUNCT = "\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_QUOTES = "\u2018\u2019\u201c\u201d"  # curly quotes inside Chinese text belong to its run
_HAN_RUN = re.compile(f"[{_HAN}{_CJK_PUNCT}][{_HAN}{_CJK_PUNCT}{_QUOTES}]*")
_HAN_CHAR = re.compile(f"[{_HAN}]")
_TSHEG = re.compile("([\u0f0b\u0f0c])(?=[\u0f40-\u0fbc])")


@dataclass(frozen=True)
class SearchDoc:
    """One story as the index sees it: its page, headline and the texts of its reports."""

    href: str  # the story page, relative to the site root
    title: str
    texts: tuple[str, ...]


def index_text(text: str) -> str:
    """The text with spaces between its Chinese words (and Tibetan syllables)."""
    text = _HAN_RUN.sub(lambda m: f" {' '.join(_han_words(m.group()))} ", text)
    text = _TSHEG.sub(r"\1 ", text)
    return " ".join(text.split())


# Each run is cut twice per build (its page, then the vocabulary) and titles recur across
# stories: jieba is most of the index's build time, so a run is cut once.
@lru_cache(maxsize=1 << 16)
def _han_words(run: str) -> tuple[str, ...]:
    """The words of a run of Han characters and CJK punctuation, in its own characters."""
    converted = simplified(run)
    if len(converted) != len(run):  # no span mapping: cut the run as it is
        converted = run
    out, pos = [], 0
    for word in chinese_dictionary_words(converted):
        out.append(run[pos : pos + len(word)])
        pos += len(word)
    if pos < len(run):
        out.append(run[pos:])
    return tuple(w for w in out if w.strip())


def chinese_vocabulary(docs: Iterable[SearchDoc]) -> list[str]:
    """Every Chinese word of the indexed text, sorted: what the search page segments with."""
    words: set[str] = set()
    for doc in docs:
        for text in (doc.title, *doc.texts):
            for run in _HAN_RUN.findall(text):
                words.update(w for w in _han_words(run) if _HAN_CHAR.search(w))
    return sorted(words)


def search_page(doc: SearchDoc, lang: str) -> str:
    """The HTML page pagefind indexes for one story: the headline as the result's title, the
    words of headline and reports as the body (nothing else, so nothing else is a snippet)."""
    blocks: Sequence[str] = [doc.title, *doc.texts]
    body = "\n".join(f"<p>{html.escape(index_text(t))}</p>" for t in blocks if t.strip())
    title = html.escape(doc.title, quote=True)
    return (
        f'<!doctype html>\n<html lang="{html.escape(lang)}">\n<head><meta charset="utf-8">'
        f'<meta data-pagefind-meta="title[content]" content="{title}"></head>\n'
        f"<body><main data-pagefind-body>\n{body}\n</main></body>\n</html>\n"
    )
