"""One newsletter issue as data, and rendered: which stories, in which order, how each reads.

Pure: choosing stories and laying out an issue do no I/O (stage.py reads the edition and
sends; mailer.py builds the messages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from digest.ids import file_name_for
from digest.language import lang_tag, text_direction
from digest.records import Config, SiteData, StoredItem, Story, Text
from digest.render import as_utc, make_environment
from digest.text import one_line

__all__ = [
    "ARCHIVE_DIR",
    "IssueContent",
    "IssueReport",
    "IssueSentence",
    "IssueStory",
    "TopicBlock",
    "issue_subject",
    "plan_issue",
    "render_issue",
    "select_stories",
    "story_file_name",
]

# The web archive of sent issues lives here on the site.
ARCHIVE_DIR = "newsletter"
TOP_STORIES = 5  # the "top stories" section; the rest are listed by topic
GAP_LIMIT = 8  # coverage-gap stories named in the call-out box (each story is marked anyway)
# Stories per topic section (and in "more stories"): mail clients clip long messages (Gmail at
# about 100 kB), so the rest are counted and left to the site.
SECTION_LIMIT = 10
SUMMARY_CHARS = 200
SUBJECT_HEADLINE_CHARS = 70

# ---------------------------------------------------------------- the issue, as data


@dataclass(frozen=True)
class IssueReport:
    """One visible report an issue's story covered: what a later takedown must find."""

    id: str
    outlets: list[str]
    lang: str


@dataclass(frozen=True)
class IssueSentence:
    """One "what happened" sentence of a top story, verbatim from one report."""

    text: Text
    report: str  # the report's id (a takedown of it removes the sentence)
    outlets: list[str]
    url: str  # the report on the story page
    translated_from: str | None = None  # the source language when a machine translation


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
    date_known: bool = True  # False: no report carried a date (`time` is when first seen)
    lead: str | None = None  # the item whose title and summary the story shows
    covered: list[IssueReport] = field(default_factory=list)  # its visible reports
    # Machine translation, said per item: the source language of a translated headline or
    # summary (None: written so by the outlet).
    headline_from: str | None = None
    summary_from: str | None = None
    sentences: list[IssueSentence] = field(default_factory=list)  # top stories: what happened


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
    total: int  # stories this issue shows (the header's count)
    gap_limit: int = GAP_LIMIT
    more_extra: int = 0  # further unfiled stories left to the site

    @property
    def on_site(self) -> int:
        """Stories of the period left to the site (counted, not shown)."""
        return sum(t.extra for t in self.topics) + self.more_extra

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
    outlets = {f.id: f.outlet_name for f in config.feeds}
    views = [
        _story_view(s, site.base_url, site_lang, site_dir, outlets, brief=k < TOP_STORIES)
        for k, s in enumerate(stories)
    ]
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
    return IssueContent(
        title=site.title,
        subject=issue_subject(site.title, date, top),
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
        total=len(shown),
    )


def issue_subject(title: str, date: datetime, top: Sequence[IssueStory]) -> str:
    """The subject: the title, the date and the first top story told by a dated report."""
    subject = f"{one_line(title, 120)} — {as_utc(date):%Y-%m-%d}"
    # An undated report's time is only when it was first seen: it never names an issue.
    lead = next((s for s in top if s.date_known), None)
    if lead is not None:
        subject += f": {one_line(lead.headline.value, SUBJECT_HEADLINE_CHARS)}"
    return subject


def _story_view(
    story: Story,
    base_url: str,
    site_lang: str,
    site_dir: str,
    outlets: dict[str, str],
    *,
    brief: bool = False,
) -> IssueStory:
    visible = [i for i in story.items if not i.hidden]
    dated = [i.published for i in visible if not i.date_is_fallback]
    lead = _lead_item(story, visible)
    headline = Text(one_line(story.headline, 300), site_lang, site_dir)
    original = None
    headline_from = summary_from = None
    if lead is not None and lead.title == story.headline:
        lang = lang_tag(lead.lang)
        headline = Text(headline.value, lang, text_direction(lang))
    elif lead is not None and lead.title_translated and lead.title.strip():
        lang = lang_tag(lead.lang)
        original = Text(one_line(lead.title, 300), lang, text_direction(lang))
        headline_from = lang
    summary = None
    if lead is not None:
        line = one_line(lead.display_summary, SUMMARY_CHARS)
        if line and lead.summary_translated:
            summary = Text(line, site_lang, site_dir)
            summary_from = lang_tag(lead.lang)
        elif line:
            lang = lang_tag(lead.lang)
            summary = Text(line, lang, text_direction(lang))
    url = f"{base_url}stories/{story_file_name(story.id)}.html"
    by_id = {i.id: i for i in visible}
    sentences = []
    for item_id, text, lang, translated in story.summary if brief else ():
        item = by_id.get(item_id)
        if item is None:
            continue
        tag = lang_tag(lang)
        sentences.append(
            IssueSentence(
                text=Text(text, tag, text_direction(tag)),
                report=item_id,
                outlets=[
                    one_line(o, 80) for o in dict.fromkeys(outlets.get(f, f) for f in item.feeds)
                ],
                url=f"{url}#{file_name_for(item_id)}",
                translated_from=lang_tag(item.lang) if translated else None,
            )
        )
    return IssueStory(
        id=story.id,
        url=url,
        headline=headline,
        original=original,
        summary=summary,
        outlets=[one_line(o, 80) for o in dict.fromkeys(story.outlets)],
        languages=[lang_tag(lang) for lang in dict.fromkeys(story.languages)],
        topics=list(dict.fromkeys(story.topics)),
        coverage_gap=one_line(story.coverage_gap, 200) if story.coverage_gap else None,
        time=max(dated) if dated else story.last_published,
        reports=len(visible),
        date_known=bool(dated) or not visible,
        lead=lead.id if lead is not None else None,
        covered=[
            IssueReport(i.id, list(dict.fromkeys(outlets.get(f, f) for f in i.feeds)), i.lang)
            for i in visible
        ],
        headline_from=headline_from,
        summary_from=summary_from,
        sentences=sentences,
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
