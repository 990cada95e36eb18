"""The cluster stage: new items into stories from the store's sketches, or the window anew.

A first run or `--rebuild` clusters the whole window from scratch. Later runs read only the
new items and the sketches of stories near them (digest.stories.sketch): the window's term
counts and each story's member vectors are kept in the store, updated as items arrive, change
(SQLite triggers mark them) or leave the window. A store without valid statistics (older schema, a
changed tokeniser, site language or taxonomy, items deleted inside the window) is counted
again from the whole window once.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from digest.collector import collector_off
from digest.progress import QUIET, Progress
from digest.records import Config, StoredItem
from digest.records.sketches import Sketch, SketchMember, SketchSet
from digest.store import Store, from_db, to_db, utc_now
from digest.stories.assign import (
    FeatureRow,
    assign_new,
    cluster_new_stories,
    doc_features,
    entry_of,
)
from digest.stories.context import ClusterRun, label_context, window_members
from digest.stories.features import ClusterDoc, tokenizer_version
from digest.stories.ids import story_id_for
from digest.stories.labels import (
    label_doc,
    label_fingerprint,
    relabel,
)
from digest.stories.linkage import DEFAULT_MAX_GAP_DAYS, cluster_stories, neighbour_kth
from digest.stories.neighbours import KTH_FLOOR
from digest.stories.pairs import pair_model
from digest.stories.rank import pick_headline
from digest.stories.relabel import label_all, label_some
from digest.stories.related import merge_related, nearest_stories
from digest.stories.sketch import (
    best_stories,
    build_sketches,
    make_sketch,
    members_of,
    query_of,
    smooth_idf,
    with_kth,
)
from digest.stories.topics import KEY_TERMS
from digest.stories.vectors import VECTOR_LANGS, EmbedSummary
from digest.translate.embed import Embedder, make_embedder
from digest.wording import plural

__all__ = ["ClusterSummary", "run"]

# Bumped when what the statistics or sketches hold changes: older ones are counted again.
INDEX_VERSION = "2"

Vocab = dict[bool, dict[str, tuple[int, float, int]]]  # family -> term -> (id, idf, df)


@dataclass
class ClusterSummary:
    """What one cluster stage did."""

    items: int = 0
    stories: int = 0
    multi_outlet: int = 0
    rebuilt: bool = False  # clustered from scratch (first run or --rebuild)
    new_items: int = 0  # items clustered for the first time
    joined: int = 0  # of those, how many joined an existing story
    redirects: int = 0  # story ids merged away, now redirecting
    discovered_topics: int = 0
    embed: EmbedSummary = field(default_factory=EmbedSummary)
    sentences: int = 0  # sentences embedded for the stories' "what happened"

    def line(self) -> str:
        """One line for cron mail."""
        how = (
            "reclustered from scratch"
            if self.rebuilt
            else f"{plural(self.new_items, 'new item')}, {self.joined} joined existing stories"
        )
        text = (
            f"cluster: {plural(self.items, 'item')} in the window, {plural(self.stories, 'story')} "
            f"({self.multi_outlet} reported by several outlets); {how}"
        )
        if self.redirects:
            text += f"; {plural(self.redirects, 'merged story id')} redirect"
        if self.discovered_topics:
            text += f"; {plural(self.discovered_topics, 'discovered topic')}"
        if self.embed.model:
            text += f"; {plural(self.embed.embedded, 'text')} embedded ({self.embed.cached} cached)"
            for lang, n in sorted(self.embed.unreadable.items()):
                text += f", {n} in {lang} matched by words only"
            if self.sentences:
                text += f"; {plural(self.sentences, 'summary sentence')} embedded"
        return text


def run(
    config: Config,
    store: Store,
    *,
    rebuild: bool = False,
    progress: Progress = QUIET,
    embedder_factory: Callable[[str], Embedder | None] | None = None,
) -> ClusterSummary:
    """Put new items into stories (all of the window with rebuild), then label and file them.

    Existing stories keep their ids: new items join them or form new stories (incremental).
    The first run and `rebuild` recluster the window from scratch; a story whose items went
    to another story leaves a redirect from its old id.
    """
    now = utc_now()
    since = config.window_start(now)
    embedder = (embedder_factory or make_embedder)(config.stories.embedder)
    run = ClusterRun(config, store, now, since, embedder, progress)
    with collector_off():
        state = store.cluster_state()
        if rebuild or not store.has_clustered(since):
            summary = _whole_window(run, rebuild=True)
        elif not _index_fits(state, config, since, embedder):
            summary = _whole_window(run, rebuild=False)
        else:
            summary = _from_sketches(run, state)
    summary.embed = run.embed
    summary.sentences = run.sentences.embedded
    return summary


def _index_fits(
    state: Mapping[str, str], config: Config, since: datetime, embedder: Embedder | None
) -> bool:
    """True when the stored statistics and sketches were made for this configuration."""
    expected = {
        "version": INDEX_VERSION,
        "tokenizer": tokenizer_version(),
        "labels": hashlib.sha1(label_context(config).encode()).hexdigest(),
        "embedder": embedder.name if embedder is not None else "none",
    }
    if any(state.get(k) != v for k, v in expected.items()):
        return False
    # A window grown backwards holds items never counted.
    return "since" in state and state["since"] <= (to_db(since) or "")


# ---------------------------------------------------------------- the whole window


def _whole_window(run: ClusterRun, *, rebuild: bool) -> ClusterSummary:
    """Cluster (rebuild) or assign the window reading all of it, then count and sketch it."""
    config, store, now, since = run.config, run.store, run.now, run.since
    site_lang = config.site.language
    items = store.items(since=since, site_lang=site_lang)
    docs = run.docs(items)
    clustered = {it.id: it.story for it in items if it.story is not None}
    summary = ClusterSummary(items=len(items))
    redirects: dict[str, str] = {}
    # Tokens kept from earlier runs: only new or changed texts are tokenised.
    rows, computed = doc_features(list(docs.values()), store.item_features(since))
    features = {i: (row[1], row[2]) for i, row in rows.items()}
    kth: dict[str, float] = {}
    if rebuild:
        previous_ids = store.story_assignments()
        everything = list(docs.values())
        stories, redirects = cluster_new_stories(
            everything, previous_ids, features=features, kth=kth
        )
        summary.rebuilt = True
    else:
        stories = defaultdict(list)
        for item_id, sid in clustered.items():
            stories[sid].append(item_id)
        fresh = [docs[it.id] for it in items if it.story is None]
        reserved = set(store.story_redirects()) | set(store.story_assignments().values())
        existing = [docs[i] for i in clustered]
        placed = assign_new(existing, clustered, fresh, reserved=reserved, features=features)
        kth = neighbour_kth(list(docs.values()))
        for sid, ids in placed.items():
            summary.joined += len(ids) if sid in stories else 0
            stories[sid].extend(ids)
        summary.new_items = len(fresh)
    by_id = {it.id: it for it in items}
    label_docs = {
        sid: [
            label_doc(docs[i], by_id[i], rows[i][3], comparable=run.comparable(by_id[i]))
            for i in ids
        ]
        for sid, ids in stories.items()
    }
    # Only stories whose labelling inputs changed are labelled and written again.
    context = run.label_context()
    prints = {s: label_fingerprint([by_id[i] for i in ids], context) for s, ids in stories.items()}
    stored = {} if summary.rebuilt else store.story_label_hashes()
    previous = {sid: topics for sid, (_, topics) in store.story_labels().items()}
    changed = {sid for sid, h in prints.items() if stored.get(sid) != h}
    discover = config.stories.discover_topics
    found = relabel(
        label_docs, changed, previous, config.topics, site_lang, discover=discover,
        topic_vectors=run.topic_vectors(),
    )  # fmt: skip
    labels = {
        sid: (pick_headline([by_id[i] for i in stories[sid]], site_lang), found[sid].topics)
        for sid in found
    }
    outlets = (len({f for i in ids for f in by_id[i].feeds}) for ids in stories.values())
    summary.multi_outlet = sum(n > 1 for n in outlets)
    summary.stories = len(stories)
    summary.redirects = len(redirects)
    names = {t.name for t in config.topics}
    topics = [found[s].topics if s in found else previous.get(s, []) for s in stories]
    summary.discovered_topics = len({t for ts in topics for t in ts} - names)
    briefs = run.summaries(
        {sid: [by_id[i] for i in stories[sid]] for sid in found},
        {sid: labels[sid][0] for sid in found},
    )
    with store.transaction():
        run.settle_topics(found, previous)
        labels = {sid: (headline, found[sid].topics) for sid, (headline, _) in labels.items()}
        store.save_stories({sid: stories[sid] for sid in found}, labels, now)
        store.save_story_extras(
            {sid: lab.key_terms for sid, lab in found.items()},
            redirects,
            now,
            coverage={sid: (lab.coverage.gap, lab.coverage.note) for sid, lab in found.items()},
        )
        store.save_story_summaries(briefs)
        store.save_label_hashes({sid: prints[sid] for sid in found})
        store.save_item_features(computed)
        _count_window(run, by_id, docs, rows, stories, kth)
    return summary


def _count_window(
    run: ClusterRun,
    items: Mapping[str, StoredItem],
    docs: Mapping[str, ClusterDoc],
    rows: Mapping[str, FeatureRow],
    stories: Mapping[str, Sequence[str]],
    kth: Mapping[str, float],
) -> None:
    """Replace the window's term statistics and every story's sketch (inside a transaction)."""
    store, since = run.store, run.since
    store.reset_cluster_index()
    store.forget_features_before(since)
    df: dict[bool, Counter[str]] = {False: Counter(), True: Counter()}
    counted = {False: 0, True: 0}
    key: Counter[str] = Counter()
    for _, continuous, tokens, terms in rows.values():
        if tokens:
            df[continuous].update(set(tokens))
            counted[continuous] += 1
        key.update(terms)
    for flag in (False, True):
        store.add_term_counts(int(flag), df[flag])
    store.add_term_counts(KEY_TERMS, key)
    vocab = {flag: _vocab(store.term_stats(int(flag)), counted[flag]) for flag in (False, True)}
    entries = [
        entry_of(docs[i], sid, (rows[i][1], rows[i][2]), kth.get(i, KTH_FLOOR))
        for sid, ids in stories.items()
        for i in ids
        if i in rows
    ]
    every = build_sketches(entries, vocab)
    store.save_sketches(list(every.split(every.story_ids).values()))
    languages = run.vector_languages(list(items.values()))
    store.save_cluster_state(_state(run, counted, sum(key.values()), languages))
    ids, matrix = store.window_centroids(since.timestamp())
    store.save_related(nearest_stories(ids, matrix))


def _state(
    run: ClusterRun, docs: Mapping[bool, int], key: int, languages: Collection[str]
) -> dict[str, str]:
    config, since, embedder = run.config, run.since, run.embedder
    return {
        "version": INDEX_VERSION,
        "tokenizer": tokenizer_version(),
        "labels": hashlib.sha1(label_context(config).encode()).hexdigest(),
        "embedder": embedder.name if embedder is not None else "none",
        "since": to_db(since) or "",
        "docs0": str(docs[False]),
        "docs1": str(docs[True]),
        "key_tokens": str(key),
        # Languages whose reports have vectors that compare across languages (coverage claims).
        VECTOR_LANGS: " ".join(sorted(languages)),
    }


def _vocab(stats: Mapping[str, tuple[int, int]], docs: int) -> dict[str, tuple[int, float, int]]:
    return {t: (i, smooth_idf(n, docs), n) for t, (i, n) in stats.items()}


def _members(
    docs: Iterable[ClusterDoc], rows: Mapping[str, FeatureRow], vocab: Vocab
) -> dict[str, SketchMember]:
    """item id -> its sketch member, for docs whose tokens are in `rows`."""
    entries = [entry_of(d, "", (rows[d.id][1], rows[d.id][2])) for d in docs]
    return members_of(entries, vocab)


# ---------------------------------------------------------------- from the sketches


class _Counts:
    """Changes to the window's term statistics during one run."""

    def __init__(self, state: Mapping[str, str]) -> None:
        self.docs = {False: int(state["docs0"]), True: int(state["docs1"])}
        self.key_tokens = int(state["key_tokens"])
        self.delta: dict[int, Counter[str]] = {0: Counter(), 1: Counter(), KEY_TERMS: Counter()}

    def add(self, rows: Iterable[FeatureRow], sign: int) -> None:
        """Count (sign 1) or uncount (sign -1) these docs' tokens."""
        for _, continuous, tokens, terms in rows:
            if tokens:
                self.delta[int(continuous)].update(dict.fromkeys(tokens, sign))
                self.docs[continuous] += sign
            self.delta[KEY_TERMS].update({t: sign * n for t, n in Counter(terms).items()})
            self.key_tokens += sign * len(terms)

    def save(self, store: Store) -> None:
        """Write the changes (inside the run's transaction)."""
        for kind, delta in self.delta.items():
            store.add_term_counts(kind, delta)

    def vocab(self, store: Store, rows: Iterable[FeatureRow]) -> Vocab:
        """term -> (id, idf, df) for the clustering tokens of these docs (after save)."""
        wanted: dict[bool, set[str]] = {False: set(), True: set()}
        for _, continuous, tokens, _ in rows:
            wanted[continuous].update(tokens)
        return {
            flag: _vocab(store.term_stats(int(flag), wanted[flag]), self.docs[flag])
            for flag in (False, True)
        }


def _from_sketches(run: ClusterRun, state: Mapping[str, str]) -> ClusterSummary:
    """Assign the new items reading only them and the sketches of stories near them."""
    config, store, now, since = run.config, run.store, run.now, run.since
    site_lang = config.site.language
    model = pair_model()
    since_s = since.timestamp()
    max_gap = DEFAULT_MAX_GAP_DAYS * 86400.0
    counts = _Counts(state)
    # Reports that left the window since the last run no longer count.
    last_since = from_db(state["since"]) or since
    leaving = store.features_published_between(last_since, since) if last_since < since else {}
    counts.add(leaving.values(), -1)
    # Items whose text changed are counted again from the new text, their stories sketched
    # again; those outside the window just stop counting.
    dirty = set(store.dirty_features()) - set(leaving)
    counts.add(store.features_of(dirty).values(), -1)
    changed = [it for it in store.items(since=since, site_lang=site_lang, ids=dirty) if it.story]
    fresh_items = store.items(since=since, site_lang=site_lang, unclustered=True)
    by_id = {it.id: it for it in [*changed, *fresh_items]}
    docs = run.docs(list(by_id.values()))
    rows, _ = doc_features(list(docs.values()), {})
    counts.add(rows.values(), 1)
    fresh = [docs[it.id] for it in fresh_items]
    features = {i: (r[1], r[2]) for i, r in rows.items()}
    groups = cluster_stories(fresh, features=features) if fresh else []
    summary = ClusterSummary(new_items=len(fresh))
    with store.transaction():
        counts.save(store)
        vocab = counts.vocab(store, rows.values())
        members = _members((docs[i] for i in rows), rows, vocab)
        term_of = {tid: (idf, df) for v in vocab.values() for tid, idf, df in v.values()}
        queries = {d.id: query_of(members[d.id], term_of) for d in fresh}
        placed: dict[str, list[str]] = {}
        nearby: set[str] = set()
        found = SketchSet.of([])
        if groups:
            times = [q.seconds for q in queries.values()]
            found = store.sketches_near(min(times) - max_gap, max(times) + max_gap, since_s)
            nearby = set(found.story_ids)
            k = model.margin_k
            queries = with_kth(queries, found, since=since_s, max_gap=max_gap, k=k)
            for d in fresh:
                members[d.id] = replace(members[d.id], kth=queries[d.id].kth)
            best = best_stories(groups, queries, found, since=since_s, max_gap=max_gap, model=model)
            for g, group in enumerate(groups):
                sid = best.get(g) or _new_story_id(store, group, set(placed))
                placed.setdefault(sid, []).extend(group)
        summary.joined = sum(len(ids) for sid, ids in placed.items() if sid in nearby)
        store.save_stories(placed, {}, now, drop_empty=False)
        store.save_item_features(rows)
        store.forget_features((dirty - set(rows)) | set(leaving))
        resketch = {str(it.story) for it in changed} | set(store.stale_sketches())
        joined = found.split(set(placed) - resketch)
        sketches = [
            make_sketch(sid, [*joined[sid].parts(), *(members[i] for i in ids)])
            if sid in joined
            else make_sketch(sid, [members[i] for i in ids])
            for sid, ids in placed.items()
            if sid not in resketch
        ]
        sketches += _sketch_again(run, resketch, rows, counts)
        store.save_sketches(sketches, drop=resketch - {s.story_id for s in sketches})
        # Stories wholly out of the window can never be joined again.
        store.drop_sketches_before(since_s)
        _relate(store, {s.story_id for s in sketches}, since_s)
        languages = set(state.get(VECTOR_LANGS, "").split()) | run.vector_languages(fresh_items)
        store.save_cluster_state(
            {**state, "since": to_db(since) or "", "docs0": str(counts.docs[False]),
             "docs1": str(counts.docs[True]), "key_tokens": str(counts.key_tokens),
             VECTOR_LANGS: " ".join(sorted(languages))}
        )  # fmt: skip
        summary.stories, summary.multi_outlet = store.sketch_summary(since_s)
        wanted = set(placed) | resketch | set(store.unlabelled_stories(since_s))
        if not label_some(run, wanted, rows, counts.key_tokens, summary.stories):
            label_all(run)
    summary.items = store.count_since(since)
    names = {t.name for t in config.topics}
    summary.discovered_topics = len(store.window_topics(since_s) - names)
    return summary


def _relate(store: Store, touched: Collection[str], since: float) -> None:
    """Nearest stories of the touched ones; they also enter their neighbours' lists."""
    if not touched:
        return
    ids, matrix = store.window_centroids(since)
    window = set(ids)
    stored = {s: pairs for s, pairs in store.story_related().items() if s in window}
    gone = {other for pairs in stored.values() for other, _ in pairs} - window
    fresh = nearest_stories(ids, matrix, touched)
    merged = merge_related(stored, fresh, gone)
    store.save_related({s: p for s, p in merged.items() if s in fresh or stored.get(s) != p})


def _new_story_id(store: Store, group: Sequence[str], taken: Collection[str]) -> str:
    """The id a new story of these items gets: never one used before (as fresh_story_id)."""
    n = 2
    while True:
        candidates = [*(story_id_for(i) for i in group), story_id_for(f"{group[0]}#{n}")]
        used = store.story_ids_in_use(candidates)
        for sid in candidates:
            if sid not in used and sid not in taken:
                return sid
        n += 1


def _sketch_again(
    run: ClusterRun,
    story_ids: Collection[str],
    rows: Mapping[str, FeatureRow],
    counts: _Counts,
) -> list[Sketch]:
    """Sketches of these stories made afresh from their members in the window."""
    if not story_ids:
        return []
    store = run.store
    grouped = window_members(store, story_ids, run.since, run.config.site.language)
    docs = run.docs([it for members in grouped.values() for it in members])
    ids = list(docs)
    known = {**store.features_of([i for i in ids if i not in rows]), **rows}
    # A member without stored tokens (should not happen) is tokenised here.
    missing = [docs[i] for i in ids if i not in known]
    known.update(doc_features(missing, {})[0])
    vocab = counts.vocab(store, (known[i] for i in ids))
    return [
        make_sketch(sid, list(_members((docs[it.id] for it in members), known, vocab).values()))
        for sid, members in grouped.items()
    ]
