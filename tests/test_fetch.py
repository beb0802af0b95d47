"""Tests for bot.core.fetch: the SSRF-safe URL fetcher.

Everything here stays on loopback. Two autouse fixtures make that a guarantee rather than a hope:
``fake_dns`` replaces the fetcher's DNS lookup (no query ever leaves the machine) and ``connect_log``
records every ``connect()`` the event loop makes, blocking and failing the test on any non-loopback
address. Servers count accepted TCP connections, so "refused before connecting" is checked on both ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import string
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core import fetch
from bot.core.fetch import FetchedPage, FetchError, FetchPolicy, check_address, fetch_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

UNSAFE = FetchPolicy(allow_private_addresses=True)  # only for happy paths against our own servers
HTML = "<html><head><title>Hi</title></head><body><p>Héllo, world.</p></body></html>"


# --------------------------------------------------------------------------------------------------------
# Guard rails


@dataclass
class ConnectLog:
    addresses: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    hang: bool = False  # make every connect() hang, to test the connect timeout


@pytest.fixture(autouse=True)
def connect_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectLog]:
    """Record every outgoing connect(); refuse and report any that is not to loopback."""
    log = ConnectLog()
    original = asyncio.selector_events.BaseSelectorEventLoop.sock_connect

    async def sock_connect(loop: Any, sock: socket.socket, address: Any) -> None:
        host = address[0]
        log.addresses.append(host)
        if not ipaddress.ip_address(host).is_loopback:
            log.violations.append(host)
            raise OSError(f"test tripwire: connect to non-loopback {host} blocked")
        if log.hang:
            await asyncio.sleep(3600)
        await original(loop, sock, address)

    monkeypatch.setattr(asyncio.selector_events.BaseSelectorEventLoop, "sock_connect", sock_connect)
    yield log
    assert not log.violations, f"the fetcher tried to connect to non-loopback addresses: {log.violations}"


@dataclass
class FakeDNS:
    records: dict[str, list[str]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    delay: float = 0.0

    async def lookup(self, host: str, port: int) -> list[IPAddress]:
        self.queries.append(host)
        if self.delay:
            await asyncio.sleep(self.delay)
        try:
            return [ipaddress.ip_address(a) for a in self.records[host]]
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    """Replace the real getaddrinfo-based lookup: tests must not send DNS queries anywhere."""
    dns = FakeDNS()
    monkeypatch.setattr(fetch, "_lookup", dns.lookup)
    return dns


# --------------------------------------------------------------------------------------------------------
# A local test server


@dataclass
class Server:
    host: str
    port: int
    connections: int = 0  # TCP connections accepted, counted before any HTTP is parsed
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)

    def url(self, path: str = "/page", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"


async def _stream(request: web.Request, total: int, *, declared: int | None = None) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/html"})
    if declared is not None:
        resp.content_length = declared
    await resp.prepare(request)
    chunk = b"x" * 65536
    sent = 0
    while sent < total:
        await resp.write(chunk)
        sent += len(chunk)
    if declared is not None:
        await asyncio.sleep(30)  # never finish: the client must give up on the header alone
    return resp


def _app(server: Server) -> web.Application:
    @web.middleware
    async def record(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        server.requests.append((request.path, request.headers.get("Host", "")))
        return await handler(request)

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=HTML, content_type="text/html", charset="utf-8")

    async def text(_: web.Request) -> web.Response:
        return web.Response(body="plain café".encode("latin-1"), content_type="text/plain", charset="latin-1")

    async def pdf(_: web.Request) -> web.Response:
        return web.Response(body=b"%PDF-1.4", content_type="application/pdf")

    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"y" * int(request.match_info["n"]), content_type="text/plain")

    async def huge(request: web.Request) -> web.StreamResponse:
        return await _stream(request, 10 * 1024 * 1024)

    async def declared_huge(request: web.Request) -> web.StreamResponse:
        return await _stream(request, 65536, declared=10**9)

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="too late")

    async def chain(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(text=HTML, content_type="text/html")
        raise web.HTTPFound(f"../chain/{n - 1}")  # relative, to exercise Location resolution

    async def to(request: web.Request) -> web.Response:
        # The header as given, unparsed: aiohttp's HTTPFound would parse (and choke on) a malformed one.
        return web.Response(status=302, headers={"Location": request.query["location"]})

    async def no_location(_: web.Request) -> web.Response:
        return web.Response(status=302)

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="nope")

    async def echo_host(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("Host", ""), content_type="text/plain")

    app = web.Application(middlewares=[record])
    app.add_routes(
        [
            web.get("/page", page),
            web.get("/text", text),
            web.get("/pdf", pdf),
            web.get("/sized/{n}", sized),
            web.get("/huge", huge),
            web.get("/declared-huge", declared_huge),
            web.get("/slow", slow),
            web.get("/chain/{n}", chain),
            web.get("/to", to),
            web.get("/no-location", no_location),
            web.get("/status/{code}", status),
            web.get("/echo-host", echo_host),
        ]
    )
    return app


async def _start(host: str) -> AsyncIterator[Server]:
    server = Server(host=host, port=0)
    # handler_cancellation: handlers of clients that gave up (slow, huge) stop instead of lingering.
    runner = web.AppRunner(_app(server), handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    protocol_factory = runner.server
    assert protocol_factory is not None

    def counting_factory() -> Any:
        server.connections += 1
        return protocol_factory()

    listener = await asyncio.get_running_loop().create_server(counting_factory, host, 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        await protocol_factory.shutdown(0.1)
        await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async for s in _start("127.0.0.1"):
        yield s


# 127.0.0.0/8 all routes to lo on Linux: a second loopback address stands in for "a public site".
FIRST_HOP = ipaddress.IPv4Address("127.0.0.2")


@pytest.fixture
async def first_hop(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    """A server on 127.0.0.2 that the fetcher treats as public; everything else is checked for real.

    This is how a redirect from an allowed site to a private address is tested without the network:
    only FIRST_HOP is exempted, so a redirect to 127.0.0.1 meets the real check_address.
    """
    real_check = fetch.check_address

    def check_exempting_first_hop(ip: IPAddress) -> None:
        if ip != FIRST_HOP:
            real_check(ip)

    monkeypatch.setattr(fetch, "check_address", check_exempting_first_hop)
    try:
        async for s in _start(str(FIRST_HOP)):
            yield s
    except OSError as exc:  # pragma: no cover - only on systems without the 127/8 route
        pytest.skip(f"cannot bind {FIRST_HOP}: {exc}")


# --------------------------------------------------------------------------------------------------------
# check_address


REFUSED_ADDRESSES = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "0.0.0.0": "unspecified",
    "169.254.169.254": "cloud metadata",
    "169.254.1.1": "link-local",
    "10.0.0.1": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "shared address space",
    "224.0.0.1": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "broadcast",
    "192.0.2.1": "private",  # TEST-NET-1 documentation range
    "::": "unspecified",
    "::1": "loopback",
    "fe80::1": "link-local",
    "fec0::1": "site-local",
    "fc00::1": "unique local",
    "fd12:3456::1": "unique local",
    "ff02::1": "multicast",
    "::ffff:10.0.0.1": "IPv4-mapped form of 10.0.0.1",
    "::ffff:127.0.0.1": "IPv4-mapped form of 127.0.0.1",
    "::ffff:169.254.169.254": "cloud metadata",
    "2002:7f00:1::": "6to4 address embedding 127.0.0.1",
    "2002:a9fe:a9fe::1": "6to4 address embedding 169.254.169.254",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "Teredo",
    "2001:db8::1": "private",  # documentation range
    "64:ff9b::7f00:1": "reserved",  # NAT64 of 127.0.0.1
}


@pytest.mark.parametrize(("address", "why"), REFUSED_ADDRESSES.items())
def test_check_address_refuses_non_public(address: str, why: str) -> None:
    with pytest.raises(FetchError) as info:
        check_address(ipaddress.ip_address(address))
    message = str(info.value)
    assert why in message
    assert "only public web addresses can be fetched" in message


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.216.34"])
def test_check_address_allows_public(address: str) -> None:
    check_address(ipaddress.ip_address(address))  # never connected to: check only


@given(st.ip_addresses(v=4))
def test_check_address_mapped_v6_judged_like_its_v4(ip: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    assert (fetch._address_problem(ip) is None) == (fetch._address_problem(mapped) is None)


@given(st.ip_addresses())
def test_check_address_only_passes_global_unicast(ip: IPAddress) -> None:
    try:
        check_address(ip)
    except FetchError:
        return
    assert ip.is_global and not ip.is_multicast and not ip.is_loopback and not ip.is_link_local


# --------------------------------------------------------------------------------------------------------
# URL spellings of this machine: all refused before any connection


LOOPBACK_SPELLINGS = [
    ("localhost", "this machine"),
    ("LOCALHOST", "this machine"),
    ("foo.localhost", "this machine"),
    ("127.0.0.1", "loopback"),
    ("127.1", "loopback"),
    ("0x7f000001", "loopback"),
    ("0x7F.0.0.1", "loopback"),
    ("2130706433", "loopback"),
    ("017700000001", "loopback"),
    ("0177.0.0.1", "loopback"),
    ("127.0.0.1.", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified"),
    ("[::1]", "loopback"),
    ("[::ffff:127.0.0.1]", "loopback"),
    ("[::ffff:7f00:1]", "loopback"),
    ("[::]", "unspecified"),
]


@pytest.mark.parametrize(("host", "why"), LOOPBACK_SPELLINGS)
async def test_loopback_spellings_refused_without_connecting(
    host: str, why: str, server: Server, connect_log: ConnectLog, fake_dns: FakeDNS
) -> None:
    with pytest.raises(FetchError) as info:
        await fetch_url(server.url("/page", host=host))
    assert str(info.value).startswith("Refused http://")
    assert why in str(info.value)
    assert server.connections == 0
    assert connect_log.addresses == []
    assert fake_dns.queries == []  # literals and localhost are refused without asking any resolver


def test_refusal_message_format() -> None:
    with pytest.raises(FetchError) as info:
        asyncio.run(fetch_url("http://127.0.0.1/"))
    assert str(info.value) == (
        "Refused http://127.0.0.1/: 127.0.0.1 is a loopback address; only public web addresses can be fetched."
    )


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://news.example/a?utm_source=newsletter&utm_medium=email", "https://news.example/a"),
        ("https://news.example/a?id=5&UTM_Campaign=x&fbclid=IwAR0#comments", "https://news.example/a?id=5"),
        ("https://news.example/a?utm%5Fsource=x&q=a%20b", "https://news.example/a?q=a%20b"),
        ("https://news.example/a#top", "https://news.example/a"),
        ("https://news.example/a?page=2&ref=home", "https://news.example/a?page=2&ref=home"),
        ("https://news.example/a?", "https://news.example/a"),
    ],
)
def test_page_address_drops_the_fragment_and_tracking_parameters(url: str, address: str) -> None:
    assert fetch.page_address(url) == address


@given(st.lists(st.sampled_from(["id=1", "utm_source=x", "page=2", "gclid=3", "q=a%20b", "", "x"]), max_size=6))
def test_page_address_keeps_the_other_parameters_in_order(parameters: list[str]) -> None:
    url = "https://news.example/story?" + "&".join(parameters)
    kept = [p for p in parameters if p and p not in ("utm_source=x", "gclid=3")]
    address = fetch.page_address(url)
    assert address == "https://news.example/story" + ("?" + "&".join(kept) if kept else "")
    assert fetch.page_address(address) == address


async def test_a_fetched_page_is_stored_under_its_clean_address(server: Server) -> None:
    page = await fetch_url(server.url("/page") + "?utm_source=newsletter#comments", UNSAFE)
    assert page.url == server.url("/page") and page.body.decode() == HTML


async def test_same_server_is_reachable_when_unsafe(server: Server) -> None:
    # Control for the test above: the zero-connection result is not because the server is unreachable.
    for host, why in LOOPBACK_SPELLINGS:
        if why != "loopback" or host.startswith("["):
            continue  # names need DNS, no IPv6 listener, and the tripwire only lets loopback through
        page = await fetch_url(server.url("/page", host=host), UNSAFE)
        assert page.body.decode() == HTML
    assert server.connections > 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://example.com/file", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("example.com/news", "must start with http:// or https://"),
        ("//example.com/news", "must start with http:// or https://"),
        ("http://user:pass@example.com/", "user name or password"),
        ("http://user@example.com/", "user name or password"),
        ("http://:@example.com/", "user name or password"),
        ("http:///path", "no host name"),
        ("http://example.com:99999/", "not a valid web address"),
        ("http://example.com:0/", "port 0"),
        ("http://[::1/", "not a valid web address"),
        ("http://exa mple.com/", "not a valid host name"),
        ("http://ex%61mple.com/", "not a valid host name"),
        ("http://999.1.1.1/", "not a valid one"),
        ("http://1.2.3.4.5/", "not a valid one"),
        ("http://0x/", "not a valid one"),
        ("http://[fe80::1%25eth0]/", "zone index"),
        ("http://[::ffff:1.2.3.4%25x]/", "zone index"),
        ("http://example.123/", "not a valid one"),
    ],
)
async def test_invalid_urls_refused_before_resolving(url: str, expected: str, fake_dns: FakeDNS) -> None:
    with pytest.raises(FetchError) as info:
        await fetch_url(url)
    assert expected in str(info.value)
    assert fake_dns.queries == []


# --------------------------------------------------------------------------------------------------------
# Host names: resolved once, every address checked, connection pinned to the checked addresses


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.0.0.1"],
        ["169.254.169.254"],
        ["::ffff:127.0.0.1"],
        ["93.184.216.34", "127.0.0.1"],  # one bad address refuses: never "pick the good one"
        ["2606:4700::1111", "fe80::1"],
    ],
)
async def test_names_resolving_to_non_public_addresses_refused(
    addresses: list[str], server: Server, connect_log: ConnectLog, fake_dns: FakeDNS
) -> None:
    fake_dns.records["news.test"] = addresses
    with pytest.raises(FetchError) as info:
        await fetch_url(server.url("/page", host="news.test"))
    assert "news.test resolves to" in str(info.value)
    assert "only public web addresses can be fetched" in str(info.value)
    assert connect_log.addresses == [] and server.connections == 0


async def test_name_is_resolved_once_and_host_header_kept(server: Server, fake_dns: FakeDNS) -> None:
    fake_dns.records["site.test"] = ["127.0.0.1"]
    page = await fetch_url(server.url("/echo-host", host="site.test"), UNSAFE)
    assert page.body.decode() == f"site.test:{server.port}"  # Host header is the name, not the address
    assert fake_dns.queries == ["site.test"]  # the connector used the pinned result: no second lookup


async def test_unknown_host(fake_dns: FakeDNS) -> None:
    with pytest.raises(FetchError, match=r"Could not find the site nowhere\.test"):
        await fetch_url("http://nowhere.test/")


async def test_dns_timeout(fake_dns: FakeDNS) -> None:
    fake_dns.records["slow.test"] = ["127.0.0.1"]
    fake_dns.delay = 5
    with pytest.raises(FetchError, match="timed out"):
        await fetch_url("http://slow.test/", FetchPolicy(connect_timeout=0.1))


async def test_resolver_checks_hosts_it_was_not_told_about(fake_dns: FakeDNS) -> None:
    # Backstop: if aiohttp ever asked for a spelling admit() did not pin, it is resolved and checked anew.
    fake_dns.records["other.test"] = ["10.1.2.3"]
    guard = fetch._Guard(FetchPolicy())
    with pytest.raises(FetchError, match="private-network"):
        await guard.resolve("other.test", 80)


def test_socket_factory_refuses_private_addresses() -> None:
    guard = fetch._Guard(FetchPolicy())
    addr_info = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80))
    with pytest.raises(OSError, match="loopback"):
        guard.socket_factory(addr_info)
    assert guard.refused_reason is not None
    sock = fetch._Guard(UNSAFE).socket_factory(addr_info)
    sock.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "intranet.test"])
async def test_backstops_hold_when_url_checks_are_bypassed(
    host: str, server: Server, connect_log: ConnectLog, fake_dns: FakeDNS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Defence in depth: with admit() switched off, the resolver (names) and the socket factory
    # (literals) still refuse, before any connect().
    async def no_admit(self: Any, url: Any, shown: str) -> None:
        pass

    monkeypatch.setattr(fetch._Guard, "admit", no_admit)
    fake_dns.records["intranet.test"] = ["127.0.0.1"]
    with pytest.raises(FetchError, match=r"127\.0\.0\.1 is a loopback address"):
        await fetch_url(server.url("/page", host=host))
    assert server.connections == 0
    assert connect_log.addresses == []


# --------------------------------------------------------------------------------------------------------
# Happy paths (unsafe policy: our server is on loopback)


async def test_fetch_html(server: Server) -> None:
    page = await fetch_url(server.url("/page"), UNSAFE)
    assert page == FetchedPage(
        url=server.url("/page"),
        content_type="text/html",
        charset="utf-8",
        body=HTML.encode(),
        addresses=(server.url("/page"),),
    )
    assert server.requests[0][1] == f"127.0.0.1:{server.port}"


async def test_fetch_plain_text_keeps_charset(server: Server) -> None:
    page = await fetch_url(server.url("/text"), UNSAFE)
    assert page.content_type == "text/plain"
    assert page.charset == "latin-1"
    assert page.body.decode(page.charset) == "plain café"


async def test_non_canonical_literal_is_fetched_at_the_checked_address(server: Server) -> None:
    page = await fetch_url(server.url("/page", host="0x7f000001"), UNSAFE)
    assert page.url == server.url("/page")  # rewritten to the canonical address that was checked


async def test_surrounding_whitespace_ignored(server: Server) -> None:
    page = await fetch_url(f"  {server.url('/page')}\n", UNSAFE)
    assert page.url == server.url("/page")


async def test_connection_refused() -> None:
    with socket.socket() as sock:  # a port with nothing listening on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match=r"Could not connect to 127\.0\.0\.1: .*refused"):
        await fetch_url(f"http://127.0.0.1:{port}/", UNSAFE)


async def test_user_agent_sent(server: Server) -> None:
    seen: list[str] = []

    async def ua(request: web.Request) -> web.Response:
        seen.append(request.headers["User-Agent"])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ua)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await fetch_url(f"http://127.0.0.1:{port}/", FetchPolicy(allow_private_addresses=True, user_agent="t/1"))
    finally:
        await runner.cleanup()
    assert seen == ["t/1"]


# --------------------------------------------------------------------------------------------------------
# Content type, status, size, time


async def test_pdf_refused_naming_the_type(server: Server) -> None:
    with pytest.raises(FetchError) as info:
        await fetch_url(server.url("/pdf"), UNSAFE)
    assert "application/pdf" in str(info.value)
    assert "text/html" in str(info.value)


@pytest.mark.parametrize("code", [404, 500, 403])
async def test_http_error_status(code: int, server: Server) -> None:
    with pytest.raises(FetchError, match=f"HTTP {code}"):
        await fetch_url(server.url(f"/status/{code}"), UNSAFE)


async def test_body_exactly_at_limit_accepted(server: Server) -> None:
    page = await fetch_url(server.url("/sized/1000"), FetchPolicy(max_bytes=1000, allow_private_addresses=True))
    assert len(page.body) == 1000


async def test_declared_length_over_limit_refused(server: Server) -> None:
    with pytest.raises(FetchError, match="larger than"):
        await fetch_url(server.url("/sized/1001"), FetchPolicy(max_bytes=1000, allow_private_addresses=True))


async def test_declared_huge_refused_before_reading(server: Server) -> None:
    # The server sends the headers and then stalls: only the Content-Length check can answer quickly.
    started = time.monotonic()
    with pytest.raises(FetchError, match="larger than the 1 MB limit"):
        await fetch_url(server.url("/declared-huge"), FetchPolicy(max_bytes=1024 * 1024, allow_private_addresses=True))
    assert time.monotonic() - started < 2


async def test_streamed_body_capped(server: Server) -> None:
    # Chunked, no Content-Length, 10 MiB on offer: reading stops just past the cap.
    policy = FetchPolicy(max_bytes=200_000, allow_private_addresses=True)
    with pytest.raises(FetchError, match="larger than"):
        await fetch_url(server.url("/huge"), policy)


async def test_slow_server_times_out(server: Server) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0\.3 s"):
        await fetch_url(server.url("/slow"), FetchPolicy(total_timeout=0.3, allow_private_addresses=True))
    assert time.monotonic() - started < 2


async def test_connect_timeout(server: Server, connect_log: ConnectLog) -> None:
    connect_log.hang = True
    with pytest.raises(FetchError, match=r"Connecting to 127\.0\.0\.1 timed out"):
        await fetch_url(server.url("/page"), FetchPolicy(connect_timeout=0.2, allow_private_addresses=True))


# --------------------------------------------------------------------------------------------------------
# Redirects


async def test_five_redirects_followed(server: Server) -> None:
    page = await fetch_url(server.url("/chain/5?utm_source=feed"), UNSAFE)
    assert page.url == server.url("/chain/0")
    # Every address it went through, as the page's own (an earlier add of any of them is this page's earlier version)
    assert page.addresses == tuple(server.url(f"/chain/{n}") for n in range(5, -1, -1))
    assert page.body.decode() == HTML


async def test_six_redirects_refused(server: Server) -> None:
    with pytest.raises(FetchError, match="more than 5 redirects"):
        await fetch_url(server.url("/chain/6"), UNSAFE)
    # /chain/6 .. /chain/1 were requested; the seventh URL, /chain/0, never was.
    assert [path for path, _ in server.requests] == [f"/chain/{n}" for n in range(6, 0, -1)]


async def test_redirect_limit_is_configurable(server: Server) -> None:
    with pytest.raises(FetchError, match="more than 0 redirects"):
        await fetch_url(server.url("/chain/1"), FetchPolicy(max_redirects=0, allow_private_addresses=True))


async def test_redirect_without_location(server: Server) -> None:
    with pytest.raises(FetchError, match="without saying where"):
        await fetch_url(server.url("/no-location"), UNSAFE)


async def test_redirect_to_a_malformed_address_refused(server: Server) -> None:
    with pytest.raises(FetchError, match="redirects to an invalid address"):
        await fetch_url(server.url("/to?location=0://[]@"), UNSAFE)


async def test_redirect_to_other_scheme_refused(server: Server) -> None:
    with pytest.raises(FetchError, match=r"Refused file:///etc/passwd \(redirected from"):
        await fetch_url(server.url("/to?location=file:///etc/passwd"), UNSAFE)


@pytest.mark.parametrize(
    "target_host",
    ["127.0.0.1", "localhost", "0x7f000001", "2130706433", "[::ffff:127.0.0.1]", "intranet.test"],
)
async def test_redirect_to_private_address_refused_and_never_connected(
    target_host: str, first_hop: Server, server: Server, connect_log: ConnectLog, fake_dns: FakeDNS
) -> None:
    fake_dns.records["intranet.test"] = ["127.0.0.1"]
    target = server.url("/page", host=target_host)
    with pytest.raises(FetchError) as info:
        await fetch_url(first_hop.url(f"/to?location={target}"))
    message = str(info.value)
    assert message.startswith("Refused http://")
    assert f"(redirected from {first_hop.url('/to')}" in message
    assert "only public web addresses can be fetched" in message
    assert first_hop.connections == 1
    assert server.connections == 0  # the private target was never connected to...
    assert set(connect_log.addresses) == {str(FIRST_HOP)}  # ...nor even attempted


async def test_redirect_to_metadata_service_refused(first_hop: Server, connect_log: ConnectLog) -> None:
    with pytest.raises(FetchError, match="cloud metadata"):
        await fetch_url(first_hop.url("/to?location=http://169.254.169.254/latest/meta-data/"))
    assert set(connect_log.addresses) == {str(FIRST_HOP)}


async def test_redirect_to_victim_works_when_unsafe(first_hop: Server, server: Server) -> None:
    # Control for the test above: the victim is reachable, so its zero connection count means something.
    page = await fetch_url(first_hop.url(f"/to?location={server.url('/page')}"), UNSAFE)
    assert page.url == server.url("/page")
    assert server.connections == 1


async def test_first_hop_is_fetchable_under_default_policy(first_hop: Server) -> None:
    page = await fetch_url(first_hop.url("/page"))  # the default policy, with only FIRST_HOP exempted
    assert page.content_type == "text/html"


# --------------------------------------------------------------------------------------------------------
# Configuration


@pytest.mark.parametrize(
    "kwargs", [{"max_bytes": 0}, {"connect_timeout": 0}, {"total_timeout": -1}, {"max_redirects": -1}]
)
def test_policy_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FetchPolicy(**kwargs)


# --------------------------------------------------------------------------------------------------------
# Properties: parsing never crashes with anything but FetchError, and never reaches the network


def _refuse_everything(ip: IPAddress) -> None:
    fetch._address_problem(ip)  # still exercise the real classification
    raise FetchError(f"{ip}: test refuses every address")


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?"
_hosts = st.one_of(
    st.from_regex(rf"{_LABEL}(?:\.{_LABEL}){{0,3}}\.?", fullmatch=True),
    st.ip_addresses().map(lambda ip: f"[{ip}]" if ip.version == 6 else str(ip)),
    st.integers(min_value=0, max_value=2**33).flatmap(lambda n: st.sampled_from([str(n), hex(n), f"0{n:o}"])),
    st.text(string.ascii_letters + string.digits + ".-_%:[]@x", max_size=30),
    st.just("localhost"),
)
# Mostly well-formed, so that most examples get past parsing into resolution and the address checks.
_url_like = st.builds(
    lambda scheme, userinfo, host, port, path: f"{scheme}//{userinfo}{host}{port}{path}",
    st.sampled_from(["http:", "https:", "http:", "https:", "HTTP:", "ftp:", "", "http:/", "javascript:"]),
    st.sampled_from(["", "", "", "u@", "u:p@", ":@", "@"]),
    _hosts,
    st.sampled_from(["", "", ":8080", ":0", ":65536", ":x", ":"]),
    st.one_of(st.just(""), st.text(max_size=20).map(lambda path: "/" + path), st.text(max_size=10)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=80), _url_like))
@example("0://[]@")  # yarl itself raised IndexError on it
async def test_fetch_url_only_raises_fetch_error(url: str) -> None:
    # Names "resolve" to loopback and every address is refused, so nothing can be connected to.
    async def loopback_dns(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.IPv4Address("127.0.0.1")]

    with (
        mock.patch.object(fetch, "_lookup", loopback_dns),
        mock.patch.object(fetch, "check_address", _refuse_everything),
        pytest.raises(FetchError) as info,
    ):
        await fetch_url(url)
    assert str(info.value)


@given(st.text("0123456789abcdefxX.", min_size=1, max_size=20))
def test_numeric_hosts_never_read_differently_from_inet_aton(host: str) -> None:
    # Whatever the C library would take as an IPv4 address, we either read the same way or refuse.
    try:
        expected = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return
    with contextlib.suppress(FetchError):
        assert fetch._ip_literal(host.lower()) == expected
