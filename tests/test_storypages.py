"""Story pages an editor can brief from: what happened, coverage, timeline, filters, newsletter.

The summary sentences must be verbatim from the reports and name their source; no coverage
claim where the digest could not have matched; counts agree on a page; a hidden report gives
no sentence, row or count anywhere; the email labels each machine translation where it stands
and its header counts the stories it contains.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from builders import REAL_NOW, ConceptEmbedder, make_stored_item, make_story
from test_newsletter import config as newsletter_config

from digest import build_data, build_stage, cluster_stage
from digest.newsletter.issue import SECTION_LIMIT, TOP_STORIES, plan_issue, render_issue
from digest.newsletter.snapshot import content_from_json, content_to_json, without_hidden
from digest.records import Config, FeedConfig, Item, SiteConfig, StoredItem, StoriesConfig
from digest.store import Store, text_hash
from digest.stories.breakdown import NO_MODEL, NOT_READ, breakdown, only_kind, only_language, reach
from digest.stories.summary import Candidate, candidates, summarize
from digest.translate.sentences import split_sentences

T0 = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)
DAY = "2026-05-28"

QINGLANG = [
    (
        "cdt",
        "en",
        "CAC announces first results of the Qinglang campaign",
        "The Cyberspace Administration of China said on Wednesday that the Qinglang campaign has "
        "closed 62,400 self-media accounts. The regulator accused the accounts of fabricating "
        "news and impersonating official media. Bloggers who write about court cases were "
        "among those silenced, according to screenshots.",
    ),
    (
        "rthk",
        "en",
        "Mainland regulator shuts 62,400 self-media accounts",
        "The Cyberspace Administration of China says it has closed 62,400 self-media accounts "
        "in the first phase of this year's Qinglang campaign. The regulator said the accounts "
        "had fabricated news and impersonated official media.",
    ),
    (
        "gv",
        "en",
        "China's Qinglang campaign silences 62,400 self-media accounts",
        "The annual Qinglang campaign of the Cyberspace Administration of China has closed "
        "62,400 self-media accounts accused of spreading fake news. Many of the closed accounts "
        "belonged to citizen bloggers covering local news.",
    ),
]
ZH_TITLE = "网信办关闭6.24万个自媒体账号"
ZH_SUMMARY = (
    "国家网信办通报，清朗专项行动第一阶段共关闭违规自媒体账号62400个。"
    "通报称，这些账号编造虚假新闻！被关闭的账号中不少是公民记者吗？"
)
ZH_TITLE_EN = "Cyberspace office closes 62,400 self-media accounts"
ZH_SUMMARY_EN = (
    "The Cyberspace Administration said the Qinglang campaign has closed 62,400 self-media "
    "accounts in its first phase. It said the accounts fabricated false news."
)


def qinglang_items(*, zh_translated: bool = True) -> list[StoredItem]:
    """Three English reports of one event and a Chinese one (translated unless told)."""
    out = [
        make_stored_item(
            f"i-{feed}",
            title=title,
            summary=summary,
            lang=lang,
            feeds=(feed,),
            published=T0 + timedelta(hours=n),
        )
        for n, (feed, lang, title, summary) in enumerate(QINGLANG)
    ]
    out.append(
        make_stored_item(
            "i-rfa-zh",
            title=ZH_TITLE,
            summary=ZH_SUMMARY,
            lang="zh",
            feeds=("rfa-zh",),
            published=T0 + timedelta(hours=30),
            title_translated=ZH_TITLE_EN if zh_translated else None,
            summary_translated=ZH_SUMMARY_EN if zh_translated else None,
            translation=None if zh_translated else "no-model",
        )
    )
    return out


def field_of(item: StoredItem, line: Candidate) -> str:
    """The text a candidate claims to quote."""
    if line.translated:
        return (item.title_translated if line.part == "title" else item.summary_translated) or ""
    return item.title if line.part == "title" else item.summary


# ---------------------------------------------------------------- what happened (pure)


def test_summary_sentences_are_verbatim_and_carry_their_source() -> None:
    items = qinglang_items()
    by_id = {i.id: i for i in items}
    chosen = summarize(candidates(items, "en", headline=QINGLANG[1][2]))
    assert 2 <= len(chosen) <= 3
    for line in chosen:
        item = by_id[line.item_id]
        assert line.text in field_of(item, line)  # verbatim, from the part it names
        assert line.text in split_sentences(field_of(item, line))  # a whole sentence
        assert line.translated == (line.lang == "en" and item.lang == "zh")
    # The headline is on the page already: never repeated as a sentence.
    assert all(line.text != QINGLANG[1][2] for line in chosen)
    # What the reports share: the closing of the accounts, said by most of them.
    assert "62,400" in chosen[0].text


def test_no_repeats_and_originals_before_machine_translations() -> None:
    items = qinglang_items()
    found = candidates(items, "en")
    # Give the translation every vote: it is still shown after the originals, and marked.
    vectors = {c.text: np.ones(4, dtype=np.float32) / 2 for c in found}
    chosen = summarize(found, vectors)
    assert len(chosen) == 1  # all sentences are alike: one, never the same thing thrice
    lex = summarize(found)
    texts = [c.text for c in lex]
    assert len(set(texts)) == len(texts)
    tiers = [c.tier for c in lex]
    assert tiers == sorted(tiers)
    mt = [c for c in found if c.translated]
    assert mt and all(c.item_id == "i-rfa-zh" and c.lang == "en" for c in mt)
    assert all(c.text in (ZH_TITLE_EN, *split_sentences(ZH_SUMMARY_EN)) for c in mt)


def test_chinese_sentences_are_split_at_full_width_stops() -> None:
    items = [
        make_stored_item("a", title=ZH_TITLE, summary=ZH_SUMMARY, lang="zh", feeds=("a",)),
        make_stored_item(
            "b", title="清朗行动关闭自媒体账号", summary=ZH_SUMMARY[:40] + "。", lang="zh"
        ),
    ]
    found = candidates(items, "en")
    zh = [c for c in found if c.item_id == "a" and c.part == "summary"]
    assert [c.text[-1] for c in zh] == ["。", "！", "？"]
    assert all(c.tier == 2 and not c.translated and c.lang == "zh" for c in found)
    chosen = summarize(found)
    assert chosen and all(
        c.text in field_of(items[0 if c.item_id == "a" else 1], c) for c in chosen
    )


def test_one_report_or_a_hidden_one_gives_no_sentence() -> None:
    items = qinglang_items()
    assert candidates(items[:1], "en") == []
    hidden = [replace(items[0], hidden=True), items[1]]
    assert candidates(hidden, "en") == []  # one visible report left
    found = candidates([replace(items[0], hidden=True), *items[1:]], "en")
    assert found and all(c.item_id != items[0].id for c in found)


def test_feed_furniture_and_cut_leads_are_not_sentences() -> None:
    a = make_stored_item(
        "a",
        title="Regulator closes thousands of accounts in a new campaign",
        summary="The post Regulator closes accounts appeared first on China Digital Times. "
        "The regulator closed thousands of accounts in a campaign against rumours and more […]",
    )
    b = make_stored_item("b", title="Thousands of accounts closed by the regulator this week")
    assert [c.part for c in candidates([a, b], "en")] == ["title", "title"]


# ---------------------------------------------------------------- cluster and cache


def _config(
    tmp_path: Path, *, embedder: str = "none", feeds: tuple[FeedConfig, ...] = ()
) -> Config:
    return Config(
        path=tmp_path / "feeds.yaml",
        site=SiteConfig(language="en", window_days=36500),
        feeds=feeds
        or (
            FeedConfig(
                "cdt", "China Digital Times", "https://cdt.example/feed", kind="exile media"
            ),
            FeedConfig("rthk", "RTHK", "https://rthk.example/feed", kind="hong kong media"),
            FeedConfig(
                "gv", "Global Voices", "https://gv.example/feed", kind="international media"
            ),
            FeedConfig(
                "rfa-zh",
                "RFA Mandarin",
                "https://rfa.example/zh",
                language="zh",
                outlet="Radio Free Asia",
                kind="international broadcaster",
            ),
            FeedConfig("xh", "Xinhua", "https://xh.example/feed", kind="state media"),
        ),
        stories=StoriesConfig(embedder=embedder),
    )


# Two days before the tests started, at noon UTC: every report of _fill on one UTC day.
BASE = (REAL_NOW - timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)


def _fill(store: Store, config: Config) -> dict[str, str]:
    """The Qinglang reports in the store (the Chinese one translated), and one Xinhua report
    on another subject the same day (so state media were read then); feed id -> item id."""
    store.sync_feeds(config.feeds)
    ids = {}
    rows = [(f, lang, t, s) for f, lang, t, s in QINGLANG]
    rows += [("rfa-zh", "zh", ZH_TITLE, ZH_SUMMARY), ("xh", "en", "Harvest festival opens", "")]
    with store.transaction():
        for n, (feed, lang, title, summary) in enumerate(rows):
            item = Item(
                feed_id=feed, guid=f"g{n}", url=f"https://{feed}.example/{n}",
                link=f"https://{feed}.example/{n}", title=title, summary=summary,
                content_html="", published=BASE + timedelta(minutes=10 * n), lang=lang,
                date_is_fallback=False, content_key=f"k{n}",
            )  # fmt: skip
            ids[feed], _ = store.upsert_item(item, REAL_NOW)
        store.set_item_translation(
            ids["rfa-zh"], "en", source_hash=text_hash(ZH_TITLE + "\0" + ZH_SUMMARY),
            model="zh_en-test", status="translated", note=None, title=ZH_TITLE_EN,
            summary=ZH_SUMMARY_EN, now=REAL_NOW,
        )  # fmt: skip
    return ids


def _qinglang_story(store: Store, ids: dict[str, str]) -> str:
    stories = store.story_assignments()
    assert len({stories[ids[f]] for f in ("cdt", "rthk", "gv", "rfa-zh")}) == 1
    return stories[ids["cdt"]]


def test_cluster_stores_summaries_and_never_embeds_a_sentence_twice(tmp_path: Path) -> None:
    config = _config(tmp_path, embedder="concept")
    concept = ConceptEmbedder()
    with Store.open(tmp_path / "db.sqlite") as store:
        ids = _fill(store, config)
        first = cluster_stage(config, store, embedder_factory=lambda _: concept)
        sid = _qinglang_story(store, ids)
        stored = store.story_summaries()[sid]
        assert 2 <= len(stored) <= 3 and first.sentences > 0
        assert "summary sentence" in first.line()
        texts = concept.texts
        again = cluster_stage(config, store, rebuild=True, embedder_factory=lambda _: concept)
        assert again.sentences == 0 and concept.texts == texts  # every vector from the cache
        assert store.story_summaries()[sid] == stored
        # A story of one report has no summary.
        assert stories_without(store, ids) == {store.story_assignments()[ids["xh"]]}


def stories_without(store: Store, ids: dict[str, str]) -> set[str]:
    """Stories with no stored summary."""
    return set(store.story_assignments().values()) - set(store.story_summaries())


# ---------------------------------------------------------------- the page


class _Page(HTMLParser):
    """Text per class of element, enough to read the brief."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: dict[str, list[str]] = {}
        self.quotes: list[tuple[str, str]] = []  # (lang, text) of each <q>
        self.rows = 0
        self._q: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("meta", "link", "br", "img", "input", "hr"):
            return  # void: no end tag comes
        a = dict(attrs)
        self.stack.append(a.get("class") or "")
        if tag == "q":
            self._q = a.get("lang") or ""
            self.quotes.append((self._q, ""))
        if tag == "li" and self.stack[-2:-1] == ["timeline-rows"]:
            self.rows += 1

    def handle_endtag(self, tag: str) -> None:
        if self.stack:
            self.stack.pop()
        if tag == "q":
            self._q = None

    def handle_data(self, data: str) -> None:
        for cls in self.stack:
            if cls:
                self.text.setdefault(cls, []).append(data)
        if self._q is not None:
            lang, text = self.quotes[-1]
            self.quotes[-1] = (lang, text + data)


def _story_page(out: Path, text: str) -> tuple[str, _Page]:
    for path in sorted((out / "stories").glob("*.html")):
        html = path.read_text("utf-8")
        if text in html:
            page = _Page()
            page.feed(html)
            return html, page
    raise AssertionError(f"no story page with {text!r}")


def test_story_page_brief_counts_agree_and_claims_only_what_could_be_matched(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    with Store.open(tmp_path / "db.sqlite") as store:
        ids = _fill(store, config)
        cluster_stage(config, store)
        sid = _qinglang_story(store, ids)
        build_stage(config, store, tmp_path / "site")
        html, page = _story_page(tmp_path / "site", "What happened")
        items = {i.id: i for i in store.items(ids=list(ids.values()))}
    # Every quoted sentence is in the report it links to, in the language it says.
    for anchor, quote in zip(
        re.findall(r'class="cite" href="#([^"]+)"', html), page.quotes, strict=True
    ):
        item = items[anchor]
        lang, text = quote
        texts = [item.title, item.summary] if lang == item.lang else [
            item.title_translated or "", item.summary_translated or ""
        ]  # fmt: skip
        assert any(text in t for t in texts), (text, anchor)
    # Counts: 4 reports, by language 3 + 1, by kind one each, 4 timeline rows, 4 full reports.
    assert "4 reports from 4 outlets" in html
    assert re.search(
        r"English <span[^>]*>en</span> 3</span>, <span[^>]*>Chinese <span[^>]*>zh</span> 1", html
    )
    kinds = re.findall(
        r'<span class="count-line">([a-z ]+) (\d+) <span class="kind-outlets">', html
    )
    assert sorted(kinds) == sorted(
        [("exile media", "1"), ("hong kong media", "1"), ("international media", "1"),
         ("international broadcaster", "1")]
    )  # fmt: skip
    assert page.rows == 4 == html.count('<li class="item"')
    assert html.count('class="badge first-report"') == 1
    # State media were read that day (Xinhua's report) and read in a language the digest
    # compares: "not covered by state media" is said. No other language is configured.
    assert "".join(page.text["not-covered"]) == "state media"
    assert "unchecked" not in page.text
    assert sid


def test_no_coverage_claim_where_matching_was_impossible() -> None:
    feeds = (
        FeedConfig("cdt", "CDT", "u1", language="en", kind="exile media"),
        FeedConfig("tib", "Tibet Times", "u2", language="bo", kind="exile media"),
        FeedConfig("xh", "Xinhua", "u3", language="en", kind="state media"),
        FeedConfig("ngo", "An NGO", "u4", language="en", kind="NGO"),
    )
    day = datetime(2026, 5, 28, 9, tzinfo=UTC)
    en = make_stored_item("a", feeds=("cdt",), published=day)
    bo = make_stored_item("b", lang="bo", feeds=("tib",), published=day + timedelta(hours=1))
    fetched = {"xh": {DAY}, "tib": {DAY}}  # the NGO's feed was not read that day
    where = reach(feeds, [en, bo], fetched, vector_languages={"en", "zh"}, site_language="en")
    # A Tibetan report no model reads: nothing may be said of who else did not report it.
    both = breakdown([en, bo], [], where)
    assert both.missing_kinds == [] and both.missing_languages == []
    assert {what for what, _ in both.unchecked} == {"state media", "NGO"}
    assert all("Tibetan reports cannot be compared" in why for _, why in both.unchecked)
    # The English report alone: state media were read (and compared) that day; the NGO
    # was not read; Tibetan-language media cannot be compared (no model reads them).
    alone = breakdown([en], [], where)
    assert alone.missing_kinds == ["state media"]
    assert ("NGO", NOT_READ) in alone.unchecked and ("bo", NO_MODEL) in alone.unchecked
    assert alone.missing_languages == []
    # A kind with a feed in a language nothing reads is not claimed for either.
    tibet_story = make_stored_item("c", feeds=("xh",), published=day)
    assert ("exile media", NO_MODEL) in breakdown([tibet_story], [], where).unchecked
    # Hidden reports count for nothing, and their kind and language are not claimed absent.
    hidden = breakdown([en], [replace(bo, hidden=True)], where)
    assert hidden.kinds == [("exile media", 1)]
    assert all(what != "bo" for what, _ in hidden.unchecked)
    # Undated reports: no day to check.
    undated = breakdown([replace(en, date_is_fallback=True)], [], where)
    assert undated.missing_kinds == [] and undated.unchecked


def test_filters_say_only_where_every_other_kind_was_checked() -> None:
    feeds = (
        FeedConfig("cdt", "CDT", "u1", language="en", kind="exile media"),
        FeedConfig("xh", "Xinhua", "u3", language="zh", kind="state media"),
        FeedConfig("en2", "Other", "u5", language="en", kind="NGO"),
    )
    day = datetime(2026, 5, 28, 9, tzinfo=UTC)
    a = make_stored_item("a", feeds=("cdt",), published=day)
    zh = make_stored_item("z", lang="zh", feeds=("xh",), published=day)
    fetched = {"xh": {DAY}, "en2": {DAY}}
    blind = reach(feeds, [a, zh], fetched, vector_languages=(), site_language="en")
    # Chinese has no vectors and no translation: state media cannot be checked.
    cover = breakdown([a], [], blind)
    assert only_kind(cover.kinds, cover.missing_kinds, blind) == ""
    seeing = reach(feeds, [a, zh], fetched, vector_languages=("en", "zh"), site_language="en")
    cover = breakdown([a], [], seeing)
    assert only_kind(cover.kinds, cover.missing_kinds, seeing) == "exile media"
    zh_cover = breakdown([zh], [], seeing)
    assert only_language(["zh"], zh_cover.missing_languages, seeing) == "zh"
    assert only_language(["zh"], breakdown([zh], [], blind).missing_languages, blind) == ""


def test_front_page_links_static_filter_pages_within_its_size(tmp_path: Path) -> None:
    # Both reports on today's date, whatever the hour: a gap is claimed only for an outlet
    # seen that day (a run just after midnight put the NGO's report on yesterday).
    midnight = REAL_NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    feeds = (
        FeedConfig("cdt", "CDT", "https://cdt.example/f", language="en", kind="exile media"),
        FeedConfig("ngo", "NGO", "https://ngo.example/f", language="en", kind="NGO"),
    )
    config = _config(tmp_path, feeds=feeds)
    with Store.open(tmp_path / "db.sqlite") as store:
        store.sync_feeds(feeds)
        with store.transaction():
            for n, (feed, title) in enumerate(
                [("cdt", "Exile outlet alone reports a blogger detained in Wuhan"),
                 ("ngo", "NGO report on spyware sold to police forces abroad")]
            ):  # fmt: skip
                item = Item(
                    feed_id=feed, guid=f"g{n}", url=f"https://{feed}.example/{n}",
                    link=f"https://{feed}.example/{n}", title=title, summary="",
                    content_html="", published=midnight + (REAL_NOW - midnight) * (n + 1) / 3,
                    lang="en",
                    date_is_fallback=False, content_key=f"k{n}",
                )  # fmt: skip
                store.upsert_item(item, REAL_NOW)
        cluster_stage(config, store)
        build_stage(config, store, tmp_path / "site")
    site = tmp_path / "site"
    index = (site / "index.html").read_text("utf-8")
    assert 'href="filters/kind-exile-media.html">Reported only by exile media</a>' in index
    assert (site / "index.html").stat().st_size <= 100_000
    exile = (site / "filters" / "kind-exile-media.html").read_text("utf-8")
    assert "blogger detained in Wuhan" in exile and "spyware" not in exile
    assert "<script" not in exile


# ---------------------------------------------------------------- takedown


def test_a_hidden_report_gives_no_sentence_row_or_count(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with Store.open(tmp_path / "db.sqlite") as store:
        ids = _fill(store, config)
        cluster_stage(config, store)
        sid = _qinglang_story(store, ids)
        quoted = {str(line["item"]) for line in store.story_summaries()[sid]}
        victim = next(i for f, i in ids.items() if i in quoted and f != "rfa-zh")
        item = store.items(ids=[victim])[0]
        store.hide(victim, "request", REAL_NOW)
        # Before the next cluster run chooses again: the edition drops the sentence.
        data = build_data(config, store)
        story = next(s for s in data.stories if s.id == sid)
        assert story.summary and all(line[0] != victim for line in story.summary)
        build_stage(config, store, tmp_path / "site")
        html, page = _story_page(tmp_path / "site", "What happened")
        assert victim not in html and item.title not in html
        assert all(text not in item.summary for _, text in page.quotes)
        assert page.rows == 3 and "3 reports from 3 outlets" in html
        # And after it: the summary is chosen from the visible reports alone.
        cluster_stage(config, store)
        assert all(line["item"] != victim for line in store.story_summaries()[sid])


def test_newsletter_drops_a_hidden_reports_sentence_from_the_archive() -> None:
    items = qinglang_items()
    lines = [(i.id, i.summary.split(". ")[0] + ".", "en", False) for i in items[:2]]
    lines.append(("i-rfa-zh", ZH_SUMMARY_EN.split(". ")[0] + ".", "en", True))
    story = make_story("s-q", items, outlets=["CDT", "RTHK", "GV", "RFA"], summary=lines)
    content = plan_issue([story], newsletter_config(), issue_id="x", number=1,
                         date=T0, since=None, until=T0)  # fmt: skip
    assert [line.report for line in content.top[0].sentences] == ["i-cdt", "i-rthk", "i-rfa-zh"]
    back = content_from_json(content_to_json(content))
    assert back == content
    cut = without_hidden(back, {"i-rthk"}, {QINGLANG[1][2]})
    assert [line.report for line in cut.top[0].sentences] == ["i-cdt", "i-rfa-zh"]
    html, text = render_issue(cut)
    assert lines[1][1] not in html and lines[1][1] not in text


# ---------------------------------------------------------------- the newsletter


def test_email_labels_each_machine_translation_and_counts_what_it_contains() -> None:
    items = qinglang_items()
    zh = items[-1]
    lines = [("i-cdt", QINGLANG[0][3].split(". ")[0] + ".", "en", False),
             ("i-rfa-zh", ZH_SUMMARY_EN.split(". ")[0] + ".", "en", True)]  # fmt: skip
    top = make_story("s-q", items, outlets=["CDT", "RTHK", "GV", "RFA"], summary=lines)
    only_zh = make_story("s-zh", [replace(zh, id="i-zh2")], outlets=["RFA"], headline=ZH_TITLE_EN)
    filler = [
        make_story(f"s-{n}", [make_stored_item(f"i-{n}", title=f"Censor story {n}",
                                                summary="Text.", published=T0)])
        for n in range(30)
    ]  # fmt: skip
    cfg = newsletter_config()
    content = plan_issue([top, *filler[:TOP_STORIES], only_zh, *filler[TOP_STORIES:]], cfg,
                         issue_id="x", number=1, date=T0, since=None, until=T0)  # fmt: skip
    html, text = render_issue(content)
    shown = len(content.story_ids)
    assert content.total == shown == TOP_STORIES + SECTION_LIMIT
    assert content.on_site == 32 - shown
    assert f"{shown} stories" in text.splitlines()[1] and f"({32 - shown} more on the site)" in text
    assert f"· {shown} stories" in html
    # The top story shows its sentences, the translated one marked where it stands.
    assert "machine translation from zh" in " ".join(text.split("Censor story")[0].split())
    assert html.count("(machine translation from zh)") == 1
    # The translated story further down: its headline and its summary each labelled.
    part = html.split(ZH_TITLE_EN)[1]
    assert "Machine translation from zh; the original:" in part.split(ZH_TITLE)[0]
    assert "Summary: machine translation from zh" in part
