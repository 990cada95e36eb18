"""Story sketches: what an incremental cluster run keeps of each story (pure, no I/O).

A sketch holds, per member report, its publication time, feeds, language, script family, its
TF-IDF vector stored as sublinear tf divided by the vector's norm (the IDF itself is applied
when scoring, from the window statistics of that run), its embedding and its headline's rare
names. New reports are scored against the sketches of nearby stories (`best_stories`, also
behind `digest.stories.assign.assign_new`) exactly as the full clustering would score the
pairs (linkage.py): the same candidates, the same pair probability, average linkage.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from digest.records.sketches import Sketch, SketchMember, SketchSet
from digest.stories.linkage import feed_codes, pair_probabilities
from digest.stories.neighbours import COMMON_DF, EMB_FLOOR, KTH_FLOOR, LEX_FLOOR
from digest.stories.pairs import PairModel

__all__ = [
    "KEY_TERMS",
    "Entry",
    "Query",
    "best_stories",
    "build_sketches",
    "make_sketch",
    "member_of",
    "members_of",
    "query_of",
    "smooth_idf",
    "window_vocab",
    "with_kth",
]

# term_stats kinds: clustering tokens of spaced / unspaced scripts (document frequency, one
# IDF per family as in the full clustering), and key-term tokens (total count).
KEY_TERMS = 2
# Queries scored at once: bounds the (queries x members) arrays.
_QUERY_BLOCK = 64


def smooth_idf(df: float, docs: int) -> float:
    """IDF as the full clustering computes it (scikit-learn's smooth_idf)."""
    return math.log((1.0 + docs) / (1.0 + df)) + 1.0


def make_sketch(story_id: str, members: Iterable[SketchMember], dim: int = 0) -> Sketch:
    """The sketch of a story from its members (ordered by time, then id: deterministic)."""
    ordered = sorted(members, key=lambda m: (m.seconds, m.item_id))
    width = max([dim, *(m.vector.shape[0] for m in ordered if m.vector is not None)])
    vectors = np.zeros((len(ordered), width), dtype=np.float32)
    for k, m in enumerate(ordered):
        if m.vector is not None:
            vectors[k] = m.vector
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
        langs=[m.lang for m in ordered],
        names=[tuple(m.names) for m in ordered],
        vectors=vectors,
        has_vector=np.array([m.vector is not None for m in ordered], dtype=bool),
        kth=np.array([m.kth for m in ordered], dtype=np.float64),
    )


@dataclass(frozen=True)
class Query:
    """A new report as scoring sees it: its vector already multiplied by idf (tf·idf²/norm)."""

    id: str
    seconds: float
    continuous: bool
    feeds: tuple[str, ...]
    terms: np.ndarray  # int64 term ids, rare ones only (as the full clustering's product)
    weights: np.ndarray  # float64
    lang: str = ""
    names: frozenset[str] = frozenset()
    vector: np.ndarray | None = None
    kth: float = KTH_FLOOR  # its k-th nearest neighbour cosine (with_kth)


def best_stories(
    groups: Sequence[Sequence[str]],
    queries: Mapping[str, Query],
    sketches: SketchSet,
    *,
    since: float,
    max_gap: float,
    model: PairModel,
) -> dict[int, str]:
    """Group index -> the story it joins: mean pair probability >= threshold, span kept.

    Only members published at or after `since` (the window) count; a story counts when all
    of those lie within max_gap of the new reports' range (no other join could be allowed).
    Ties go to the lowest story id.
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
    cols = np.flatnonzero(inside & kept[story_of])
    totals = _pair_totals(order, group_of, len(groups), sketches, cols, story_of, max_gap, model)
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
        if means[g, k] >= model.threshold:
            chosen[g] = sketches.story_ids[int(by_id[k])]
    return chosen


def _pair_totals(
    order: Sequence[Query],
    group_of: np.ndarray,
    n_groups: int,
    sketches: SketchSet,
    cols: np.ndarray,
    story_of: np.ndarray,
    max_gap: float,
    model: PairModel,
) -> np.ndarray:
    """Per (group, story), the summed pair probability of its queries and members (flat)."""
    n_stories = len(sketches.story_ids)
    totals = np.zeros(n_groups * n_stories)
    if cols.size == 0:
        return totals
    lex_all = _lexical(order, sketches, cols)
    m_code, m_multi = feed_codes([f.split("\t") if f else [] for f in sketches.feeds])
    feed_index = _feed_index(sketches.feeds)
    langs: dict[str, int] = {}
    m_lang = np.array([langs.setdefault(x, len(langs)) for x in sketches.langs], np.int64)[cols]
    m_vec = sketches.vectors[cols] if sketches.vectors.size else None
    m_has = sketches.has_vector[cols]
    m_kth = sketches.kth[cols]
    by_name: dict[str, list[int]] = {}
    for k, c in enumerate(cols.tolist()):
        for name in sketches.names[c]:
            by_name.setdefault(name, []).append(k)
    floor = model.threshold * 0.5
    for start in range(0, len(order), _QUERY_BLOCK):
        block = order[start : start + _QUERY_BLOCK]
        rows = len(block)
        lex = lex_all[start : start + rows]
        q_has = np.array([q.vector is not None for q in block], dtype=bool)
        has = q_has[:, None] & m_has[None, :]
        emb = np.zeros((rows, cols.size))
        if m_vec is not None and q_has.any():
            q_vec = np.zeros((rows, m_vec.shape[1]), dtype=np.float32)
            for k, q in enumerate(block):
                if q.vector is not None and q.vector.shape[0] == m_vec.shape[1]:
                    q_vec[k] = q.vector
            emb = (q_vec @ m_vec.T).astype(np.float64)
        names = np.zeros((rows, cols.size))
        for k, q in enumerate(block):
            for name in q.names:
                names[k, by_name.get(name, [])] = 1.0
        q_lang = np.array([langs.get(q.lang, -1) for q in block], dtype=np.int64)
        gap = np.abs(t_of(block)[:, None] - sketches.seconds[cols][None, :])
        same_feed = _same_feed(block, feed_index, m_code[cols], m_multi, cols)
        candidate = (lex >= LEX_FLOOR) | (has & (emb >= EMB_FLOOR))
        p = pair_probabilities(
            model,
            lex,
            emb,
            has,
            names,
            q_lang[:, None] == m_lang[None, :],
            emb - np.maximum(np.array([q.kth for q in block])[:, None], m_kth[None, :]),
            gap,
            same_feed,
            max_gap,
        )
        p = np.where(candidate & (gap <= max_gap) & (p >= floor), p, 0.0)
        g = group_of[start : start + rows]
        cells = (g[:, None] * n_stories + story_of[cols][None, :]).ravel()
        totals += np.bincount(cells, weights=p.ravel(), minlength=totals.size)
    return totals


def with_kth(
    queries: Mapping[str, Query],
    sketches: SketchSet,
    *,
    since: float,
    max_gap: float,
    k: int,
) -> dict[str, Query]:
    """The queries with their k-th nearest neighbour cosine among the window's members near
    them and each other, as the full clustering's neighbour search would find it."""
    ids = sorted(queries)
    dim = next((q.vector.shape[0] for q in queries.values() if q.vector is not None), 0)
    if not dim:
        return dict(queries)
    q_vec = np.zeros((len(ids), dim), dtype=np.float32)
    q_has = np.zeros(len(ids), dtype=bool)
    for n, i in enumerate(ids):
        v = queries[i].vector
        if v is not None and v.shape[0] == dim:
            q_vec[n], q_has[n] = v, True
    t = np.array([queries[i].seconds for i in ids])
    usable = (sketches.seconds >= since) & sketches.has_vector
    if sketches.vectors.ndim != 2 or sketches.vectors.shape[1] != dim:
        usable &= False
    members = np.flatnonzero(usable)
    sims = [q_vec @ q_vec.T]
    near = [np.abs(t[:, None] - t[None, :]) <= max_gap]
    np.fill_diagonal(near[0], False)
    near[0] &= q_has[None, :]
    if members.size:
        sims.append(q_vec @ sketches.vectors[members].T)
        near.append(np.abs(t[:, None] - sketches.seconds[members][None, :]) <= max_gap)
    every = np.concatenate(sims, axis=1)
    keep = np.concatenate(near, axis=1) & (every >= KTH_FLOOR)
    out = dict(queries)
    for n, i in enumerate(ids):
        if not q_has[n]:
            continue
        found = np.sort(every[n][keep[n]])[::-1]
        out[i] = replace(queries[i], kth=float(found[k - 1]) if found.size >= k else KTH_FLOOR)
    return out


def t_of(queries: Sequence[Query]) -> np.ndarray:
    """Publication times of queries."""
    return np.array([q.seconds for q in queries], dtype=np.float64)


def _lexical(order: Sequence[Query], sketches: SketchSet, cols: np.ndarray) -> np.ndarray:
    """Dense (query, member) lexical cosines over rare terms, within one script family."""
    import scipy.sparse as sp

    out = np.zeros((len(order), cols.size))
    q_terms = np.concatenate([q.terms for q in order]) if order else np.zeros(0, np.int64)
    vocab = np.unique(q_terms)
    if vocab.size == 0:
        return out
    owner = np.repeat(np.arange(len(sketches.members)), sketches.lengths)
    position = np.full(len(sketches.members), -1, dtype=np.int64)
    position[cols] = np.arange(cols.size)
    pos = _positions(vocab, sketches.terms)
    hit = (pos >= 0) & (position[owner] >= 0)
    members = sp.csr_matrix(
        (sketches.weights[hit], (position[owner[hit]], pos[hit])), shape=(cols.size, vocab.size)
    )
    q_rows = np.repeat(np.arange(len(order)), [q.terms.size for q in order])
    q_matrix = sp.csr_matrix(
        (np.concatenate([q.weights for q in order]), (q_rows, np.searchsorted(vocab, q_terms))),
        shape=(len(order), vocab.size),
    )
    product = (q_matrix @ members.T).tocoo()
    out[product.row, product.col] = product.data
    # Reports in different script families share no words (their IDFs differ too).
    q_family = np.array([q.continuous for q in order], dtype=bool)
    out[q_family[:, None] != sketches.continuous[cols][None, :]] = 0.0
    return out


def _positions(vocab: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """Each term's index in sorted `vocab`, -1 when absent (term ids are small integers)."""
    if vocab.size == 0 or terms.size == 0:
        return np.full(terms.size, -1, dtype=np.int64)
    table = np.full(int(max(vocab.max(), terms.max())) + 1, -1, dtype=np.int64)
    table[vocab] = np.arange(vocab.size)
    return table[terms]


def _feed_index(feeds: Sequence[str]) -> dict[str, int]:
    """The numbering feed_codes gives single feeds (first seen first)."""
    index: dict[str, int] = {}
    for line in feeds:
        if line and "\t" not in line:
            index.setdefault(line, len(index))
    return index


def _same_feed(
    block: Sequence[Query],
    feed_index: Mapping[str, int],
    m_code: np.ndarray,
    m_multi: Mapping[int, frozenset[str]],
    cols: np.ndarray,
) -> np.ndarray:
    """Does each (query, member) pair share a feed?"""
    out = np.zeros((len(block), cols.size), dtype=bool)
    multi_cols = [k for k, c in enumerate(cols.tolist()) if int(c) in m_multi]
    for k, q in enumerate(block):
        codes = [feed_index[f] for f in q.feeds if f in feed_index]
        if codes:
            out[k] = np.isin(m_code, codes)
        for pos in multi_cols:
            out[k, pos] = bool(m_multi[int(cols[pos])] & set(q.feeds))
    return out


class Entry(NamedTuple):
    """One report for build_sketches."""

    story: str
    item: str
    seconds: float
    continuous: bool
    feeds: tuple[str, ...]
    tokens: Sequence[str]
    lang: str = ""
    names: frozenset[str] = frozenset()
    vector: np.ndarray | None = None
    kth: float = KTH_FLOOR


def members_of(
    entries: Sequence[Entry], vocab: Mapping[bool, Mapping[str, tuple[int, float, int]]]
) -> dict[str, SketchMember]:
    """Sketch members of many docs at once: item id -> member (build_sketches' vectors)."""
    one_each = [e._replace(story=e.item) for e in entries]  # each its own story
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
    entry = Entry("", item_id, seconds, continuous, tuple(feeds), tokens)
    return members_of([entry], {continuous: vocab})[item_id]


def query_of(member: SketchMember, by_id: Mapping[int, tuple[float, int]]) -> Query:
    """The query of a new doc from its member form: weights times idf twice (tf·idf²/norm).

    `by_id`: term id -> (idf, df); terms in more than COMMON_DF docs of the window are left
    out, as the full clustering leaves them out of its product.
    """
    idf = np.array([by_id[int(t)][0] for t in member.terms], dtype=np.float64)
    rare = np.array([by_id[int(t)][1] <= COMMON_DF for t in member.terms], dtype=bool)
    return Query(
        id=member.item_id,
        seconds=member.seconds,
        continuous=member.continuous,
        feeds=member.feeds,
        terms=member.terms[rare] if rare.size else member.terms,
        weights=(member.weights * idf * idf)[rare] if rare.size else member.weights,
        lang=member.lang,
        names=frozenset(member.names),
        vector=member.vector,
        kth=member.kth,
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


def build_sketches(
    entries: Sequence[Entry], vocab: Mapping[bool, Mapping[str, tuple[int, float, int]]]
) -> SketchSet:
    """Sketches of many stories at once: each member's vector is sublinear tf / |tf·idf|."""
    ordered = sorted(entries, key=lambda e: (e.story, e.seconds, e.item))
    n = len(ordered)
    ids = np.array([vocab[e.continuous][t][0] for e in ordered for t in e.tokens], dtype=np.int64)
    doc = np.repeat(np.arange(n, dtype=np.int64), [len(e.tokens) for e in ordered])
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
        if story_ids and story_ids[-1] == e.story:
            counts_per[-1] += 1
        else:
            story_ids.append(e.story)
            counts_per.append(1)
    dim = next((e.vector.shape[0] for e in ordered if e.vector is not None), 0)
    vectors = np.zeros((n, dim), dtype=np.float32)
    for k, e in enumerate(ordered):
        if e.vector is not None:
            vectors[k] = e.vector
    return SketchSet(
        story_ids=story_ids,
        counts=np.array(counts_per, dtype=np.int64),
        members=[e.item for e in ordered],
        feeds=["\t".join(e.feeds) for e in ordered],
        seconds=np.array([e.seconds for e in ordered], dtype=np.float64),
        continuous=np.array([e.continuous for e in ordered], dtype=bool),
        lengths=np.bincount(pair_doc, minlength=n).astype(np.int64),
        terms=pair_term.astype(np.int64),
        weights=tf / norm[pair_doc] if n else np.zeros(0),
        langs=[e.lang for e in ordered],
        names=[tuple(sorted(e.names)) for e in ordered],
        vectors=vectors,
        has_vector=np.array([e.vector is not None for e in ordered], dtype=bool),
        kth=np.array([e.kth for e in ordered], dtype=np.float64),
    )
