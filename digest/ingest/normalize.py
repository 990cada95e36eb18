"""Clean raw entries into items: plain text, language, canonical URL, content hash, dates."""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from digest.ingest.sanitize import html_to_text, safe_url, sanitize_html
from digest.language import (
    UNDETERMINED,
    chinese_variant,
    detect_language,
    fits_script,
    normalize_language,
)
from digest.records import FeedConfig, Item, ParsedFeed, RawEntry
from digest.text import cut_text, plain

SUMMARY_MAX = 600
TITLE_MAX = 500
GUID_MAX = 512

# Hostile feeds send megabytes in a field: bound the work before cleaning.
_RAW_TEXT_CAP = 20_000
_RAW_SUMMARY_CAP = 100_000
_RAW_CONTENT_CAP = 2_000_000
_DETECT_CAP = 2_000

MIN_YEAR = 1990
FUTURE_SLACK = timedelta(days=1)

# ---------------------------------------------------------------- plain text


def clean_text(text: str) -> str:
    """Plain text from HTML or text: no markup, entities decoded, invisible characters dropped."""
    if not text:
        return ""
    return plain(html_to_text(text))


# ---------------------------------------------------------------- languages


def _choose_language(feed: FeedConfig, entry: RawEntry, parsed: ParsedFeed, text: str) -> str:
    """Config > entry > channel > detection; a declaration contradicted by the script loses."""
    configured = normalize_language(feed.language)
    if configured:
        return configured
    detected: str | None = None
    detected_done = False
    for raw in (entry.language, parsed.language):
        declared = normalize_language(raw)
        if not declared:
            continue
        if not fits_script(declared, text):
            detected = detect_language(text)
            detected_done = True
            if detected:
                return detected
            continue
        if declared == "zh" and raw is not None and "-" not in raw.strip().replace("_", "-"):
            # a bare "zh" does not say which script: the text can
            return chinese_variant(text)
        return declared
    if not detected_done:
        detected = detect_language(text)
    return detected or UNDETERMINED


# ---------------------------------------------------------------- URLs and keys

_TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_", "hsa_", "_hs", "__hs", "oly_", "vero_")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "igshid", "li_fat_id", "mc_cid", "mc_eid", "_ga", "_gl",
        "ocid", "cmpid", "ncid", "sr_share", "spm", "mkt_tok", "s_cid", "wt_mc", "wt.mc_id",
        "ref_src", "ref_url", "rb_clickid", "srsltid",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")


def _normalize_escapes(part: str, safe: str) -> str:
    """Percent-encode what must be, upper-case escapes, decode escaped unreserved chars."""
    part = quote(part, safe=safe + "%")

    def fix(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    return _PCT_RE.sub(fix, part)


def _is_tracking(name: str) -> bool:
    key = unquote(name).strip().lower()
    return key in _TRACKING_NAMES or key.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Lower-case scheme/host, drop fragment, default ports and tracking params (utm_*, fbclid, gclid, ...), sort query."""  # noqa: E501
    if not url:
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.rstrip(".")  # urlsplit lower-cases it
    with contextlib.suppress(UnicodeError, ValueError):
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _normalize_escapes(parts.path or "/", safe="/:@!$&'()*+,;=")
    pairs = [p for p in parts.query.split("&") if p and not _is_tracking(p.split("=", 1)[0])]
    query = "&".join(sorted(_normalize_escapes(p, safe="/?:@!$&'()*+,;=") for p in pairs))
    return urlunsplit((scheme, netloc, path, query, ""))


_KEY_STRIP_RE = re.compile(r"[\W_]+")


def content_key(title: str, summary: str) -> str:
    """Hash of the normalised title + summary, for spotting one article on mirror hosts."""

    def norm(s: str) -> str:
        return _KEY_STRIP_RE.sub("", unicodedata.normalize("NFKC", plain(s)).casefold())

    data = f"{norm(title)}\x1f{norm(summary)}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


# ---------------------------------------------------------------- entries


def _clean_guid(guid: str | None) -> str:
    if not guid or not isinstance(guid, str):
        return ""
    guid = plain(guid)
    if len(guid) > GUID_MAX:
        # still stable, but bounded in size
        return "sha256:" + hashlib.sha256(guid.encode("utf-8", "surrogatepass")).hexdigest()
    return guid


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def plausible_date(value: datetime | None, now: datetime) -> datetime | None:
    """The date in UTC, or None when it is before 1990 or more than a day ahead of now."""
    if value is None:
        return None
    try:
        value = _as_utc(value)
    except (OverflowError, ValueError):
        return None
    if value.year < MIN_YEAR or value > _as_utc(now) + FUTURE_SLACK:
        return None
    return value


def normalize_entry(
    entry: RawEntry, feed: FeedConfig, parsed: ParsedFeed, now: datetime
) -> Item | None:
    """Clean one entry; None when it has neither a title, a summary nor a link."""
    title = cut_text(clean_text((entry.title or "")[:_RAW_TEXT_CAP]), TITLE_MAX)
    summary_src = entry.summary_html or entry.content_html or ""
    summary = cut_text(clean_text(summary_src[:_RAW_SUMMARY_CAP]), SUMMARY_MAX)
    link = safe_url(entry.link, feed.url)
    if not (title or summary or link):
        return None
    content_src = (entry.content_html or entry.summary_html or "")[:_RAW_CONTENT_CAP]
    content_html = sanitize_html(content_src, base_url=link or feed.url)

    published = plausible_date(entry.published, now)
    date_is_fallback = published is None
    if published is None:
        published = _as_utc(now)

    key = content_key(title, summary) if (title or summary) else content_key(link, "")
    guid = _clean_guid(entry.guid) or link or key
    return Item(
        feed_id=feed.id,
        guid=guid,
        url=canonical_url(link) if link else "",
        link=link,
        title=title,
        summary=summary,
        content_html=content_html,
        published=published,
        date_is_fallback=date_is_fallback,
        lang=_choose_language(feed, entry, parsed, f"{title} {summary}"),
        content_key=key,
    )
