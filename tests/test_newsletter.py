"""The newsletter: layout, golden text and HTML structure, the message, dry run and archive."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from builders import days_since, make_stored_item, make_story, newsletter_workspace
from golden_files import GOLDEN, Golden

from digest import newsletter_stage as run_newsletter
from digest.config import parse_config
from digest.errors import ConfigError, DigestError
from digest.newsletter.archive import archive_files
from digest.newsletter.issue import (
    SECTION_LIMIT,
    TOP_STORIES,
    plan_issue,
    render_issue,
    select_stories,
)
from digest.newsletter.mailer import build_message, check_addresses, message_id_for
from digest.records import Config, SiteData, StoredItem, Story, TopicView
from digest.records.newsletter import NewsletterIssue
from digest.store import utc_now
from digest.workspace import Workspace

NOW = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)  # for the pure layout tests

CONFIG = """
site: {title: Digital Rights Digest, base_url: "https://example.org/digest/", window_days: 36500}
translation: {engine: none}
newsletter:
  from: "Digest <digest@example.org>"
  to: [alice@example.org, bob@example.net]
  list_id: digest.example.org
  list_unsubscribe: "mailto:unsubscribe@example.org"
  smtp: {host: 127.0.0.1, port: 1, security: none}
topics:
  censorship: {keywords: [censor]}
  surveillance: {keywords: [surveillance]}
feeds:
  - {id: cdt, name: China Digital Times, url: "https://cdt.example/feed"}
  - {id: rfa-ug, name: RFA Uyghur, url: "https://rfa.example/ug"}
"""


def config(text: str = CONFIG, path: Path | None = None) -> Config:
    """A validated config from YAML text."""
    return parse_config(text, path or Path("/nonexistent/feeds.yaml"))


OUTLETS = {"cdt": "China Digital Times", "rfa-ug": "RFA Uyghur"}


def item(iid: str, title: str, summary: str, hour: int = 1, **kw: Any) -> StoredItem:
    """A stored item of cdt on 2026-11-20 at `hour` (other fields as make_stored_item's)."""
    published = datetime(2026, 11, 20, hour, tzinfo=UTC)
    kw.setdefault("feeds", ("cdt",))
    return make_stored_item(iid, title=title, summary=summary, published=published, **kw)


def story(sid: str, items: list[StoredItem], topics: list[str], **kw: Any) -> Story:
    """A story over these items, its outlets named after their feeds."""
    outlets = [OUTLETS[f] for i in items for f in i.feeds]
    return make_story(sid, items, topics=topics, outlets=outlets, **kw)


def sample_stories() -> list[Story]:
    """Eight ranked stories: translated Chinese, RTL Uyghur, a coverage gap, hostile text."""
    zh = item(
        "i-zh",
        "微信用户因发蜡烛表情被封号",
        "多名微信用户反映账号被封禁。",
        lang="zh",
        title_translated="WeChat users banned for candle emoji",
        summary_translated="Several WeChat users say their accounts were banned.",
    )
    ug = item(
        "i-ug",
        "ئۇيغۇرلار تەھدىتكە ئۇچرىماقتا",
        "گېرمانىيەدىكى ئۇيغۇرلار",
        hour=2,
        lang="ug",
        feeds=("rfa-ug",),
    )
    hostile = "<script>alert(1)</script> & \u202eevil\nSubject: injected"
    stories = [
        story("s-zh", [zh], ["censorship"], headline="WeChat users banned for candle emoji"),
        story(
            "s-ug",
            [ug],
            ["surveillance"],
            headline="ئۇيغۇرلار تەھدىتكە ئۇچرىماقتا",
            coverage_gap="only in Uyghur-language media",
        ),
        story("s-hostile", [item("i-h", hostile, "<b>x</b>")], [], headline=hostile),
    ]
    for n in range(5):
        it = item(f"i-{n}", f"Censor story {n}", f"Summary {n} " * 30, hour=3 + n)
        stories.append(story(f"s-{n}", [it], ["censorship"] if n % 2 else []))
    return stories


def sample_content(cfg: Config | None = None) -> tuple[str, str]:
    """The golden issue, rendered: (html, text)."""
    cfg = cfg or config()
    content = plan_issue(
        sample_stories(),
        cfg,
        issue_id="2026-11-21",
        number=3,
        date=NOW,
        since=datetime(2026, 11, 14, 7, 0, tzinfo=UTC),
        until=NOW,
    )
    return render_issue(content)


# ---------------------------------------------------------------- layout and golden files


class Outline(HTMLParser):
    """The HTML structure: one line per element (tag, class, lang, dir, href) or text."""

    KEEP = ("class", "lang", "dir", "href", "width", "role")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.depth = 0
        self.styled = 0
        self.scripts = 0

    VOID = frozenset({"meta", "br", "img", "hr", "link", "input"})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """One line per element."""
        values = dict(attrs)
        if values.get("style"):
            self.styled += 1
        if tag == "script":
            self.scripts += 1
        shown = " ".join(f'{k}="{values[k]}"' for k in self.KEEP if k in values)
        self.lines.append("  " * self.depth + f"<{tag}{' ' + shown if shown else ''}>")
        if tag not in self.VOID:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        """Close."""
        if tag not in self.VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        """Text, one line, when not blank."""
        text = " ".join(data.split())
        if text and self.lines and not self.lines[-1].lstrip().startswith("<style"):
            self.lines.append("  " * self.depth + text)


def normalise(text: str) -> str:
    """Dates, times and issue/story ids replaced by placeholders."""
    text = re.sub(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2} UTC)?", "<DATE>", text)
    return re.sub(r"\bs-[0-9a-z-]+\b", "<STORY>", text)


def test_golden_text_part(golden: Golden) -> None:
    _, text = sample_content()
    golden.check_text(GOLDEN / "newsletter/issue.txt", normalise(text))


def test_golden_html_structure(golden: Golden) -> None:
    html, _ = sample_content()
    outline = Outline()
    outline.feed(html)
    golden.check_text(
        GOLDEN / "newsletter/issue-html-outline.txt", normalise("\n".join(outline.lines) + "\n")
    )
    assert outline.scripts == 0
    assert outline.styled > 30  # css-inline moved the classes' rules into style attributes


def test_html_is_a_mail_layout() -> None:
    html, _ = sample_content()
    assert "<script" not in html.lower().replace("&lt;script", "")
    assert 'width="600"' in html and "width: 600px" in html
    assert "<img" not in html and "<link" not in html and "src=" not in html
    # Only the @media rules stay in <style>: dark mode where the client supports it.
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None and "prefers-color-scheme: dark" in style.group(1)
    assert "padding: 8px 28px" not in style.group(1)  # the .story rule went inline
    assert 'name="color-scheme" content="light dark"' in html
    # Hostile text is escaped, original-language titles keep lang and dir.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in html
    assert re.search(r'<a (?=[^>]*lang="ug")(?=[^>]*dir="rtl")[^>]*>ئۇيغۇرلار', html)
    assert re.search(r'<p (?=[^>]*class="original")(?=[^>]*lang="zh")[^>]*>微信用户', html)
    assert "https://example.org/digest/stories/s-zh.html" in html
    assert "Coverage gap: only in Uyghur-language media" in html


def test_layout_top_stories_then_topics() -> None:
    content = plan_issue(
        sample_stories(), config(), issue_id="x", number=1, date=NOW, since=None, until=NOW
    )
    assert [s.id for s in content.top] == ["s-zh", "s-ug", "s-hostile", "s-0", "s-1"]
    assert [(b.name, [s.id for s in b.stories]) for b in content.topics] == [
        ("censorship", ["s-3"])
    ]
    assert [s.id for s in content.more] == ["s-2", "s-4"]
    assert [s.id for s in content.gaps] == ["s-ug"]
    assert content.top[0].outlets == ["China Digital Times"] and content.top[1].languages == ["ug"]
    assert content.subject == (
        "Digital Rights Digest — 2026-11-21: WeChat users banned for candle emoji"
    )
    # Newlines, controls and bidi overrides in a headline never reach one line.
    assert content.top[2].headline.value == "<script>alert(1)</script> & evil Subject: injected"


def test_long_sections_are_cut_and_counted() -> None:
    many = []
    for n in range(30):
        it = item(f"i-{n}", f"Censor story {n}", "text", hour=n % 24)
        many.append(story(f"s-{n}", [it], ["censorship"] if n % 2 else []))
    many[-1] = dataclasses.replace(many[-1], coverage_gap="only in English-language media")
    content = plan_issue(many, config(), issue_id="x", number=1, date=NOW, since=None, until=NOW)
    assert len(content.topics[0].stories) == SECTION_LIMIT and content.topics[0].extra == 3
    assert len(content.more) == SECTION_LIMIT and content.more_extra == 2
    assert len(content.story_ids) == TOP_STORIES + 2 * SECTION_LIMIT
    assert content.gaps == []  # the gap story is not in the issue, so not called out
    html, text = render_issue(content)
    assert "3 more stories on the site: https://example.org/digest/" in text
    assert "2 more stories on the site</a>" in html


def test_headers_without_unsubscribe_or_list_id() -> None:
    cfg = config(
        CONFIG.replace("  list_id: digest.example.org\n", "").replace(
            '  list_unsubscribe: "mailto:unsubscribe@example.org"\n', ""
        )
    )
    addresses = check_addresses(cfg)
    assert cfg.newsletter is not None
    issue = NewsletterIssue(
        id="2026-11-21", number=1, created_at=NOW, since=None, until=NOW,
        subject="Digest — 2026-11-21: 审查", html="<p>x</p>", text="x\n",
    )  # fmt: skip
    msg = build_message(
        issue, "alice@example.org", sender=addresses.sender, site_title="Digest",
        newsletter=cfg.newsletter, date=NOW,
    )  # fmt: skip
    assert "List-Unsubscribe" not in msg and msg["List-Id"] == "Digest <example.org>"
    parsed = message_from_bytes(msg.as_bytes(), policy=default)
    assert parsed["Subject"] == "Digest — 2026-11-21: 审查"
    assert parsed["Date"] == "Sat, 21 Nov 2026 07:00:00 +0000"


def test_select_stories_only_new_and_visible() -> None:
    stories = sample_stories()
    stories[0].items[0].hidden = True
    data = SiteData(
        site=config().site, stories=stories, topics=[TopicView("c", "c", [])], feeds=[],
        generated_at=NOW,
    )  # fmt: skip
    assert [s.id for s in select_stories(data, {"i-zh", "i-ug"})] == ["s-ug"]
    assert len(select_stories(data, None)) == len(stories) - 1


# ---------------------------------------------------------------- the message


def test_message_headers_and_parts(tmp_path: Path) -> None:
    cfg, ws = newsletter_workspace(tmp_path)
    started = utc_now()
    summary = run_newsletter(cfg, ws)
    assert summary.issue is not None and summary.eml_dir is not None
    emls = sorted(summary.eml_dir.glob("*.eml"))
    assert len(emls) == 2
    assert summary.eml_dir.is_relative_to(ws.state_dir)
    raw = emls[0].read_bytes()
    msg = message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    # The subject is UTF-8 in an encoded word (the em dash) and carries the date.
    assert re.search(rb"^Subject: .*=\?utf-8\?", raw, re.M)
    subject = str(msg["Subject"])
    assert any(subject.startswith(f"Digest test — {day}") for day in days_since(started)), subject
    assert (
        msg["Date"] and msg["Message-ID"] and msg["List-Id"] == "Digest test <digest.example.org>"
    )
    assert msg["List-Unsubscribe"] == "<mailto:unsubscribe@example.org>"
    recipient = str(msg["To"])
    assert msg["Message-ID"] == message_id_for(summary.issue.id, recipient, "example.org")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "Internet shutdown in the capital" in text.get_content()
    assert "style=" in html.get_content() and "<script" not in html.get_content()


def test_missing_newsletter_section_is_a_config_error(tmp_path: Path) -> None:
    cfg = config("feeds: []\n", tmp_path / "feeds.yaml")
    with pytest.raises(ConfigError) as err:
        run_newsletter(cfg, Workspace(tmp_path / "feeds.yaml", tmp_path / "state"))
    assert "newsletter" in err.value.message and err.value.exit_code == 1
    assert err.value.hint and "newsletter:" in err.value.hint


def test_bad_recipient_address_names_the_key() -> None:
    # Caught when the config loads, with its line, not first at sending time ...
    with pytest.raises(ConfigError, match=r"feeds\.yaml:\d+: newsletter\.to\[1\]"):
        config(CONFIG.replace("bob@example.net", '"not an address"'))
    # ... and again by the mailer, for a Config built by other means.
    cfg = config(CONFIG)
    assert cfg.newsletter is not None
    bad = replace(cfg.newsletter, to=("alice@example.org", "not an address"))
    with pytest.raises(ConfigError, match=r"newsletter\.to\[1\]"):
        check_addresses(replace(cfg, newsletter=bad))


# ---------------------------------------------------------------- dry run, issues, archive


def test_dry_run_replaces_its_draft_and_archive_lists_only_sent(tmp_path: Path) -> None:
    cfg, ws = newsletter_workspace(tmp_path)
    started = utc_now()
    first = run_newsletter(cfg, ws)
    second = run_newsletter(cfg, ws)
    assert first.issue is not None and second.issue is not None
    assert first.issue.id == second.issue.id and first.issue.id in days_since(started)
    with ws.open_store() as store:
        issues = store.newsletter_issues()
        assert [i.id for i in issues] == [first.issue.id]  # a draft is replaced, not stacked
        assert len(issues[0].stories) == 3
        files = archive_files(cfg, store)
    assert list(files) == ["newsletter/index.html"]  # drafts are not published
    assert b"No issue has been sent yet" in files["newsletter/index.html"]


def test_since_limits_the_issue(tmp_path: Path) -> None:
    cfg, ws = newsletter_workspace(tmp_path)
    summary = run_newsletter(cfg, ws, since=datetime(2026, 11, 20, 1, 0, tzinfo=UTC))
    assert summary.issue is not None
    assert len(summary.issue.stories) == 1  # only the item published at 01:00
    nothing = run_newsletter(cfg, ws, since=datetime(2026, 11, 21, tzinfo=UTC))
    assert nothing.issue is None and "nothing new" in nothing.lines[0]


# ---------------------------------------------------------------- takedown in the archive


def sent_issue(tmp_path: Path) -> tuple[Config, Workspace, NewsletterIssue]:
    """The test workspace's issue, built and recorded as accepted for every recipient."""
    cfg, ws = newsletter_workspace(tmp_path)
    summary = run_newsletter(cfg, ws)
    assert summary.issue is not None
    with ws.open_store() as store:
        for recipient in ("alice@example.org", "bob@example.net"):
            store.queue_newsletter_deliveries(
                summary.issue.id, {recipient: "<m@x>"}, NOW, reset=False
            )
            store.set_newsletter_delivery(summary.issue.id, recipient, "sent", NOW)
        (issue,) = store.newsletter_issues()
    return cfg, ws, issue


def test_plan_round_trips_and_hiding_a_report_reaches_the_archive(tmp_path: Path) -> None:
    from digest.newsletter.snapshot import content_from_json, content_to_json

    cfg, ws, issue = sent_issue(tmp_path)
    assert issue.content is not None
    content = content_from_json(issue.content)
    assert content is not None and content_to_json(content) == issue.content
    with ws.open_store() as store:
        untouched = archive_files(cfg, store)[f"newsletter/{issue.id}.html"].decode()
        assert issue.html.split("<head>", 1)[1] in untouched  # the mailed bytes, as they are
        by_title = {i.title: i for i in store.items()}
        target = by_title["Censor deletes posts about the flood"]
        store.hide(target.id, "request", NOW)
        files = archive_files(cfg, store)
        (kept,) = store.newsletter_issues()
    page = files[f"newsletter/{issue.id}.html"].decode()
    assert "Censor deletes posts about the flood" not in page
    assert "Internet shutdown in the capital" in page  # the other stories stay
    assert "Censor deletes" not in files["newsletter/index.html"].decode()
    assert kept.html == issue.html and "Censor deletes posts about the flood" in kept.html


def test_an_issue_without_a_plan_is_withdrawn_when_it_covered_a_hidden_story(
    tmp_path: Path,
) -> None:
    cfg, ws, issue = sent_issue(tmp_path)
    with ws.open_store() as store:
        store.conn.execute("UPDATE newsletter_issues SET content = NULL")  # built before v10
        store.hide(issue.stories[0], "request", NOW)
        files = archive_files(cfg, store)
    assert f"newsletter/{issue.id}.html" not in files
    index = files["newsletter/index.html"].decode()
    assert "Issue 1: withdrawn from the web archive" in index
    assert issue.subject not in index


def test_a_started_issue_carrying_a_hidden_story_is_not_resumed(tmp_path: Path) -> None:
    cfg, ws = newsletter_workspace(tmp_path)
    first = run_newsletter(cfg, ws)
    assert first.issue is not None
    with ws.open_store() as store:
        # Queued for alice, then interrupted before anything was sent.
        store.queue_newsletter_deliveries(
            first.issue.id, {"alice@example.org": "<m@x>"}, NOW, reset=False
        )
        store.hide(first.issue.stories[0], "request", NOW)
    # --send would resume it (and fail on the unreachable port 1): it is refused first,
    # and a new issue without the story is built instead.
    said: list[str] = []
    with pytest.raises(DigestError):  # the SMTP server (port 1) cannot be reached
        run_newsletter(cfg, ws, send=True, delays=(), report=said.append)
    assert said[0].startswith(f"newsletter: issue {first.issue.id} is not resumed")
    assert said[1].startswith("newsletter: built issue")
    with ws.open_store() as store:
        issues = store.newsletter_issues()
    assert len(issues) == 2
    newest = issues[0]
    assert newest.id != first.issue.id
    assert first.issue.stories[0] not in newest.stories


def test_without_hidden_keeps_a_story_that_lost_a_side_report_and_drops_its_lead() -> None:
    from digest.newsletter.snapshot import without_hidden

    lead = item("i-lead", "Censor story lead", "Lead summary.")
    side = item("i-side", "Side report", "Side summary.", hour=2, feeds=("rfa-ug",))
    stories = [story("s-two", [lead, side], ["censorship"], headline="Censor story lead")]
    stories += sample_stories()[:2]
    content = plan_issue(stories, config(), issue_id="x", number=1, date=NOW, since=None, until=NOW)
    two = content.top[0]
    assert two.lead == "i-lead" and two.reports == 2
    assert two.outlets == ["China Digital Times", "RFA Uyghur"]
    assert content.subject.endswith(": Censor story lead")

    less = without_hidden(content, {"i-side"}, {"Side report"})
    assert less.top[0].id == "s-two" and less.top[0].reports == 1
    assert less.top[0].outlets == ["China Digital Times"]
    assert less.subject == content.subject and less.total == content.total

    gone = without_hidden(content, {"i-lead"}, {"Censor story lead"})
    assert [s.id for s in gone.top] == ["s-zh", "s-ug"]
    assert gone.subject.endswith(": WeChat users banned for candle emoji")
    assert gone.total == content.total - 1
    # A title of a hidden report shown by another story (a label made before) drops it too.
    label = without_hidden(content, {"i-elsewhere"}, {"WeChat users banned"})
    assert "s-zh" not in [s.id for s in label.top]
