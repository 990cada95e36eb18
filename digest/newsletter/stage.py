"""The newsletter stage: build one issue, write its .eml files, send it over SMTP.

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
from digest.newsletter.issue import ARCHIVE_DIR, plan_issue, render_issue, select_stories
from digest.newsletter.mailer import (
    DEFAULT_DELAYS,
    build_message,
    check_addresses,
    require_newsletter,
    send_issue,
)
from digest.newsletter.snapshot import content_to_json
from digest.records import Config
from digest.records.newsletter import FAILED, SENDING, SENT, NewsletterIssue
from digest.render import as_utc
from digest.store import Store, utc_now
from digest.wording import plural
from digest.workspace import Workspace, state_lock

__all__ = ["LOCK_NAME", "NewsletterSummary", "newsletter_lock", "run"]

LOCK_NAME = "newsletter.lock"


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
            hidden = {entry[0] for entry in store.hidden_entries()}
            if hidden & {*started.stories, *started.items}:
                # A takedown since it was built: its frozen bytes must not go out again.
                say(
                    f"newsletter: issue {started.id} is not resumed: it carries a story hidden "
                    "since it was built (copies already sent cannot be recalled)"
                )
            else:
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
            f"{plural(len(issue.stories), 'story')}: {issue.subject}"
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
                f"dry run: {plural(len(messages), 'message')} written to {summary.eml_dir}; "
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
        content=content_to_json(content),
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
