"""The outbound-request policy: the one place that decides where the platform may connect.

Everything that makes an outbound request (webhooks) or hands a URL to something that
will (upstream targets shipped to gateways) goes through here, so a tenant cannot turn
the platform against its own network (SSRF):

* :func:`check_url` validates a URL when it is *saved*: scheme, no credentials, length,
  and the host in every spelling a resolver accepts (``2130706433``, ``0x7f.1``,
  ``0177.0.0.1``, ``[::ffff:127.0.0.1]``, full-width digits, trailing dots,
  ``localhost`` names …). It does not resolve names: a DNS answer at save time proves
  nothing about the answer at connect time, and a slow resolver must not hold a web
  worker.
* :func:`post` *sends*: it resolves the host once, vets every address the resolver
  returned, then connects to the vetted address itself (no second lookup, so no
  resolve-then-connect race / DNS rebinding), keeps ``Host``, SNI and certificate checks
  on the name, never follows redirects and reads at most ``max_response_bytes``.

Refused by default: loopback, private (RFC 1918, fc00::/7), link-local, CGNAT
(100.64.0.0/10), multicast, broadcast, unspecified and reserved ranges, benchmarking,
documentation ranges, and the IPv6 forms that embed or translate an IPv4 address
(v4-mapped, v4-compatible, 6to4, NAT64, Teredo) whenever the embedded address is refused.

Settings (``portal/settings.py``): ``OUTBOUND_ALLOWED_NETWORKS`` lists CIDRs operators
allow on purpose (on-premises upstreams); ``OUTBOUND_ALLOW_PRIVATE_TARGETS`` (development
and tests only) also allows loopback and private networks. This module imports no app.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: (address family, socket address) as getaddrinfo returns them.
SockTarget = tuple[int, tuple[Any, ...]]

MAX_URL_LENGTH = 500
DEFAULT_MAX_RESPONSE_BYTES = 4096

# (network, why it is refused). Checked in order; the first match names the reason.
_REFUSED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/8", "an unspecified (“this network”) address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved (IETF protocol) address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved (6to4 relay) address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", "a deprecated IPv4-compatible address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("2001:db8::/32", "a documentation address"),
        ("2001::/32", "a Teredo tunnel address"),
        ("2001::/23", "a reserved (IETF protocol) address"),
        ("3fff::/20", "a documentation address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a deprecated site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

#: What the development / test switch adds to the allowed networks: loopback and private
#: ranges where local test receivers and demo upstreams live. Never link-local (cloud
#: metadata endpoints live there), multicast or reserved ranges.
DEVELOPMENT_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(c)
    for c in ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)

#: Names that mean "this machine" whatever the resolver says.
_LOCALHOST_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
#: Suffixes of names that only exist on internal networks.
_INTERNAL_SUFFIXES = ("local", "localdomain", "internal", "home.arpa", "lan", "intranet")
_HOST_CHARS = re.compile(r"^[a-z0-9_.-]+$")
_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class OutboundRefused(ValueError):
    """The policy refuses this URL or address; ``reason`` is a sentence for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutboundError(OSError):
    """The request was allowed but failed (DNS, connection, TLS, timeout, bad answer)."""


@dataclass(frozen=True)
class VettedTarget:
    """A URL that passed :func:`check_url`: its parts, with the host in ASCII (IDNA) form."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line
    address: IPAddress | None  # set when the host is an IP literal (in any spelling)

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass
class OutboundResult:
    """What the receiver answered: status, at most ``max_response_bytes`` of the body."""

    status: int
    body: bytes
    location: str = ""
    address: str = ""
    truncated: bool = False
    #: The answer's header fields as received (name, value), in order.
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class OutboundPolicy:
    """Which addresses may be connected to: everything public, plus ``allowed`` networks."""

    allowed: tuple[IPNetwork, ...] = ()
    allow_internal_names: bool = False

    @classmethod
    def build(cls, allowed_networks: Iterable[str] = (), *, allow_private: bool = False) -> OutboundPolicy:
        networks = tuple(parse_networks(allowed_networks))
        if allow_private:
            networks += DEVELOPMENT_NETWORKS
        # Internal names (single labels, *.internal …) can only resolve to somewhere useful
        # when an internal network is allowed; the connect-time check still vets the address.
        return cls(allowed=networks, allow_internal_names=bool(networks))

    def _allowed(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allowed)

    def vet_address(self, address: IPAddress) -> None:
        """Raise :class:`OutboundRefused` unless ``address`` may be connected to."""
        if self._allowed(address):
            return
        embedded = embedded_ipv4(address)
        if embedded is not None:
            try:
                self.vet_address(embedded)
            except OutboundRefused as exc:
                raise OutboundRefused(f"{address} embeds {embedded}, {exc.reason}") from None
            return
        for network, reason in _REFUSED:
            if address.version == network.version and address in network:
                raise OutboundRefused(f"{address} is {reason}")
        if not address.is_global:
            raise OutboundRefused(f"{address} is not a public address")

    def check_url(self, url: str) -> VettedTarget:
        """Validate ``url`` for saving; raise :class:`OutboundRefused` with the reason."""
        url = (url or "").strip()
        if len(url) > MAX_URL_LENGTH:
            raise OutboundRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise OutboundRefused("the URL is not valid (check the host and port)") from None
        if parts.scheme not in {"http", "https"}:
            raise OutboundRefused("only http:// and https:// URLs are allowed")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise OutboundRefused("credentials in the URL are not allowed")
        host, address = self.check_host(parts.hostname or "")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        if any(ord(c) < 33 or ord(c) == 127 for c in target):
            raise OutboundRefused("the URL path contains spaces or control characters")
        default_port = 443 if parts.scheme == "https" else 80
        return VettedTarget(url, parts.scheme, host, port or default_port, target, address)

    def check_host(self, raw: str) -> tuple[str, IPAddress | None]:
        """Normalise a host (IDNA, trailing dot) and refuse what the policy refuses statically."""
        host = raw.strip().lower()
        if not host:
            raise OutboundRefused("the URL has no host")
        if ":" in host:  # only IPv6 literals contain colons (urlsplit strips the brackets)
            if "%" in host:
                raise OutboundRefused("IPv6 zone identifiers are not allowed")
            try:
                address: IPAddress = ipaddress.IPv6Address(host)
            except ValueError:
                raise OutboundRefused(f"“{raw}” is not a valid IPv6 address") from None
            self.vet_address(address)
            return str(address), address
        try:
            # IDNA also maps full-width digits and ideographic dots (１２７。０。０。１) to ASCII.
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise OutboundRefused(f"“{raw}” is not a valid host name") from None
        if host.endswith("."):
            host = host[:-1]
        if not host or not _HOST_CHARS.match(host) or ".." in host or host.startswith("."):
            raise OutboundRefused(f"“{raw}” is not a valid host name")
        labels = host.split(".")
        if _NUMERIC_PART.match(labels[-1]):
            # A resolver reads this as an IPv4 address (inet_aton): vet what it would connect to.
            address = parse_ipv4_like(host)
            self.vet_address(address)
            return str(address), address
        if host in _LOCALHOST_NAMES or host.endswith(".localhost"):
            for loopback in (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1")):
                try:
                    self.vet_address(loopback)
                except OutboundRefused:
                    raise OutboundRefused(f"“{host}” is this machine (loopback)") from None
            return host, None
        internal = len(labels) == 1 or any(host == s or host.endswith("." + s) for s in _INTERNAL_SUFFIXES)
        if internal and not self.allow_internal_names:
            raise OutboundRefused(f"“{host}” is an internal host name; use a public, fully qualified name")
        return host, None

    def resolve(self, host: str, port: int) -> list[SockTarget]:
        """Resolve ``host`` once and vet every address; return ``(family, sockaddr)`` pairs.

        All answers must pass: a name that resolves to one public and one private address
        is refused, so that which one gets used can never matter.
        """
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            raise OutboundError(f"could not resolve {host}: {exc}") from None
        targets: list[SockTarget] = []
        for family, _type, _proto, _canon, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            self.vet_address(address)
            if (family, sockaddr) not in targets:
                targets.append((family, sockaddr))
        if not targets:
            raise OutboundError(f"{host} has no IPv4 or IPv6 address")
        return targets

    def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> OutboundResult:
        """POST ``body`` to ``url`` under the policy; see the module docstring.

        Raises :class:`OutboundRefused` (policy) or :class:`OutboundError` (network).
        ``timeout`` bounds the whole attempt after the lookup: connecting, sending and
        reading the answer (a receiver that trickles bytes is cut off at the deadline).
        """
        return self.request("POST", url, body, headers, timeout=timeout, max_response_bytes=max_response_bytes)

    def request(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> OutboundResult:
        """Like :meth:`post` with any ``method`` (the try-it console sends GET, PUT, DELETE …)."""
        target = self.check_url(url)
        sockaddrs: list[SockTarget]
        if target.address is not None:
            literal_family = socket.AF_INET6 if target.address.version == 6 else socket.AF_INET
            sockaddrs = [(int(literal_family), (str(target.address), target.port))]
        else:
            sockaddrs = self.resolve(target.host, target.port)
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        for family, sockaddr in sockaddrs:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            conn = _connection(target, family, sockaddr, remaining)
            try:
                try:
                    conn.connect()
                except OSError as exc:  # try the next vetted address, as create_connection would
                    last_error = exc
                    continue
                return _exchange(conn, target, body, headers, deadline, max_response_bytes, sockaddr[0], method)
            except (OSError, http.client.HTTPException) as exc:
                raise OutboundError("timed out" if time.monotonic() >= deadline else _describe(exc)) from None
            finally:
                conn.close()
        if last_error is None:
            raise OutboundError("timed out" if time.monotonic() >= deadline else "no address to connect to")
        raise OutboundError(_describe(last_error))


def _cut(sock: socket.socket, fired: threading.Event) -> None:
    """Watchdog: end a blocked read at the deadline (the base-class shutdown also suits TLS sockets)."""
    fired.set()
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return (str(exc) or exc.__class__.__name__)[:300]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an already vetted socket address; never resolves the host again."""

    def __init__(self, target: VettedTarget, family: int, sockaddr: tuple[Any, ...], timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._family = family
        self._sockaddr = sockaddr

    def _open_socket(self) -> socket.socket:
        # Not socket.create_connection: it would call getaddrinfo again.
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._sockaddr)
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def connect(self) -> None:
        self.sock = self._open_socket()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """TLS to the vetted address, with SNI and certificate verification against the host name."""

    def __init__(
        self, target: VettedTarget, family: int, sockaddr: tuple[Any, ...], timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(target, family, sockaddr, timeout)
        self._context = context

    def connect(self) -> None:
        sock = self._open_socket()
        try:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


#: Tests may swap the TLS context factory (e.g. to trust a local test CA).
ssl_context_factory: Callable[[], ssl.SSLContext] = ssl.create_default_context


def _connection(target: VettedTarget, family: int, sockaddr: tuple[Any, ...], timeout: float) -> _PinnedHTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target, family, sockaddr, timeout, context=ssl_context_factory())
    return _PinnedHTTPConnection(target, family, sockaddr, timeout)


def _exchange(
    conn: _PinnedHTTPConnection,
    target: VettedTarget,
    body: bytes,
    headers: Mapping[str, str],
    deadline: float,
    max_response_bytes: int,
    address: str,
    method: str = "POST",
) -> OutboundResult:
    """Send the request and read at most ``max_response_bytes`` of the answer before ``deadline``."""
    sock = conn.sock
    assert sock is not None
    # Socket timeouts bound each operation; the watchdog bounds the whole exchange.
    fired = threading.Event()
    watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), _cut, (sock, fired))
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.putrequest(method, target.target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", target.host_header)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Connection", "close")
        conn.endheaders(body)
        response = conn.getresponse()
        if fired.is_set():  # the headers were cut short: no answer to speak of
            raise OutboundError("timed out")
        chunks: list[bytes] = []
        size = 0
        while size < max_response_bytes and not fired.is_set():
            try:
                chunk = response.read1(max_response_bytes - size)
            except (OSError, http.client.HTTPException):
                if not fired.is_set():
                    raise
                break  # cut off at the deadline: keep the status and what arrived
            if not chunk or fired.is_set():
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        watchdog.cancel()
    return OutboundResult(
        status=response.status,
        body=b"".join(chunks),
        location=response.getheader("Location", "") or "",
        address=address,
        truncated=size >= max_response_bytes,
        headers=[(str(name), str(value)) for name, value in response.getheaders()],
    )


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address maps or translates to (v4-mapped, 6to4, NAT64), if any."""
    if address.version != 6:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse_ipv4_like(host: str) -> ipaddress.IPv4Address:
    """Parse an IPv4 host the way ``inet_aton`` (and so ``getaddrinfo``) does.

    1–4 parts, each decimal, octal (leading 0) or hex (0x); the last part fills the
    remaining bytes: ``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1`` are all 127.0.0.1.
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        raise OutboundRefused(f"“{host}” is not a valid IPv4 address")
    values: list[int] = []
    for part in parts:
        if not _NUMERIC_PART.match(part):
            raise OutboundRefused(f"“{host}” is not a valid IPv4 address")
        try:
            if part.startswith("0x"):
                values.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            else:
                values.append(int(part))
        except ValueError:
            raise OutboundRefused(f"“{host}” is not a valid IPv4 address") from None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        raise OutboundRefused(f"“{host}” is not a valid IPv4 address")
    number = last
    for index, value in enumerate(head):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    """CIDRs from a setting; a bad entry raises ValueError naming it."""
    networks = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not a network (use CIDR notation, e.g. 10.20.0.0/16)") from None
    return networks


# --- The policy configured in settings ----------------------------------------------------


def policy() -> OutboundPolicy:
    """The policy from ``OUTBOUND_ALLOWED_NETWORKS`` and ``OUTBOUND_ALLOW_PRIVATE_TARGETS``."""
    from django.conf import settings

    return OutboundPolicy.build(
        getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ()),
        allow_private=getattr(settings, "OUTBOUND_ALLOW_PRIVATE_TARGETS", False),
    )


def check_url(url: str) -> VettedTarget:
    """Save-time check of ``url`` under the configured policy (raises :class:`OutboundRefused`)."""
    return policy().check_url(url)


def request(
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> OutboundResult:
    """Send under the configured policy with any method; see :meth:`OutboundPolicy.request`."""
    return policy().request(method, url, body, headers, timeout=timeout, max_response_bytes=max_response_bytes)


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> OutboundResult:
    """Send under the configured policy; see :meth:`OutboundPolicy.post`."""
    return policy().post(url, body, headers, timeout=timeout, max_response_bytes=max_response_bytes)


__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "OutboundError",
    "OutboundPolicy",
    "OutboundRefused",
    "OutboundResult",
    "VettedTarget",
    "check_url",
    "embedded_ipv4",
    "parse_ipv4_like",
    "policy",
    "post",
    "request",
]
