"""What an editor briefs from on a story page: what happened, the coverage, the timeline (pure).

Built from the Story the edition made (its "what happened" sentences and coverage breakdown)
and the page's ItemViews (only visible reports reach here: a hidden report gives no sentence,
no timeline row and no count).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from digest.language import lang_tag, language_name, text_direction
from digest.records import Story, Text
from digest.render import as_utc
from digest.site.views import ItemView

__all__ = [
    "Brief",
    "CountLine",
    "SummaryView",
    "TimelineDay",
    "TimelineRow",
    "kind_label",
    "language_label",
    "story_brief",
]


@dataclass(frozen=True)
class SummaryView:
    """One "what happened" sentence, verbatim, with the report it came from."""

    text: Text
    translated: bool  # a machine translation (from source_lang)
    source_lang: str
    outlets: list[str]  # the report's outlets
    anchor: str  # the report's element id on this page


@dataclass(frozen=True)
class CountLine:
    """One line of the coverage breakdown: a language or a kind, and its reports."""

    label: str
    reports: int
    outlets: list[str] = field(default_factory=list)
    code: str = ""  # the language tag, for languages


@dataclass(frozen=True)
class TimelineRow:
    """One report on the timeline."""

    time: datetime
    clock: str  # HH:MM UTC ("" when undated)
    date_known: bool
    outlets: list[str]
    lang: str
    kind: str
    title: Text
    translated: bool
    anchor: str
    first: bool  # the story's first dated report


@dataclass(frozen=True)
class TimelineDay:
    """The reports of one UTC day (YYYY-MM-DD; "" for undated reports)."""

    day: str
    rows: list[TimelineRow]


@dataclass(frozen=True)
class Brief:
    """Everything the story page shows above its full list of reports."""

    summary: list[SummaryView]
    reports: int
    outlets: int
    by_language: list[CountLine]
    by_kind: list[CountLine]
    not_covered_kinds: list[str]
    not_covered_languages: list[str]  # language names
    unchecked: list[tuple[str, list[str]]]  # (why, kinds and language names)
    days: list[TimelineDay]

    @property
    def not_covered(self) -> list[str]:
        """The "not covered by" line: kinds, then languages ("Uyghur-language media")."""
        return [
            *self.not_covered_kinds,
            *(f"{name}-language media" for name in self.not_covered_languages),
        ]


def kind_label(kind: str) -> str:
    """How a kind reads on the page ("" means the feed's kind is not configured)."""
    return kind or "kind not given"


def language_label(code: str) -> str:
    """A language's name, as in "Chinese"; the code itself when it has no known name."""
    return language_name(code) or code


def story_brief(
    story: Story,
    items: Sequence[ItemView],
    feed_kinds: Mapping[str, str],
    outlet_names: Mapping[str, str],
) -> Brief:
    """The brief of a story from its visible reports' views (`items`, in time order)."""
    by_id = {v.item.id: v for v in items}
    summary = []
    for item_id, text, lang, translated in story.summary:
        view = by_id.get(item_id)
        if view is None:
            continue  # hidden since the edition was read: never shown
        tag = lang_tag(lang)
        summary.append(
            SummaryView(
                text=Text(text, tag, text_direction(tag)),
                translated=translated,
                source_lang=view.source_lang,
                outlets=_outlets(view, outlet_names),
                anchor=view.anchor,
            )
        )
    languages: Counter[str] = Counter(lang_tag(v.item.lang) for v in items)
    by_language = [
        CountLine(language_label(code.split("-")[0]), n, code=code)
        for code, n in sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    kind_outlets: dict[str, list[str]] = {}
    for v in items:
        for fid in v.item.feeds:
            names = kind_outlets.setdefault(feed_kinds.get(fid, ""), [])
            name = outlet_names.get(fid, fid)
            if name not in names:
                names.append(name)
    by_kind = [
        CountLine(kind_label(kind), n, kind_outlets.get(kind, []))
        for kind, n in story.kinds
        if n > 0
    ]
    unchecked: dict[str, list[str]] = {}
    known_kinds = set(feed_kinds.values())
    for what, why in story.unchecked:
        label = what if what in known_kinds else f"{language_label(what)}-language media"
        unchecked.setdefault(why, []).append(label)
    return Brief(
        summary=summary,
        reports=len(items),
        outlets=len({o for v in items for o in _outlets(v, outlet_names)}),
        by_language=by_language,
        by_kind=by_kind,
        not_covered_kinds=list(story.missing_kinds),
        not_covered_languages=[language_label(x) for x in story.missing_languages],
        unchecked=sorted(unchecked.items()),
        days=_timeline(items, feed_kinds, outlet_names),
    )


def _outlets(view: ItemView, outlet_names: Mapping[str, str]) -> list[str]:
    return list(dict.fromkeys(outlet_names.get(f, f) for f in view.item.feeds))


def _timeline(
    items: Sequence[ItemView], feed_kinds: Mapping[str, str], outlet_names: Mapping[str, str]
) -> list[TimelineDay]:
    """The reports by UTC day in time order; undated ones last, under their own heading."""
    dated = sorted(
        (v for v in items if not v.item.date_is_fallback),
        key=lambda v: (v.item.published, v.item.id),
    )
    undated = [v for v in items if v.item.date_is_fallback]
    days: dict[str, list[TimelineRow]] = {}
    for n, v in enumerate([*dated, *undated]):
        known = not v.item.date_is_fallback
        day = as_utc(v.item.published).strftime("%Y-%m-%d") if known else ""
        kinds = dict.fromkeys(feed_kinds.get(f, "") for f in v.item.feeds)
        days.setdefault(day, []).append(
            TimelineRow(
                time=v.item.published,
                clock=as_utc(v.item.published).strftime("%H:%M") if known else "",
                date_known=known,
                outlets=_outlets(v, outlet_names),
                lang=v.source_lang,
                kind=", ".join(k for k in kinds if k),
                title=v.title,
                translated=v.translated and v.title is not v.original_title,
                anchor=v.anchor,
                first=known and n == 0,
            )
        )
    return [TimelineDay(day, rows) for day, rows in days.items()]
