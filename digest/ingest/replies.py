"""What a fetch asks and what it is told, in words: requests, validators, Retry-After, errors.

Every message names the feed URL and is one printable line (hostile servers and URLs break no
log and no page).
"""

from __future__ import annotations

import email.utils
import errno
import socket
import ssl
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import httpx

from digest.records import FetchConfig
from digest.text import message_line

__all__ = [
    "USER_AGENT",
    "FetchFailed",
    "FetchRequest",
    "describe_error",
    "header_safe",
    "parse_retry_after",
    "seconds_text",
    "status_text",
    "user_agent",
]

_MAX_VALIDATOR = 1024  # longer ETag / Last-Modified values are not worth keeping
_MAX_RETRY_AFTER = timedelta(days=365)


@dataclass(frozen=True)
class FetchRequest:
    """One feed to fetch, with the validators its last good response gave."""

    feed_id: str
    url: str  # http(s) URL, file:// URL, or a local path (absolute or relative)
    etag: str | None = None
    last_modified: str | None = None
    # The URL in feeds.yaml (url may be a remembered permanent redirect): when its host is
    # itself a private address, the operator chose an intranet feed and it may stay there.
    configured_url: str | None = None


def user_agent() -> str:
    """The User-Agent header naming this tool and its version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("digest")
    except PackageNotFoundError:
        ver = "dev"
    return f"digest/{ver} (+https://example.org/digest; feed reader)"


USER_AGENT = user_agent()


def seconds_text(value: float) -> str:
    """Seconds as a message shows them: 20, 0.5."""
    return f"{value:g}"


def header_safe(value: str | None) -> str | None:
    """A stored validator we can send back, or None when it could not be a header value."""
    if not value or len(value) > _MAX_VALIDATOR:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return None
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return value


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """A Retry-After value (delay in seconds or an HTTP date) as a UTC datetime, else None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        # Absurd delays are clamped rather than trusted or overflowing datetime.
        delay = min(timedelta(seconds=int(value[:12])), _MAX_RETRY_AFTER)
        return now.astimezone(UTC) + delay
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000" means UTC with unknown origin
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return min(when, now.astimezone(UTC) + _MAX_RETRY_AFTER)


def status_text(status: int) -> str:
    """ "HTTP 404 Not Found" for 404."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP {status} {phrase}".rstrip()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from, guarding against cycles."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def describe_error(url: str, exc: BaseException, cfg: FetchConfig) -> str:
    """A one-line message naming the URL for an exception raised while fetching it."""
    where = message_line(url)
    chain = list(_chain(exc))
    cert = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    if cert is not None:
        reason = getattr(cert, "verify_message", None) or "verification failed"
        return f"{where}: TLS certificate not accepted ({message_line(str(reason), 120)})"
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None:
        reason = getattr(tls, "reason", None) or type(tls).__name__
        return f"{where}: TLS handshake failed ({message_line(str(reason), 120)})"
    if any(isinstance(e, socket.gaierror) for e in chain):
        host = urllib.parse.urlsplit(url).hostname or "?"
        return f"{where}: DNS lookup failed: host name {message_line(host, 120)!r} does not resolve"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return f"{where}: connection refused"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"{where}: could not connect within {seconds_text(cfg.connect_timeout)} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"{where}: timed out waiting for the server ({type(exc).__name__})"
    if any(isinstance(e, OSError) and e.errno == errno.ENETUNREACH for e in chain):
        return f"{where}: network unreachable"
    if isinstance(exc, httpx.ConnectError):
        return f"{where}: could not connect ({message_line(str(exc), 120)})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{where}: broken HTTP answer ({message_line(str(exc), 120)})"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"{where}: not a fetchable URL ({message_line(str(exc), 120)})"
    if isinstance(exc, httpx.HTTPError):
        return f"{where}: {type(exc).__name__} ({message_line(str(exc), 120)})"
    return f"{where}: unexpected error: {type(exc).__name__}: {message_line(str(exc), 120)}"


class FetchFailed(Exception):
    """Ends one fetch with a message (already naming the URL)."""
