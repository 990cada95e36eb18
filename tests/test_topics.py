"""Topics from meaning and the editor's say: filing by meaning, discovered topic ids across
reclustering, `digest topics list | name | hide | unhide | merge`, stable topic URLs."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from builders import add_item, main_exit, make_config, write_text

from digest.config import load_config
from digest.edition import site_data
from digest.errors import InputError
from digest.export import records
from digest.records import TopicConfig, TopicRecord
from digest.stories.filing import FILE_THRESHOLD, file_by_meaning, mean_vector, topic_texts
from digest.stories.labels import LabelDoc, label_stories
from digest.stories.stage import run as cluster_stage
from digest.stories.topicids import is_discovered_id, resolve_topics, settle
from digest.stories.topics import discover_topics
from digest.topicedit import hide_topic, list_topics, merge_topics, name_topic
from digest.workspace import Workspace

# ---------------------------------------------------------------- filing by meaning


def _unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_a_story_is_filed_by_meaning_only_when_one_topic_fits_well_enough() -> None:
    topics = {"censorship": np.vstack([_unit(1, 0, 0)]), "sport": np.vstack([_unit(0, 1, 0)])}
    assert file_by_meaning(_unit(1, 0.1, 0), topics) == "censorship"
    # Fits nothing: below the threshold, so not forced into the nearer topic.
    assert file_by_meaning(_unit(0.05, 0.04, 1), topics) is None
    # Fits both alike: no margin, no filing.
    assert file_by_meaning(_unit(1, 1, 0), topics) is None
    assert file_by_meaning(None, topics) is None and file_by_meaning(_unit(1, 0, 0), {}) is None
    assert 0 < FILE_THRESHOLD < 1


def test_topic_texts_hold_the_description_and_the_keywords() -> None:
    topic = TopicConfig("surveillance", "surveillance", ("监控", "spyware"), "Watching people")
    assert topic_texts(topic) == ["surveillance: Watching people", "surveillance: 监控, spyware"]
    assert topic_texts(TopicConfig("x", "x", ("a",))) == ["x: a"]


def test_label_stories_files_keyword_misses_by_meaning_in_any_language() -> None:
    taxonomy = (
        TopicConfig("censorship", "censorship", ("censor",), "blocking speech"),
        TopicConfig("surveillance", "surveillance", ("spyware",), "watching people"),
    )
    vectors = {
        "censorship": np.vstack([_unit(1, 0, 0)]),
        "surveillance": np.vstack([_unit(0, 1, 0)]),
    }
    stories = {
        "kw": [LabelDoc("The censor struck again", "en")],
        "zh": [LabelDoc("网站被封锁", "zh", vector=_unit(1, 0.05, 0))],  # no keyword, the meaning
        "far": [LabelDoc("A football final", "en", vector=_unit(0, 0, 1))],
    }
    labels = label_stories(stories, taxonomy, discover=False, topic_vectors=vectors)
    assert labels["kw"].topics == ["censorship"] and not labels["kw"].by_meaning
    assert labels["zh"].topics == ["censorship"] and labels["zh"].by_meaning
    assert labels["far"].topics == []


def test_config_topics_take_an_optional_description(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "feeds.yaml",
        """\
        topics:
          censorship:
            description: Blocking and deleting speech
            keywords: [censor]
          surveillance: {keywords: [spyware]}
        feeds: []
        """,
    )
    config = load_config(path)
    assert [t.description for t in config.topics] == ["Blocking and deleting speech", ""]


def test_discovery_leaves_a_story_with_nothing_in_common_out() -> None:
    rng = random.Random(3)
    themes = list(THEMES.values())
    docs = [[*rng.sample(themes[k % 3], 3), f"x{k}"] for k in range(45)]
    docs.append(["zzz", "yyy"])  # shares no word with anything
    found = discover_topics(docs)
    assert found[-1] == -1
    assert -1 not in found[:-1]
    # Each group holds one theme.
    assert all(len({k % 3 for k in range(45) if found[k] == g}) == 1 for g in set(found[:-1]))


def test_discovery_uses_meaning_when_words_are_not_shared() -> None:
    # Two topics whose documents share no words at all (two languages), told apart by vectors.
    rng = np.random.default_rng(5)
    docs: list[list[str]] = []
    vectors: list[np.ndarray | None] = []
    for k in range(45):
        docs.append([f"w{k}a", f"w{k}b"])
        axis = np.eye(4)[k % 3] + rng.normal(0, 0.15, 4)
        vectors.append(axis / np.linalg.norm(axis))
    found = discover_topics(docs, vectors)
    assert len(set(found)) == 3 and all(found[k] == found[k % 3] for k in range(45))
    assert mean_vector([None, None]) is None


# ---------------------------------------------------------------- ids across reclustering


def test_a_group_keeps_the_id_of_the_topic_most_of_whose_stories_it_holds() -> None:
    previous = {"a1": "auto-aaaaaa", "a2": "auto-aaaaaa", "a3": "auto-aaaaaa", "b1": "auto-bbbbbb"}
    previous |= {"b2": "auto-bbbbbb"}
    groups = {"x · y": ["a1", "a2", "n1"], "p · q": ["b1", "a3", "n2"], "new": ["n3", "n4"]}
    ids = settle(groups, previous, taken=["auto-aaaaaa", "auto-bbbbbb", "auto-cccccc"])
    assert ids["x · y"] == "auto-aaaaaa"  # 2 of its 3 stories
    # auto-bbbbbb's stories split (b1 here, b2 nowhere): half is not most, so a new id.
    assert ids["p · q"] not in {"auto-aaaaaa", "auto-bbbbbb", "auto-cccccc"}
    assert is_discovered_id(ids["new"]) and ids["new"] != ids["p · q"]
    assert settle(groups, previous, taken=["auto-aaaaaa", "auto-bbbbbb"]) == settle(
        groups, previous, taken=["auto-aaaaaa", "auto-bbbbbb"]
    )


def test_stored_topics_resolve_through_the_editors_choices() -> None:
    records_ = {
        "auto-aaaaaa": TopicRecord("auto-aaaaaa", "myanmar · junta", name="Myanmar conflict"),
        "auto-bbbbbb": TopicRecord("auto-bbbbbb", "tor · vpn", merged_into="censorship"),
        "auto-cccccc": TopicRecord("auto-cccccc", "two · three", hidden=True),
        "auto-dddddd": TopicRecord("auto-dddddd", "loop", merged_into="auto-eeeeee"),
        "auto-eeeeee": TopicRecord("auto-eeeeee", "loop 2", merged_into="auto-dddddd"),
    }
    taxonomy = {"censorship"}
    assert resolve_topics(["auto-aaaaaa"], records_, taxonomy) == [
        ("Myanmar conflict", "auto-aaaaaa")
    ]
    assert resolve_topics(["censorship", "auto-bbbbbb"], records_, taxonomy) == [
        ("censorship", "censorship")
    ]
    assert resolve_topics(["auto-cccccc"], records_, taxonomy) == []
    assert resolve_topics(["auto-dddddd"], records_, taxonomy) == []  # a loop shows nothing
    assert resolve_topics(["old name"], records_, taxonomy) == [("old name", "old name")]


# ---------------------------------------------------------------- the editor, end to end


THEMES = {
    "sport": ["cup", "final", "goal", "striker", "league", "coach", "penalty", "stadium"],
    "money": ["bank", "shares", "profit", "investors", "inflation", "rates", "bonds", "market"],
    "vote": ["election", "parliament", "minister", "ballot", "party", "campaign", "senate"],
}


@pytest.fixture
def discovered(tmp_path: Path) -> tuple[object, Workspace]:
    """A workspace whose 45 stories (three themes, no taxonomy) form discovered topics."""
    config = make_config(tmp_path, feeds=["wire"])
    ws = Workspace.resolve(config.path, tmp_path / "state")
    rng = random.Random(7)
    with ws.open_store() as store:
        for k in range(45):
            theme = list(THEMES)[k % 3]
            words = rng.sample(THEMES[theme], 2)
            # Four words of its own per report, so that each is a story of its own.
            own = " ".join(
                f"{syllable}{chr(97 + k % 26)}{chr(97 + k // 26)}"
                for syllable in ("zor", "mek", "tav", "lun")
            )
            title = f"{words[0].title()} {own} {words[1]}"
            add_item(store, "wire", f"g{k}", title, hours_ago=1 + k)
        cluster_stage(config, store)
    return config, ws


def test_discovered_topics_are_named_hidden_and_merged_by_the_editor(
    discovered: tuple[object, Workspace],
) -> None:
    config, ws = discovered
    rows = list_topics(config, ws)  # type: ignore[arg-type]
    found = [r for r in rows if r.kind == "discovered"]
    assert len(found) >= 2 and all(is_discovered_id(r.id) for r in found)
    assert all(r.stories >= 3 and r.headlines for r in found)
    first, second = found[0], found[1]
    name_topic(config, ws, first.id, "Football")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        name_topic(config, ws, second.id, "Football")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        name_topic(config, ws, "no-such-topic", "X")  # type: ignore[arg-type]
    with ws.open_store() as store:
        data = site_data(config, store)  # type: ignore[arg-type]
    views = {t.name: t for t in data.topics}
    assert "Football" in views and views["Football"].slug == first.id  # the URL is the id
    # Rebuilding the stories from scratch keeps the ids and so the editor's name.
    with ws.open_store() as store:
        cluster_stage(config, store, rebuild=True)  # type: ignore[arg-type]
        data = site_data(config, store)  # type: ignore[arg-type]
    assert {t.name: t.slug for t in data.topics}["Football"] == first.id
    # Hidden: no page, no story carries it; merged: its stories go under the other topic.
    hide_topic(config, ws, second.id)  # type: ignore[arg-type]
    with ws.open_store() as store:
        data = site_data(config, store)  # type: ignore[arg-type]
        exported = list(records(store, "en"))
    assert second.name not in {t.name for t in data.topics}
    assert not any(second.name in s.topics for s in data.stories)
    assert not any(second.name in r["topics"] for r in exported)
    hide_topic(config, ws, second.id, hidden=False)  # type: ignore[arg-type]
    merge_topics(config, ws, second.id, first.id)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        merge_topics(config, ws, first.id, second.id)  # type: ignore[arg-type]
    with ws.open_store() as store:
        data = site_data(config, store)  # type: ignore[arg-type]
    views = {t.name: t for t in data.topics}
    assert second.name not in views
    assert len(views["Football"].stories) == first.stories + second.stories


def test_topics_commands(
    discovered: tuple[object, Workspace], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ws = discovered
    args = ["--config", str(config.path), "--state", str(ws.state_dir)]  # type: ignore[attr-defined]
    config.path.write_text("feeds:\n  - id: wire\n    name: Wire\n    url: feeds/wire.xml\n")  # type: ignore[attr-defined]
    assert main_exit([*args, "topics", "list"]) == 0
    listed = capsys.readouterr().out
    topic_id = next(w for w in listed.split() if is_discovered_id(w))
    assert main_exit([*args, "topics", "name", topic_id, "Markets"]) == 0
    assert "Markets" in capsys.readouterr().out
    assert main_exit([*args, "topics", "hide", topic_id]) == 0
    assert main_exit([*args, "topics", "list"]) == 0
    assert "(hidden)" in capsys.readouterr().out
    assert main_exit([*args, "topics", "merge", topic_id, "nowhere"]) == 1
    assert main_exit([*args, "topics", "hide", "auto-000000"]) == 1
    err = capsys.readouterr().err
    assert "no topic has the id 'nowhere'" in err and "no discovered topic" in err
