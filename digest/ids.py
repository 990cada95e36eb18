"""Identifiers shared by config and OPML: slugs, language codes, feed URL checks and keys."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from digest.text import has_control

SLUG_MAX = 64
# readable_feed_id: the title's words, cut at a word boundary to stay readable.
ID_WORDS_MAX = 40
# Host labels that say nothing about the outlet (www.voachinese.com -> voachinese).
_HOST_NOISE = frozenset({"www", "feeds", "feed", "rss", "m", "api"})
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "gov", "edu", "ac", "or", "ne"})
_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# BCP 47 in practice: a 2-3 letter primary subtag, then subtags of 1-8 letters or digits.
_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# A file name used as it is: ASCII letters, digits, "_" and "-", not leading, at most 80.
_SAFE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")


# Names Windows keeps for devices, with or without an extension (CON, con.html, LPT1.txt):
# a mirror of the site on Windows could not hold such a file.
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{n}" for n in range(1, 10)}
    | {f"LPT{n}" for n in range(1, 10)}
)


def is_windows_reserved(name: str) -> bool:
    """True for CON, PRN, AUX, NUL, COM1-9 and LPT1-9, in any case, with or without extension."""
    return name.split(".", 1)[0].strip().upper() in _WINDOWS_RESERVED


def is_safe_name(text: str) -> bool:
    """True when text can be a file name as it is, on any file system and in any URL."""
    return _SAFE_NAME_RE.fullmatch(text) is not None and not is_windows_reserved(text)


def hashed_name(key: str) -> str:
    """A safe file name for any key: a readable part and a hash of the whole key."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-_")[:40] or "x"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{readable}-{digest}"


def file_name_for(key: str) -> str:
    """The key itself when it is a safe file name, else its hashed_name (con: con-<hash>)."""
    return key if is_safe_name(key) else hashed_name(key)


def slugify(text: str) -> str:
    """A URL-safe id: lower-case ASCII letters, digits, hyphens (non-ASCII gets a short hash)."""
    text = unicodedata.normalize("NFC", text)
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    # NFKD splits accents off Latin letters so "Café" keeps its "cafe".
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    ascii_part = re.sub(r"[^a-z0-9]+", "-", kept.lower().encode("ascii", "ignore").decode())
    ascii_part = ascii_part.strip("-")
    # Letters outside ASCII (Chinese, Tibetan...) would vanish; a hash keeps
    # "RFA 粤语" and "RFA 普通话" apart.
    lost = any(c.isalnum() and not c.isascii() for c in kept)
    slug = f"{ascii_part}-{digest}" if (lost and ascii_part) else (ascii_part or digest)
    if len(slug) > SLUG_MAX:
        slug = f"{slug[: SLUG_MAX - 9].rstrip('-')}-{digest}"
    return slug


def readable_feed_id(title: str, url: str) -> str:
    """A readable feed id from a title (an OPML outline's): its Latin letters and digits as a
    slug, cut at a word boundary; a title with none (中文新闻) takes the outlet's name from
    the URL's host."""
    words = _ascii_words(title)
    if not words:
        host = (urlsplit(url).hostname or "").lower().split(".")
        while len(host) > 1 and host[0] in _HOST_NOISE:
            host = host[1:]
        if len(host) > 1:
            host = host[:-1]  # the top-level domain
        if len(host) > 1 and host[-1] in _SECOND_LEVEL:
            host = host[:-1]  # bbc.co(.uk), people.com(.cn)
        words = _ascii_words(" ".join(host))
    slug = ""
    for word in words:
        longer = f"{slug}-{word}" if slug else word
        if slug and len(longer) > ID_WORDS_MAX:
            break
        slug = longer
    return slug[:ID_WORDS_MAX].strip("-") or "feed"


def _ascii_words(text: str) -> list[str]:
    """The Latin letters and digits of text, lower-case, as words (accents dropped)."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.findall(r"[a-z0-9]+", kept.encode("ascii", "ignore").decode())


def is_slug(text: str) -> bool:
    """True for lower-case ASCII letters and digits joined by single hyphens, at most 64 long."""
    return len(text) <= SLUG_MAX and bool(_SLUG_RE.match(text))


def is_language_code(text: str) -> bool:
    """True for a BCP 47 style code such as en, zh, zh-Hant, pt-BR."""
    return bool(_LANG_RE.match(text))


def feed_url_problem(url: str, *, allow_local: bool = True) -> str | None:
    """Why this feed URL is unacceptable, or None when it is fine."""
    if not url.strip():
        return "is empty"
    if has_control(url):
        return "contains a control character"
    if url != url.strip():
        return "has leading or trailing spaces"
    match = _SCHEME_RE.match(url)
    if match is None:
        if not allow_local:
            return "is not an http(s) URL"
        if url.startswith("//"):
            return "is a scheme-relative URL: write https://..."
        return None  # a local path, resolved by the fetcher against the config's folder
    scheme = match.group(1).lower()
    if scheme == "file":
        if not allow_local:
            return "is not an http(s) URL"
        if not url[5:].startswith("//") or not urlsplit(url).path:
            return "is not a file:///path URL"
        return None
    if scheme not in ("http", "https"):
        if not allow_local:
            return f"is not an http(s) URL (scheme '{scheme}:')"
        return f"has unsupported scheme '{scheme}:' (use http://, https://, file:// or a path)"
    parts = urlsplit(url)
    if not url[len(scheme) + 1 :].startswith("//") or not parts.hostname:
        return f"needs a host: {scheme}://host/..."
    if any(c.isspace() for c in url):
        return "contains spaces (percent-encode them as %20)"
    if parts.username is not None or parts.password is not None:
        return "contains a user name or password (secrets never live in feeds.yaml)"
    try:
        parts.port  # noqa: B018 - the property validates the port
    except ValueError:
        return "has an invalid port"
    return None


def feed_url_key(url: str, base_dir: Path | None = None) -> str:
    """A comparison key for duplicate detection: case of scheme/host, default port,
    trailing slash and fragment do not matter; local paths compare by resolved path."""
    match = _SCHEME_RE.match(url)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("", "file"):
        raw = unquote(urlsplit(url).path) if scheme == "file" else url
        raw = os.path.expanduser(raw)
        if base_dir is not None and not os.path.isabs(raw):
            raw = os.path.join(os.path.abspath(base_dir), raw)
        return "file:" + os.path.normpath(raw)
    if scheme not in ("http", "https"):
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, 80 if scheme == "http" else 443) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def name_from_url(url: str) -> str:
    """A readable name for a feed that has none: host and path of its URL."""
    match = _SCHEME_RE.match(url)
    if match and match.group(1).lower() in ("http", "https"):
        parts = urlsplit(url)
        name = (parts.hostname or "") + parts.path.rstrip("/")
        return name or url
    if match and match.group(1).lower() == "file":
        return unquote(urlsplit(url).path) or url
    return url


# ---------------------------------------------------------------- loading
