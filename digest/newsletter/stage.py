"""The newsletter: one issue of the digest as a multipart email, its .eml files and web archive.

Pure parts (choosing stories, laying out an issue) are free of I/O; `run_newsletter` does the
I/O under the newsletter lock; mailer.py builds the messages and speaks SMTP. An issue is kept in
the store as built. Until a delivery is queued for it, it is a draft that the next run
replaces; after that it is frozen, so every recipient gets the same bytes and a resumed run
sends the same issue.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from digest.atomic import write_atomic
from digest.edition import site_data
from digest.errors import ConfigError
from digest.ids import file_name_for
from digest.language import lang_tag, text_direction
from digest.newsletter.mailer import (
    DEFAULT_DELAYS,
    build_message,
    check_addresses,
    message_id_for,
    require_newsletter,
    send_issue,
)
from digest.records import Config, SiteData, StoredItem, Story, Text
from digest.records.newsletter import FAILED, SENDING, SENT, NewsletterIssue
from digest.render import as_utc, make_environment, utc_text
from digest.store import Store, utc_now
from digest.text import one_line
from digest.workspace import Workspace, state_lock

__all__ = [
    "IssueContent",
    "IssueStory",
    "NewsletterSummary",
    "archive_files",
    "build_message",
    "message_id_for",
    "plan_issue",
    "render_issue",
    "run",
]

TOP_STORIES = 5  # the "top stories" section; the rest are listed by topic
GAP_LIMIT = 8  # coverage-gap stories named in the call-out box (each story is marked anyway)
# Stories per topic section (and in "more stories"): mail clients clip long messages (Gmail at
# about 100 kB), so the rest are counted and left to the site.
SECTION_LIMIT = 10
SUMMARY_CHARS = 200
SUBJECT_HEADLINE_CHARS = 70
LOCK_NAME = "newsletter.lock"
ARCHIVE_DIR = "newsletter"

_ARCHIVE_CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "style-src 'unsafe-inline'; img-src 'self' data:\">"
)


# ---------------------------------------------------------------- the issue, as data


@dataclass(frozen=True)
class IssueStory:
    """One story as the newsletter shows it."""

    id: str
    url: str  # absolute: the story page on the site
    headline: Text
    original: Text | None  # the original-language title when the headline is a translation
    summary: Text | None
    outlets: list[str]
    languages: list[str]
    topics: list[str]
    coverage_gap: str | None
    time: datetime
    reports: int  # visible items


@dataclass(frozen=True)
class TopicBlock:
    """A topic and the issue's stories filed under it (each story under its first topic)."""

    name: str
    stories: list[IssueStory]
    extra: int = 0  # further stories of this topic left to the site


@dataclass(frozen=True)
class IssueContent:
    """Everything the email templates show; nothing here names a recipient."""

    title: str
    subject: str
    issue_id: str
    number: int
    date: datetime
    since: datetime | None
    until: datetime
    lang: str
    dir: str
    site_url: str
    archive_url: str
    unsubscribe: str | None
    top: list[IssueStory]
    gaps: list[IssueStory]
    topics: list[TopicBlock]
    more: list[IssueStory]  # neither top nor filed under a topic
    total: int
    gap_limit: int = GAP_LIMIT
    more_extra: int = 0  # further unfiled stories left to the site

    @property
    def story_ids(self) -> list[str]:
        """Every story of the issue, in the order shown."""
        ordered = [*self.top, *(s for t in self.topics for s in t.stories), *self.more]
        return [s.id for s in ordered]


def story_file_name(story_id: str) -> str:
    """The story page's file name under stories/, as the site names it."""
    return file_name_for(story_id)


def select_stories(data: SiteData, new_ids: set[str] | None) -> list[Story]:
    """The ranked stories with at least one visible item in `new_ids` (None: every story)."""
    chosen = []
    for story in data.stories:
        visible = [i for i in story.items if not i.hidden]
        if visible and (new_ids is None or any(i.id in new_ids for i in visible)):
            chosen.append(story)
    return chosen


def plan_issue(
    stories: Sequence[Story],
    config: Config,
    *,
    issue_id: str,
    number: int,
    date: datetime,
    since: datetime | None,
    until: datetime,
) -> IssueContent:
    """Lay out one issue: top stories, coverage gaps, then the rest by topic (pure)."""
    site = config.site
    site_lang = lang_tag(site.language)
    site_dir = text_direction(site_lang)
    views = [_story_view(s, site.base_url, site_lang, site_dir) for s in stories]
    top, rest = views[:TOP_STORIES], views[TOP_STORIES:]
    order = [t.name for t in config.topics]
    blocks: dict[str, list[IssueStory]] = {name: [] for name in order}
    more: list[IssueStory] = []
    for view in rest:
        first = next((t for t in view.topics if t in blocks), None)
        if first is None:
            more.append(view)
        else:
            blocks[first].append(view)
    topic_blocks = [
        TopicBlock(name, blocks[name][:SECTION_LIMIT], max(len(blocks[name]) - SECTION_LIMIT, 0))
        for name in order
        if blocks[name]
    ]
    shown = {
        v.id for v in [*top, *(v for b in topic_blocks for v in b.stories), *more[:SECTION_LIMIT]]
    }
    newsletter = config.newsletter
    headline = one_line(top[0].headline.value, SUBJECT_HEADLINE_CHARS) if top else ""
    subject = f"{one_line(site.title, 120)} — {as_utc(date):%Y-%m-%d}"
    if headline:
        subject += f": {headline}"
    return IssueContent(
        title=site.title,
        subject=subject,
        issue_id=issue_id,
        number=number,
        date=date,
        since=since,
        until=until,
        lang=site_lang,
        dir=site_dir,
        site_url=site.base_url,
        archive_url=f"{site.base_url}{ARCHIVE_DIR}/{issue_id}.html",
        unsubscribe=newsletter.list_unsubscribe if newsletter else None,
        top=top,
        gaps=[v for v in views if v.coverage_gap and v.id in shown],
        topics=topic_blocks,
        more=more[:SECTION_LIMIT],
        more_extra=max(len(more) - SECTION_LIMIT, 0),
        total=len(views),
    )


def _story_view(story: Story, base_url: str, site_lang: str, site_dir: str) -> IssueStory:
    visible = [i for i in story.items if not i.hidden]
    lead = _lead_item(story, visible)
    headline = Text(one_line(story.headline, 300), site_lang, site_dir)
    original = None
    if lead is not None and lead.title == story.headline:
        lang = lang_tag(lead.lang)
        headline = Text(headline.value, lang, text_direction(lang))
    elif lead is not None and lead.title_translated and lead.title.strip():
        lang = lang_tag(lead.lang)
        original = Text(one_line(lead.title, 300), lang, text_direction(lang))
    summary = None
    if lead is not None:
        line = one_line(lead.display_summary, SUMMARY_CHARS)
        if line and lead.summary_translated:
            summary = Text(line, site_lang, site_dir)
        elif line:
            lang = lang_tag(lead.lang)
            summary = Text(line, lang, text_direction(lang))
    return IssueStory(
        id=story.id,
        url=f"{base_url}stories/{story_file_name(story.id)}.html",
        headline=headline,
        original=original,
        summary=summary,
        outlets=[one_line(o, 80) for o in dict.fromkeys(story.outlets)],
        languages=[lang_tag(lang) for lang in dict.fromkeys(story.languages)],
        topics=list(dict.fromkeys(story.topics)),
        coverage_gap=one_line(story.coverage_gap, 200) if story.coverage_gap else None,
        time=story.last_published,
        reports=len(visible),
    )


def _lead_item(story: Story, visible: list[StoredItem]) -> StoredItem | None:
    for item in visible:
        if story.headline in (item.display_title, item.title):
            return item
    return visible[0] if visible else None


# ---------------------------------------------------------------- rendering


def render_issue(content: IssueContent, templates_dir: Path | None = None) -> tuple[str, str]:
    """The HTML part (CSS inlined) and the plain-text part of one issue."""
    import css_inline  # only here: `digest build` renders the archive without it

    env = make_environment(templates_dir)
    values = {"c": content}
    html = env.get_template("email/issue.html").render(values)
    text = env.get_template("email/issue.txt").render(values)
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return inliner.inline(html), _tidy_text(text)


def _tidy_text(text: str) -> str:
    # Template whitespace: no trailing spaces, at most one blank line in a row.
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n") + "\n"


# ---------------------------------------------------------------- the web archive


def archive_files(config: Config, store: Store) -> dict[str, bytes]:
    """The archive of sent issues under newsletter/ (an index and one page per issue)."""
    issues = [i for i in store.newsletter_issues() if i.sent > 0]
    if not issues and config.newsletter is None:
        return {}
    files = {f"{ARCHIVE_DIR}/{i.id}.html": _archive_page(i.html) for i in issues}
    env = make_environment(config.site.templates_dir)
    lang = lang_tag(config.site.language)
    index = env.get_template("email/archive.html").render(
        site=config.site, lang=lang, dir=text_direction(lang), issues=issues, utc=utc_text
    )
    files[f"{ARCHIVE_DIR}/index.html"] = index.encode("utf-8")
    return files


def _archive_page(html: str) -> bytes:
    # The issue page as mailed, locked down for the web: nothing but its own inline styles.
    page = html.replace("<head>", "<head>" + _ARCHIVE_CSP, 1)
    return page.encode("utf-8", errors="replace")


# ---------------------------------------------------------------- the command


@dataclass
class NewsletterSummary:
    """What one `digest newsletter` run did."""

    issue: NewsletterIssue | None = None
    resumed: bool = False
    eml_dir: Path | None = None
    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # recipient, why
    in_doubt: list[str] = field(default_factory=list)
    already: int = 0  # recipients who already had it
    lines: list[str] = field(default_factory=list)


@contextmanager
def newsletter_lock(ws: Workspace) -> Iterator[None]:
    """Hold the newsletter lock of the state directory, or raise LockedError (exit 3)."""
    with state_lock(ws, LOCK_NAME, "`digest newsletter`"):
        yield


def run(
    config: Config,
    ws: Workspace,
    *,
    since: datetime | None = None,
    send: bool = False,
    force: bool = False,
    retry_in_doubt: bool = False,
    now: datetime | None = None,
    delays: Sequence[float] | None = None,
    report: Callable[[str], None] = lambda line: None,
) -> NewsletterSummary:
    """Build (or resume) an issue, write its .eml files, and with `send` mail it over SMTP."""
    newsletter = require_newsletter(config)
    addresses = check_addresses(config)
    now = now or utc_now()
    summary = NewsletterSummary()

    def say(line: str) -> None:
        summary.lines.append(line)
        report(line)

    with newsletter_lock(ws), ws.open_store() as store:
        issues = store.newsletter_issues()
        started = next((i for i in issues if i.started), None)
        issue = None
        if (
            send
            and since is None
            and started is not None
            and (force or _owed(store, started, addresses.recipients, retry_in_doubt))
        ):
            issue, summary.resumed = started, True
        recipients = addresses.recipients
        if issue is None:
            _report_in_doubt(store, started, say)
            issue = _build_issue(config, store, issues, since=since, now=now)
            if issue is None:
                say("newsletter: nothing new since the last issue; no issue built")
                return summary
            store.save_newsletter_issue(issue)
        elif not force:
            # Resuming: only those it was queued for; later additions get the next issue.
            queued = store.newsletter_deliveries(issue.id)
            recipients = [r for r in recipients if r in queued]
        if send and not recipients:
            raise ConfigError(
                f"{config.path}: newsletter.to lists no recipients",
                "add addresses to newsletter.to",
            )
        summary.issue = issue
        verb = "resuming" if summary.resumed else "built"
        say(
            f"newsletter: {verb} issue {issue.id} (#{issue.number}), "
            f"{len(issue.stories)} stories: {issue.subject}"
        )
        messages = {
            r: build_message(
                issue,
                r,
                sender=addresses.sender,
                site_title=config.site.title,
                newsletter=newsletter,
                date=now,
            )
            for r in recipients
        }
        summary.eml_dir = _write_eml(ws.state_dir / ARCHIVE_DIR / issue.id, messages)
        if not send:
            say(
                f"dry run: {len(messages)} messages written to {summary.eml_dir}; "
                "nothing sent (--send sends them)"
            )
            return summary
        result = send_issue(
            store,
            issue,
            messages,
            newsletter.smtp,
            envelope_from=addresses.sender.addr_spec,
            force=force,
            retry_in_doubt=retry_in_doubt,
            delays=DEFAULT_DELAYS if delays is None else delays,
        )
        summary.sent, summary.failed = result.sent, result.failed
        summary.in_doubt, summary.already = result.in_doubt, result.already
        for line in result.lines():
            say(line)
        result.raise_if_all_failed()
    return summary


def _owed(store: Store, issue: NewsletterIssue, recipients: list[str], in_doubt: bool) -> bool:
    deliveries = store.newsletter_deliveries(issue.id)
    for recipient in recipients:
        d = deliveries.get(recipient)
        if d is None:
            continue  # added to the config after this issue went out: gets the next one
        if d.status == SENDING and in_doubt:
            return True
        if d.status not in (SENT, SENDING) and not (d.status == FAILED and d.permanent):
            return True
    return False


def _report_in_doubt(
    store: Store, issue: NewsletterIssue | None, say: Callable[[str], None]
) -> None:
    if issue is None:
        return
    doubtful = [
        d.recipient for d in store.newsletter_deliveries(issue.id).values() if d.status == SENDING
    ]
    if doubtful:
        say(
            f"in doubt for issue {issue.id} (the server may have accepted it): "
            f"{', '.join(doubtful)}; --send --retry-in-doubt sends it to them again"
        )


def _build_issue(
    config: Config,
    store: Store,
    issues: list[NewsletterIssue],
    *,
    since: datetime | None,
    now: datetime,
) -> NewsletterIssue | None:

    last_sent = next((i for i in issues if i.sent > 0), None)
    cutoff = since if since is not None else (last_sent.until if last_sent else None)
    window_config = config
    if cutoff is not None:
        days = math.ceil((now - cutoff).total_seconds() / 86400) + 1
        if days > config.site.window_days:
            # --since reaching before the window: widen the window for this read only.
            wider = dataclasses.replace(config.site, window_days=days)
            window_config = dataclasses.replace(config, site=wider)
    data = site_data(window_config, store, now)
    if since is not None:
        new_ids = {i.id for s in data.stories for i in s.items if i.published >= since}
    elif last_sent is not None:
        # Same-second arrivals: first_seen >= cutoff, less what the last issue already had.
        new_ids = store.new_item_ids(last_sent.until) - set(last_sent.items)
    else:
        new_ids = None
    stories = select_stories(data, new_ids)
    if not stories:
        return None
    frozen = [i for i in issues if i.started]
    number = max((i.number for i in frozen), default=0) + 1
    taken = {i.id for i in frozen}
    issue_id = base = f"{as_utc(now):%Y-%m-%d}"
    n = 1
    while issue_id in taken:
        n += 1
        issue_id = f"{base}-{n}"
    content = plan_issue(
        stories, config, issue_id=issue_id, number=number, date=now, since=cutoff, until=now
    )
    html, text = render_issue(content, config.site.templates_dir)
    shown = set(content.story_ids)
    return NewsletterIssue(
        id=issue_id,
        number=number,
        created_at=now,
        since=cutoff,
        until=now,
        subject=content.subject,
        html=html,
        text=text,
        stories=content.story_ids,
        items=[i.id for s in stories if s.id in shown for i in s.items if not i.hidden],
    )


def _write_eml(folder: Path, messages: Mapping[str, EmailMessage]) -> Path:
    """One .eml per recipient, written whole (a temporary file renamed into place)."""
    folder.mkdir(parents=True, exist_ok=True)
    for recipient, msg in messages.items():
        safe = re.sub(r"[^A-Za-z0-9@._-]+", "_", recipient)[:80]
        tag = hashlib.sha256(recipient.lower().encode()).hexdigest()[:8]
        path = folder / f"{safe}-{tag}.eml"
        write_atomic(path, msg.as_bytes())
    return folder
