"""Fast incremental clustering: window statistics and story sketches kept in the store.

The invariants: after any series of runs and changes the stored statistics equal a fresh
count of the window, every sketch holds exactly its story's window members, the assignment
equals the in-memory rule (stories.assign_new), a failed run changes nothing, and a store
whose statistics do not fit is counted again once.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders import REAL_NOW, add_item, make_config, story_members

import digest.stories.stage as stage
from digest import cluster_stage
from digest.records import Config, TopicConfig
from digest.records.sketches import SketchSet
from digest.store import Store, text_hash
from digest.store.base import from_db
from digest.stories.assign import assign_new
from digest.stories.context import doc_of
from digest.stories.labels import label_stories
from digest.stories.linkage import pair_probabilities
from digest.stories.neighbours import EMB_FLOOR, LEX_FLOOR
from digest.stories.pairs import pair_model
from digest.stories.sketch import (
    Entry,
    Query,
    best_stories,
    build_sketches,
    member_of,
    query_of,
    window_vocab,
)
from digest.stories.topics import KEY_TERMS

FEEDS = tuple(f"f{k}" for k in range(12))
_SYLLABLES = [c + v for c in "bdgklmnprstvz" for v in "aeiou"]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(3))


COMMON = [_word(random.Random(k)) for k in range(40)]


def _events(store: Store, rng: random.Random, events: int, prefix: str, hours: float) -> dict:
    """`events` events of 2-4 reports (distinct words each) within a day, from `hours` ago."""
    made: dict[str, list[str]] = {}
    for e in range(events):
        words = [_word(rng) for _ in range(5)]
        when = hours - rng.uniform(0, 24)
        for r in range(rng.randint(2, 4)):
            text = " ".join(rng.sample(words, 4) + rng.sample(COMMON, 5))
            guid = f"{prefix}{e}-{r}"
            item = add_item(store, rng.choice(FEEDS), guid, text, max(0.1, when - r))
            made.setdefault(f"{prefix}{e}", []).append(item)
    return made


def _follow_ups(store: Store, rng: random.Random, base: dict, n: int, prefix: str) -> list[str]:
    """n reports repeating words of existing events' first reports, an hour ago."""
    out = []
    items = {it.id: it for it in store.items()}
    for k, event in enumerate(rng.sample(sorted(base), n)):
        words = items[base[event][0]].title.split()
        out.append(add_item(store, rng.choice(FEEDS), f"{prefix}{k}", " ".join(words[:6]), 1))
    return out


_WHOLE_WINDOW = stage._whole_window


def _fresh_count(store: Store, config: Config) -> tuple[dict, dict]:
    """(term statistics, per-story sketch contents) recounted from scratch on a copy."""
    copy = store.path.with_name("recount.sqlite")
    copy.unlink(missing_ok=True)
    store.conn.execute("PRAGMA wal_checkpoint(FULL)")
    shutil.copy(store.path, copy)
    with Store.open(copy) as other, pytest.MonkeyPatch.context() as m:
        m.setattr(stage, "_whole_window", _WHOLE_WINDOW)
        other.conn.execute("DELETE FROM cluster_state")
        cluster_stage(config, other)  # counted again from the whole window, nothing new
        return _index(other), _sketches(other)


def _index(store: Store) -> dict:
    """Every non-zero term count by (kind, term), and the state's document counts."""
    rows = store.conn.execute("SELECT kind, term, n FROM term_stats WHERE n <> 0").fetchall()
    state = store.cluster_state()
    return {
        "terms": {(k, t): n for k, t, n in rows},
        "docs": (state["docs0"], state["docs1"], state["key_tokens"]),
    }


def _sketches(store: Store) -> dict[str, dict[str, dict[str, float]]]:
    """story -> member -> term -> weight, terms by name (ids differ between stores)."""
    names = {i: t for i, t in store.conn.execute("SELECT id, term FROM term_stats")}
    ids = [r[0] for r in store.conn.execute("SELECT story_id FROM story_sketches")]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for sid, sk in store.sketches_of(ids).split(ids).items():
        out[sid] = {
            p.item_id: {names[int(t)]: float(w) for t, w in zip(p.terms, p.weights, strict=True)}
            for p in sk.parts()
        }
    return out


def _assert_index_fresh(store: Store, config: Config, since: datetime) -> None:
    index, sketches = _fresh_count(store, config)
    assert _index(store) == index
    mine = _sketches(store)
    # Members left behind by the window stay in a sketch until it is sketched again;
    # scoring ignores them. Compare the window members.
    window = {it.id for it in store.items(since=since)}
    for sid in set(mine) | set(sketches):
        kept = {i: t for i, t in mine.get(sid, {}).items() if i in window}
        assert set(kept) == set(sketches.get(sid, {})), sid
        for item, terms in kept.items():
            fresh = sketches[sid][item]
            assert set(terms) == set(fresh)
            # Weights are tf / norm under the IDF when the member was sketched: close to, not
            # equal to, today's.
            for t, w in terms.items():
                assert w == pytest.approx(fresh[t], rel=0.25)


def _no_whole_window(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole window was read")

    monkeypatch.setattr(stage, "_whole_window", refuse)


# ---------------------------------------------------------------- statistics stay exact


def test_statistics_and_sketches_equal_a_fresh_count_after_every_kind_of_change(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    config = make_config(tmp_path, feeds=FEEDS, window_days=3)
    base = _events(store, rng, 20, "a", 60)
    assert cluster_stage(config, store).rebuilt
    with monkeypatch.context() as m:
        _no_whole_window(m)
        # New reports: follow-ups and new events.
        _follow_ups(store, rng, base, 6, "u")
        _events(store, rng, 4, "b", 3)
        summary = cluster_stage(config, store)
        assert summary.new_items > 0 and summary.joined >= 6
        _assert_index_fresh(store, config, REAL_NOW - timedelta(days=3))
        # A new translation changes an item's text: counted again from the new text.
        item = store.items()[0]
        store.set_item_translation(
            item.id, "en", source_hash=text_hash(item.title + "\0" + item.summary),
            model="m", status="translated", note=None, title="zork quux translated",
            summary="", now=REAL_NOW,
        )  # fmt: skip
        # An item seen in a second feed: its story's sketch gets the feed.
        it2 = store.items()[3]
        add_item(store, "f11" if it2.feeds != ["f11"] else "f10", "syndicated", it2.title, 200)
        store.conn.execute(
            "UPDATE item_sources SET item_id = ? WHERE guid = 'syndicated'", (it2.id,)
        )
        store.hide(store.items()[5].id, "test", REAL_NOW)
        cluster_stage(config, store)
        _assert_index_fresh(store, config, REAL_NOW - timedelta(days=3))
        assert "zork" in {t for (_, t) in _index(store)["terms"]}
    # A day later: a day's reports left the window, their counts went with them.
    later = REAL_NOW + timedelta(days=1)
    monkeypatch.setattr(stage, "utc_now", lambda: later)
    with monkeypatch.context() as m:
        _no_whole_window(m)
        cluster_stage(config, store)
    _assert_index_fresh(store, config, later - timedelta(days=3))
    # Sketches of stories wholly out of the window are gone.
    oldest = store.conn.execute("SELECT MIN(t_max) FROM story_sketches").fetchone()[0]
    assert oldest >= (later - timedelta(days=3)).timestamp()


def test_deleting_items_inside_the_window_makes_the_next_run_count_again(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(6)
    config = make_config(tmp_path, feeds=FEEDS)
    _events(store, rng, 10, "a", 30)
    cluster_stage(config, store)
    assert store.cluster_state()
    # Pruning out-of-window items keeps the statistics; inside the window drops them.
    store.prune(REAL_NOW - timedelta(days=30))
    assert store.cluster_state()
    store.prune(REAL_NOW - timedelta(hours=20))
    assert store.cluster_state() == {}
    calls = []
    real = stage._whole_window
    monkeypatch.setattr(stage, "_whole_window", lambda *a, **k: calls.append(k) or real(*a, **k))
    cluster_stage(config, store)
    assert calls == [{"rebuild": False}] and store.cluster_state()
    cluster_stage(config, store)
    assert len(calls) == 1  # the next run uses the statistics again
    _assert_index_fresh(store, config, REAL_NOW - timedelta(days=7))


def test_a_changed_taxonomy_or_an_index_from_elsewhere_is_counted_again(
    tmp_path: Path, store: Store
) -> None:
    rng = random.Random(7)
    config = make_config(tmp_path, feeds=FEEDS)
    _events(store, rng, 6, "a", 30)
    cluster_stage(config, store)

    def fits(state: dict[str, str], config: Config, since: datetime) -> bool:
        return stage._index_fits(state, config, since, None)

    since = from_db(store.cluster_state()["since"])
    assert since is not None
    assert fits(store.cluster_state(), config, since)
    other = make_config(tmp_path, feeds=FEEDS, topics=(TopicConfig("X", "x", ("x",)),))
    assert not fits(store.cluster_state(), other, since)
    # A window grown backwards holds items never counted.
    assert not fits(store.cluster_state(), config, since - timedelta(days=1))
    store.conn.execute("UPDATE cluster_state SET value = 'old' WHERE key = 'tokenizer'")
    assert not fits(store.cluster_state(), config, since)


# ---------------------------------------------------------------- same decisions


def test_store_backed_assignment_equals_the_in_memory_rule(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(8)
    config = make_config(tmp_path, feeds=FEEDS)
    since = REAL_NOW - timedelta(days=7)
    base = _events(store, rng, 30, "a", 100)
    cluster_stage(config, store)
    new = _follow_ups(store, rng, base, 10, "u")
    new += [i for ids in _events(store, rng, 5, "b", 5).values() for i in ids]
    items = store.items(since=since)
    docs = {it.id: doc_of(it, "en") for it in items}
    story_of = {it.id: it.story for it in items if it.story}
    reserved = set(store.story_assignments().values())
    expected = assign_new(
        [docs[i] for i in story_of], story_of, [docs[i] for i in new], reserved=reserved
    )
    _no_whole_window(monkeypatch)
    cluster_stage(config, store)
    after = store.story_assignments()
    got: dict[str, list[str]] = {}
    for i in new:
        got.setdefault(after[i], []).append(i)
    assert {s: sorted(v) for s, v in got.items()} == {s: sorted(v) for s, v in expected.items()}
    assert sum(1 for s in expected if s in set(story_of.values())) >= 8


def test_best_stories_tie_goes_to_the_lowest_story_id_and_span_is_kept() -> None:
    vocab = window_vocab(
        {"a": (False, ["x", "y"]), "b": (False, ["x", "y"]), "q": (False, ["x", "y"])}
    )
    by_id = {i: (idf, 1) for v in vocab.values() for i, idf, _ in v.values()}
    day = 86400.0

    def member(item: str, t: float, feed: str) -> object:
        return member_of(item, t, False, (feed,), ["x", "y"], vocab[False])

    entries = [
        Entry("s-b", "b", 10 * day, False, ("f2",), ["x", "y"]),
        Entry("s-a", "a", 10 * day, False, ("f3",), ["x", "y"]),
    ]
    sketches = build_sketches(entries, vocab)
    q = query_of(member("q", 10 * day + 3600, "f1"), by_id)  # type: ignore[arg-type]
    model = pair_model()
    gap = 4 * day
    got = best_stories([["q"]], {"q": q}, sketches, since=0, max_gap=gap, model=model)
    assert got == {0: "s-a"}
    # A query 5 days after both stories would stretch them past max_gap: no join.
    late = Query("q", 15 * day, False, ("f1",), q.terms, q.weights)
    assert best_stories([["q"]], {"q": late}, sketches, since=0, max_gap=gap, model=model) == {}
    # Members before `since` do not count, so the story no longer reaches back.
    since = 11 * day
    assert best_stories([["q"]], {"q": late}, sketches, since=since, max_gap=gap, model=model) == {}
    assert isinstance(SketchSet.of([]), SketchSet)


def test_fast_labels_equal_a_full_labelling_of_the_changed_stories(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(9)
    config = make_config(tmp_path, feeds=FEEDS)
    since = REAL_NOW - timedelta(days=7)
    base = _events(store, rng, 40, "a", 100)
    cluster_stage(config, store)
    _follow_ups(store, rng, base, 3, "u")
    before = dict(store.conn.execute("SELECT id, key_terms FROM stories").fetchall())
    _no_whole_window(monkeypatch)
    cluster_stage(config, store)
    after = dict(store.conn.execute("SELECT id, key_terms FROM stories").fetchall())
    changed = {s for s in after if after[s] != before.get(s)}
    assert changed
    items = store.items(since=since)
    from digest.stories.labels import label_doc

    grouped: dict[str, list] = {}
    for it in items:
        grouped.setdefault(it.story, []).append(label_doc(doc_of(it, "en"), it))
    full = label_stories(grouped, ())
    import json

    for sid in changed:
        assert json.loads(after[sid]) == full[sid].key_terms
    # The counts the fast labels used are the window's.
    key = Counter(t for docs in grouped.values() for d in docs for t in d.terms or ())
    stored = dict(
        store.conn.execute("SELECT term, n FROM term_stats WHERE kind = ? AND n > 0", (KEY_TERMS,))
    )
    assert key == Counter(stored) or not key


# ---------------------------------------------------------------- changes are noticed


def test_triggers_mark_what_changed(tmp_path: Path, store: Store) -> None:
    rng = random.Random(10)
    config = make_config(tmp_path, feeds=FEEDS)
    made = _events(store, rng, 4, "a", 30)
    cluster_stage(config, store)
    db = store.conn
    first = made["a0"][0]
    sid = store.story_assignments()[first]

    def marks() -> tuple[object, ...]:
        dirty = db.execute("SELECT dirty FROM item_features WHERE item_id = ?", (first,))
        label = db.execute("SELECT label_hash FROM stories WHERE id = ?", (sid,))
        stale = db.execute("SELECT stale FROM story_sketches WHERE story_id = ?", (sid,))
        return dirty.fetchone()[0], label.fetchone()[0] is None, stale.fetchone()[0]

    assert marks() == (0, False, 0)
    store.set_item_translation(
        first, "en", source_hash="x", model=None, status="no-model", note="n",
        title=None, summary=None, now=REAL_NOW,
    )  # fmt: skip
    assert marks() == (1, True, 0)
    cluster_stage(config, store)
    assert marks() == (0, False, 0)
    store.hide(first, "r", REAL_NOW)
    assert marks() == (0, True, 0)
    cluster_stage(config, store)
    store.unhide(first)
    assert marks() == (0, True, 0)
    cluster_stage(config, store)
    db.execute(
        "INSERT INTO item_sources (feed_id, guid, item_id, first_seen) VALUES (?,?,?,?)",
        ("f0", "again", first, "2026-01-01T00:00:00Z"),
    )
    assert marks() == (0, True, 1)
    cluster_stage(config, store)
    assert marks() == (0, False, 0)
    db.execute("UPDATE items SET title = title || ' changed' WHERE id = ?", (first,))
    assert marks() == (1, True, 0)
    # Writing the same text again marks nothing.
    cluster_stage(config, store)
    db.execute("UPDATE items SET title = title WHERE id = ?", (first,))
    assert marks() == (0, False, 0)


def test_a_failed_run_changes_nothing_and_the_next_run_does_the_work(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(11)
    config = make_config(tmp_path, feeds=FEEDS, window_days=3)
    base = _events(store, rng, 15, "a", 60)
    _events(store, rng, 10, "c", 20)
    cluster_stage(config, store)
    new = _follow_ups(store, rng, base, 4, "u")
    snapshot = _index(store), _sketches(store), store.story_assignments()
    rows = store.conn.execute("SELECT COUNT(*) FROM item_features").fetchone()[0]
    # A day later (reports leave the window) the run fails while writing.
    later = REAL_NOW + timedelta(days=1)
    monkeypatch.setattr(stage, "utc_now", lambda: later)
    with monkeypatch.context() as m:

        def boom(*args: object, **kwargs: object) -> None:
            raise RuntimeError("disk full")

        m.setattr(Store, "save_sketches", boom)
        with pytest.raises(RuntimeError):
            cluster_stage(config, store)
    assert (_index(store), _sketches(store), store.story_assignments()) == snapshot
    assert store.conn.execute("SELECT COUNT(*) FROM item_features").fetchone()[0] == rows
    assert all(i not in store.story_assignments() for i in new)
    with monkeypatch.context() as m:
        _no_whole_window(m)
        cluster_stage(config, store)
    assert all(i in store.story_assignments() for i in new)
    assert store.conn.execute("SELECT COUNT(*) FROM item_features").fetchone()[0] < rows
    _assert_index_fresh(store, config, later - timedelta(days=3))
    window = {it.story for it in store.items(since=later - timedelta(days=3))}
    sketched = {r[0] for r in store.conn.execute("SELECT story_id FROM story_sketches")}
    assert sketched == window and len(window) < len(story_members(store))


def test_sketch_vectors_are_the_window_tfidf_vectors() -> None:
    tokens = {"a": (False, ["x", "x", "y"]), "b": (False, ["y", "z"]), "c": (True, ["中", "国"])}
    vocab = window_vocab(tokens)
    m = member_of("a", 0.0, False, (), ["x", "x", "y"], vocab[False])
    # sklearn's smooth idf and sublinear tf, l2-normalised: w·idf is the unit vector.
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True, norm="l2")
    matrix = vec.fit_transform([["x", "x", "y"], ["y", "z"]]).toarray()
    names = {t: k for k, t in enumerate(vec.get_feature_names_out())}
    idf = {vocab[False][t][0]: vocab[False][t][1] for t in vocab[False]}
    got = {int(t): float(w) * idf[int(t)] for t, w in zip(m.terms, m.weights, strict=True)}
    for term in ("x", "y"):
        assert got[vocab[False][term][0]] == pytest.approx(matrix[0, names[term]])
    assert np.isclose(sum(v * v for v in got.values()), 1.0)


def test_incremental_scoring_equals_the_pair_probabilities_averaged() -> None:
    """best_stories' vectorised mean equals the mean of pair_probabilities pair by pair."""
    day = 86400.0
    model = replace(pair_model(), threshold=0.3)
    decided = 0
    for seed in range(30):
        rng = random.Random(seed)
        np_rng = np.random.RandomState(seed)
        words = [f"w{k}" for k in range(30)]
        names = ["lin", "zhao", "qinglang", "kestrel"]

        docs: dict[str, tuple[bool, list[str]]] = {}
        entries = []
        for s in range(6):
            base = np_rng.normal(size=8)
            for m in range(rng.randint(1, 4)):
                toks = rng.choices(words, k=rng.randint(3, 12))
                item = f"s{s}m{m}"
                docs[item] = (False, toks)
                v = _random_vector(rng, np_rng)
                if v is not None:  # members of one story lean one way
                    v = (v + base).astype(np.float32)
                    v /= np.linalg.norm(v)
                feed = (f"feed-{rng.randint(0, 3)}",)
                named = frozenset(rng.sample(names, rng.randint(0, 2)))
                when, lang, kth = rng.uniform(0, 3) * day, rng.choice(["en", "zh"]), rng.random()
                entries.append(Entry(f"s{s}", item, when, False, feed, toks, lang, named, v, kth))
        queries_docs = {f"q{k}": (False, rng.choices(words, k=8)) for k in range(4)}
        vocab = window_vocab({**docs, **queries_docs})
        sketches = build_sketches(entries, vocab)
        idf = {i: (v, df) for v_ in vocab.values() for i, v, df in v_.values()}
        queries = {}
        for q, (_, toks) in queries_docs.items():
            feed = (f"feed-{rng.randint(0, 3)}",)
            member = member_of(q, 3.5 * day, False, feed, toks, vocab[False])
            member = replace(
                member, lang=rng.choice(["en", "zh"]), vector=_random_vector(rng, np_rng),
                kth=rng.random(), names=tuple(rng.sample(names, rng.randint(0, 2))),
            )  # fmt: skip
            queries[q] = query_of(member, idf)
        groups = [["q0", "q1"], ["q2"], ["q3"]]
        got = best_stories(groups, queries, sketches, since=0, max_gap=4 * day, model=model)
        assert got == _brute_force(groups, queries, sketches, model, 4 * day), seed
        decided += len(got)
    assert decided > 20  # the comparison saw joins, not only "no story"


def _random_vector(rng: random.Random, np_rng: np.random.RandomState) -> np.ndarray | None:
    if rng.random() < 0.15:
        return None  # a language the model cannot read
    v = np_rng.normal(size=8).astype(np.float32)
    return v / np.linalg.norm(v)


def _brute_force(
    groups: list[list[str]], queries: dict[str, Query], sketches: SketchSet, model: Any, gap: float
) -> dict[int, str]:
    """The average-linkage decision computed pair by pair, with plain Python loops."""
    parts = sketches.split(sketches.story_ids)
    vocab_weights: dict[str, dict[int, float]] = {}
    for sk in parts.values():
        for m in sk.parts():
            vocab_weights[m.item_id] = dict(zip(m.terms.tolist(), m.weights.tolist(), strict=True))
    out = {}
    for g, group in enumerate(groups):
        best: tuple[float, str] | None = None
        for sid in sorted(parts):
            members = parts[sid].parts()
            times = [m.seconds for m in members] + [queries[q].seconds for q in group]
            if max(times) - min(times) > gap:
                continue
            total = 0.0
            for q in (queries[i] for i in group):
                for m in members:
                    w = vocab_weights[m.item_id]
                    lex = sum(
                        wq * w.get(t, 0.0)
                        for t, wq in zip(q.terms.tolist(), q.weights.tolist(), strict=True)
                    )
                    has = q.vector is not None and m.vector is not None
                    emb = float(q.vector @ m.vector) if has else 0.0  # type: ignore[operator]
                    arr = lambda x: np.array([x])  # noqa: E731
                    named = float(bool(q.names & set(m.names)))
                    same_feed = bool(set(q.feeds) & set(m.feeds))
                    p = pair_probabilities(
                        model, arr(lex), arr(emb), arr(has), arr(named), arr(q.lang == m.lang),
                        arr(emb - max(q.kth, m.kth)), arr(abs(q.seconds - m.seconds)),
                        arr(same_feed), gap,
                    )[0]  # fmt: skip
                    candidate = lex >= LEX_FLOOR or (has and emb >= EMB_FLOOR)
                    if candidate and p >= model.threshold * 0.5:
                        total += p
            mean = total / (len(group) * len(members))
            if mean >= model.threshold and (best is None or mean > best[0]):
                best = (mean, sid)
        if best is not None:
            out[g] = best[1]
    return out


def test_clustering_pauses_the_collector_and_always_restores_it() -> None:
    import gc

    from digest.collector import collector_off
    from digest.stories.features import ClusterDoc
    from digest.stories.linkage import cluster_stories

    seen = []
    doc = ClusterDoc("a", "words here", "en", REAL_NOW)
    with collector_off():
        seen.append(gc.isenabled())
        with collector_off():  # nested: left to the outer one
            pass
        seen.append(gc.isenabled())
    assert seen == [False, False] and gc.isenabled()
    with pytest.raises(ValueError):
        cluster_stories([doc, doc])
    assert gc.isenabled()
    gc.disable()
    try:
        cluster_stories([doc])
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
