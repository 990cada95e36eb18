"""Stories over runs: incremental assignment, redirects, labels, coverage gaps (pure, no I/O).

The pipeline and `digest cluster-file` both go through `cluster_new_stories` (a full
clustering) or `assign_new` (new items into existing stories), then `label_stories`.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

from digest.records import StoredItem, TopicConfig
from digest.stories.linkage import (
    DEFAULT_MAX_GAP_DAYS,
    DEFAULT_THRESHOLD,
    ClusterDoc,
    Features,
    _doc_features,
    _features,
    _fresh_id,
    _is_continuous_text,
    _utc_seconds,
    assign_story_ids,
    cluster_stories,
    feature_source_hash,
    match_topics,
)
from digest.stories.sketch import (
    best_stories,
    build_sketches,
    members_of,
    query_of,
    window_vocab,
)
from digest.stories.topics import (
    class_key_terms,
    discover_topics,
    key_term_tokens,
    rank_terms,
    topic_name,
)

__all__ = [
    "LabelDoc",
    "StoryLabels",
    "assign_new",
    "cluster_new_stories",
    "coverage_gap",
    "doc_features",
    "label_changed",
    "label_doc",
    "label_fingerprint",
    "label_stories",
    "redirects_after",
    "relabel",
]


# ---------------------------------------------------------------- full and incremental


def cluster_new_stories(
    docs: Sequence[ClusterDoc],
    previous: Mapping[str, str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    max_gap_days: float = DEFAULT_MAX_GAP_DAYS,
    features: Features | None = None,
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Cluster from scratch, keep old ids where possible: (story id -> items, redirects)."""
    groups = cluster_stories(
        docs, threshold=threshold, max_gap_days=max_gap_days, features=features
    )
    known = {d.id for d in docs}
    before = {item: story for item, story in previous.items() if item in known}
    stories = assign_story_ids(groups, previous)
    return stories, redirects_after(before, stories)


def redirects_after(
    previous: Mapping[str, str], stories: Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """Old story id -> the story now holding most of its items, for ids that disappeared.

    A merge gives the absorbed story's id a redirect; in a split the old id stays with the
    bigger part (assign_story_ids), so nothing needs one. Ties go to the lowest story id.
    """
    where = {item: story for story, items in stories.items() for item in items}
    votes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item, old in previous.items():
        new = where.get(item)
        if new is not None and old not in stories:
            votes[old][new] += 1
    return {
        old: min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        for old, counts in sorted(votes.items())
    }


def assign_new(
    existing: Sequence[ClusterDoc],
    story_of: Mapping[str, str],
    new: Sequence[ClusterDoc],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    max_gap_days: float = DEFAULT_MAX_GAP_DAYS,
    reserved: set[str] | None = None,
    features: Features | None = None,
) -> dict[str, list[str]]:
    """Put new docs into existing stories, or into new ones: story id -> the new doc ids.

    The new docs are first grouped among themselves (cluster_stories); each group then joins
    the existing story with the highest mean penalised similarity (average linkage, as the full
    clustering would merge them) when that mean reaches the threshold and the joined story
    spans no more than max_gap_days; otherwise it becomes a new story. IDF comes from all the
    docs given (the window, as a full clustering computes it); scoring is
    digest.stories.sketch's, as the pipeline's store-backed runs do it. Existing stories never
    merge or split here: `digest cluster --rebuild` does that.
    `reserved` are ids no new story may take (every id ever used, for stable URLs);
    `features` are tokens already known (doc_features), the same as tokenising again.
    """
    groups = cluster_stories(new, threshold=threshold, max_gap_days=max_gap_days, features=features)
    if not groups:
        return {}
    max_gap = max(0.0, float(max_gap_days)) * 86400.0
    known = {d.id: _doc_features(d, features) for d in [*existing, *new]}
    vocab = window_vocab(known)
    by_id = {i: (idf, df) for v in vocab.values() for i, idf, df in v.values()}
    entries = [
        (
            story_of[d.id],
            d.id,
            _utc_seconds(d.published),
            known[d.id][0],
            d.feed_ids,
            known[d.id][1],
        )
        for d in existing
        if d.id in story_of
    ]
    fresh = [
        ("", d.id, _utc_seconds(d.published), known[d.id][0], d.feed_ids, known[d.id][1])
        for d in new
    ]
    queries = {i: query_of(m, by_id) for i, m in members_of(fresh, vocab).items()}
    sketches = build_sketches(entries, vocab)
    best = best_stories(
        groups, queries, sketches, since=-math.inf, threshold=threshold, max_gap=max_gap
    )
    taken = set(story_of.values()) | (reserved or set())
    result: dict[str, list[str]] = defaultdict(list)
    for g, group in enumerate(groups):
        story = best.get(g)
        if story is None:
            story = _fresh_id(group, taken)
            taken.add(story)
        result[story].extend(group)
    return dict(result)


# (source hash, continuous script, clustering tokens, key-term tokens) of one doc's text.
FeatureRow = tuple[str, bool, list[str], list[str]]


def doc_features(
    docs: Sequence[ClusterDoc], stored: Mapping[str, FeatureRow]
) -> tuple[dict[str, FeatureRow], dict[str, FeatureRow]]:
    """Every doc's tokens, and those that had to be computed (to store).

    A stored row is used only when its source hash matches the doc's text, language and the
    tokeniser (feature_source_hash): a retranslated text or a changed tokeniser recomputes.
    """
    out: dict[str, FeatureRow] = {}
    fresh: dict[str, FeatureRow] = {}
    for d in docs:
        source = feature_source_hash(d.text, d.lang)
        row = stored.get(d.id)
        if row is None or row[0] != source:
            cont = _is_continuous_text(d.text)
            row = (source, cont, _features(d.text, d.lang), key_term_tokens(d.text, d.lang))
            fresh[d.id] = row
        out[d.id] = row
    return out, fresh


# ---------------------------------------------------------------- labels


@dataclass(frozen=True)
class LabelDoc:
    """One report of a story as labelling sees it."""

    text: str  # comparable text: in the site language when translated, else the original
    lang: str  # language of `text`
    texts: tuple[str, ...] = ()  # every text the taxonomy is matched on (original, translated)
    terms: Sequence[str] | None = None  # key_term_tokens(text, lang), when already known


def label_doc(doc: ClusterDoc, item: StoredItem, terms: Sequence[str] | None = None) -> LabelDoc:
    """The LabelDoc of a stored item clustered as `doc`: taxonomy matched on every text."""
    texts = (item.title, item.summary, item.title_translated or "", item.summary_translated or "")
    return LabelDoc(text=doc.text, lang=doc.lang, texts=texts, terms=terms)


def _terms(doc: LabelDoc) -> Sequence[str]:
    return doc.terms if doc.terms is not None else key_term_tokens(doc.text, doc.lang)


@dataclass
class StoryLabels:
    """What labelling found for one story."""

    topics: list[str] = field(default_factory=list)  # taxonomy topics, else one discovered
    key_terms: list[str] = field(default_factory=list)
    discovered: bool = False  # topics come from discovery, not the taxonomy


def label_stories(
    stories: Mapping[str, Sequence[LabelDoc]], taxonomy: Sequence[TopicConfig]
) -> dict[str, StoryLabels]:
    """Key terms (class-based TF-IDF) and topics of each story; deterministic.

    A story is filed under every taxonomy topic whose keywords occur in any of its texts.
    The stories the taxonomy misses are clustered into discovered topics (their number chosen
    automatically, see digest.stories.topics), each named after its top key terms.
    """
    ids = sorted(stories)
    display = [[t for d in stories[s] for t in _terms(d)] for s in ids]
    terms = class_key_terms(display)
    labels: dict[str, StoryLabels] = {}
    missed: list[str] = []
    for s, story_terms in zip(ids, terms, strict=True):
        texts = [t for d in stories[s] for t in (d.texts or (d.text,))]
        found = match_topics(texts, taxonomy)
        labels[s] = StoryLabels(topics=found, key_terms=story_terms)
        if not found:
            missed.append(s)
    tokens = [[t for d in stories[s] for t in _features(d.text, d.lang)] for s in missed]
    numbers = discover_topics(tokens)
    members: dict[int, list[int]] = defaultdict(list)
    for k, number in enumerate(numbers):
        if number >= 0:
            members[number].append(k)
    position = {s: k for k, s in enumerate(ids)}
    topic_terms = class_key_terms(
        [[t for k in members[n] for t in display[position[missed[k]]]] for n in sorted(members)]
    )
    taken = {t.name for t in taxonomy}
    for n, top in zip(sorted(members), topic_terms, strict=True):
        name = topic_name(top, taken)
        for k in members[n]:
            labels[missed[k]].topics = [name]
            labels[missed[k]].discovered = True
    return labels


# More than this share of stories changed, or left without a topic, and an incremental run
# labels all of them again (with topic discovery), as a full clustering does.
RELABEL_ALL_SHARE = 0.1


def label_fingerprint(members: Sequence[StoredItem], context: str) -> str:
    """A hash of everything a story's labels are made from; `context`: taxonomy and language."""
    parts = [context]
    for it in sorted(members, key=lambda i: i.id):
        parts += (
            it.id, it.title, it.summary, it.title_translated or "", it.summary_translated or "",
            it.translation, it.lang, "hidden" if it.hidden else "", "\t".join(it.feeds),
            it.published.isoformat(),
        )  # fmt: skip
    return hashlib.sha1("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def relabel(
    stories: Mapping[str, Sequence[LabelDoc]],
    changed: Collection[str],
    previous: Mapping[str, Sequence[str]],
    taxonomy: Sequence[TopicConfig],
) -> dict[str, StoryLabels]:
    """Labels of the changed stories, or of all of them (label_stories) when too many changed.

    `previous`: story id -> its stored topics. A changed story gets the key terms and
    taxonomy topics a full labelling would give it; missed by the taxonomy, it keeps the
    discovered topic it had (a new story gets one at the next full labelling). All stories
    are labelled again when more than RELABEL_ALL_SHARE of them changed or would have no topic.
    """
    share = RELABEL_ALL_SHARE * len(stories)
    if len(changed) > share:
        return label_stories(stories, taxonomy)
    ids = sorted(stories)
    display = {s: [t for d in stories[s] for t in _terms(d)] for s in ids}
    overall = Counter(chain.from_iterable(display.values()))
    average = sum(map(len, display.values())) / len(ids) if ids else 0.0
    wanted = {s: stories[s] for s in ids if s in changed}
    labels = label_changed(wanted, overall, average, previous, taxonomy)
    unfiled = sum(1 for lab in labels.values() if not lab.topics) + sum(
        1 for s in ids if s not in labels and not previous.get(s)
    )
    return label_stories(stories, taxonomy) if unfiled > share else labels


def label_changed(
    stories: Mapping[str, Sequence[LabelDoc]],
    overall: Mapping[str, int],
    average: float,
    previous: Mapping[str, Sequence[str]],
    taxonomy: Sequence[TopicConfig],
) -> dict[str, StoryLabels]:
    """Labels of some stories, with key-term weights from counts over all of them.

    `overall`: each key-term token's count over every story of the window, `average`: tokens
    per story there (class_key_terms' weights). Taxonomy topics are matched; a story the
    taxonomy misses keeps the discovered topic it had (`previous`: story id -> topics).
    """
    names = {t.name for t in taxonomy}
    labels: dict[str, StoryLabels] = {}
    for s in sorted(stories):
        docs = stories[s]
        terms = rank_terms([t for d in docs for t in _terms(d)], overall, average)
        found = match_topics([t for d in docs for t in (d.texts or (d.text,))], taxonomy)
        kept = [t for t in previous.get(s, ()) if t not in names]
        discovered = not found and bool(kept)
        labels[s] = StoryLabels(topics=found or kept, key_terms=terms, discovered=discovered)
    return labels


# ---------------------------------------------------------------- coverage gap

_LANGUAGE_NAMES = {
    "ar": "Arabic", "bo": "Tibetan", "de": "German", "en": "English", "es": "Spanish",
    "fa": "Persian", "fr": "French", "it": "Italian", "ja": "Japanese", "kk": "Kazakh",
    "km": "Khmer", "ko": "Korean", "lo": "Lao", "my": "Burmese", "pl": "Polish",
    "ps": "Pashto", "pt": "Portuguese", "ru": "Russian", "th": "Thai", "tr": "Turkish",
    "ug": "Uyghur", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "yue": "Cantonese",
    "zh": "Chinese",
}  # fmt: skip


def _language_name(code: str) -> str:
    base = code.split("-")[0].lower()
    return _LANGUAGE_NAMES.get(base, base or "unknown")


def coverage_gap(languages: Sequence[str], site_language: str) -> str | None:
    """'only in Chinese-language media' when no report is in the site language, else None."""
    site = site_language.split("-")[0].lower()
    bases = [lang.split("-")[0].lower() for lang in languages]
    if not bases or site in bases:
        return None
    names = sorted({_language_name(b) for b in bases if b not in ("und", "")})
    if not names:
        return "only in media in other languages"
    if len(names) == 1:
        listed = names[0]
    else:
        listed = ", ".join(f"{n}-" for n in names[:-1]) + " and " + names[-1]
    return f"only in {listed}-language media"
