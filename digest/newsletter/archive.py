"""The newsletter's web archive: sent issues as pages under newsletter/ on the site.

An issue's page is the HTML part as mailed, unless a story or report it covered was hidden
since: then the page is rendered again from the issue's plan without them (snapshot.py), and
its title and the index entry take the next story's headline. An issue stored before plans
were kept, which covered something hidden since, is withdrawn from the archive instead.
The store keeps the mailed bytes unchanged either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from digest.language import lang_tag, text_direction
from digest.newsletter.issue import ARCHIVE_DIR, render_issue
from digest.newsletter.snapshot import content_from_json, without_hidden
from digest.records import Config
from digest.records.newsletter import NewsletterIssue
from digest.render import make_environment, utc_text
from digest.store import Store

__all__ = ["ArchiveEntry", "archive_files"]

_ARCHIVE_CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'self'\">"
)


@dataclass(frozen=True)
class ArchiveEntry:
    """One issue as the archive's index lists it."""

    id: str
    number: int
    subject: str
    created_at: datetime
    withdrawn: bool = False


def archive_files(config: Config, store: Store) -> dict[str, bytes]:
    """The archive of sent issues under newsletter/ (an index and one page per issue)."""
    issues = [i for i in store.newsletter_issues() if i.sent > 0]
    if not issues and config.newsletter is None:
        return {}
    hidden = {entry[0] for entry in store.hidden_entries()}
    touched = [i for i in issues if hidden & {*i.stories, *i.items}]
    titles: set[str] = set()
    if touched:
        for item in store.items(ids=sorted(hidden)):
            titles.update(t for t in (item.title, item.title_translated) if t)
    files: dict[str, bytes] = {}
    entries = []
    for issue in issues:
        entry = ArchiveEntry(issue.id, issue.number, issue.subject, issue.created_at)
        html: str | None = issue.html
        if issue in touched:
            html, entry = _without_hidden(config, issue, entry, hidden, titles)
        if html is not None:
            files[f"{ARCHIVE_DIR}/{issue.id}.html"] = _archive_page(html)
        entries.append(entry)
    env = make_environment(config.site.templates_dir)
    lang = lang_tag(config.site.language)
    index = env.get_template("email/archive.html").render(
        site=config.site, lang=lang, dir=text_direction(lang), issues=entries, utc=utc_text
    )
    files[f"{ARCHIVE_DIR}/index.html"] = index.encode("utf-8")
    return files


def _without_hidden(
    config: Config,
    issue: NewsletterIssue,
    entry: ArchiveEntry,
    hidden: set[str],
    titles: set[str],
) -> tuple[str | None, ArchiveEntry]:
    """The issue's page rendered again without hidden stories, or None (withdrawn)."""
    content = content_from_json(issue.content) if issue.content else None
    if content is None:
        return None, ArchiveEntry(issue.id, issue.number, "", issue.created_at, withdrawn=True)
    content = without_hidden(content, hidden, titles)
    html, _text = render_issue(content, config.site.templates_dir)
    return html, ArchiveEntry(issue.id, issue.number, content.subject, issue.created_at)


def _archive_page(html: str) -> bytes:
    # The issue page as mailed, locked down for the web: nothing but its own inline styles.
    page = html.replace("<head>", "<head>" + _ARCHIVE_CSP, 1)
    return page.encode("utf-8", errors="replace")
