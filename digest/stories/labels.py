"""Story labels: key terms, taxonomy and discovered topics, coverage gaps (pure, no I/O)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from digest.language import language_name
from digest.records import StoredItem, TopicConfig
from digest.stories.features import ClusterDoc, features
from digest.stories.filing import file_by_meaning, mean_vector
from digest.stories.terms import surface_forms
from digest.stories.topics import (
    class_key_terms,
    discover_topics,
    key_term_tokens,
    match_topics,
    rank_terms,
    topic_name,
)

__all__ = [
    "RELABEL_ALL_SHARE",
    "Coverage",
    "LabelDoc",
    "StoryLabels",
    "coverage",
    "coverage_gap",
    "label_changed",
    "label_doc",
    "label_fingerprint",
    "label_stories",
    "relabel",
]


@dataclass(frozen=True)
class LabelDoc:
    """One report of a story as labelling sees it."""

    text: str  # comparable text: in the site language when translated, else the original
    lang: str  # language of `text`
    texts: tuple[str, ...] = ()  # every text the taxonomy is matched on (original, translated)
    terms: Sequence[str] | None = None  # key_term_tokens(text, lang), when already known
    source_lang: str = ""  # the report's own language ("" = lang)
    visible: bool = True  # not hidden (a hidden report is no coverage)
    # Could the digest have matched it with reports in the site language (a vector from a
    # model that reads both languages, or a translation)? Only then may a gap be claimed.
    comparable: bool = True
    title: str = ""  # the headline of `text` (topic names prefer words of headlines)
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)


def label_doc(
    doc: ClusterDoc,
    item: StoredItem,
    terms: Sequence[str] | None = None,
    *,
    comparable: bool = True,
) -> LabelDoc:
    """The LabelDoc of a stored item clustered as `doc`: taxonomy matched on every text."""
    texts = (item.title, item.summary, item.title_translated or "", item.summary_translated or "")
    return LabelDoc(
        text=doc.text,
        lang=doc.lang,
        texts=texts,
        terms=terms,
        source_lang=item.lang,
        visible=not item.hidden,
        comparable=comparable,
        title=item.display_title,
        vector=doc.vector,
    )


def _terms(doc: LabelDoc) -> Sequence[str]:
    return doc.terms if doc.terms is not None else key_term_tokens(doc.text, doc.lang)


@dataclass(frozen=True)
class Coverage:
    """What a story page may say about who did not report it."""

    gap: str | None = None  # "only in Chinese-language media": claimed only when checkable
    note: str | None = None  # why no claim can be made (a language no model reads)


@dataclass
class StoryLabels:
    """What labelling found for one story."""

    topics: list[str] = field(default_factory=list)  # taxonomy topics, else one discovered
    key_terms: list[str] = field(default_factory=list)
    discovered: bool = False  # topics come from discovery, not the taxonomy
    coverage: Coverage = field(default_factory=Coverage)
    by_meaning: bool = False  # filed under a taxonomy topic by the embedder, not keywords


# Topic vectors: taxonomy topic name -> its texts' centred, normalised vectors (filing.py).
TopicVectors = Mapping[str, np.ndarray]


def _display(terms: Sequence[str], docs: Sequence[LabelDoc]) -> list[str]:
    """Terms as the reports write them (case, script)."""
    return surface_forms(terms, [d.text for d in docs])


def _file(
    docs: Sequence[LabelDoc], taxonomy: Sequence[TopicConfig], vectors: TopicVectors | None
) -> tuple[list[str], bool]:
    """Taxonomy topics of a story: by keywords, else by meaning; (topics, by meaning)."""
    found = match_topics([t for d in docs for t in (d.texts or (d.text,))], taxonomy)
    if found or not vectors:
        return found, False
    topic = file_by_meaning(mean_vector([d.vector for d in docs]), vectors)
    return ([topic], True) if topic is not None else ([], False)


def label_stories(
    stories: Mapping[str, Sequence[LabelDoc]],
    taxonomy: Sequence[TopicConfig],
    site_language: str = "en",
    *,
    discover: bool = True,
    topic_vectors: TopicVectors | None = None,
) -> dict[str, StoryLabels]:
    """Key terms (class-based TF-IDF) and topics of each story; deterministic.

    A story is filed under every taxonomy topic whose keywords occur in any of its texts;
    missed, under the taxonomy topic its meaning fits (`topic_vectors`, see filing.py), if
    any. The stories left are clustered into discovered topics (their number chosen
    automatically, only coherent groups kept, see digest.stories.topics), each named after
    the words that set it apart, headline words first.
    """
    ids = sorted(stories)
    display = [[t for d in stories[s] for t in _terms(d)] for s in ids]
    terms = class_key_terms(display)
    labels: dict[str, StoryLabels] = {}
    missed: list[str] = []
    for s, story_terms in zip(ids, terms, strict=True):
        found, by_meaning = _file(stories[s], taxonomy, topic_vectors)
        cover = coverage(stories[s], site_language)
        shown = _display(story_terms, stories[s])
        labels[s] = StoryLabels(
            topics=found, key_terms=shown, coverage=cover, by_meaning=by_meaning
        )
        if not found:
            missed.append(s)
    if not discover:
        return labels
    position = {s: k for k, s in enumerate(ids)}
    # Topics are found with the similarity tokens (character n-grams of Chinese find topics
    # in headlines better than jieba's words), and named with words only.
    tokens = [[t for d in stories[s] for t in features(d.text, d.lang)] for s in missed]
    vectors = [mean_vector([d.vector for d in stories[s]]) for s in missed]
    numbers = discover_topics(tokens, vectors)
    members: dict[int, list[int]] = defaultdict(list)
    for k, number in enumerate(numbers):
        if number >= 0:
            members[number].append(k)
    # Headline words count twice: a topic is named by what its headlines say.
    named = [
        [
            t
            for k in members[n]
            for t in [
                *display[position[missed[k]]],
                *(w for d in stories[missed[k]] for w in key_term_tokens(d.title, d.lang)),
            ]
        ]
        for n in sorted(members)
    ]
    taken = {t.name for t in taxonomy}
    for n, top in zip(sorted(members), class_key_terms(named, top=3), strict=True):
        if not top:
            continue  # no word to name it by (Tibetan alone): not a topic a reader can use
        docs = [d for k in members[n] for d in stories[missed[k]]]
        name = topic_name(_display(top, docs), taken)
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
    site_language: str = "en",
    *,
    discover: bool = True,
    topic_vectors: TopicVectors | None = None,
) -> dict[str, StoryLabels]:
    """Labels of the changed stories, or of all of them (label_stories) when too many changed.

    `previous`: story id -> its stored topics. A changed story gets the key terms and
    taxonomy topics a full labelling would give it; missed by the taxonomy, it keeps the
    discovered topic it had (a new story gets one at the next full labelling). All stories
    are labelled again when more than RELABEL_ALL_SHARE of them changed or would have no topic.
    """
    share = RELABEL_ALL_SHARE * len(stories)
    if len(changed) > share:
        return label_stories(
            stories, taxonomy, site_language, discover=discover, topic_vectors=topic_vectors
        )
    ids = sorted(stories)
    display = {s: [t for d in stories[s] for t in _terms(d)] for s in ids}
    overall = Counter(chain.from_iterable(display.values()))
    average = sum(map(len, display.values())) / len(ids) if ids else 0.0
    wanted = {s: stories[s] for s in ids if s in changed}
    labels = label_changed(
        wanted, overall, average, previous, taxonomy, site_language, topic_vectors=topic_vectors
    )
    unfiled = sum(1 for lab in labels.values() if not lab.topics) + sum(
        1 for s in ids if s not in labels and not previous.get(s)
    )
    if unfiled > share:
        return label_stories(
            stories, taxonomy, site_language, discover=discover, topic_vectors=topic_vectors
        )
    return labels


def label_changed(
    stories: Mapping[str, Sequence[LabelDoc]],
    overall: Mapping[str, int],
    average: float,
    previous: Mapping[str, Sequence[str]],
    taxonomy: Sequence[TopicConfig],
    site_language: str = "en",
    *,
    topic_vectors: TopicVectors | None = None,
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
        found, by_meaning = _file(docs, taxonomy, topic_vectors)
        kept = [t for t in previous.get(s, ()) if t not in names]
        discovered = not found and bool(kept)
        labels[s] = StoryLabels(
            topics=found or kept,
            key_terms=_display(terms, docs),
            discovered=discovered,
            coverage=coverage(docs, site_language),
            by_meaning=by_meaning,
        )
    return labels


def coverage(docs: Sequence[LabelDoc], site_language: str) -> Coverage:
    """What may be said of a story's coverage in the site language, and only that.

    A story none of whose (visible) reports is in the site language gets "only in
    Chinese-language media" when every one of them could have been matched with a site-
    language report (so none was found); when some could not (a language no model reads),
    nothing is claimed and the note says why.
    """
    visible = [d for d in docs if d.visible]
    site = _base(site_language)
    bases = [_base(d.source_lang or d.lang) for d in visible]
    if not visible or site in bases:
        return Coverage()
    unmatched = sorted({b for d, b in zip(visible, bases, strict=True) if not d.comparable})
    if not unmatched:
        return Coverage(gap=coverage_gap(bases, site_language))
    names = _listed([language_name(b) for b in unmatched if b not in ("und", "")]) or "some"
    return Coverage(
        note=f"{names} reports cannot be compared with {language_name(site)} ones here "
        "(no installed model reads them), so other coverage may have been missed"
    )


def _base(lang: str) -> str:
    return lang.split("-")[0].lower()


def _listed(names: Sequence[str]) -> str:
    names = sorted(set(names))
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def coverage_gap(languages: Sequence[str], site_language: str) -> str | None:
    """'only in Chinese-language media' when no report is in the site language, else None."""
    site = site_language.split("-")[0].lower()
    bases = [lang.split("-")[0].lower() for lang in languages]
    if not bases or site in bases:
        return None
    names = sorted({language_name(b) for b in bases if b not in ("und", "")})
    if not names:
        return "only in media in other languages"
    if len(names) == 1:
        listed = names[0]
    else:
        listed = ", ".join(f"{n}-" for n in names[:-1]) + " and " + names[-1]
    return f"only in {listed}-language media"
