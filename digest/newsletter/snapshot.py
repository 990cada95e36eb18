"""An issue's planned content kept beside the mail it became, and re-laid without takedowns.

The store keeps each issue's HTML and text exactly as mailed: they are the record of what was
sent. The web archive is a publication, so a takedown must reach it: each issue also keeps its
plan (IssueContent as JSON), and the archive page of an issue that covered a report hidden
since is rendered again from that plan, less the stories that showed hidden reports. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from digest.newsletter.issue import (
    IssueContent,
    IssueReport,
    IssueSentence,
    IssueStory,
    TopicBlock,
    issue_subject,
)
from digest.records import Text

__all__ = ["SNAPSHOT_VERSION", "content_from_json", "content_to_json", "without_hidden"]

SNAPSHOT_VERSION = 1


def content_to_json(content: IssueContent) -> str:
    """The issue's plan as JSON (datetimes as ISO 8601)."""
    record = asdict(content)
    record["snapshot"] = SNAPSHOT_VERSION
    return json.dumps(record, ensure_ascii=False, default=_iso, sort_keys=True)


def content_from_json(text: str) -> IssueContent | None:
    """The plan back from JSON; None when it is not one this code can read."""
    try:
        record = json.loads(text)
        if record.pop("snapshot", None) != SNAPSHOT_VERSION:
            return None
        for key in ("date", "until"):
            record[key] = datetime.fromisoformat(record[key])
        if record["since"] is not None:
            record["since"] = datetime.fromisoformat(record["since"])
        for key in ("top", "gaps", "more"):
            record[key] = [_story(s) for s in record[key]]
        record["topics"] = [
            TopicBlock(t["name"], [_story(s) for s in t["stories"]], t["extra"])
            for t in record["topics"]
        ]
        return IssueContent(**record)
    except (ValueError, KeyError, TypeError):
        return None


def without_hidden(
    content: IssueContent, hidden_ids: Collection[str], hidden_titles: Collection[str]
) -> IssueContent:
    """The issue less every story that showed a hidden story or report; the subject follows.

    A story goes when it is hidden itself, when the report it took its title and summary from
    is hidden, when all its reports are, or when it shows the title of a hidden report (a
    label made before the takedown). Otherwise it stays, counting only its visible reports.
    """
    titles = [" ".join(t.split()).casefold() for t in hidden_titles if t.strip()]

    def keep(story: IssueStory) -> IssueStory | None:
        covered = [r for r in story.covered if r.id not in hidden_ids]
        if story.id in hidden_ids or story.lead in hidden_ids or not covered:
            return None
        # A sentence quoted from a hidden report goes with it.
        sentences = [line for line in story.sentences if line.report not in hidden_ids]
        texts = [story.headline, story.original, story.summary, *(x.text for x in sentences)]
        shown = " ".join(" ".join(t.value.split()) for t in texts if t).casefold()
        if any(t in shown for t in titles):
            return None
        if len(covered) == len(story.covered):
            return story
        return replace(
            story,
            sentences=sentences,
            covered=covered,
            reports=len(covered),
            outlets=list(dict.fromkeys(o for r in covered for o in r.outlets)),
            languages=list(dict.fromkeys(r.lang for r in covered)),
        )

    def kept(stories: list[IssueStory]) -> list[IssueStory]:
        return [s for s in map(keep, stories) if s is not None]

    top = kept(content.top)
    blocks = [replace(b, stories=kept(b.stories)) for b in content.topics]
    blocks = [b for b in blocks if b.stories]
    more = kept(content.more)
    gaps = kept(content.gaps)
    removed = sum(len(x) for x in (content.top, content.more)) - len(top) - len(more)
    removed += sum(len(b.stories) for b in content.topics) - sum(len(b.stories) for b in blocks)
    return replace(
        content,
        subject=issue_subject(content.title, content.date, top),
        top=top,
        gaps=gaps,
        topics=blocks,
        more=more,
        total=max(content.total - removed, 0),
    )


def _story(record: dict[str, Any]) -> IssueStory:
    record = dict(record)
    for key in ("headline", "original", "summary"):
        if record[key] is not None:
            record[key] = Text(**record[key])
    record["time"] = datetime.fromisoformat(record["time"])
    record["covered"] = [IssueReport(**r) for r in record.get("covered", [])]
    record["sentences"] = [
        IssueSentence(**{**line, "text": Text(**line["text"])})
        for line in record.get("sentences", [])
    ]
    return IssueStory(**record)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
