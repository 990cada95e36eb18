"""Story sketches: what an incremental cluster run keeps of each story (pure, no I/O).

A sketch holds, per member report, its publication time, feeds, script family and its
TF-IDF vector stored as sublinear tf divided by the vector's norm (the IDF itself is applied
when scoring, from the window statistics of that run). New reports are scored against the
sketches of nearby stories (`best_stories`, also behind `digest.stories.assign.assign_new`): mean
penalised cosine (average linkage), time discount, same-feed discount, span limit. Terms in
more than COMMON_DF docs of the window are scored per story instead of per pair
(`_common_share`), which keeps the cost proportional to the stories, not to all pairs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from digest.records.sketches import Sketch, SketchMember, SketchSet
from digest.stories.linkage import COMMON_DF, SAME_FEED_FACTOR, TIME_DISCOUNT

__all__ = [
    "KEY_TERMS",
    "Query",
    "best_stories",
    "build_sketches",
    "make_sketch",
    "member_of",
    "members_of",
    "query_of",
    "smooth_idf",
    "window_vocab",
]

# term_stats kinds: clustering tokens of spaced / unspaced scripts (document frequency, one
# IDF per family as in the full clustering), and key-term tokens (total count).
KEY_TERMS = 2


def smooth_idf(df: float, docs: int) -> float:
    """IDF as the full clustering computes it (scikit-learn's smooth_idf)."""
    return math.log((1.0 + docs) / (1.0 + df)) + 1.0


def make_sketch(story_id: str, members: Iterable[SketchMember]) -> Sketch:
    """The sketch of a story from its members (ordered by time, then id: deterministic)."""
    ordered = sorted(members, key=lambda m: (m.seconds, m.item_id))
    empty_i = np.zeros(0, dtype=np.int64)
    empty_f = np.zeros(0, dtype=np.float64)
    return Sketch(
        story_id=story_id,
        members=[m.item_id for m in ordered],
        feeds=[tuple(m.feeds) for m in ordered],
        seconds=np.array([m.seconds for m in ordered], dtype=np.float64),
        continuous=np.array([m.continuous for m in ordered], dtype=bool),
        lengths=np.array([len(m.terms) for m in ordered], dtype=np.int64),
        terms=np.concatenate([np.asarray(m.terms, np.int64) for m in ordered] or [empty_i]),
        weights=np.concatenate([np.asarray(m.weights, np.float64) for m in ordered] or [empty_f]),
    )


@dataclass(frozen=True)
class Query:
    """A new report as scoring sees it: its vector already multiplied by idf (tf·idf²/norm)."""

    id: str
    seconds: float
    continuous: bool
    feeds: tuple[str, ...]
    terms: np.ndarray  # int64 term ids
    weights: np.ndarray  # float64
    common: np.ndarray | None = None  # bool per term: in more than COMMON_DF docs


def best_stories(
    groups: Sequence[Sequence[str]],
    queries: Mapping[str, Query],
    sketches: SketchSet,
    *,
    since: float,
    threshold: float,
    max_gap: float,
) -> dict[int, str]:
    """Group index -> the story it joins: mean penalised similarity >= threshold, span kept.

    Only members published at or after `since` (the window) count; a story counts when all
    of those lie within max_gap of the new reports' range (no other join could be allowed).
    """
    order = [queries[i] for group in groups for i in group]
    n_stories = len(sketches.story_ids)
    if not order or not n_stories:
        return {}
    group_of = np.array([g for g, group in enumerate(groups) for _ in group], dtype=np.int64)
    t_new = np.array([q.seconds for q in order])
    lo, hi = float(t_new.min()) - max_gap, float(t_new.max()) + max_gap
    story_of = np.repeat(np.arange(n_stories), sketches.counts)
    inside = sketches.seconds >= since
    # Each story's members are contiguous: per-story reductions over their runs.
    first = np.cumsum(sketches.counts) - sketches.counts
    span_min = np.minimum.reduceat(np.where(inside, sketches.seconds, np.inf), first)
    span_max = np.maximum.reduceat(np.where(inside, sketches.seconds, -np.inf), first)
    size = np.add.reduceat(inside.astype(np.float64), first)
    kept = (size > 0) & (span_min >= lo) & (span_max <= hi)
    if not kept.any():
        return {}
    member_kept = inside & kept[story_of]
    owner = np.repeat(np.arange(len(sketches.members)), sketches.lengths)
    term_kept = member_kept[owner]
    # Only terms some query has can add anything: one lookup for every member term.
    term_kept &= _positions(np.concatenate([q.terms for q in order]), sketches.terms) >= 0
    m_terms, m_weights, m_owner = (
        sketches.terms[term_kept],
        sketches.weights[term_kept],
        owner[term_kept],
    )
    totals = np.zeros(len(groups) * n_stories)
    for flag in (False, True):
        rows = [k for k, q in enumerate(order) if q.continuous == flag]
        if not rows:
            continue
        family = sketches.continuous == flag
        picked = [order[k] for k in rows]
        rare = [_part(q, common=False) for q in picked]
        sims = _products(rare, m_terms, m_weights, m_owner, family, len(sketches.members))
        totals += _common_share(
            [_part(q, common=True) for q in picked],
            group_of[rows],
            len(groups),
            (m_terms, m_weights, m_owner),
            family & member_kept,
            sketches.seconds,
            story_of,
            n_stories,
            max_gap,
        )
        if sims is None:
            continue
        r, c, v = sims
        r = np.asarray(rows, dtype=np.int64)[r]
        gap = np.abs(t_new[r] - sketches.seconds[c])
        if max_gap > 0 and math.isfinite(max_gap):
            v = v * (1.0 - TIME_DISCOUNT * np.minimum(gap, max_gap) / max_gap)
        v = np.where(gap <= max_gap, v, 0.0)
        same = _share_feed(order, r, sketches.feeds, c)
        v = np.where(same, v * SAME_FEED_FACTOR, v)
        totals += np.bincount(
            group_of[r] * n_stories + story_of[c], weights=v, minlength=totals.size
        )
    means = totals.reshape(len(groups), n_stories) / np.maximum(size, 1.0)[None, :]
    sizes = np.bincount(group_of, minlength=len(groups)).astype(np.float64)
    g_min = np.full(len(groups), np.inf)
    g_max = np.full(len(groups), -np.inf)
    np.minimum.at(g_min, group_of, t_new)
    np.maximum.at(g_max, group_of, t_new)
    span = np.maximum(span_max[None, :], g_max[:, None]) - np.minimum(
        span_min[None, :], g_min[:, None]
    )
    # Ties go to the lowest story id: columns looked at in id order.
    by_id = np.argsort(np.array(sketches.story_ids, dtype=object), kind="stable")
    means = np.where(kept[None, :] & (span <= max_gap), means / sizes[:, None], -1.0)[:, by_id]
    best = np.argmax(means, axis=1)
    chosen: dict[int, str] = {}
    for g, k in enumerate(best.tolist()):
        if means[g, k] >= threshold:
            chosen[g] = sketches.story_ids[int(by_id[k])]
    return chosen


def _positions(vocab: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """Each term's index in sorted `vocab`, -1 when absent (term ids are small integers)."""
    if vocab.size == 0 or terms.size == 0:
        return np.full(terms.size, -1, dtype=np.int64)
    table = np.full(int(max(vocab.max(), terms.max())) + 1, -1, dtype=np.int64)
    table[vocab] = np.arange(vocab.size)
    return table[terms]


def _part(q: Query, *, common: bool) -> Query:
    """The query with only its common (or only its rare) terms."""
    if q.common is None:
        return q if not common else replace(q, terms=q.terms[:0], weights=q.weights[:0])
    keep = q.common if common else ~q.common
    return replace(q, terms=q.terms[keep], weights=q.weights[keep], common=None)


def _common_share(
    queries: Sequence[Query],
    group_of: np.ndarray,
    n_groups: int,
    members: tuple[np.ndarray, np.ndarray, np.ndarray],
    member_ok: np.ndarray,
    seconds: np.ndarray,
    story_of: np.ndarray,
    n_stories: int,
    max_gap: float,
) -> np.ndarray:
    """Per (group, story), the summed similarity the common terms add (flattened).

    Terms in more than COMMON_DF docs would make nearly every pair non-zero, so they are
    taken per story, not per pair: the story's sum of member vectors S and of time-weighted
    vectors T give q·S (the pairs' summed similarity over those terms) and q·T / q·S (its
    weighted mean time), discounted for time at that mean: exact when the story's members are
    all older (or all newer) than the query. The same-feed discount is not applied to this
    share (it is small: low-idf terms).
    """
    import scipy.sparse as sp

    out = np.zeros((n_groups, n_stories))
    q_terms = np.concatenate([q.terms for q in queries]) if queries else np.zeros(0, np.int64)
    vocab = np.unique(q_terms)
    if vocab.size == 0:
        return out.reshape(-1)
    m_terms, m_weights, m_owner = members
    pos = _positions(vocab, m_terms)
    hit = (pos >= 0) & member_ok[m_owner]
    owner, col, w = m_owner[hit], pos[hit], m_weights[hit]
    if owner.size == 0:
        return out.reshape(-1)
    # Only stories some member of which shares a common term with a query: their own numbers.
    stories, story = np.unique(story_of[owner], return_inverse=True)
    origin = float(seconds[owner].min())
    cell = story * vocab.size + col
    size = stories.size * vocab.size
    sums = np.bincount(cell, weights=w, minlength=size).reshape(stories.size, vocab.size)
    timed = np.bincount(cell, weights=w * (seconds[owner] - origin), minlength=size)
    q_rows = np.repeat(np.arange(len(queries)), [q.terms.size for q in queries])
    q_matrix = sp.csr_matrix(
        (np.concatenate([q.weights for q in queries]), (q_rows, np.searchsorted(vocab, q_terms))),
        shape=(len(queries), vocab.size),
    )
    both = np.asarray(q_matrix @ np.vstack([sums, timed.reshape(stories.size, vocab.size)]).T)
    mass, when = both[:, : stories.size], both[:, stories.size :]
    if max_gap > 0 and math.isfinite(max_gap):
        # mass · gap to the mean time is |t·mass - when|: no division needed.
        t_new = np.array([q.seconds for q in queries]) - origin
        spread = np.abs(t_new[:, None] * mass - when)
        np.minimum(spread, max_gap * mass, out=spread)
        mass -= (TIME_DISCOUNT / max_gap) * spread
    # Queries come grouped (group_of never decreases): one sum per run of a group.
    starts = np.flatnonzero(np.r_[True, group_of[1:] != group_of[:-1]])
    out[np.ix_(group_of[starts], stories)] = np.add.reduceat(mass, starts, axis=0)
    return out.reshape(-1)


def _products(
    queries: Sequence[Query],
    m_terms: np.ndarray,
    m_weights: np.ndarray,
    m_owner: np.ndarray,
    family: np.ndarray,
    n_members: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Non-zero (query row, member, cosine) of queries against members of their family."""
    import scipy.sparse as sp

    q_terms = np.concatenate([q.terms for q in queries])
    vocab = np.unique(q_terms)
    if vocab.size == 0:
        return None
    # Only terms some query has can add to a product: map member terms onto those.
    pos = _positions(vocab, m_terms)
    hit = (pos >= 0) & family[m_owner]
    members = sp.csr_matrix(
        (m_weights[hit], (m_owner[hit], pos[hit])), shape=(n_members, vocab.size)
    )
    q_rows = np.repeat(np.arange(len(queries)), [q.terms.size for q in queries])
    q_matrix = sp.csr_matrix(
        (np.concatenate([q.weights for q in queries]), (q_rows, np.searchsorted(vocab, q_terms))),
        shape=(len(queries), vocab.size),
    )
    product = (q_matrix @ members.T).tocoo()
    return product.row.astype(np.int64), product.col.astype(np.int64), product.data


def _share_feed(
    order: Sequence[Query], rows: np.ndarray, feeds_mem: Sequence[str], cols: np.ndarray
) -> np.ndarray:
    """For each (query row, member) pair: do they share a feed? (member feeds tab-joined)"""
    code: dict[str, int] = {}
    for q in order:
        for f in q.feeds:
            code.setdefault(f, len(code))
    if not code or rows.size == 0:
        return np.zeros(rows.size, dtype=bool)
    # Most members come from one feed: a (query, feed) table answers for them.
    table = np.zeros((len(order), len(code) + 1), dtype=bool)
    for k, q in enumerate(order):
        table[k, [code[f] for f in q.feeds]] = True
    members, where = np.unique(cols, return_inverse=True)
    single = np.full(members.size, len(code), dtype=np.int64)  # last column: never shared
    multi = np.zeros(members.size, dtype=bool)
    for k, m in enumerate(members.tolist()):
        line = feeds_mem[m]
        if "\t" in line:
            multi[k] = True
        elif line:
            single[k] = code.get(line, len(code))
    same = table[rows, single[where]]
    for pos in np.flatnonzero(multi[where]).tolist():
        query = order[int(rows[pos])]
        same[pos] = bool(set(query.feeds) & set(feeds_mem[int(cols[pos])].split("\t")))
    return same


def members_of(
    entries: Sequence[Entry], vocab: Mapping[bool, Mapping[str, tuple[int, float, int]]]
) -> dict[str, SketchMember]:
    """Sketch members of many docs at once: item id -> member (build_sketches' vectors)."""
    one_each = [(e[1], *e[1:]) for e in entries]  # each doc its own story: split back out
    every = build_sketches(one_each, vocab)
    return {sid: sk.parts()[0] for sid, sk in every.split(every.story_ids).items()}


def member_of(
    item_id: str,
    seconds: float,
    continuous: bool,
    feeds: Sequence[str],
    tokens: Sequence[str],
    vocab: Mapping[str, tuple[int, float, int]],
) -> SketchMember:
    """One doc's sketch member; `vocab`: term -> (id, idf, df) of its family."""
    entry = ("", item_id, seconds, continuous, tuple(feeds), tokens)
    return members_of([entry], {continuous: vocab})[item_id]


def query_of(member: SketchMember, by_id: Mapping[int, tuple[float, int]]) -> Query:
    """The query of a new doc from its member form: weights times idf twice (tf·idf²/norm).

    `by_id`: term id -> (idf, df); terms in more than COMMON_DF docs of the window are marked
    common (scored per story, see _common_share).
    """
    idf = np.array([by_id[int(t)][0] for t in member.terms], dtype=np.float64)
    common = np.array([by_id[int(t)][1] > COMMON_DF for t in member.terms], dtype=bool)
    return Query(
        id=member.item_id,
        seconds=member.seconds,
        continuous=member.continuous,
        feeds=member.feeds,
        terms=member.terms,
        weights=member.weights * idf * idf,
        common=common,
    )


def window_vocab(
    tokens: Mapping[str, tuple[bool, Sequence[str]]],
) -> dict[bool, dict[str, tuple[int, float, int]]]:
    """Per family, term -> (id, idf, df) over these docs' tokens (the in-memory statistics)."""
    df: dict[bool, Counter[str]] = {False: Counter(), True: Counter()}
    docs = {False: 0, True: 0}
    for continuous, toks in tokens.values():
        if toks:
            df[continuous].update(set(toks))
            docs[continuous] += 1
    vocab: dict[bool, dict[str, tuple[int, float, int]]] = {False: {}, True: {}}
    for flag in (False, True):
        for k, term in enumerate(sorted(df[flag])):
            n = df[flag][term]
            vocab[flag][term] = (2 * k + int(flag), smooth_idf(n, docs[flag]), n)
    return vocab


# One report for build_sketches: (story id, item id, seconds, continuous, feeds, tokens).
Entry = tuple[str, str, float, bool, tuple[str, ...], Sequence[str]]


def build_sketches(
    entries: Sequence[Entry], vocab: Mapping[bool, Mapping[str, tuple[int, float, int]]]
) -> SketchSet:
    """Sketches of many stories at once: each member's vector is sublinear tf / |tf·idf|."""
    ordered = sorted(entries, key=lambda e: (e[0], e[2], e[1]))
    n = len(ordered)
    ids = np.array([vocab[e[3]][t][0] for e in ordered for t in e[5]], dtype=np.int64)
    doc = np.repeat(np.arange(n, dtype=np.int64), [len(e[5]) for e in ordered])
    width = int(ids.max()) + 1 if ids.size else 1
    idf = np.zeros(width)
    for family in vocab.values():
        if family:
            found = np.array([v[0] for v in family.values()], dtype=np.int64)
            idf[found[found < width]] = np.array([v[1] for v in family.values()])[found < width]
    # (doc, term) pairs counted at once: sublinear tf, each doc's norm under idf.
    pairs, counts = np.unique(doc * width + ids, return_counts=True)
    pair_doc, pair_term = pairs // width, pairs % width
    tf = 1.0 + np.log(counts)
    norm = np.sqrt(np.bincount(pair_doc, weights=(tf * idf[pair_term]) ** 2, minlength=n))
    story_ids: list[str] = []
    counts_per: list[int] = []
    for e in ordered:
        if story_ids and story_ids[-1] == e[0]:
            counts_per[-1] += 1
        else:
            story_ids.append(e[0])
            counts_per.append(1)
    return SketchSet(
        story_ids=story_ids,
        counts=np.array(counts_per, dtype=np.int64),
        members=[e[1] for e in ordered],
        feeds=["\t".join(e[4]) for e in ordered],
        seconds=np.array([e[2] for e in ordered], dtype=np.float64),
        continuous=np.array([e[3] for e in ordered], dtype=bool),
        lengths=np.bincount(pair_doc, minlength=n).astype(np.int64),
        terms=pair_term.astype(np.int64),
        weights=tf / norm[pair_doc] if n else np.zeros(0),
    )
