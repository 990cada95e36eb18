"""What happened: two or three sentences a story's reports share, taken verbatim from them (pure).

No word is generated. Every candidate is a sentence of a report's title or summary, as the
outlet wrote it or as the translation model rendered it (and marked so). A sentence is central
when the story's other reports each say something close to it (the best match per other
report, averaged: what the reports share, not what one report repeats); it is chosen by
maximal marginal relevance, so a second sentence that says the first again is passed over.
Similarity is the cosine of centred sentence vectors from the multilingual model where both
sentences have one, else word overlap (stems, Chinese words and character n-grams).

Site-language originals come first, then machine translations, then originals in other
languages (an editor may not read them): the order of preference and of display.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from digest.records import StoredItem
from digest.stories.features import CONTINUOUS_CHAR, features
from digest.translate.sentences import split_sentences

__all__ = [
    "MAX_REPORTS",
    "SUMMARY_SENTENCES",
    "Candidate",
    "candidates",
    "summarize",
    "summary_record",
]

SUMMARY_SENTENCES = 3  # at most; two when a third would only repeat
MIN_REPORTS = 2  # a story of one report is its own summary
MAX_REPORTS = 12  # reports whose sentences compete (site-language ones first, then by time)
LEAD_SENTENCES = 3  # sentences of each summary considered (the lead carries the news)
MAX_CHARS = 300  # longer "sentences" are cut pieces, not sentences
MIN_WORDS = 5  # shorter ones say too little (and headlines' kickers)
MIN_CJK_CHARS = 10
# Preference by what the sentence is: an original in the site language, a machine
# translation into it, an original the reader may not read; a title (a headline, often
# not a full sentence) a little below a summary sentence.
TIER_WEIGHT = (1.0, 0.85, 0.6)
TITLE_WEIGHT = 0.85
# Maximal marginal relevance: a candidate's centrality less this times its likeness to the
# closest sentence already chosen.
REDUNDANCY = 0.6
# A little less for a second sentence of a report already quoted: more voices, same facts.
SAME_REPORT = 0.15
# Centred multilingual-e5 cosine of two renderings of one sentence: 0.9 (unrelated news
# sentences 0.1-0.35); word overlap (cosine of token sets) of near-copies: over 0.6.
REPEAT_VECTOR = 0.7
REPEAT_WORDS = 0.6

_TRUNCATED = re.compile(r"(\.\.\.|…|\[…\]|\[\.\.\.\])\s*[\]\)]?$")
# Feed furniture, not reporting: WordPress's "The post X appeared first on Y", "Read more".
_FURNITURE = re.compile(
    r"appeared first on|^(read|continue reading|click here|subscribe)\b|https?://", re.I
)


@dataclass(frozen=True)
class Candidate:
    """One sentence a summary may show, verbatim from one report."""

    item_id: str
    part: str  # "title" or "summary": where in the report it stands
    text: str  # a substring of that part (of its translation when `translated`)
    lang: str  # the language it is written in
    translated: bool  # a machine translation into the site language
    tier: int  # 0 site-language original, 1 machine translation, 2 other original
    weight: float  # preference: tier, title or summary, place in the lead


def _base(lang: str) -> str:
    return lang.split("-")[0].lower()


def _long_enough(text: str) -> bool:
    if CONTINUOUS_CHAR.search(text):
        return len(CONTINUOUS_CHAR.findall(text)) >= MIN_CJK_CHARS or len(text.split()) >= 8
    return len(text.split()) >= MIN_WORDS


def _usable(text: str) -> bool:
    return (
        len(text) <= MAX_CHARS
        and _long_enough(text)
        and not _TRUNCATED.search(text)
        and not _FURNITURE.search(text)
    )


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def candidates(items: Sequence[StoredItem], site_lang: str, headline: str = "") -> list[Candidate]:
    """The sentences of these reports a summary may use (none from a hidden report, none
    equal to the headline, which the page shows already); empty for fewer than two reports."""
    visible = [i for i in items if not i.hidden]
    if len(visible) < MIN_REPORTS:
        return []
    site = _base(site_lang)

    def tier(item: StoredItem) -> int:
        if _base(item.lang) == site:
            return 0
        if item.translation == "translated" and (item.title_translated or item.summary_translated):
            return 1
        return 2

    chosen = sorted(visible, key=lambda i: (tier(i), i.published, i.id))[:MAX_REPORTS]
    out: list[Candidate] = []
    seen: set[str] = set()
    for item in chosen:
        t = tier(item)
        translated = t == 1
        lang = site_lang if translated else item.lang
        title = (item.title_translated or "") if translated else item.title
        summary = (item.summary_translated or "") if translated else item.summary
        parts = [("title", s, TITLE_WEIGHT) for s in split_sentences(title)[:1]]
        parts += [
            ("summary", s, 1.0 - 0.05 * k)
            for k, s in enumerate(split_sentences(summary)[:LEAD_SENTENCES])
        ]
        for part, text, weight in parts:
            key = " ".join(text.split()).casefold()
            source = title if part == "title" else summary
            if key in seen or not _usable(text) or text not in source or _same(text, headline):
                continue
            seen.add(key)
            out.append(Candidate(item.id, part, text, lang, translated, t, TIER_WEIGHT[t] * weight))
    return out


def summarize(
    found: Sequence[Candidate],
    vectors: Mapping[str, np.ndarray] | None = None,
    limit: int = SUMMARY_SENTENCES,
) -> list[Candidate]:
    """The sentences that best say what the reports share, without repeats, in display order.

    `vectors`: sentence text -> centred, normalised vector (texts without one are compared
    by their words). Deterministic; needs sentences from at least two reports.
    """
    if len({c.item_id for c in found}) < MIN_REPORTS:
        return []
    n = len(found)
    lexical = _lexical(found)
    vecs = [None if vectors is None else vectors.get(c.text) for c in found]
    sim = lexical.copy()
    have = [k for k, v in enumerate(vecs) if v is not None]
    if have:
        stacked = np.stack([np.asarray(vecs[k], dtype=np.float32) for k in have])
        cos = stacked @ stacked.T
        sim[np.ix_(have, have)] = cos
    repeat = lexical >= REPEAT_WORDS
    if have:
        repeat[np.ix_(have, have)] |= sim[np.ix_(have, have)] >= REPEAT_VECTOR
    centrality = _centrality(found, sim)
    relevance = [max(centrality[k], 0.0) * found[k].weight for k in range(n)]
    chosen: list[int] = []
    while len(chosen) < limit:
        best, best_score = -1, -math.inf
        for k in range(n):
            if k in chosen or any(repeat[k, j] for j in chosen):
                continue
            score = relevance[k] - REDUNDANCY * max((sim[k, j] for j in chosen), default=0.0)
            if any(found[j].item_id == found[k].item_id for j in chosen):
                score -= SAME_REPORT
            if score > best_score + 1e-12:
                best, best_score = k, score
        if best < 0 or (best_score <= 0.0 and len(chosen) >= MIN_REPORTS):
            break  # nothing left, or a third sentence that would add nothing shared
        chosen.append(best)
    # Site-language originals first, then translations, then other originals; by rank within.
    rank = {k: r for r, k in enumerate(chosen)}
    return [found[k] for k in sorted(chosen, key=lambda k: (found[k].tier, rank[k]))]


def _lexical(found: Sequence[Candidate]) -> np.ndarray:
    """Cosine of the sentences' token sets (stems, Chinese words, character n-grams)."""
    bags = [set(features(c.text, c.lang)) for c in found]
    n = len(found)
    out = np.zeros((n, n), dtype=np.float32)
    for a in range(n):
        out[a, a] = 1.0
        for b in range(a + 1, n):
            if bags[a] and bags[b]:
                s = len(bags[a] & bags[b]) / math.sqrt(len(bags[a]) * len(bags[b]))
                out[a, b] = out[b, a] = s
    return out


def _centrality(found: Sequence[Candidate], sim: np.ndarray) -> list[float]:
    """Per sentence: the mean over the other reports of its best likeness to their sentences."""
    reports: dict[str, list[int]] = {}
    for k, c in enumerate(found):
        reports.setdefault(c.item_id, []).append(k)
    out = []
    for k, c in enumerate(found):
        others = [max(float(sim[k, j]) for j in ks) for r, ks in reports.items() if r != c.item_id]
        out.append(sum(others) / len(others) if others else 0.0)
    return out


def summary_record(chosen: Sequence[Candidate]) -> list[dict[str, object]]:
    """The chosen sentences as the store keeps them (JSON-ready)."""
    return [
        {"item": c.item_id, "part": c.part, "text": c.text, "lang": c.lang, "mt": c.translated}
        for c in chosen
    ]
