"""The newsletter's web archive: sent issues as pages under newsletter/ on the site."""

from __future__ import annotations

from digest.language import lang_tag, text_direction
from digest.newsletter.issue import ARCHIVE_DIR
from digest.records import Config
from digest.render import make_environment, utc_text
from digest.store import Store

__all__ = ["archive_files"]

_ARCHIVE_CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'self'\">"
)


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
