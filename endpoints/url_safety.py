"""Which URLs an endpoint may point at. Pure, no Django.

An endpoint may not reach private, loopback, link-local, CGNAT, multicast, reserved or unspecified
addresses (IPv4, IPv6 and IPv4 embedded in IPv6), unless an allow-listed CIDR covers the address.
The same check runs when an endpoint is saved and, in ``deliveries.transport``, on every attempt
against every address the host resolves to; the transport then connects to exactly the addresses
that were checked, so a DNS answer that changes between check and connect cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import weakref
from collections.abc import Iterable
from urllib.parse import urlsplit

import aiodns
import yarl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "64:ff9b::/96",  # NAT64: reaches IPv4 through a translator
        "64:ff9b:1::/48",
        "2002::/16",  # 6to4: embeds an IPv4 address
        "fc00::/7",  # unique local
        "fec0::/10",  # site local (deprecated)
    )
)


class UnsafeURL(ValueError):
    """A URL an endpoint may not use; the message names the reason."""


class BlockedAddress(UnsafeURL):
    """A host that resolves to an address in a blocked range."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    packed = address.packed
    # IPv4-compatible (::a.b.c.d, deprecated) and NAT64 well-known prefix.
    if packed[:12] == bytes(12) and packed[12:] not in (bytes(4), b"\x00\x00\x00\x01"):
        return ipaddress.IPv4Address(packed[12:])
    if packed[:12] == bytes.fromhex("0064ff9b0000000000000000"):
        return ipaddress.IPv4Address(packed[12:])
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` is blocked (``"private address"``, ``"loopback address"``, ...), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = blocked_reason(inner)
            if reason:
                return reason
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address.is_unspecified:
        return "unspecified address"
    if address.version == 4 and address in _CGNAT:
        return "shared (CGNAT) address"
    if address.is_reserved:
        return "reserved address"
    if any(address in net for net in _EXTRA_BLOCKED if net.version == address.version):
        return "private address"
    if address.is_private or not address.is_global:
        return "private address"
    return None


def address_allowed(address: IPAddress, allowed: Iterable[Network]) -> str | None:
    """None if ``address`` may be reached, else the reason it may not."""
    if any(address.version == net.version and address in net for net in allowed):
        return None
    return blocked_reason(address)


def _distinct(raw: Iterable[str]) -> list[IPAddress]:
    seen: list[IPAddress] = []
    for text in raw:
        addr = ipaddress.ip_address(text.split("%", 1)[0])  # no IPv6 zone: it names no host
        if addr not in seen:
            seen.append(addr)
    return seen


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, through the system resolver (blocking): the checks
    made when an endpoint is saved. Tests patch this function, never the network."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return _distinct(str(info[4][0]) for info in infos)


_system_resolve = resolve


class DNSLookupError(OSError):
    """A name that did not resolve (no such name, no address, a DNS server's refusal)."""


class AsyncResolver:
    """Lookups on c-ares (``aiodns``): many at once on the event loop, none holding a thread.

    c-ares reads ``/etc/hosts`` and ``/etc/resolv.conf`` as the system resolver does (search
    domains, ``ndots``), and its ``getaddrinfo`` asks for IPv4 and IPv6 at once. It answers
    ``localhost`` itself (127.0.0.1 and ::1, RFC 6761), never asking a DNS server. Each query
    gives up after ``TRIES`` tries of ``TRY_TIMEOUT`` seconds; the caller bounds it by the
    attempt's own timeout as well.
    """

    TRY_TIMEOUT = 5.0
    TRIES = 2

    def __init__(self, **channel_options: object) -> None:
        # One c-ares channel per event loop (aiodns binds one); options are pycares' Channel's.
        self._options = {"timeout": self.TRY_TIMEOUT, "tries": self.TRIES, **channel_options}
        self._channels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiodns.DNSResolver] = (
            weakref.WeakKeyDictionary()
        )

    def _channel(self) -> aiodns.DNSResolver:
        loop = asyncio.get_running_loop()
        channel = self._channels.get(loop)
        if channel is None:
            channel = aiodns.DNSResolver(loop=loop, **self._options)
            self._channels[loop] = channel
        return channel

    async def lookup(self, host: str, port: int) -> list[IPAddress]:
        try:
            answer = await self._channel().getaddrinfo(
                host, family=socket.AF_UNSPEC, port=port, type=socket.SOCK_STREAM
            )
        except aiodns.error.DNSError as exc:
            code = exc.args[0] if exc.args else None
            text = exc.args[1] if len(exc.args) > 1 else str(exc)
            if code == aiodns.error.ARES_ETIMEOUT:
                raise TimeoutError(f"dns lookup of {host} timed out") from exc
            raise DNSLookupError(f"{host}: {text}") from exc
        raw = (node.addr[0] for node in answer.nodes)
        return _distinct(a.decode("ascii") if isinstance(a, bytes) else str(a) for a in raw)


_async_resolver = AsyncResolver()


async def resolve_async(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, without a thread: the transport's lookup on every
    attempt. Tests patch this function together with ``resolve``, never the network.

    Should a test replace only ``resolve``, this answers through that replacement (on a thread)
    rather than through c-ares: no forgotten patch can send a test's lookup to a DNS server.
    """
    if resolve is not _system_resolve:
        return await asyncio.to_thread(resolve, host, port)
    return await _async_resolver.lookup(host, port)


_system_resolve_async = resolve_async


def parse_ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def _check_hostname(host: str) -> None:
    """A name DNS could hold: labels of 1-63 letters, digits, '-' or '_', 253 characters in all
    (one trailing dot allowed). Refused at save rather than failing later as a DNS error."""
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253:
        raise UnsafeURL("URL host is longer than 253 characters")
    for label in name.split("."):
        if not label:
            raise UnsafeURL("URL host has an empty label (two dots, or a leading dot)")
        if len(label) > 63:
            raise UnsafeURL("URL host has a label longer than 63 characters")
        if not _LABEL_RE.match(label):
            raise UnsafeURL(
                f"URL host label {label[:63]!r} is not a DNS name (letters, digits, '-' and '_')"
            )


def check_url_shape(url: str, *, require_https: bool) -> tuple[str, str, int]:
    """Validate scheme, credentials, host and port; return ``(scheme, host, port)``."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeURL("URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise UnsafeURL("URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"URL is malformed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL("URL scheme must be http or https")
    if require_https and scheme != "https":
        raise UnsafeURL("URL scheme must be https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeURL("URL may not contain credentials")
    if not parts.hostname:
        raise UnsafeURL("URL has no host")
    # The host exactly as the HTTP client will look it up (lower case, IDNA-encoded, a trailing
    # dot kept), so the name checked is the name connected to.
    try:
        host = yarl.URL(url).raw_host or ""
    except (ValueError, UnicodeError) as exc:
        raise UnsafeURL(f"URL host is not valid: {exc}") from exc
    if not host.strip("."):
        raise UnsafeURL("URL has no host")
    if parse_ip_literal(host) is None:
        _check_hostname(host)
    if port is None:
        port = 443 if scheme == "https" else 80
    if port == 0:
        raise UnsafeURL("URL port must be between 1 and 65535")
    return scheme, host, port


def check_addresses(host: str, addresses: Iterable[IPAddress], allowed: Iterable[Network]) -> None:
    allowed = tuple(allowed)
    for address in addresses:
        reason = address_allowed(address, allowed)
        if reason and host.strip("[]") == str(address):
            raise BlockedAddress(f"{address} is a {reason}")
        if reason:
            raise BlockedAddress(f"{host} resolves to a {reason} ({address})")


def host_unresolved(url: str) -> str | None:
    """The host of a saved endpoint URL when it does not resolve now; None when it does (or is
    an address)."""
    try:
        _, host, port = check_url_shape(url, require_https=False)
    except UnsafeURL:
        return None
    if parse_ip_literal(host) is not None:
        return None
    try:
        resolve(host, port)
    except (OSError, UnicodeError):
        return host
    return None


def check_url(url: str, *, allowed: Iterable[Network], require_https: bool) -> None:
    """Validate an endpoint URL when it is saved.

    A host that does not resolve yet is accepted (DNS may be set up after the endpoint); it is
    checked again on every attempt. A host that resolves to a blocked address is refused.
    """
    _, host, port = check_url_shape(url, require_https=require_https)
    literal = parse_ip_literal(host)
    if literal is not None:
        check_addresses(host, [literal], allowed)
        return
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        return
    check_addresses(host, addresses, allowed)
