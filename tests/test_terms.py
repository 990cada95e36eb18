"""Terms a reader sees are words: term extraction per language, and every key term and topic
name of the demo and of the real feeds checked against jieba's dictionary and the stopwords."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from builders import PARSE_NOW, copy_demo
from shared_data import FEEDS_REAL
from termcheck import term_problems, topic_name_terms

from digest.config import load_config
from digest.ingest.normalize import normalize_entry
from digest.ingest.parse import parse_feed
from digest.pipeline import run
from digest.records import FeedConfig, TopicConfig
from digest.stories.labels import LabelDoc, StoryLabels, label_stories
from digest.stories.terms import NAME_JOIN, displayable, surface_forms, term_tokens
from digest.stories.topicids import is_discovered_id
from digest.stories.words import is_number_word, term_stopwords
from digest.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- per language


def test_english_terms_are_words_with_names_whole() -> None:
    text = (
        "Li Mingyuan, a VPN user, was detained by Beijing police on Monday. "
        "The Great Firewall blocks Tor; two of 62,000 accounts closed."
    )
    terms = term_tokens(text, "en")
    assert f"li{NAME_JOIN}mingyuan" in terms and "li" not in terms and "mingyuan" not in terms
    assert f"great{NAME_JOIN}firewall" in terms
    assert {"vpn", "tor", "police", "detained"} <= set(terms)
    for dropped in ("the", "was", "two", "62000", "62", "000", "monday", "on"):
        assert dropped not in terms
    # Title Case says nothing about names: words stay words.
    assert term_tokens("Mexico Seizes Huge Fentanyl Shipment From Myanmar", "en") == [
        "mexico",
        "seizes",
        "huge",
        "fentanyl",
        "shipment",
        "myanmar",
    ]


def test_chinese_terms_are_dictionary_words_never_fragments() -> None:
    terms = term_tokens("清朗行动关闭了62,400个自媒体账号，微信被封。习近平在叙利亚。", "zh")
    assert {"自媒体", "账号", "微信", "习近平", "叙利亚"} <= set(terms)
    for fragment in ("体账", "信被", "习近", "近平", "利亚", "62", "个", "了", "在"):
        assert fragment not in terms
    assert not any(is_number_word(t) for t in terms)
    # A person the dictionary does not know stays whole after a word that introduces him.
    assert term_tokens("维权律师李明远被判四年", "zh") == ["维权", "律师", "李明远", "被判"]
    assert term_tokens("记者张展被判刑，一张照片", "zh") == ["张展", "判刑", "一张", "照片"]
    # Stopwords ("can", "we") and number words (十万, 第一, 两个) are not terms.
    assert term_tokens("我们可以翻墙，十万网民第一次两个", "zh") == ["翻墙", "网民"]


def test_traditional_chinese_is_found_in_simplified_and_shown_as_written() -> None:
    text = "網信辦要求自媒體帳號實名，習近平"
    terms = term_tokens(text, "zh-Hant")
    assert "自媒体" in terms and "习近平" in terms  # keys are Simplified
    assert surface_forms(["自媒体", "习近平"], [text]) == ["自媒體", "習近平"]
    assert surface_forms(["vpn", f"li{NAME_JOIN}mingyuan"], ["Li Mingyuan and his VPN"]) == [
        "VPN",
        f"Li{NAME_JOIN}Mingyuan",
    ]


def test_uyghur_persian_and_tibetan_terms() -> None:
    # Uyghur: "Uyghur · and · one" was a topic name; "and" and "one" are not terms.
    assert term_tokens("ئۇيغۇر ۋە بىر مىڭ خەۋەر", "ug") == ["ئۇيغۇر", "خەۋەر"]
    assert {"ۋە", "بىر", "بۇ"} <= term_stopwords("ug")
    # Persian: a word with a zero-width non-joiner stays one word; stopwords and numbers go.
    terms = term_tokens("او می\u200cخواهد سانسور اینترنت را در دو شهر ببیند", "fa")
    assert "می\u200cخواهد" in terms and "سانسور" in terms and "اینترنت" in terms
    assert "را" not in terms and "دو" not in terms and "در" not in terms
    # Tibetan: syllables (particles dropped) help discovery but are never shown.
    syllables = term_tokens("བོད་ཀྱི་གནས་ཚུལ།", "bo")
    assert "ཀྱི" not in syllables and "བོད" in syllables
    assert not any(displayable(s) for s in syllables)
    assert {"ཀྱི", "དང", "ནས"} <= term_stopwords("bo")


def test_numbers_in_any_script_but_not_names_with_digits() -> None:
    for number in ("62", "2024", "۱۴۰۳", "十万", "第一", "两个", "三名", "seven", "1st", "90s"):
        assert is_number_word(number), number
    for word in ("5G", "H5N1", "G7", "COVID-19", "万达", "数据", "vpn"):
        assert not is_number_word(word), word


# ---------------------------------------------------------------- the demo and real feeds


def _check(
    labels: dict[str, StoryLabels], texts: dict[str, Sequence[str]], langs: dict[str, str]
) -> list[str]:
    """Problems of every key term and discovered topic name (checked against the texts and
    languages of its own stories)."""
    problems: list[str] = []
    members: dict[str, list[str]] = {}
    for sid, lab in labels.items():
        problems += [
            p for term in lab.key_terms for p in term_problems(term, texts[sid], [langs[sid]])
        ]
        if lab.discovered:
            for name in lab.topics:
                members.setdefault(name, []).append(sid)
    for name, sids in members.items():
        every = [t for s in sids for t in texts[s]]
        languages = sorted({langs[s] for s in sids})
        problems += [p for t in topic_name_terms(name) for p in term_problems(t, every, languages)]
    return sorted(set(problems))


def _real_items() -> list[tuple[str, str, str, str]]:
    """(id, title, summary, lang) of every well-formed real feed's items."""
    out = []
    for path in sorted(FEEDS_REAL.glob("*.xml")):
        feed = FeedConfig(id=path.stem.replace("_", "-").lower(), name=path.stem, url=str(path))
        parsed = parse_feed(path.read_bytes(), {}, path.as_uri(), now=PARSE_NOW)
        for k, entry in enumerate(parsed.entries):
            item = normalize_entry(entry, feed, parsed, PARSE_NOW)
            if item is not None and (item.title or item.summary):
                out.append((f"{feed.id}-{k}", item.title, item.summary, item.lang))
    return out


def test_terms_of_the_real_feeds_are_words() -> None:
    if not FEEDS_REAL.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {FEEDS_REAL} is missing")
        pytest.skip(f"{FEEDS_REAL} is absent")
    items = _real_items()
    assert len(items) > 100
    config = load_config(REPO / "feeds.yaml")
    # Each report its own story (the clustering is not what is checked), all the real
    # taxonomy, and discovery over whatever it misses.
    stories = {
        i: [LabelDoc(f"{title}. {summary}", lang, (title, summary), title=title)]
        for i, title, summary, lang in items
    }
    labels = label_stories(stories, config.topics, "en")
    assert any(lab.discovered for lab in labels.values()), "nothing discovered"
    assert sum(len(lab.key_terms) for lab in labels.values()) > 300
    texts = {i: [f"{title}. {summary}"] for i, title, summary, _ in items}
    langs = {i: lang for i, _, _, lang in items}
    assert _check(labels, texts, langs) == []
    # Chinese, Uyghur and Persian reports have terms in their own script.
    for lang in ("zh", "ug", "fa"):
        assert any(labels[i].key_terms for i in labels if langs[i] == lang), lang


def test_terms_and_topics_of_the_demo_are_words(tmp_path: Path) -> None:
    config_path = copy_demo(tmp_path)
    config = load_config(config_path)
    ws = Workspace.resolve(config_path, tmp_path / "state")
    run(config, ws)
    with ws.open_store() as store:
        terms = store.story_key_terms()
        labels = store.story_labels()
        records = store.topic_records()
        items = store.items(site_lang="en")
    texts: dict[str, list[str]] = {}
    langs: dict[str, list[str]] = {}
    for it in items:
        if it.story:
            texts.setdefault(it.story, []).append(f"{it.title}. {it.summary}")
            langs.setdefault(it.story, []).append(it.lang)
    problems = [
        p for sid, ts in terms.items() for t in ts for p in term_problems(t, texts[sid], langs[sid])
    ]
    every = [t for ts in texts.values() for t in ts]
    every_lang = sorted({lang for ls in langs.values() for lang in ls})
    for record in records.values():
        for t in topic_name_terms(record.auto_name):
            problems += term_problems(t, every, every_lang)
    assert problems == []
    assert sum(len(ts) for ts in terms.values()) >= 40
    names = {t.name for t in config.topics}
    for _, topics in labels.values():
        assert all(t in names or is_discovered_id(t) for t in topics), topics


def test_label_stories_names_discovered_topics_by_distinctive_headline_words() -> None:
    themes = {
        "sport": ["cup", "final", "goal", "striker", "league", "coach", "match", "penalty"],
        "money": ["bank", "shares", "profit", "investors", "inflation", "rates", "market"],
        "vote": ["election", "parliament", "minister", "ballot", "party", "campaign"],
    }
    stories = {}
    for k in range(60):
        _, words = list(themes.items())[k % 3]
        picked = [words[(k + j) % len(words)] for j in range(4)]
        title = f"{picked[0].title()} {picked[1]} news"
        stories[f"s{k:02d}"] = [LabelDoc(f"{title}. " + " ".join(picked), "en", title=title)]
    labels = label_stories(stories, (TopicConfig("x", "x", ("nothing-matches",)),))
    names = {lab.topics[0] for lab in labels.values() if lab.topics}
    assert len(names) == 3
    for name in names:
        words = set(topic_name_terms(name))
        assert any(words <= set(ws) for ws in themes.values()), name
