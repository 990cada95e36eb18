"""Who reported a story and who did not, said only where the digest could know (pure).

A story page counts its reports by language and by outlet kind (the feeds' `kind`), and names
the outlet kinds and languages that did not report it. Absence is claimed only where the
digest could have matched a report: every report of the story can be compared across
languages (it is in the site language, machine-translated, or has a vector from a model that
reads its language), a feed of that kind or language was read on one of the story's days (it
was fetched without an error that day, or delivered a report dated that day), and reports in
that language could be compared too. Everything else is listed as not checked, with why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from digest.language import language_name
from digest.records import FeedConfig, StoredItem

__all__ = [
    "MAX_DAYS",
    "NOT_READ",
    "NO_DATE",
    "NO_MODEL",
    "Breakdown",
    "Reach",
    "breakdown",
    "only_kind",
    "only_language",
    "reach",
]

# A story's days beyond this many are not checked one by one (a long-running story is read).
MAX_DAYS = 62
# Why no claim is made about a kind or a language.
NOT_READ = "no feed of it was read on the story's days"
NO_MODEL = "no installed model compares its reports with others"
NO_DATE = "the story's reports carry no date"


def _base(lang: str) -> str:
    return lang.split("-")[0].lower()


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Reach:
    """What the digest could see: the configured kinds and languages and when each was read."""

    site: str  # the site language (base)
    kinds: tuple[str, ...]  # every kind an enabled feed has, sorted
    languages: tuple[str, ...]  # every (base) language an enabled feed publishes in, sorted
    feed_kinds: Mapping[str, str]  # feed id -> kind, for feeds with one
    # Per kind: the days a feed of it was read whose reports could be compared, and the days
    # one was read whose reports could not (a language no model reads, or none known).
    kind_days: Mapping[str, frozenset[str]] = field(default_factory=dict)
    kind_blind_days: Mapping[str, frozenset[str]] = field(default_factory=dict)
    language_days: Mapping[str, frozenset[str]] = field(default_factory=dict)
    comparable: frozenset[str] = frozenset()  # languages whose reports compare across languages


def reach(
    feeds: Sequence[FeedConfig],
    items: Iterable[StoredItem],
    fetched: Mapping[str, Collection[str]],
    vector_languages: Collection[str],
    site_language: str,
) -> Reach:
    """The Reach of these feeds: `items` (every report read, hidden ones too: they show a feed
    was read), `fetched` (feed id -> UTC days fetched without error), `vector_languages` (base
    languages the embedder compares across languages, from the cluster state)."""
    site = _base(site_language)
    enabled = [f for f in feeds if f.enabled]
    ids = {f.id for f in enabled}
    languages: dict[str, set[str]] = {f.id: set() for f in enabled}
    days: dict[str, set[str]] = {f.id: set(fetched.get(f.id, ())) for f in enabled}
    for f in enabled:
        if f.language:
            languages[f.id].add(_base(f.language))
    comparable = {site, *(_base(x) for x in vector_languages)}
    for it in items:
        lang = _base(it.lang)
        if it.translation == "translated":
            comparable.add(lang)
        for fid in it.feeds:
            if fid in ids:
                languages[fid].add(lang)
                if not it.date_is_fallback:
                    days[fid].add(_day(it.published))
    for langs in languages.values():
        langs.difference_update(("", "und"))
    kind_days: dict[str, set[str]] = {}
    kind_blind: dict[str, set[str]] = {}
    language_days: dict[str, set[str]] = {}
    for f in enabled:
        langs = languages[f.id]
        for lang in langs:
            language_days.setdefault(lang, set()).update(days[f.id])
        if f.kind:
            seen = bool(langs) and langs <= comparable
            (kind_days if seen else kind_blind).setdefault(f.kind, set()).update(days[f.id])
    return Reach(
        site=site,
        kinds=tuple(sorted({f.kind for f in enabled if f.kind}, key=lambda k: (k.casefold(), k))),
        languages=tuple(sorted(language_days)),
        feed_kinds={f.id: f.kind for f in enabled if f.kind},
        kind_days={k: frozenset(v) for k, v in kind_days.items()},
        kind_blind_days={k: frozenset(v) for k, v in kind_blind.items()},
        language_days={k: frozenset(v) for k, v in language_days.items()},
        comparable=frozenset(comparable),
    )


@dataclass(frozen=True)
class Breakdown:
    """A story's coverage: reports per kind, and who did not report it where that is known."""

    kinds: list[tuple[str, int]]  # (kind, reports), most first; "" for feeds without a kind
    missing_kinds: list[str]  # configured kinds with no report of it, where checkable
    missing_languages: list[str]  # (base) languages with no report of it, where checkable
    # (kind or language code, why no claim is made): what was not checked.
    unchecked: list[tuple[str, str]]


def _story_days(visible: Sequence[StoredItem]) -> list[str]:
    dated = sorted(i.published for i in visible if not i.date_is_fallback)
    if not dated:
        return []
    first, last = dated[0], dated[-1]
    count = min((last.date() - first.date()).days + 1, MAX_DAYS)
    return [_day(first + timedelta(days=n)) for n in range(count)]


def breakdown(
    visible: Sequence[StoredItem], hidden: Sequence[StoredItem], where: Reach
) -> Breakdown:
    """The coverage breakdown of a story of these (visible) reports; `hidden`: its reports
    taken down, which count for nothing and make no absence claimable either."""
    kinds: Counter[str] = Counter()
    for it in visible:
        for kind in dict.fromkeys(where.feed_kinds.get(f, "") for f in it.feeds):
            kinds[kind] += 1
    ranked = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0] == "", kv[0]))
    taken = {where.feed_kinds.get(f, "") for it in hidden for f in it.feeds}
    present_kinds = set(kinds) | taken
    present_langs = {_base(i.lang) for i in [*visible, *hidden]}
    other_kinds = [k for k in where.kinds if k not in present_kinds]
    other_langs = [x for x in where.languages if x not in present_langs]
    days = _story_days(visible)
    if not days:
        unchecked = [(k, NO_DATE) for k in other_kinds] + [(x, NO_DATE) for x in other_langs]
        return Breakdown(ranked, [], [], unchecked)
    blind = sorted(
        {_base(i.lang) for i in visible if not _comparable(i, where.comparable)} - {where.site}
    )
    if blind:
        names = ", ".join(language_name(x) for x in blind)
        why = f"its {names} reports cannot be compared with others here"
        unchecked = [(k, why) for k in other_kinds] + [(x, why) for x in other_langs]
        return Breakdown(ranked, [], [], unchecked)
    span = set(days)
    missing_kinds, missing_langs, unchecked = [], [], []
    for kind in other_kinds:
        if span & where.kind_blind_days.get(kind, frozenset()):
            unchecked.append((kind, NO_MODEL))
        elif span & where.kind_days.get(kind, frozenset()):
            missing_kinds.append(kind)
        else:
            unchecked.append((kind, NOT_READ))
    for lang in other_langs:
        if lang not in where.comparable:
            unchecked.append((lang, NO_MODEL))
        elif span & where.language_days.get(lang, frozenset()):
            missing_langs.append(lang)
        else:
            unchecked.append((lang, NOT_READ))
    return Breakdown(ranked, missing_kinds, missing_langs, unchecked)


def _comparable(item: StoredItem, languages: Collection[str]) -> bool:
    return item.translation == "translated" or _base(item.lang) in languages


def only_kind(kinds: Sequence[tuple[str, int]], missing: Collection[str], where: Reach) -> str:
    """The kind a story was reported by alone, checkably ("" when none): all its reports come
    from feeds of that kind and every other configured kind is known not to have reported it."""
    if len(kinds) != 1 or not kinds[0][0]:
        return ""
    kind = kinds[0][0]
    return kind if all(k in missing for k in where.kinds if k != kind) else ""


def only_language(languages: Collection[str], missing: Collection[str], where: Reach) -> str:
    """The (base) language a story was reported in alone, when not the site's and the site
    language is known not to have reported it ("" otherwise)."""
    bases = {_base(x) for x in languages}
    if len(bases) != 1:
        return ""
    (lang,) = bases
    return lang if lang != where.site and where.site in missing else ""
