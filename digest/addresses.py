"""Which network addresses a fetch may reach: the public internet, unless the operator says so.

Pure functions, no DNS: a host read in every spelling a resolver accepts (``2130706433``,
``0x7f.1``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``), an address judged public or not (loopback,
private, link-local, shared, multicast, reserved, documentation, and IPv6 forms that carry such
an IPv4 address), and names that only mean something on the local network (``localhost``,
``*.local``, a name without a dot). The resolving and the refusing happen in
ingest/guard.py, on the addresses a connection actually goes to.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["Address", "address_problem", "host_problem", "parse_ip", "url_host_problem"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that never leave the machine or the local network (RFC 6761, RFC 6762, RFC 8375,
# ICANN's .internal); a name without a dot is completed from the local search domains.
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# The private-use ranges proper; ipaddress's is_private also counts documentation and other
# special-purpose ranges, named "reserved" in messages.
_PRIVATE_USE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def _ipv4_part(part: str) -> int | None:
    """One dotted part as inet_aton reads it: 0x.. hex, 0.. octal, else decimal."""
    if not part:
        return None
    if part[:2].lower() == "0x":
        digits, base = part[2:], 16
        if digits == "":
            return 0
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits.isascii() or not digits.isalnum():
        return None
    try:
        return int(digits, base)
    except ValueError:
        return None


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address written as 1-4 numbers in decimal, hex or octal (127.1, 2130706433)."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # a trailing dot: "127.0.0.1."
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_ipv4_part(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (5 - len(values)) + last
    return ipaddress.IPv4Address(value)


def parse_ip(host: str) -> Address | None:
    """The IP address a host string names in any spelling a resolver accepts, else None."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text:
        return None
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return _legacy_ipv4(text)


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, 6to4, NAT64, Teredo)."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    value = int(addr)
    if value >> 32 == 0 and value > 1:  # ::a.b.c.d, the deprecated IPv4-compatible form
        return ipaddress.IPv4Address(value)
    return None


def address_problem(addr: Address) -> str | None:
    """Why an address is not on the public internet ("loopback", "private" ...), else None."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id:
            return "link-local"
        inner = _embedded_ipv4(addr)
        if inner is not None:
            problem = address_problem(inner)
            if problem is not None:
                return problem
    if addr.is_unspecified or (isinstance(addr, ipaddress.IPv4Address) and addr in _THIS_NETWORK):
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if isinstance(addr, ipaddress.IPv4Address) and addr in _SHARED:
        return "shared (carrier-grade NAT)"
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        return "site-local"
    if any(addr in net for net in _PRIVATE_USE):
        return "private"
    if addr.is_private or addr.is_reserved or not addr.is_global:
        return "reserved"
    return None


def host_problem(host: str) -> str | None:
    """Why a URL's host, as written, is not a public internet host (no DNS asked), else None."""
    text = host.strip().lower().rstrip(".")
    if not text:
        return "has no host"
    ip = parse_ip(text)
    if ip is not None:
        problem = address_problem(ip)
        return f"is not a public address: {ip} ({problem})" if problem else None
    if text in _LOCAL_NAMES or text.endswith(_LOCAL_SUFFIXES):
        return f"is a local-network name ({text})"
    if "." not in text:
        return f"is a name without a dot ({text}), resolved on the local network"
    return None


def url_host_problem(url: str) -> str | None:
    """host_problem for the host of an http(s) URL (None for URLs without one)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host_problem(host) if host else None
