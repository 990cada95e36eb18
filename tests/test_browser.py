"""The built site in a real browser: Debian's chromium driven by Playwright, over 127.0.0.1.

The site is built by the real pipeline from the bundled demo feeds (English, Chinese, Uyghur, a
broken and a missing feed) plus one hostile feed, served by `digest serve`'s server on a free
port. Every request the browser makes is recorded. Screenshots go to tests/artifacts/.

Needs chromium (`apt-get install chromium`; Playwright's own browser download is not used) and
the playwright and pagefind[extended] packages; skipped with the reason when one is missing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from builders import Entry, copy_demo, rss
from needs import missing
from test_newsletter import config as newsletter_config
from test_newsletter import sample_stories
from test_storypages import QINGLANG, ZH_SUMMARY_EN, qinglang_items

from digest.config import load_config
from digest.newsletter.issue import plan_issue, render_issue
from digest.pipeline import run
from digest.records import Story
from digest.site.search import pagefind_executable
from digest.site.serve import make_server
from digest.translate.sentences import split_sentences
from digest.workspace import Workspace

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Without these, chromium phones home (component updates, sync, field trials) on start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# CI installs chromium, Playwright and pagefind: there (CI=true) a missing one is a failure.
try:
    from playwright import sync_api
except ImportError:
    missing("playwright is not installed (pip install -e '.[test]')", module=True)
if not CHROMIUM.exists():
    missing(
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) "
        "to run the browser tests",
        module=True,
    )
if pagefind_executable() is None:
    missing("pagefind is not installed (pip install 'pagefind[extended]')", module=True)

# Markup and tracking pixels in a title and a description, escaped as feeds carry them.
HOSTILE_ENTRY = Entry(
    guid="evil-1",
    link="https://evil.example/a",
    title='<img src="https://evil.example/t.png" onerror="alert(1)">Firewall probe report',
    description='<p>Tracking pixel <img src="https://evil.example/pixel.gif"> and\n'
    "<script>alert(2)</script> inside.</p>",
    published="Mon, 01 Jun 2026 08:00:00 GMT",
)


# Names that tempt a search into matching fragments: "Li" and "Ming" in other stories, so a
# search for "Li Mingyuan" must not fall back to them.
NAME_ENTRIES = [
    Entry(
        guid="names-1",
        link="https://names.example/1",
        title="Police detain blogger Li Mingyuan over posts about the lockdown",
        description="Li Mingyuan, who wrote about quarantine camps, was taken from his home.",
        published="Mon, 01 Jun 2026 09:00:00 GMT",
    ),
    Entry(
        guid="names-2",
        link="https://names.example/2",
        title="Lawyer Li Wei barred from leaving the country",
        description="Li Wei had represented families of detained activists.",
        published="Mon, 01 Jun 2026 10:00:00 GMT",
    ),
    Entry(
        guid="names-3",
        link="https://names.example/3",
        title="Ming-era archive goes offline after a court order",
        description="The Ming archive held scans of old maps; readers lost access on Friday.",
        published="Mon, 01 Jun 2026 11:00:00 GMT",
    ),
]


@dataclass
class Site:
    """The served site and what the browser saw."""

    base: str
    root: Path
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("browser")
    config_path = copy_demo(work)
    hostile = rss("Hostile (test)", [HOSTILE_ENTRY], lang="en", link="https://evil.example/")
    (work / "feeds" / "hostile.xml").write_bytes(hostile)
    names = rss("Names (test)", NAME_ENTRIES, lang="en", link="https://names.example/")
    (work / "feeds" / "names.xml").write_bytes(names)
    config_text = config_path.read_text("utf-8")
    # The 404 page's links start at base_url's path: serve the site at the server's root.
    config_text = config_text.replace(
        "base_url: https://example.org/digest/", "base_url: https://example.org/"
    )
    config_text += (
        "  - id: hostile\n    name: Hostile <b>outlet</b>\n    url: feeds/hostile.xml\n"
        "    language: en\n"
        "  - id: names\n    name: Names desk\n    url: feeds/names.xml\n    language: en\n"
        # A newsletter: its archive is on the site and in the navigation.
        'newsletter: {from: "Digest <digest@example.org>", to: readers@example.org}\n'
    )
    config_path.write_text(config_text, encoding="utf-8")
    config = load_config(config_path)
    ws = Workspace.resolve(config_path, work / "state")
    summary = run(config, ws)
    assert summary.build.search
    server = make_server(ws.out_dir(None), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}/", ws.out_dir(None).resolve())
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[object]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser: object, site: Site, width: int = 1024, dark: bool = False) -> object:
    """A fresh page that records every request and every console error into `site`."""
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": width, "height": 900},
        color_scheme="dark" if dark else "light",
        service_workers="block",
    )
    page = context.new_page()
    page.on("request", lambda request: site.requests.append(request.url))
    page.on(
        "console",
        lambda msg: site.errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: site.errors.append(f"{page.url}: {exc}"))
    return page


def story_with(site: Site, text: str) -> str:
    """The path of the story page that contains `text`."""
    for path in sorted((site.root / "stories").glob("*.html")):
        if text in path.read_text("utf-8"):
            return f"stories/{path.name}"
    raise AssertionError(f"no story page contains {text!r}")


def test_pages_load_without_errors_or_outside_requests(browser: object, site: Site) -> None:
    page = open_page(browser, site)
    paths = [
        "index.html",
        "about.html",
        "sources.html",
        "sources/rfa-uyghur.html",
        "days/index.html",
        "days/2026-06-01.html",
        "search.html",
        story_with(site, "Firewall probe report"),
        story_with(site, "刷脸"),
        "topics/censorship.html",
        "no/such/page.html",  # the 404 page, at depth
    ]
    for path in paths:
        response = page.goto(site.base + path)
        assert response is not None
        assert response.status == (404 if path.startswith("no/") else 200), path
        page.wait_for_load_state("networkidle")
        assert page.title(), path
        # Computed styles prove the stylesheet loaded (the CSP let it in).
        assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none", path
    page.screenshot(path=str(ARTIFACTS / "404.png"), full_page=True)
    page.goto(site.base + "index.html")
    page.screenshot(path=str(ARTIFACTS / "front-1024.png"), full_page=True)
    # The one error allowed: chromium logs the 404 status of the missing page itself.
    errors = [e for e in site.errors if not e.startswith(site.base + "no/such/page.html: ")]
    assert errors == []
    site.errors.clear()
    outside = [
        u for u in site.requests if not u.startswith(site.base) and not u.startswith("data:")
    ]
    assert outside == [], outside
    assert any(u.endswith("/static/style.css") for u in site.requests)
    # The hostile feed's markup arrived as text: no image from it, no script ran.
    assert not any("evil.example" in u for u in site.requests)
    page.context.close()


def test_search_finds_english_and_chinese_terms(browser: object, site: Site) -> None:
    page = open_page(browser, site)
    eff = story_with(site, "Client-Side Scanning")
    face = story_with(site, "刷脸")
    for term, expected in (("scanning", eff), ("刷脸", face)):
        page.goto(site.base + "search.html")
        page.fill("#search-q", term)
        page.press("#search-q", "Enter")
        page.wait_for_selector("#search-results li a", timeout=15_000)
        hrefs = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.href)")
        assert site.base + expected in hrefs, (term, hrefs)
        marks = page.eval_on_selector_all("#search-results mark", "els => els.length")
        assert marks > 0, term
        page.screenshot(path=str(ARTIFACTS / f"search-{'en' if term.isascii() else 'zh'}.png"))
    # A query in the address (the front page's form submits one) runs at once.
    page.goto(site.base + "search.html?q=" + "Firewall")
    page.wait_for_selector("#search-results li a", timeout=15_000)
    hostile = story_with(site, "Firewall probe report")
    hrefs = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.href)")
    assert site.base + hostile in hrefs
    # The excerpt of hostile text shows the text; it adds no element but <mark>.
    tags = page.eval_on_selector_all(
        "#search-results .result-excerpt *", "els => els.map(e => e.tagName)"
    )
    assert set(tags) <= {"MARK"}
    assert site.errors == []
    assert [u for u in site.requests if not u.startswith(site.base)] == []
    page.context.close()


def search_for(page: object, site: Site, query: str) -> tuple[list[str], list[str], str]:
    """(result hrefs, marked texts, status line) of one search on the search page."""
    page.goto(site.base + "search.html")  # type: ignore[attr-defined]
    page.fill("#search-q", query)  # type: ignore[attr-defined]
    page.press("#search-q", "Enter")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => /match/.test(document.getElementById('search-status').textContent)",
        timeout=15_000,
    )
    hrefs = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#search-results li a", "els => els.map(e => e.href)"
    )
    marks = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#search-results mark", "els => els.map(e => e.textContent)"
    )
    return hrefs, marks, page.inner_text("#search-status")  # type: ignore[attr-defined]


def test_chinese_search_matches_whole_words(browser: object, site: Site) -> None:
    assert not any("微软" in p.read_text("utf-8") for p in (site.root / "stories").glob("*.html"))
    page = open_page(browser, site)
    # 微软 (Microsoft) is in no story: its first character, in 微博 and 微信, is no match.
    hrefs, _, status = search_for(page, site, "微软")
    assert hrefs == [] and status.startswith("No story matches"), (hrefs, status)
    # 微信 finds the WeChat stories and marks 微信 only, never the 微 of 微博.
    hrefs, marks, _ = search_for(page, site, "微信")
    assert site.base + story_with(site, "蜡烛表情") in hrefs
    assert marks and all(m.startswith("微信") for m in marks), marks
    page.screenshot(path=str(ARTIFACTS / "search-zh-wechat.png"), full_page=True)
    # A query typed without spaces is cut into the index's words: both must occur.
    hrefs, marks, _ = search_for(page, site, "微博账号")
    assert hrefs == [site.base + story_with(site, "广东网警开设微博账号")], hrefs
    assert site.errors == []
    page.context.close()


def test_a_quoted_name_matches_as_a_phrase(browser: object, site: Site) -> None:
    page = open_page(browser, site)
    story = site.base + story_with(site, "Li Mingyuan")
    for query in ('"Li Mingyuan"', "Li Mingyuan", "mingyuan"):
        hrefs, marks, _ = search_for(page, site, query)
        assert hrefs == [story], (query, hrefs)
    hrefs, marks, _ = search_for(page, site, '"Li Mingyuan"')
    assert marks and {m.casefold() for m in marks} <= {"li", "mingyuan", "li mingyuan"}, marks
    page.screenshot(path=str(ARTIFACTS / "search-en-name.png"), full_page=True)
    # Stemmed English: "detained" finds the report that says "detain"; a word's start finds
    # the longer word ("archiv" finds "archive"), never a shorter one.
    hrefs, _, _ = search_for(page, site, "detained")
    assert story in hrefs
    hrefs, _, _ = search_for(page, site, "archiv")
    assert site.base + story_with(site, "Ming-era archive") in hrefs
    page.context.close()


def test_snippets_come_from_the_story_never_from_page_chrome(browser: object, site: Site) -> None:
    page = open_page(browser, site)
    chrome = ("Coverage gap", "Key terms", "UTC", "Story id", "Read at the source", "Related")
    for query in ("surveillance", "censorship", "微信", "Firewall"):
        hrefs, _, _ = search_for(page, site, query)
        assert hrefs, query
        excerpts = page.eval_on_selector_all(
            "#search-results .result-excerpt", "els => els.map(e => e.textContent)"
        )
        for text in excerpts:
            assert not any(word in text for word in chrome), (query, text)
    # Spaces the index put between Chinese words are not shown.
    search_for(page, site, "微信")
    excerpt = page.inner_text("#search-results .result-excerpt")
    assert "微信大批用户" in excerpt and not re.search("[\u4e00-\u9fff] [\u4e00-\u9fff]", excerpt)
    page.context.close()


def test_uyghur_original_is_right_to_left_inside_a_left_to_right_page(
    browser: object, site: Site
) -> None:
    page = open_page(browser, site)
    page.goto(site.base + story_with(site, "يۈز تونۇش"))
    assert page.evaluate("getComputedStyle(document.documentElement).direction") == "ltr"
    directions = page.eval_on_selector_all(
        '[lang="ug"]', "els => els.map(e => getComputedStyle(e).direction)"
    )
    assert directions and set(directions) == {"rtl"}
    # The text starts at the right edge of its box.
    align = page.eval_on_selector('h3[lang="ug"]', "e => getComputedStyle(e).textAlign")
    assert align in ("start", "right")
    page.screenshot(path=str(ARTIFACTS / "story-uyghur.png"), full_page=True)
    assert site.errors == []
    page.context.close()


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_front_page_fits_360_px(browser: object, site: Site, dark: bool) -> None:
    page = open_page(browser, site, width=360, dark=dark)
    for path in ["index.html", "sources.html", story_with(site, "刷脸"), "search.html"]:
        page.goto(site.base + path)
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] == 360, (path, widths)
    page.goto(site.base + "index.html")
    name = "front-360-dark" if dark else "front-360"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-top.png"))
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(21, 22, 26)") == dark
    assert site.errors == []
    page.context.close()


def test_sources_page_is_compact_on_a_phone(browser: object, site: Site) -> None:
    page = open_page(browser, site, width=360)
    page.goto(site.base + "sources.html")
    feeds = page.locator("p.source-feed").count()
    height = page.evaluate("document.documentElement.scrollHeight")
    page.screenshot(path=str(ARTIFACTS / "sources-360.png"), full_page=True)
    # 16 feeds (the demo's, a hostile and a names feed): about 2,100 px (the operator's field
    # list took 8,400 px for 14).
    assert feeds == 16 and height < 170 * feeds, height
    failing = page.locator(".source-failing .source-status").all_inner_texts()
    assert failing == ["Not updating: no successful fetch yet"] * 2
    assert site.errors == []
    page.context.close()


def test_skip_link_and_visible_focus(browser: object, site: Site) -> None:
    page = open_page(browser, site)
    page.goto(site.base + "index.html")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip-link"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    top = page.evaluate("document.activeElement.getBoundingClientRect().top")
    assert top >= 0  # shown on focus
    page.keyboard.press("Enter")
    # following the link is a navigation of its own: wait for it rather than race it
    page.wait_for_function("location.hash === '#main'")
    assert urlsplit(page.url).fragment == "main"
    page.context.close()


def test_pages_work_without_javascript(browser: object, site: Site) -> None:
    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(site.base + "index.html")
    first = page.eval_on_selector(".story-card .headline a", "e => e.getAttribute('href')")
    page.click(".story-card .headline a")
    assert page.url == site.base + first
    assert page.locator("li.item").count() >= 1
    page.goto(site.base + "search.html")
    assert "needs JavaScript" in page.inner_text("main")
    context.close()


def test_about_page_and_front_page_header_read_plainly(browser: object, site: Site) -> None:
    """The About page names the site language and the window in words; the front page says
    when it was updated; the navigation links the newsletter archive (this site has one)."""
    page = open_page(browser, site)
    page.goto(site.base + "about.html")
    about = page.inner_text("main")
    assert "languages other than English are translated into English" in about
    assert "ranks every story the digest keeps" in about  # the demo keeps everything
    assert "36500" not in about and "other than en " not in about
    assert "past issues are in the newsletter archive" in about
    page.screenshot(path=str(ARTIFACTS / "about.png"), full_page=True)
    page.goto(site.base + "index.html")
    updated = page.locator("p.updated")
    assert updated.is_visible()
    assert updated.inner_text().startswith("Updated ") and updated.inner_text().endswith(" UTC")
    nav = page.inner_text("header nav")
    assert "Newsletter" in nav
    page.click("header nav >> text=Newsletter")
    assert page.url == site.base + "newsletter/index.html"
    page.goto(site.base + "index.html")
    # The header: the site title, the navigation, the page title and "Updated ...".
    box = page.locator("form.search-form").bounding_box()
    assert box is not None
    page.screenshot(
        path=str(ARTIFACTS / "front-header.png"),
        clip={"x": 0, "y": 0, "width": 1024, "height": box["y"]},
    )
    assert site.errors == []
    page.context.close()


def _no_overflow(page: object, width: int) -> None:
    widths = page.evaluate(  # type: ignore[attr-defined]
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1] == width, widths


@pytest.mark.parametrize("width", [1280, 360])
def test_story_brief_reads_first_on_a_multi_outlet_multi_language_story(
    browser: object, site: Site, width: int
) -> None:
    """The Qinglang story (six outlets, English and Chinese): what happened, the coverage and
    the timeline come before the full reports, fit the width, and every quote links to its
    report on the page."""
    page = open_page(browser, site, width=width)
    page.goto(site.base + story_with(site, "62,400"))
    _no_overflow(page, width)
    order = page.evaluate(
        "['what-happened-title', 'coverage-title', 'timeline-title']"
        ".map(id => document.getElementById(id).getBoundingClientRect().top)"
    )
    first_report = page.locator("li.item").first.bounding_box()
    assert first_report is not None and order == sorted(order) and order[-1] < first_report["y"]
    if width == 1280:
        assert order[0] < 900  # "What happened" is on the first screen
    quotes = page.locator(".summary-lines li")
    assert 2 <= quotes.count() <= 3
    for k in range(quotes.count()):
        anchor = quotes.nth(k).locator("a.cite").get_attribute("href") or ""
        quote = quotes.nth(k).locator("q").inner_text()
        report = page.locator(f"li.item{anchor}")
        assert report.count() == 1 and quote in report.inner_text()
    days = page.locator(".timeline-day").all_inner_texts()
    assert days == ["2026-05-28", "2026-05-29"]
    assert page.locator(".timeline-rows li").count() == page.locator("li.item").count()
    page.screenshot(path=str(ARTIFACTS / f"story-{width}.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / f"story-{width}-top.png"))  # what shows first
    page.emulate_media(media="print")
    assert page.locator("header nav").is_hidden() and page.locator(".coverage").is_visible()
    assert site.errors == []
    page.context.close()


def test_newsletter_labels_machine_translation_per_item(browser: object, site: Site) -> None:
    """An issue whose top story quotes a translated report and whose second story has a
    translated headline and summary: each translation is labelled where it stands."""

    items = qinglang_items()
    lines = [
        ("i-cdt", split_sentences(QINGLANG[0][3])[0], "en", False),
        ("i-rthk", split_sentences(QINGLANG[1][3])[1], "en", False),
        ("i-rfa-zh", split_sentences(ZH_SUMMARY_EN)[0], "en", True),
    ]
    top = Story(
        id="s-qinglang", headline=QINGLANG[1][2], items=items, topics=["censorship"],
        outlets=["China Digital Times", "RTHK", "Global Voices", "Radio Free Asia"],
        languages=["en", "zh"], first_published=items[0].published,
        last_published=items[-1].published, summary=lines,
    )  # fmt: skip
    when = items[0].published
    content = plan_issue(
        [top, *sample_stories()], newsletter_config(), issue_id="2026-05-29", number=7,
        date=when, since=None, until=when,
    )  # fmt: skip
    html, _ = render_issue(content)
    page = open_page(browser, site, width=700)
    page.set_content(html)
    text = page.inner_text("body")
    assert f"{content.total} stories" in text
    assert text.count("(machine translation from zh)") == 1  # the quoted translation
    assert "Machine translation from zh; the original:" in text  # a translated headline
    assert "Summary: machine translation from zh" in text  # and its summary
    page.screenshot(path=str(ARTIFACTS / "newsletter.png"), full_page=True)
    page.context.close()
