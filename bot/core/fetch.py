"""Fetch a web page for a moderator without letting the URL be turned against the host (SSRF).

A moderator pastes a URL; the bot fetches it from inside whatever network it runs in. Without care,
``http://169.254.169.254/`` (cloud metadata), ``http://localhost:6379/`` or a public page that redirects
to one of them would make the bot attack its own network. So, for every hop (the first URL and each
redirect):

* only ``http``/``https``, no ``user:pass@``, a syntactically valid host;
* IP literals in any spelling getaddrinfo/inet_aton accepts (``127.1``, ``0x7f000001``, ``2130706433``,
  ``017700000001``, ``[::ffff:127.0.0.1]``, trailing dots) are parsed here and checked, so refusal never
  depends on how a resolver reads them;
* host names are resolved once, *every* address must be public (one bad address refuses the URL), and the
  connection is made only to those checked addresses: a custom aiohttp resolver hands the connector the
  pinned result, so there is no second DNS lookup an attacker could answer differently (DNS rebinding);
* as a last line, the connector's socket factory checks the address it is about to ``connect()`` to;
* redirects are followed by hand and re-checked; body size, content type and time are capped.

Nothing here is Discord-specific; ``str(FetchError)`` is written to be shown to the moderator as is.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import ipaddress
import logging
import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.core.sizes import human_size

__all__ = [
    "FetchError",
    "FetchPolicy",
    "FetchedPage",
    "check_address",
    "fetch_url",
    "page_address",
]

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ENV_MAX_FETCH_BYTES = "CITEBOT_MAX_FETCH_BYTES"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK_SIZE = 64 * 1024
_MAX_SHOWN_URL = 100  # keep user-facing messages readable (and their reason shown) when someone pastes a novel

_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_CLOUD_METADATA = ipaddress.IPv4Address("169.254.169.254")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")

# A host name: LDH labels (underscore tolerated, some real hosts use it), optional trailing dot.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}\.?$){_LABEL}(?:\.{_LABEL})*\.?$")
# WHATWG URL "ends in a number": such a host is an IPv4 address or invalid, never a DNS name.
_NUMERIC_LABEL_RE = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_IPV4_PART_RE = re.compile(r"^(?:0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$", re.IGNORECASE)


# Query parameters that say how a reader reached a page (a campaign, a click), not which page it is.
_TRACKING_PARAMETERS = frozenset(
    [
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
    ]
)


def _tracks(parameter: str) -> bool:
    name = unquote(parameter.partition("=")[0]).lower()
    return name.startswith("utm_") or name in _TRACKING_PARAMETERS


def page_address(url: str) -> str:
    """``url`` as the page it names: without the fragment (never sent to the server) and without tracking
    parameters (``utm_*``, click ids). The same article shared from a newsletter and from a browser is one page:
    cited by one clean link, and a second add replaces the first instead of standing beside it."""
    base, _, query = url.partition("#")[0].partition("?")
    kept = [parameter for parameter in query.split("&") if parameter and not _tracks(parameter)]
    return f"{base}?{'&'.join(kept)}" if kept else base


class FetchError(Exception):
    """A URL could not or must not be fetched. ``str(e)`` is a user-facing message saying what was
    refused and why, or what to do about it."""


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str  # the final URL, after redirects, as page_address gives it
    content_type: str  # e.g. "text/html", without parameters
    charset: str | None  # from the Content-Type header, if the server sent one
    body: bytes
    # Every address the fetch went through, as page_address gives them: the one asked for, each redirect, and
    # ``url`` last. A page that moved (a new slug for a new headline) redirects from where it was added before.
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits for one fetch.

    ``allow_private_addresses`` is UNSAFE and exists for tests only: it switches off the address checks,
    letting the fetcher reach loopback, private-network, link-local (cloud metadata!) addresses. Never
    enable it in a deployed bot. Scheme, userinfo and host-syntax checks still apply.
    """

    max_bytes: int = 5 * 1024 * 1024
    connect_timeout: float = 5.0  # per connection attempt, and for each DNS lookup
    total_timeout: float = 20.0  # the whole fetch, redirects and body included
    max_redirects: int = 5
    allowed_content_types: frozenset[str] = field(
        default=frozenset({"text/html", "application/xhtml+xml", "text/plain"})
    )
    allow_private_addresses: bool = False  # UNSAFE, tests only; see the class docstring
    user_agent: str = "citebot/0.1 (+https://github.com/citebot)"

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if self.connect_timeout <= 0 or self.total_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")


_DEFAULT_POLICY = FetchPolicy()


# --------------------------------------------------------------------------------------------------------
# Address checks


def _address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address (a phrase following "<ip> is"), or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that embed an IPv4 address reach that IPv4 host: judge the embedded one.
        mapped = ip.ipv4_mapped
        if mapped is not None:
            inner = _address_problem(mapped)
            return None if inner is None else f"an IPv4-mapped form of {mapped}, which is {inner}"
        embedded = ip.sixtofour
        if embedded is not None:
            inner = _address_problem(embedded)
            if inner is not None:
                return f"a 6to4 address embedding {embedded}, which is {inner}"
        if ip.teredo is not None:
            return "a Teredo tunnel address"
        if ip.is_site_local:  # fec0::/10, deprecated but Python still calls it global
            return "a site-local address"
    if ip.is_unspecified:
        return "the unspecified address (it means this machine)"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        if ip == _CLOUD_METADATA:
            return "a link-local address (the cloud metadata service)"
        return "a link-local address"
    if ip.is_multicast:  # Python calls 224.0.0.0/4 global; it is not a web server
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in _SHARED_ADDRESS_SPACE:
            return "in the shared address space (carrier-grade NAT)"
        if ip == _BROADCAST:
            return "the broadcast address"
    elif ip in _UNIQUE_LOCAL:
        return "a unique local (private) IPv6 address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private-network address"
    if not ip.is_global:
        return "a special-purpose address, not a public one"
    return None


def check_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Raise FetchError unless ``ip`` is a public unicast address a web page may be fetched from."""
    problem = _address_problem(ip)
    if problem is not None:
        raise FetchError(f"{ip} is {problem}; only public web addresses can be fetched.")


def _parse_ipv4_number(host: str) -> ipaddress.IPv4Address | None:
    """Parse the inet_aton spellings (1–4 parts, each decimal, 0-octal or 0x-hex), or None."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART_RE.match(p) for p in parts):
        return None
    values = [int(p, 16) if p[:2].lower() == "0x" else int(p, 8) if p.startswith("0") else int(p) for p in parts]
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for i, v in enumerate(leading):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def _ip_literal(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, if it is an IP literal in any accepted spelling.

    ``host`` is yarl's decoded, lower-cased host (IPv6 without brackets). Raises FetchError for hosts
    that look numeric but are not valid addresses, rather than letting a resolver guess.
    """
    if ":" in host:
        try:
            ip = ipaddress.IPv6Address(host)
        except ValueError:
            raise FetchError(f"{host} is not a valid IPv6 address.") from None
        if ip.scope_id:  # "%eth0" picks a local interface: never meaningful for a public site
            raise FetchError(f"{host} names a local network interface (a zone index); that is not accepted.")
        return ip
    bare = host.rstrip(".")
    last_label = bare.rsplit(".", 1)[-1]
    if not _NUMERIC_LABEL_RE.match(last_label):
        return None
    ipv4 = _parse_ipv4_number(bare)
    if ipv4 is None:
        raise FetchError(f"{host} looks like an IP address but is not a valid one.")
    return ipv4


def _is_localhost_name(host: str) -> bool:
    # RFC 6761: "localhost" and its subdomains are this machine, whatever DNS says.
    bare = host.rstrip(".")
    return bare == "localhost" or bare.endswith(".localhost")


# --------------------------------------------------------------------------------------------------------
# URL checks


def _show(url: str | URL) -> str:
    text = str(url)
    return text if len(text) <= _MAX_SHOWN_URL else text[: _MAX_SHOWN_URL - 1] + "…"


def _check_url(url: URL, shown: str) -> URL:
    """Check the parts of ``url`` that need no network; return it with its host made canonical."""
    refused = f"Refused {shown}"
    if not url.scheme:
        raise FetchError(f"{refused}: that is not a full web address; it must start with http:// or https://.")
    if url.scheme not in ("http", "https"):
        raise FetchError(f"{refused}: only http:// and https:// addresses can be fetched, not {url.scheme}:.")
    if url.raw_user is not None or url.raw_password is not None:
        raise FetchError(
            f"{refused}: web addresses with a user name or password (user:pass@host) are not accepted; "
            "remove that part and try again."
        )
    host = url.host
    if not host:
        raise FetchError(f"{refused}: the address has no host name.")
    if url.port == 0:
        raise FetchError(f"{refused}: port 0 is not a valid port.")
    try:
        ip = _ip_literal(host)
    except FetchError as exc:
        raise FetchError(f"{refused}: {exc}") from None
    if ip is None:
        if not _HOSTNAME_RE.match(url.raw_host or ""):  # raw_host: the IDNA (ASCII) form aiohttp uses
            raise FetchError(f"{refused}: {host!r} is not a valid host name.")
        return url
    # Connect to exactly the address we check: rewrite "127.1", "0x7f000001"... to the canonical form
    # instead of trusting aiohttp and the OS to read them the way we did.
    canonical = str(ip)
    if url.host != canonical:
        try:
            url = url.with_host(canonical)
        except ValueError as exc:  # not expected: canonical forms are valid hosts
            raise FetchError(f"{refused}: it is not a valid web address ({exc}).") from None
    return url


def _parse_url(raw: str, shown: str) -> URL:
    try:
        url = URL(raw)
    except (ValueError, TypeError, IndexError) as exc:  # yarl raises IndexError on "0://[]@"
        raise FetchError(f"Refused {shown}: it is not a valid web address ({exc}).") from None
    return _check_url(url, shown)


# --------------------------------------------------------------------------------------------------------
# Resolution and connection


async def _lookup(host: str, port: int) -> list[IPAddress]:
    """All addresses ``host`` resolves to (a seam: tests replace it so that no DNS query leaves)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: dict[IPAddress, None] = {}
    for family, _type, _proto, _canon, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            found[ipaddress.ip_address(sockaddr[0])] = None
    return list(found)


class _Guard(AbstractResolver):
    """Per-fetch resolver and socket factory: the connector can only reach addresses checked here."""

    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._pinned: dict[str, list[IPAddress]] = {}
        self.refused_reason: str | None = None  # set when the connect()-time backstop refused

    def _check(self, ip: IPAddress, refused: str, via: str | None = None) -> None:
        if self._policy.allow_private_addresses:
            return
        try:
            check_address(ip)
        except FetchError as exc:
            resolves = f"{via} resolves to {ip}, and " if via is not None else ""
            raise FetchError(f"{refused}: {resolves}{exc}") from None

    async def _resolve_checked(self, host: str, port: int, refused: str) -> list[IPAddress]:
        try:
            async with asyncio.timeout(self._policy.connect_timeout):
                addresses = await _lookup(host, port)
        except TimeoutError:
            raise FetchError(
                f"Looking up {host} timed out after {self._policy.connect_timeout:g} s; try again later."
            ) from None
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise FetchError(_not_found(host)) from exc
        if not addresses:
            raise FetchError(_not_found(host))
        for ip in addresses:  # every address must pass: the OS may pick any of them
            self._check(ip, refused, via=host)
        return addresses

    async def admit(self, url: URL, shown: str) -> None:
        """Refuse ``url`` unless its host is (or resolves only to) allowed addresses; pin what was checked."""
        refused = f"Refused {shown}"
        host = url.host
        assert host is not None  # _check_url guarantees it
        ip = _ip_literal(host)
        if ip is not None:
            self._check(ip, refused)  # the socket factory checks it again at connect()
            return
        if _is_localhost_name(host) and not self._policy.allow_private_addresses:
            raise FetchError(
                f"{refused}: {_show(host)} is a name for this machine (loopback); only public web addresses can be "
                "fetched."
            )
        raw_host = url.raw_host
        assert raw_host is not None
        port = url.port or 0
        self._pinned[raw_host] = await self._resolve_checked(raw_host, port, refused)

    # -- AbstractResolver: what the TCPConnector calls instead of getaddrinfo ---------------------------

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._pinned.get(host)
        if addresses is None:
            # Not admitted under this exact spelling (aiohttp may normalise trailing dots): check afresh.
            addresses = await self._resolve_checked(host, port, f"Refused {_show(host)}")
            self._pinned[host] = addresses
        wanted = {
            socket.AF_INET: ipaddress.IPv4Address,
            socket.AF_INET6: ipaddress.IPv6Address,
        }.get(family, (ipaddress.IPv4Address, ipaddress.IPv6Address))
        flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
        return [
            ResolveResult(
                hostname=host,
                host=str(ip),
                port=port,
                family=socket.AF_INET if ip.version == 4 else socket.AF_INET6,
                proto=socket.IPPROTO_TCP,
                flags=flags,
            )
            for ip in addresses
            if isinstance(ip, wanted)
        ]

    async def close(self) -> None:
        pass

    # -- socket factory: the last check, on the address actually about to be connected to --------------

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _canonname, sockaddr = addr_info
        if not self._policy.allow_private_addresses:
            try:
                check_address(ipaddress.ip_address(sockaddr[0]))
            except FetchError as exc:
                # aiohttp wraps whatever we raise into ClientConnectorError; keep the reason for the user.
                self.refused_reason = str(exc)
                raise OSError(errno.EACCES, str(exc)) from None
        return socket.socket(family=family, type=type_, proto=proto)


# aiohttp >= 3.12 lets us check the address at connect() time; older versions rely on the resolver alone.
_HAS_SOCKET_FACTORY = "socket_factory" in inspect.signature(aiohttp.TCPConnector).parameters


def _connector(guard: _Guard) -> aiohttp.TCPConnector:
    kwargs: dict[str, Any] = {"resolver": guard, "use_dns_cache": False}
    if _HAS_SOCKET_FACTORY:
        kwargs["socket_factory"] = guard.socket_factory
    return aiohttp.TCPConnector(**kwargs)


# --------------------------------------------------------------------------------------------------------
# Fetching


async def _read_page(
    resp: aiohttp.ClientResponse, url: URL, shown: str, policy: FetchPolicy, via: list[str]
) -> FetchedPage:
    if not 200 <= resp.status < 300:
        reason = f" {resp.reason}" if resp.reason else ""
        raise FetchError(f"Could not fetch {shown}: the server answered HTTP {resp.status}{reason}.")
    content_type = resp.content_type.lower()
    if content_type not in policy.allowed_content_types:
        allowed = ", ".join(sorted(policy.allowed_content_types))
        raise FetchError(
            f"Refused {shown}: the server sent {content_type}, not a web page; only {allowed} can be fetched."
        )
    too_big = f"Refused {shown}: the page is larger than the {human_size(policy.max_bytes)} limit ({ENV_MAX_FETCH_BYTES} sets it)."
    if resp.content_length is not None and resp.content_length > policy.max_bytes:
        raise FetchError(too_big)  # say no before downloading anything
    body = bytearray()
    # Content-Length can lie or be absent (chunked, compressed): count what actually arrives.
    async for chunk in resp.content.iter_chunked(_CHUNK_SIZE):
        body += chunk
        if len(body) > policy.max_bytes:
            raise FetchError(too_big)
    address = page_address(str(url))
    return FetchedPage(
        url=address,
        content_type=content_type,
        charset=resp.charset,
        body=bytes(body),
        addresses=tuple(dict.fromkeys([*via, address])),
    )


async def _fetch(raw: str, policy: FetchPolicy, guard: _Guard) -> FetchedPage:
    shown = _show(raw)
    url = _parse_url(raw, shown)
    headers = {
        "User-Agent": policy.user_agent,
        "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1",
    }
    client_timeout = aiohttp.ClientTimeout(
        total=None, connect=policy.connect_timeout, sock_connect=policy.connect_timeout
    )
    first_shown = shown
    redirects = 0
    via: list[str] = []  # the addresses redirected from
    # trust_env=False: an HTTP(S)_PROXY variable must not route around the address checks.
    async with aiohttp.ClientSession(
        connector=_connector(guard), timeout=client_timeout, headers=headers, trust_env=False
    ) as session:
        while True:
            await guard.admit(url, shown)
            try:
                async with session.get(url, allow_redirects=False) as resp:
                    if resp.status not in _REDIRECT_STATUSES:
                        return await _read_page(resp, url, shown, policy, via)
                    location = resp.headers.get("Location")
            except aiohttp.ConnectionTimeoutError:
                raise FetchError(
                    f"Connecting to {url.host} timed out after {policy.connect_timeout:g} s; "
                    "the site may be down. Try again later."
                ) from None
            except aiohttp.ClientConnectorError as exc:
                if guard.refused_reason is not None:
                    raise FetchError(f"Refused {shown}: {guard.refused_reason}") from None
                if isinstance(exc, aiohttp.ClientSSLError):
                    raise FetchError(
                        f"Could not fetch {shown}: its HTTPS certificate or TLS setup was not accepted ({exc})."
                    ) from None
                # The errno's text reads better than aiohappyeyeballs' "Connect call failed (...)".
                os_error = exc.os_error
                detail = os.strerror(os_error.errno) if os_error.errno else "the connection failed"
                raise FetchError(f"Could not connect to {url.host}: {detail}. Check the address.") from None
            except aiohttp.ClientError as exc:
                raise FetchError(f"Could not fetch {shown}: {type(exc).__name__}: {exc}") from None

            if not location:
                raise FetchError(f"Could not fetch {shown}: the server redirected without saying where to.")
            via.append(page_address(str(url)))
            redirects += 1
            try:
                target = url.join(URL(location))
            except (ValueError, TypeError, IndexError):
                raise FetchError(f"Refused {shown}: it redirects to an invalid address.") from None
            target_shown = f"{_show(target)} (redirected from {first_shown})"
            if redirects > policy.max_redirects:
                raise FetchError(
                    f"Refused {target_shown}: more than {policy.max_redirects} redirects; "
                    "link to the final page instead."
                )
            url = _check_url(target, target_shown)
            shown = target_shown


async def fetch_url(url: str, policy: FetchPolicy = _DEFAULT_POLICY) -> FetchedPage:
    """Fetch ``url`` under ``policy``; raise FetchError (with a user-facing message) on any refusal."""
    url = url.strip()
    guard = _Guard(policy)
    try:
        async with asyncio.timeout(policy.total_timeout):
            return await _fetch(url, policy, guard)
    except TimeoutError:
        raise FetchError(
            f"Fetching {_show(url)} timed out after {policy.total_timeout:g} s; "
            "the site may be slow or down. Try again later."
        ) from None


def _not_found(host: str) -> str:
    # A name that does not resolve: a typo, or no network or DNS on this machine (the same error either way).
    return (
        f"Could not find the site {_show(host)}: check the address for typos, and that this machine can reach the web."
    )
