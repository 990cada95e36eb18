"""Stories and topics: pure functions over items (no I/O, no store, no network).

Stories: TF-IDF vectors, cosine similarity between nearby documents, a time penalty and a
mild same-feed penalty, then average-linkage agglomeration with a threshold.
Topics: keyword matching against a taxonomy.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np

from digest.collector import collector_off
from digest.records import StoredItem, TopicConfig

__all__ = [
    "DEFAULT_MAX_GAP_DAYS",
    "DEFAULT_THRESHOLD",
    "ClusterDoc",
    "Features",
    "assign_story_ids",
    "cluster_stories",
    "feature_source_hash",
    "match_topics",
    "pick_headline",
    "story_id_for",
    "story_score",
    "tokenizer_version",
]

# Chosen on the SemEval-2022 Task 8 training pairs (overall <= 1.5 same story, >= 3 not):
# at 0.2, en-en precision 0.86 / recall 0.89 (37 pairs joined, 32 right, of 36 same-story
# pairs) and zh-zh precision 1.00 / recall 0.81; with texts cut to 300 characters (closer to
# title + summary) en-en 0.84 / 0.72, zh-zh 1.00 / 0.81. Lower values gain recall quickly
# but merge neighbouring stories on a topical window; higher ones split wire rewrites.
DEFAULT_THRESHOLD = 0.2
DEFAULT_MAX_GAP_DAYS = 4.0

# At the full gap a pair keeps (1 - TIME_DISCOUNT) of its similarity: gentle, because
# follow-up reports a day or two later are the normal case.
TIME_DISCOUNT = 0.25
# One outlet rarely reports one event twice within days, but updates and corrections happen:
# discount, never forbid.
SAME_FEED_FACTOR = 0.85
# Neighbours kept per document: bounds memory and time when many documents look alike. A
# story with more reports than this in one window may come out in pieces (measured: 3,000
# copies of one text give groups of 128-160).
TOP_K = 100
# Documents per block of the sparse similarity product: bounds the size of one block.
CHUNK = 512
# Terms found in more than this many documents of one window are left out of the similarity
# product: its cost grows with the sum of squared document frequencies, so common terms would
# make it quadratic in the window size. Vectors keep their full norm, so a similarity only
# loses those terms' (low-IDF) share. Windows of up to this many documents (a week of a few
# dozen feeds) are not affected at all.
COMMON_DF = 500

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
_CONTINUOUS_RUN = re.compile(f"[{_CONTINUOUS}]+")
_CONTINUOUS_CHAR = re.compile(f"[{_CONTINUOUS}]")
_WORD = re.compile(r"\w+")
_LETTER = re.compile(r"[^\W\d_]")
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


# ---------------------------------------------------------------- text features


def _normalize(text: str) -> str:
    # NFKC folds full-width Latin and digits, casefold makes matching case-insensitive.
    return _THOUSANDS.sub("", unicodedata.normalize("NFKC", text).casefold())


def _is_continuous_text(text: str) -> bool:
    """True when most letters of the text belong to scripts written without spaces."""
    letters = len(_LETTER.findall(text))
    if letters == 0:
        return False
    return len(_CONTINUOUS_CHAR.findall(text)) * 2 >= letters


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


def _features(text: str, lang: str) -> list[str]:
    """Tokens of one document: words outside CJK-like runs, character 1-3-grams inside."""
    english = lang.split("-")[0].lower() in ("en", "")
    normalized = _normalize(text)
    if not _CONTINUOUS_CHAR.search(normalized):
        # The common case, spaced scripts only: no per-token search for CJK runs.
        return _plain_words("_".join(_WORD.findall(normalized)), english)
    out: list[str] = []
    words: list[str] = []
    for match in _WORD.finditer(normalized):
        token = match.group()
        pos = 0
        for run in _CONTINUOUS_RUN.finditer(token):
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


def _tfidf(token_lists: Sequence[list[str]]) -> object:
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
            digest.update("\x1f".join(_features(text, code)).encode() + b"\0")
        digest.update(b"1" if _is_continuous_text(text) else b"0")
    return digest.hexdigest()[:12]


def feature_source_hash(text: str, lang: str) -> str:
    """What stored tokens of a text depend on: the tokeniser, the language and the text."""
    key = f"{tokenizer_version()}\0{lang}\0{text}"
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()


def _doc_features(doc: ClusterDoc, known: Features | None) -> tuple[bool, list[str]]:
    if known is not None and doc.id in known:
        return known[doc.id]
    return _is_continuous_text(doc.text), _features(doc.text, doc.lang)


# ---------------------------------------------------------------- stories


def _utc_seconds(when: datetime) -> float:
    # A naive datetime is taken as UTC, never as the machine's local time.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _edges(
    matrix: object,
    seconds: np.ndarray,
    feeds: Sequence[frozenset[str]],
    floor: float,
    max_gap: float,
) -> dict[tuple[int, int], float]:
    """Penalised similarities >= floor between documents i < j, at most TOP_K per document."""
    import scipy.sparse as sp

    x = _drop_common_terms(sp.csr_matrix(matrix))
    n = x.shape[0]
    xt = x.T.tocsc()
    seconds = np.asarray(seconds, dtype=np.float64)
    # Most documents come from one feed: compare feed codes, and sets only for the rest.
    feed_index: dict[str, int] = {}
    code = np.full(n, -1, dtype=np.int64)
    multi: dict[int, frozenset[str]] = {}
    for i, ids in enumerate(feeds):
        if len(ids) == 1:
            code[i] = feed_index.setdefault(next(iter(ids)), len(feed_index))
        elif ids:
            multi[i] = ids
            code[i] = -2 - i  # never equal to another document's code
    edges: dict[tuple[int, int], float] = {}
    # Rows in time order, so each block is compared only with the documents within max_gap
    # of it: a window spread over many days costs in proportion to its length, not squared.
    order = np.lexsort((np.arange(n), seconds))
    when = seconds[order]
    for start in range(0, n, CHUNK):
        rows_ = order[start : start + CHUNK]
        first = int(np.searchsorted(when, when[start : start + CHUNK].min() - max_gap, "left"))
        last = int(np.searchsorted(when, when[start : start + CHUNK].max() + max_gap, "right"))
        span = order[first:last]
        block = (x[rows_] @ xt[:, span]).tocsr()
        for row in range(block.shape[0]):
            i = int(rows_[row])
            lo, hi = block.indptr[row], block.indptr[row + 1]
            cols = span[block.indices[lo:hi]]
            sims = block.data[lo:hi]
            keep = (cols != i) & (sims >= floor)
            cols, sims = cols[keep], sims[keep]
            if cols.size == 0:
                continue
            gap = np.abs(seconds[cols] - seconds[i])
            near = gap <= max_gap
            cols, sims, gap = cols[near], sims[near], gap[near]
            if max_gap > 0 and math.isfinite(max_gap):
                sims = sims * (1.0 - TIME_DISCOUNT * gap / max_gap)
            same = code[cols] == code[i]
            if multi:
                # Pairs where either side came from several feeds: compare the sets.
                check = np.ones(cols.size, bool) if i in multi else code[cols] < -1
                for pos in np.flatnonzero(check).tolist():
                    same[pos] = bool(feeds[i] & feeds[int(cols[pos])])
            sims = np.where(same, sims * SAME_FEED_FACTOR, sims)
            keep = sims >= floor
            cols, sims = cols[keep], sims[keep]
            if cols.size > TOP_K:
                # Sorting on (-similarity, column) keeps the choice deterministic.
                order = np.lexsort((cols, -sims))[:TOP_K]
                cols, sims = cols[order], sims[order]
            for j, s in zip(cols.tolist(), sims.tolist(), strict=True):
                key = (i, j) if i < j else (j, i)
                edges[key] = max(edges.get(key, 0.0), s)
    return edges


def _drop_common_terms(x: Any) -> Any:
    """The matrix without terms in more than COMMON_DF documents (cost control, see there)."""
    import scipy.sparse as sp

    m = sp.csc_matrix(x)
    df = np.diff(m.indptr)
    common = df > COMMON_DF
    if not common.any():
        return sp.csr_matrix(m)
    return sp.csr_matrix(m[:, np.flatnonzero(~common)])


def _average_linkage(
    n: int,
    edges: Mapping[tuple[int, int], float],
    seconds: np.ndarray,
    threshold: float,
    max_gap: float,
) -> list[list[int]]:
    """Merge the closest pair of clusters while their mean pairwise similarity >= threshold.

    Missing pairs count as 0. A merge whose time span would exceed max_gap is refused, so no
    two documents of one story are further apart than that.
    """
    size = [1] * n
    tmin = [float(s) for s in seconds]
    tmax = list(tmin)
    members: list[list[int]] = [[i] for i in range(n)]
    links: list[dict[int, float]] = [{} for _ in range(n)]
    for (i, j), s in sorted(edges.items()):
        links[i][j] = s
        links[j][i] = s
    alive = [True] * n
    heap: list[tuple[float, int, int]] = []
    for (i, j), s in sorted(edges.items()):
        if s >= threshold:
            heap.append((-s, i, j))
    heapq.heapify(heap)
    while heap:
        _, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]):
            continue
        if max(tmax[a], tmax[b]) - min(tmin[a], tmin[b]) > max_gap:
            continue
        c = len(size)
        alive[a] = alive[b] = False
        alive.append(True)
        size.append(size[a] + size[b])
        tmin.append(min(tmin[a], tmin[b]))
        tmax.append(max(tmax[a], tmax[b]))
        members.append(members[a] + members[b])
        merged: dict[int, float] = {}
        for source in (links[a], links[b]):
            for other, total in source.items():
                if other not in (a, b):
                    merged[other] = merged.get(other, 0.0) + total
        links.append(merged)
        links[a] = links[b] = {}
        members[a] = members[b] = []
        for other in sorted(merged):
            neighbour = links[other]
            neighbour.pop(a, None)
            neighbour.pop(b, None)
            neighbour[c] = merged[other]
            mean = merged[other] / (size[c] * size[other])
            if mean >= threshold:
                heapq.heappush(heap, (-mean, other, c))
    return [members[k] for k in range(len(size)) if alive[k]]


def cluster_stories(
    docs: Sequence[ClusterDoc],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    max_gap_days: float = DEFAULT_MAX_GAP_DAYS,
    features: Features | None = None,
) -> list[list[str]]:
    """Group docs reporting one event: TF-IDF cosine, time penalty, deterministic.

    Word tokens for spaced scripts and character 1-3-grams for CJK-like text; pairs further
    apart than max_gap_days never share a group, closer ones are discounted gently.
    Every doc id appears in exactly one group. Within a group ids are ordered by
    (published, id), oldest first; groups are ordered by their first doc the same way.
    `features`: tokens already known for some docs (saves tokenising them again).
    Raises ValueError on duplicate ids.
    """
    with collector_off():
        return _cluster_stories(docs, threshold, max_gap_days, features)


def _cluster_stories(
    docs: Sequence[ClusterDoc], threshold: float, max_gap_days: float, features: Features | None
) -> list[list[str]]:
    ordered = sorted(docs, key=lambda d: d.id)
    for prev, cur in pairwise(ordered):
        if prev.id == cur.id:
            raise ValueError(f"duplicate document id: {cur.id!r}")
    if math.isnan(max_gap_days) or math.isnan(threshold):
        raise ValueError("threshold and max_gap_days must be numbers")
    max_gap = max(0.0, float(max_gap_days)) * 86400.0

    # Documents in spaced and unspaced scripts share no features, so each family gets its
    # own vectorizer: IDF then reflects only the documents that could ever match (and a
    # long English window does not flatten the weights of the few Chinese n-grams).
    families: dict[bool, list[ClusterDoc]] = {False: [], True: []}
    known = {doc.id: _doc_features(doc, features) for doc in ordered}
    for doc in ordered:
        families[known[doc.id][0]].append(doc)

    groups: list[list[ClusterDoc]] = []
    for family in (False, True):
        members = families[family]
        if not members:
            continue
        tokens = [known[d.id][1] for d in members]
        seconds = np.array([_utc_seconds(d.published) for d in members], dtype=np.float64)
        with_text = [k for k, t in enumerate(tokens) if t]
        index: list[list[int]] = [[k] for k, t in enumerate(tokens) if not t]
        if len(with_text) > 1:
            matrix = _tfidf([tokens[k] for k in with_text])
            sub_seconds = seconds[with_text]
            feeds = [frozenset(members[k].feed_ids) for k in with_text]
            # Pairs far below the threshold barely move a mean: dropping them keeps it sparse.
            floor = threshold * 0.5
            edges = _edges(matrix, sub_seconds, feeds, floor, max_gap)
            for cluster in _average_linkage(len(with_text), edges, sub_seconds, threshold, max_gap):
                index.append([with_text[k] for k in cluster])
        else:
            index.extend([k] for k in with_text)
        groups.extend([members[k] for k in cluster] for cluster in index)

    def when(doc: ClusterDoc) -> tuple[float, str]:
        return (_utc_seconds(doc.published), doc.id)

    sorted_groups = [sorted(g, key=when) for g in groups]
    sorted_groups.sort(key=lambda g: when(g[0]))
    return [[d.id for d in g] for g in sorted_groups]


def story_id_for(item_id: str) -> str:
    """The story id derived from an item id: short, URL-safe and stable."""
    return "s-" + hashlib.sha1(item_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def assign_story_ids(
    groups: Sequence[Sequence[str]], previous: Mapping[str, str]
) -> dict[str, list[str]]:
    """Give each group a stable story id, kept from the last run where possible.

    A group keeps the id most of its items already had (ties: the oldest/lowest), else gets
    a new id derived from its first item id; an id is used by at most one group.
    `previous` maps item id -> story id from the last run. When two groups claim one old id
    (a story split), the group holding more of its items keeps it; on a tie the id goes to
    the item listed first (cluster_stories lists the oldest first), then the lowest id. New
    ids never reuse any id of `previous`, so an old link never points at another story.
    """
    candidates: list[tuple[int, int, int, str]] = []
    for g, group in enumerate(groups):
        counts: dict[str, int] = {}
        first_pos: dict[str, int] = {}
        for pos, item in enumerate(group):
            old = previous.get(item)
            if old is None:
                continue
            counts[old] = counts.get(old, 0) + 1
            first_pos.setdefault(old, pos)
        for old, count in counts.items():
            candidates.append((-count, first_pos[old], g, old))
    candidates.sort(key=lambda c: (c[0], c[1], c[3], c[2]))

    chosen: dict[int, str] = {}
    used: set[str] = set()
    for _, _, g, old in candidates:
        if g not in chosen and old not in used:
            chosen[g] = old
            used.add(old)

    reserved = set(previous.values())
    result: dict[str, list[str]] = {}
    for g, group in enumerate(groups):
        if not group:
            continue
        story = chosen.get(g)
        if story is None:
            story = _fresh_id(group, used | reserved)
            used.add(story)
        result[story] = list(group)
    return result


def _fresh_id(group: Sequence[str], taken: set[str]) -> str:
    for item in group:
        story = story_id_for(item)
        if story not in taken:
            return story
    n = 2
    while True:
        story = story_id_for(f"{group[0]}#{n}")
        if story not in taken:
            return story
        n += 1


# ---------------------------------------------------------------- topics


@lru_cache(maxsize=64)
def _topic_patterns(topics: tuple[TopicConfig, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    compiled = []
    for topic in topics:
        parts = []
        for keyword in topic.keywords:
            key = " ".join(_normalize(keyword).split())
            if not key:
                continue
            body = r"\s+".join(re.escape(w) for w in key.split(" "))
            # A keyword starting a word matches at word starts only, so "censor" finds
            # "censorship" but "ban" does not find "urban"; unspaced scripts match anywhere.
            spaced = bool(_LETTER.match(key[0])) and not _CONTINUOUS_CHAR.match(key[0])
            if spaced or key[0].isdigit():
                body = r"(?<!\w)" + body
            parts.append(body)
        if parts:
            compiled.append((topic.name, re.compile("|".join(parts))))
    return tuple(compiled)


def match_topics(texts: Sequence[str], topics: Sequence[TopicConfig]) -> list[str]:
    """Names of the topics whose keywords occur (case-insensitive) in any text, taxonomy order."""
    normalized = [_normalize(t) for t in texts if t]
    found = []
    for name, pattern in _topic_patterns(tuple(topics)):
        if any(pattern.search(t) for t in normalized) and name not in found:
            found.append(name)
    return found


# ---------------------------------------------------------------- ranking and headlines

# story_score = breadth * recency.
#   breadth = n_outlets + 0.5 * (n_languages - 1) + 0.25 * log2(1 + extra items)
#             (extra items: reports beyond one per outlet, e.g. follow-ups)
#   recency = 0.5 ** (age_hours / 36)
# So a story told by 3 outlets stays above a fresh single report for about 57 hours.
SCORE_HALF_LIFE_HOURS = 36.0


def story_score(n_outlets: int, n_languages: int, n_items: int, age_hours: float) -> float:
    """Front-page rank: breadth first, then recency and size (documented formula)."""
    outlets = max(1, n_outlets)
    languages = max(1, n_languages)
    extra = max(0, n_items - outlets)
    breadth = outlets + 0.5 * (languages - 1) + 0.25 * math.log2(1 + extra)
    age = age_hours if math.isfinite(age_hours) else math.inf
    recency = 0.5 ** (max(0.0, age) / SCORE_HALF_LIFE_HOURS)
    return breadth * recency


def _same_language(lang: str, site_language: str) -> bool:
    return lang.split("-")[0].lower() == site_language.split("-")[0].lower()


def pick_headline(items: Sequence[StoredItem], site_language: str) -> str:
    """The most representative report's title; a site-language original beats a translation."""
    visible = [i for i in items if not i.hidden] or list(items)

    def tier(item: StoredItem) -> int:
        if _same_language(item.lang, site_language) and item.title.strip():
            return 0  # an original written in the site language
        if item.title_translated and item.title_translated.strip():
            return 1  # a machine translation into it
        return 2  # only a foreign-language original

    titled = [i for i in visible if i.display_title.strip()]
    if not titled:
        summary = next((i.display_summary.strip() for i in visible if i.display_summary), "")
        return summary[:120]
    best_tier = min(tier(i) for i in titled)
    pool = [i for i in titled if tier(i) == best_tier]
    # Representative: the report sharing the most vocabulary with all the others.
    bags = {
        i.id: set(_features(f"{i.display_title} {i.display_summary}", site_language))
        for i in titled
    }

    def centrality(item: StoredItem) -> float:
        mine = bags[item.id]
        total = 0.0
        for other in titled:
            if other.id == item.id:
                continue
            theirs = bags[other.id]
            if mine and theirs:
                total += len(mine & theirs) / math.sqrt(len(mine) * len(theirs))
        return total

    best = min(pool, key=lambda i: (-centrality(i), _utc_seconds(i.published), i.id))
    title = best.title if best_tier == 0 else best.display_title
    return " ".join(title.split())
