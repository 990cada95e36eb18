"""`digest hide` / `digest unhide`: take an item or a story off the site, feeds and newsletter."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from digest.errors import InputError
from digest.records import Config
from digest.site.stage import BuildSummary
from digest.site.stage import run as build_stage
from digest.store import utc_now
from digest.wording import plural
from digest.workspace import Workspace, run_lock


@dataclass
class TakedownResult:
    """What hide or unhide did, and the rebuild that followed (None with build=False)."""

    id: str
    kind: str  # item | story | shown
    items: int  # items hidden, or hidden rows removed
    build: BuildSummary | None
    mailed: list[str] = field(default_factory=list)  # sent issues that carried it

    def line(self) -> str:
        """The first line for the terminal: what was done."""
        if self.kind == "shown":
            what = f"{self.id}: shown again ({plural(self.items, 'hidden entry')} removed)"
        elif self.kind == "story":
            what = f"{self.id}: story hidden with its {plural(self.items, 'item')}"
        else:
            what = f"{self.id}: item hidden"
        if self.build is None:
            return what + "; the site changes on the next build"
        return what + "; site rebuilt"

    def lines(self) -> list[str]:
        """What was done, where it shows, and what cannot be undone."""
        if self.kind == "shown":
            return [self.line()]
        verb = "removed" if self.build is not None else "to be removed on the next build"
        out = [
            self.line(),
            f"  {verb} from: {SURFACES}",
            "  the site's previous version is deleted with that build, not kept beside it",
        ]
        if self.mailed:
            names = ", ".join(self.mailed[:5]) + (" ..." if len(self.mailed) > 5 else "")
            out.append(
                f"  newsletter: {len(self.mailed)} sent issue(s) carried it ({names}); their "
                "web archive pages are rendered without it, but emails already sent cannot be "
                "recalled"
            )
        else:
            out.append("  newsletter: no sent issue carried it; future issues leave it out")
        return out


# Every published surface a takedown reaches (edition.py reads only visible items).
SURFACES = (
    "story pages, the front, topic, day and source pages, the Atom and JSON feeds "
    "(site and per topic), the search index, the newsletter's web archive and future issues"
)


def hide(
    config: Config,
    ws: Workspace,
    target_id: str,
    reason: str,
    *,
    build: bool = True,
    out: Path | None = None,
) -> TakedownResult:
    """Hide an item or a story for good (until unhidden), then rebuild the site."""
    if not reason.strip():
        raise InputError("--reason must say why the item is hidden", "e.g. --reason 'request'")
    with run_lock(ws), ws.open_store() as store:
        found = store.hide(target_id, reason.strip(), utc_now())
        if found is None:
            raise InputError(
                f"no item or story has the id {target_id!r}",
                "story ids are shown at the bottom of each story page; item ids by "
                "`digest export` (and as the #anchor of each report)",
            )
        kind, count = found
        hidden = {target_id, *(e[0] for e in store.hidden_entries() if e[3] == target_id)}
        mailed = [
            i.id for i in store.newsletter_issues() if i.sent and hidden & {*i.stories, *i.items}
        ]
        summary = build_stage(config, store, ws.out_dir(out)) if build else None
    return TakedownResult(target_id, kind, count, summary, sorted(mailed))


def unhide(
    config: Config, ws: Workspace, target_id: str, *, build: bool = True, out: Path | None = None
) -> TakedownResult:
    """Show a hidden item or story again, then rebuild the site."""
    with run_lock(ws), ws.open_store() as store:
        removed = store.unhide(target_id)
        if removed == 0:
            raise InputError(f"{target_id!r} is not hidden", "nothing to do")
        summary = build_stage(config, store, ws.out_dir(out)) if build else None
    return TakedownResult(target_id, "shown", removed, summary)
