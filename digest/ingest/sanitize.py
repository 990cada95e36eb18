"""The only place HTML is cleaned: one nh3 allowlist, safe URLs, and HTML to plain text."""

from __future__ import annotations

import html as htmllib
import re
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import markupsafe
import nh3

from digest.text import drop_unsafe, has_control, url_text

# ---------------------------------------------------------------- the allowlist

#: Elements kept in sanitized HTML. No img (feed images would leak readers' IPs to the
#: outlets), no style, no embedded or active content.
ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "a", "em", "strong", "b", "i", "u", "blockquote", "q", "cite",
        "ul", "ol", "li", "h2", "h3", "h4", "h5", "h6", "pre", "code", "figure",
        "figcaption", "table", "thead", "tbody", "tr", "th", "td", "abbr", "sub", "sup",
        "span", "time",
    }
)  # fmt: skip

#: Attributes kept, per element; "*" applies to every allowed element.
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "*": frozenset({"lang", "dir"}),
    "a": frozenset({"href", "title"}),
    "abbr": frozenset({"title"}),
    "th": frozenset({"colspan", "rowspan"}),
    "td": frozenset({"colspan", "rowspan"}),
    "time": frozenset({"datetime"}),
}

#: Attributes the sanitizer itself adds (rel on links).
ADDED_ATTRIBUTES: dict[str, frozenset[str]] = {"a": frozenset({"rel"})}

#: URL schemes allowed in href, in sanitized HTML and in safe_url.
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})

LINK_REL = "nofollow noopener noreferrer"

# Dropped together with their content: their text is code, styling or fallback noise.
_CLEAN_CONTENT_TAGS = frozenset(
    {
        "script", "style", "template", "noscript", "iframe", "frame", "frameset",
        "object", "embed", "applet", "svg", "math", "textarea", "select", "title", "xmp",
        "plaintext", "noembed", "noframes",
    }
)  # fmt: skip

_MAX_PASSES = 5
_HREF_RE = re.compile(r"href", re.IGNORECASE)
_MAX_URL_LEN = 4096

_LANG_RE = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,6}$")
_SPAN_RE = re.compile(r"^[1-9][0-9]{0,2}$")
_DATETIME_RE = re.compile(r"^[0-9T:+\-. Z]{1,40}$")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    """Restrict free-text attributes to well-formed values (called by nh3 for every attribute)."""
    if attr == "dir":
        value = value.strip().lower()
        return value if value in ("ltr", "rtl", "auto") else None
    if attr == "lang":
        value = value.strip()
        return value if _LANG_RE.match(value) else None
    if attr in ("colspan", "rowspan"):
        value = value.strip()
        return value if _SPAN_RE.match(value) else None
    if attr == "datetime":
        value = value.strip()
        return value if _DATETIME_RE.match(value) else None
    return value


@lru_cache(maxsize=128)
def _cleaner(base_url: str | None) -> nh3.Cleaner:
    """One Cleaner per base URL (relative links are resolved against it, else dropped)."""
    relative: nh3.UrlRelative = "deny"
    if base_url:
        relative = ("rewrite_with_base", base_url)
    try:
        return _make_cleaner(relative)
    except Exception:  # a base the url crate rejects: fall back to dropping relative links
        return _make_cleaner("deny")


def _make_cleaner(relative: nh3.UrlRelative) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_CLEAN_CONTENT_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute_filter,
        strip_comments=True,
        link_rel=LINK_REL,
        url_schemes=set(URL_SCHEMES),
        url_relative=relative,
    )


# ---------------------------------------------------------------- bounded markup

#: Deepest element nesting handed to nh3. html5ever scans its stack of open elements for
#: most start tags, so n nested elements cost n² (80k `<div>`s took 17 s); real articles
#: rarely nest 30 deep.
MAX_DEPTH = 100
#: Most tags handed to nh3 from one field (an article has hundreds).
MAX_TAGS = 20_000
#: Longest tag: html5ever checks each attribute against the ones before it (quadratic in a
#: tag with thousands of attributes); a real tag is at most a long URL.
MAX_TAG_LEN = 8_192

#: Most attribute separators in one tag: html5ever checks each attribute name against the
#: ones before it.
MAX_TAG_ATTRIBUTES = 256

_TAG_SCAN_RE = re.compile(rf"<(/?)([A-Za-z][^\t\n\f\r />]*)([^>]{{0,{MAX_TAG_LEN}}})(>?)")
_ATTRIBUTE_SEP_RE = re.compile(r"[\t\n\f\r /]+")
# No nesting: void elements, and those a sibling closes (a run of `<p>`s or `<li>`s stays flat).
_FLAT_TAGS = frozenset(
    {
        "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img",
        "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
        "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody",
        "tfoot", "colgroup", "caption", "rb", "rt", "rp", "rtc",
    }
)  # fmt: skip
# Formatting elements outlive the elements that close them (html5ever reopens them for the
# text that follows), so those left open count against the depth as well.
_FORMATTING_TAGS = frozenset(
    {
        "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike",
        "strong", "tt", "u",
    }
)  # fmt: skip


def bounded_markup(html: str) -> str:
    """HTML whose work for nh3 is near-linear: cut where it would nest deeper than MAX_DEPTH
    or pass MAX_TAGS tags; a tag too long or with too many attributes becomes a space."""
    if len(html) <= MAX_TAG_ATTRIBUTES and html.count("<") <= MAX_DEPTH:
        return html  # too short to reach any bound
    stack: list[str] = []
    lingering: dict[str, int] = {}  # formatting elements opened and not closed, by name
    open_formatting = 0
    pieces: list[str] = []
    kept = pos = tags = 0
    while (match := _TAG_SCAN_RE.search(html, pos)) is not None:
        closing, name, rest, end = match.groups()
        tags += 1
        if tags > MAX_TAGS:
            return "".join(pieces) + html[kept : match.start()]
        pos = match.end()
        if (not end and len(rest) == MAX_TAG_LEN) or (
            len(rest) > MAX_TAG_ATTRIBUTES
            and len(_ATTRIBUTE_SEP_RE.findall(rest)) > MAX_TAG_ATTRIBUTES
        ):
            # A space, not nothing: the text on either side must not join into a new tag.
            close = html.find(">", pos)
            pos = len(html) if close < 0 else close + 1
            pieces += (html[kept : match.start()], " ")
            kept = pos
            continue
        name = name.lower()
        if closing:
            if lingering.get(name):
                lingering[name] -= 1
                open_formatting -= 1
            if name in stack:
                while stack.pop() != name:
                    pass
            continue
        if name in _FLAT_TAGS:
            continue
        if name in _FORMATTING_TAGS:
            lingering[name] = lingering.get(name, 0) + 1
            open_formatting += 1
        stack.append(name)
        if len(stack) > MAX_DEPTH or open_formatting > MAX_DEPTH:
            return "".join(pieces) + html[kept : match.start()]
    return "".join(pieces) + html[kept:] if pieces else html


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Clean untrusted HTML with one nh3 allowlist, iterated to a fixed point (bounded)."""
    if not html:
        return ""
    # Only href values are URLs that survive the allowlist: without one, the base cannot
    # matter, and the one Cleaner without a base serves (building one per base is costly).
    base = safe_url(base_url) if base_url and _HREF_RE.search(html) else ""
    if base.startswith("mailto:"):
        base = ""
    cleaner = _cleaner(base or None)
    # Control characters and lone surrogates are invalid in HTML and XML (the site's Atom
    # feed would break on them).
    out = cleaner.clean(bounded_markup(drop_unsafe(html)))
    # nh3 alone is not idempotent (a link around a table is re-nested on a second pass,
    # `<p><ul>` with nh3's default tags): clean until the output stops changing.
    for _ in range(_MAX_PASSES):
        again = cleaner.clean(out)
        if again == out:
            return out
        out = again
    # Still moving after the bound: give up on markup and keep only the text.
    out = cleaner.clean(htmllib.escape(html_to_text(out), quote=False))
    return out if cleaner.clean(out) == out else ""


def safe_markup(html: str) -> markupsafe.Markup:
    """Sanitize and mark safe for Jinja: the one place sanitized HTML becomes Markup."""
    return markupsafe.Markup(sanitize_html(html))


# ---------------------------------------------------------------- URLs

# Browsers strip leading/trailing C0 controls and spaces and drop tabs and newlines
# anywhere in a URL: `java\tscript:` is `javascript:` to them, so it must be to us.
_EDGE_JUNK = "".join(chr(c) for c in range(0x21)) + "\x7f"
_TAB_NEWLINE_RE = re.compile(r"[\t\n\r]")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


def _scheme(url: str) -> str | None:
    """The scheme a browser would see, lower-cased, or None for a relative URL."""
    m = _SCHEME_RE.match(url)
    return m.group(1).lower() if m else None


def safe_url(url: str | None, base_url: str | None = None) -> str:
    """The URL if http/https (or mailto), resolved against base_url; else ''. Handles entity-encoded and mixed-case schemes, whitespace/control-char tricks."""  # noqa: E501
    if not url or not isinstance(url, str) or len(url) > _MAX_URL_LEN:
        return ""
    cleaned = url_text(_TAB_NEWLINE_RE.sub("", url.strip(_EDGE_JUNK)))
    if not cleaned or has_control(cleaned):
        return ""
    # A value that is still entity-encoded (`&#106;avascript:`) would become a live
    # scheme if anything unescaped it later: judge the decoded form too.
    probe = _TAB_NEWLINE_RE.sub("", htmllib.unescape(cleaned).strip(_EDGE_JUNK))
    for candidate in (cleaned, probe):
        scheme = _scheme(candidate)
        if scheme is not None and scheme not in URL_SCHEMES:
            return ""
    cleaned = cleaned.replace(" ", "%20")
    if _scheme(cleaned) is None:
        if not base_url:
            return ""
        base = safe_url(base_url)
        if not base or _scheme(base) == "mailto":
            return ""
        try:
            cleaned = urljoin(base, cleaned)
        except ValueError:
            return ""
    return cleaned if _valid_absolute(cleaned) else ""


def _valid_absolute(url: str) -> bool:
    """True for an absolute http(s) URL with a host, or a non-empty mailto."""
    if len(url) > _MAX_URL_LEN:
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    if parts.scheme == "mailto":
        return bool(parts.path)
    if parts.scheme not in ("http", "https"):
        return False
    host = parts.hostname or ""
    return bool(host) and not any(c in host for c in "\\ <>\"'`")


# ---------------------------------------------------------------- HTML to text

# Elements whose boundaries separate words visually.
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "details",
        "div", "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section",
        "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
# Elements whose content is never visible text.
_INVISIBLE_TAGS = _CLEAN_CONTENT_TAGS | {"head"}
_WS_RE = re.compile(r"\s+")
_TAG_RE = re.compile(r"<[^>]*>")

# html.parser is quadratic on inputs such as "<a " repeated (a 100 kB summary took over a
# minute), so html5ever (through nh3) does the parsing: it keeps only attribute-less block
# tags and escaped text, which a regex can then take apart in linear time.
_TEXT_CLEANER = nh3.Cleaner(
    tags=set(_BLOCK_TAGS),
    clean_content_tags=set(_INVISIBLE_TAGS),
    attributes={},
    strip_comments=True,
    link_rel=None,
    url_schemes=set(),
)


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment (block elements become spaces), entities decoded."""
    if not html:
        return ""
    skeleton = _TEXT_CLEANER.clean(bounded_markup(drop_unsafe(html)))
    text = htmllib.unescape(_TAG_RE.sub(" ", skeleton))
    return _WS_RE.sub(" ", text).strip()
