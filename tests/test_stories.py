"""Stories over runs: stable ids, incremental assignment, redirects, labels, cluster-file."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from builders import add_item, make_config

from digest import cluster_stage, site_data, translate_stage
from digest.cli import main
from digest.errors import InputError
from digest.records import FeedConfig, TopicConfig
from digest.store import Store
from digest.stories.assign import assign_new, cluster_new_stories, redirects_after
from digest.stories.features import ClusterDoc
from digest.stories.file import cluster_file
from digest.stories.ids import story_id_for
from digest.stories.labels import LabelDoc, coverage_gap, label_stories
from digest.stories.linkage import cluster_stories
from digest.stories.rank import story_score
from digest.stories.topics import class_key_terms, discover_topics
from digest.translate.engine import ModelRef

FACE = [
    "Beijing residential compounds make facial recognition mandatory at gates.",
    "Beijing residents told to register faces for facial recognition gates at compounds.",
    "Face scans at the gate: Beijing compounds require facial recognition registration.",
]
QINGLANG = [
    "Qinglang campaign closes 62,400 self-media accounts, Cyberspace Administration says.",
    "Cyberspace Administration: Qinglang clean-up shut 62,400 self-media accounts.",
]
IRAQ = "Iraq cuts internet nationwide during school exams for the third year."
SHUTDOWN_ZH = "伊拉克在学校考试期间再次全国断网，数字权利组织提出批评。"


STORY_FEEDS = ("cdt", "rfa", "eff", "gv", "cdtzh", "voazh")


# ---------------------------------------------------------------- stable ids over runs


def test_story_ids_stay_stable_across_runs_and_new_items_join(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, feeds=STORY_FEEDS)
    f1 = add_item(store, "cdt", "f1", FACE[0], 30)
    f2 = add_item(store, "rfa", "f2", FACE[1], 28)
    q1 = add_item(store, "cdt", "q1", QINGLANG[0], 20)
    first = cluster_stage(config, store)
    assert first.rebuilt and first.stories == 2
    before = store.story_assignments()
    face_id = before[f1]
    assert before[f2] == face_id and before[q1] != face_id

    # A second run with new items: they join incrementally, old ids do not move.
    f3 = add_item(store, "eff", "f3", FACE[2], 10)
    q2 = add_item(store, "gv", "q2", QINGLANG[1], 8)
    i1 = add_item(store, "gv", "i1", IRAQ, 5)
    second = cluster_stage(config, store)
    assert not second.rebuilt and second.new_items == 3 and second.joined == 2
    after = store.story_assignments()
    assert after[f3] == face_id and after[q2] == before[q1]
    assert after[i1] not in set(before.values())
    assert {k: after[k] for k in before} == before

    # A full recluster finds the same stories and keeps every id.
    third = cluster_stage(config, store, rebuild=True)
    assert third.rebuilt
    assert store.story_assignments() == after
    # ... and so does a run with nothing new.
    cluster_stage(config, store)
    assert store.story_assignments() == after
    data = site_data(config, store)
    face = next(s for s in data.stories if s.id == face_id)
    assert [it.id for it in face.items] == [f1, f2, f3]
    assert face.key_terms and "facial" in face.key_terms
    assert face.coverage_gap is None


def test_a_merge_on_rebuild_leaves_a_redirect(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, feeds=STORY_FEEDS)
    a = add_item(store, "cdt", "a", "Guangdong cyber police open Weibo accounts", 30)
    b = add_item(store, "rfa", "b", "Citizens invited to report each other as informants", 29)
    cluster_stage(config, store)
    first = store.story_assignments()
    assert first[a] != first[b]
    # A report telling both halves joins them into one story on a full recluster.
    bridge = (
        "Guangdong cyber police open Weibo accounts and invite citizens to report each "
        "other as informants"
    )
    c = add_item(store, "eff", "c", bridge, 28)
    add_item(store, "gv", "d", bridge + ".", 27)
    summary = cluster_stage(config, store, rebuild=True)
    after = store.story_assignments()
    assert after[a] == after[b] == after[c]
    assert summary.redirects == 1
    kept = after[a]
    gone = first[b] if kept == first[a] else first[a]
    assert store.story_redirects() == {gone: kept}
    data = site_data(config, store)
    assert data.redirects == {gone: kept}
    assert kept in {s.id for s in data.stories} and gone not in {s.id for s in data.stories}


def test_redirect_chains_resolve_and_revived_ids_drop_their_redirect() -> None:
    previous = {"x1": "s-x", "y1": "s-y", "z1": "s-z"}
    stories = {"s-x": ["x1", "y1", "z1", "n1"]}
    assert redirects_after(previous, stories) == {"s-y": "s-x", "s-z": "s-x"}
    # A split keeps the old id with the bigger part: no redirect needed.
    assert redirects_after({"a": "s-a", "b": "s-a"}, {"s-a": ["a"], "s-new": ["b"]}) == {}


def test_full_clustering_reports_merges_as_redirects() -> None:
    t0 = datetime(2026, 5, 28, tzinfo=UTC)
    docs = [
        ClusterDoc("a", FACE[0], "en", t0, ("cdt",)),
        ClusterDoc("b", FACE[1], "en", t0 + timedelta(hours=1), ("rfa",)),
    ]
    stories, redirects = cluster_new_stories(docs, {"a": "s-old-a", "b": "s-old-b"})
    assert stories == {"s-old-a": ["a", "b"]} and redirects == {"s-old-b": "s-old-a"}


# ---------------------------------------------------------------- incremental assignment


def test_assign_new_joins_the_right_story_and_never_reuses_an_id() -> None:
    t0 = datetime(2026, 5, 28, tzinfo=UTC)
    existing = [
        ClusterDoc("f1", FACE[0], "en", t0, ("cdt",)),
        ClusterDoc("f2", FACE[1], "en", t0 + timedelta(hours=2), ("rfa",)),
        ClusterDoc("q1", QINGLANG[0], "en", t0, ("cdt",)),
    ]
    story_of = {"f1": "s-face", "f2": "s-face", "q1": "s-q"}
    new = [
        ClusterDoc("f3", FACE[2], "en", t0 + timedelta(hours=5), ("eff",)),
        ClusterDoc("i1", IRAQ, "en", t0 + timedelta(hours=5), ("gv",)),
        ClusterDoc("late", FACE[2], "en", t0 + timedelta(days=30), ("gv",)),
    ]
    reserved = {story_id_for("i1")}
    placed = assign_new(existing, story_of, new, reserved=reserved)
    assert placed["s-face"] == ["f3"]
    others = {sid: ids for sid, ids in placed.items() if sid != "s-face"}
    assert sorted(others.values()) == [["i1"], ["late"]]  # 30 days later: its own story
    assert not set(others) & (reserved | set(story_of.values()))
    assert assign_new(existing, story_of, []) == {}
    assert assign_new([], {}, new[:1]) == {story_id_for("f3"): ["f3"]}


def test_incremental_equals_full_clustering_on_a_clear_case() -> None:
    t0 = datetime(2026, 5, 28, tzinfo=UTC)
    docs = [
        ClusterDoc(f"f{k}", text, "en", t0 + timedelta(hours=k), (f"feed{k}",))
        for k, text in enumerate(FACE)
    ] + [
        ClusterDoc(f"q{k}", text, "en", t0 + timedelta(hours=k), (f"feed{k}",))
        for k, text in enumerate(QINGLANG)
    ]
    full = sorted(sorted(g) for g in cluster_stories(docs))
    base = [d for d in docs if d.id in ("f0", "q0")]
    story_of = {"f0": "s-f", "q0": "s-q"}
    placed = assign_new(base, story_of, [d for d in docs if d.id not in story_of])
    merged = {"s-f": ["f0"], "s-q": ["q0"]}
    for sid, ids in placed.items():
        merged.setdefault(sid, []).extend(ids)
    assert sorted(sorted(g) for g in merged.values()) == full


# ---------------------------------------------------------------- translation path


class DictTranslator:
    """A deterministic stand-in translator: a fixed phrase book, else the text unchanged."""

    BOOK: ClassVar[dict[str, str]] = {
        SHUTDOWN_ZH: "Iraq again cuts the internet nationwide during school exams."
    }

    def model_for(self, src: str, tgt: str) -> ModelRef | None:
        return ModelRef(name="phrase-book-1") if (src, tgt) == ("zh", "en") else None

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        return [self.BOOK.get(t, t) for t in texts]


def test_reports_in_two_languages_join_only_through_translation(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path, feeds=STORY_FEEDS)
    en = add_item(store, "gv", "i1", IRAQ, 5)
    zh = add_item(store, "voazh", "z1", SHUTDOWN_ZH, 4, lang="zh")
    cluster_stage(config, store)
    untranslated = store.story_assignments()
    assert untranslated[en] != untranslated[zh]
    data = site_data(config, store)
    zh_story = next(s for s in data.stories if s.id == untranslated[zh])
    # Without a model nothing could have matched the two: no gap is claimed, the page says why.
    assert zh_story.coverage_gap is None
    assert zh_story.coverage_note is not None and "Chinese" in zh_story.coverage_note

    translate_stage(config, store, translator_factory=lambda cfg: DictTranslator())
    cluster_stage(config, store, rebuild=True)
    joined = store.story_assignments()
    assert joined[en] == joined[zh]
    story = next(s for s in site_data(config, store).stories if s.id == joined[en])
    assert story.coverage_gap is None
    assert story.headline == IRAQ  # the English original beats the machine translation
    assert story.languages == ["zh", "en"] or set(story.languages) == {"zh", "en"}


# ---------------------------------------------------------------- coverage gap


def test_coverage_gap_names_the_languages() -> None:
    assert coverage_gap(["zh"], "en") == "only in Chinese-language media"
    assert coverage_gap(["zh-Hant", "zh"], "en") == "only in Chinese-language media"
    assert coverage_gap(["zh", "ug"], "en") == "only in Chinese- and Uyghur-language media"
    assert coverage_gap(["zh", "ug", "bo"], "en") == (
        "only in Chinese-, Tibetan- and Uyghur-language media"
    )
    assert coverage_gap(["zh", "en"], "en") is None
    assert coverage_gap(["en-GB"], "en") is None
    assert coverage_gap(["und"], "en") == "only in media in other languages"
    assert coverage_gap([], "en") is None
    assert coverage_gap(["en"], "zh") == "only in English-language media"


# ---------------------------------------------------------------- labels and topics


def _three_topic_corpus(seed: int = 5) -> tuple[list[list[str]], list[int]]:
    rng = random.Random(seed)
    vocab = {
        0: [
            "football",
            "goal",
            "match",
            "league",
            "striker",
            "coach",
            "cup",
            "season",
            "injury",
            "transfer",
        ],
        1: [
            "shares",
            "profit",
            "market",
            "bank",
            "investors",
            "earnings",
            "inflation",
            "rates",
            "stock",
            "trade",
        ],
        2: [
            "election",
            "minister",
            "parliament",
            "vote",
            "party",
            "campaign",
            "policy",
            "senate",
            "law",
            "reform",
        ],
    }
    common = ["the", "week", "people", "said", "today", "country", "new", "report", "year", "group"]
    docs, truth = [], []
    for k in range(90):
        topic = k % 3
        words = rng.sample(vocab[topic], 6) + rng.sample(common, 4)
        docs.append(words)
        truth.append(topic)
    return docs, truth


def test_discovered_topics_find_the_structure_without_being_told_k() -> None:
    docs, truth = _three_topic_corpus()
    found = discover_topics(docs)
    assert len(set(found)) == 3
    pairs = {(t, f) for t, f in zip(truth, found, strict=True)}
    assert len(pairs) == 3  # a perfect match
    assert discover_topics(docs) == found  # deterministic
    assert discover_topics(docs[:10]) == [-1] * 10  # too few documents: nothing discovered


def test_class_key_terms_rank_distinctive_terms_first() -> None:
    classes = [
        ["weibo", "police", "weibo", "informant", "china"],
        ["facial", "recognition", "gate", "china", "beijing"],
        ["清朗", "朗行", "行动", "清", "2024"],
    ]
    terms = class_key_terms(classes, top=2)
    assert terms[0][0] == "weibo" and "china" not in terms[0]
    assert len(terms[1]) == 2 and "china" not in terms[1]
    assert "清" not in terms[2] and "2024" not in terms[2]  # single characters, bare numbers
    assert class_key_terms([[], ["x1", "x1"]]) == [[], ["x1"]]


def test_label_stories_taxonomy_first_then_discovered() -> None:
    taxonomy = (TopicConfig("surveillance", "surveillance", ("facial recognition", "监控")),)
    docs, _ = _three_topic_corpus()
    stories = {f"s{k:02d}": [LabelDoc(" ".join(words), "en")] for k, words in enumerate(docs)}
    stories["face"] = [LabelDoc("Beijing gates", "en", ("北京小区安装监控",))]
    labels = label_stories(stories, taxonomy)
    assert labels["face"].topics == ["surveillance"] and not labels["face"].discovered
    discovered = {t for sid, lab in labels.items() if sid != "face" for t in lab.topics}
    assert len(discovered) == 3
    assert all(labels[s].discovered and len(labels[s].topics) == 1 for s in stories if s != "face")
    assert label_stories(stories, taxonomy) == labels


# ---------------------------------------------------------------- cluster-file


def write_jsonl(path: Path, rows: Sequence[object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


ROWS = [
    {"id": "f1", "title": FACE[0], "text": "", "date": "2026-05-28T09:00:00Z"},
    {"id": "f2", "title": FACE[1], "text": "", "lang": "en", "date": "2026-05-28T12:00:00+00:00"},
    {"id": "q1", "title": QINGLANG[0], "text": ""},
    {"id": 7, "title": "网信办清朗行动关闭自媒体账号", "text": "审查"},
]


def test_cluster_file_writes_story_and_topics_per_line(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", ROWS)
    topics = (TopicConfig("censorship", "censorship", ("审查",)),)
    summary = cluster_file(src, tmp_path / "out.jsonl", topics)
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in out] == ["f1", "f2", "q1", "7"]
    assert out[0]["story"] == out[1]["story"] != out[2]["story"]
    assert out[3]["topics"] == ["censorship"]
    assert summary.items == 4 and summary.stories == 3
    # Same input, same output, whatever the line order.
    again = write_jsonl(tmp_path / "in2.jsonl", list(reversed(ROWS)))
    cluster_file(again, tmp_path / "out2.jsonl", topics)
    back = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "out2.jsonl").open()}
    assert all(back[r["id"]] == r for r in out)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "expected a JSON object"),
        ('{"title": "x"}', "'id' must be"),
        ('{"id": "f1", "title": "dup"}', "repeats line 1"),
        ('{"id": "z", "title": 3}', "'title' must be a string"),
        ('{"id": "z", "lang": "not a code!"}', "not a language code"),
        ('{"id": "z", "date": "yesterday"}', "not ISO 8601"),
    ],
)
def test_cluster_file_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ROWS[0]) + "\n\n" + line + "\n", "utf-8")
    with pytest.raises(InputError, match=message) as err:
        cluster_file(src, tmp_path / "out.jsonl")
    assert f"{src}:3:" in err.value.message
    assert not (tmp_path / "out.jsonl").exists()


def test_cluster_file_rejects_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "a", "title": "ok"}\n{"id": "b", "title": "\xff\xfe"}\n')
    with pytest.raises(InputError, match=r"in.jsonl:2: not UTF-8"):
        cluster_file(src, tmp_path / "out.jsonl")


def test_cluster_file_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", ROWS)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "topics:\n  censorship: {keywords: [审查]}\nfeeds:\n"
        "  - {id: a, name: A, url: https://example.org/a.xml}\n",
        "utf-8",
    )
    main(["--config", str(config), "cluster-file", str(src), str(tmp_path / "out.jsonl")])
    assert "cluster-file: 4 items, 3 stories" in capsys.readouterr().out
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()]
    assert rows[3]["topics"] == ["censorship"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n{oops\n', "utf-8")
    with pytest.raises(SystemExit) as failed:
        main(["cluster-file", str(bad), str(tmp_path / "o.jsonl")])
    assert failed.value.code == 1
    assert f"{bad}:2: not valid JSON" in capsys.readouterr().err


def test_two_feeds_of_one_outlet_count_as_one_outlet(tmp_path: Path, store: Store) -> None:
    feeds = (
        FeedConfig("rfa-en", "RFA English", "https://e.org/1", outlet="Radio Free Asia"),
        FeedConfig("rfa-cat", "RFA (category)", "https://e.org/2", outlet="Radio Free Asia"),
        FeedConfig("gv", "Global Voices", "https://e.org/3"),
    )
    config = make_config(tmp_path, feeds=feeds)
    for feed, guid in (("rfa-en", "a"), ("rfa-cat", "b")):
        add_item(store, feed, guid, "Guangdong cyber police open Weibo accounts for informants", 3)
    add_item(store, "gv", "c", "Guangdong cyber police invite informants on Weibo accounts", 2)
    cluster_stage(config, store)
    story = max(site_data(config, store).stories, key=lambda s: len(s.items))
    assert len(story.items) == 3
    assert story.outlets == ["Radio Free Asia", "Global Voices"]
    two_outlets = story_score(2, 1, 3, 1.0)
    assert abs(story.score - two_outlets) < abs(story.score - story_score(3, 1, 3, 1.0))
