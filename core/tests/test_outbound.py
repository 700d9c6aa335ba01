"""The outbound-request policy (core/outbound.py): every address form, the resolver race,
redirects, the answer cap and TLS to a pinned address, against real local servers."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import override_settings

from core import outbound
from core.outbound import OutboundError, OutboundPolicy, OutboundRefused

STRICT = OutboundPolicy.build()


class Server:
    """A local HTTP(S) server that records requests; ``answer`` writes the response."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        answer: Callable[[BaseHTTPRequestHandler], None] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if answer:
                    answer(self)
                else:
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


def fake_resolver(monkeypatch: pytest.MonkeyPatch, *answers: list[str]) -> list[str]:
    """Make getaddrinfo answer ``answers[0]`` on the first lookup, ``answers[1]`` on the next …"""
    calls: list[str] = []

    def getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list:
        calls.append(host)
        addresses = answers[min(len(calls), len(answers)) - 1]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (a, int(port), 0, 0) if ":" in a else (a, int(port)),
            )
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


# --- Save-time checks: every spelling of a refused address -----------------------------

REFUSED = {
    "http://127.0.0.1/": "loopback",
    "http://127.0.0.1./": "loopback",
    "http://127.1/": "loopback",
    "http://2130706433/": "loopback",
    "http://0x7f000001/": "loopback",
    "http://0x7f.1/": "loopback",
    "http://0177.0.0.1/": "loopback",
    "http://017700000001/": "loopback",
    "http://0x7f.0.0.0x1/": "loopback",
    "http://１２７．０．０．１/": "loopback",  # full-width digits and dots (IDNA maps them)
    "http://127。0。0。1/": "loopback",  # ideographic full stops
    "http://[::1]/": "loopback",
    "http://[0:0:0:0:0:0:0:1]/": "loopback",
    "http://[::ffff:127.0.0.1]/": "embeds 127.0.0.1",
    "http://[::ffff:7f00:1]/": "embeds 127.0.0.1",
    "http://[::ffff:169.254.169.254]/": "embeds 169.254.169.254",
    "http://[::127.0.0.1]/": "IPv4-compatible",
    "http://[2002:7f00:1::]/": "embeds 127.0.0.1",  # 6to4
    "http://[2002:a9fe:a9fe::1]/": "embeds 169.254.169.254",
    "http://[64:ff9b::7f00:1]/": "embeds 127.0.0.1",  # NAT64
    "http://[64:ff9b::10.0.0.1]/": "embeds 10.0.0.1",
    "http://[64:ff9b:1::a00:1]/": "NAT64",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/": "Teredo",
    "http://localhost/": "loopback",
    "http://LOCALHOST./": "loopback",
    "http://api.localhost/": "loopback",
    "http://localhost.localdomain/": "loopback",
    "http://0.0.0.0/": "unspecified",
    "http://0/": "unspecified",
    "http://[::]/": "unspecified",
    "http://10.0.0.1/": "private",
    "http://172.16.5.4/": "private",
    "http://172.31.255.255/": "private",
    "http://192.168.1.1/": "private",
    "http://[fc00::1]/": "private",
    "http://[fd12:3456::1]/": "private",
    "http://100.64.0.1/": "carrier-grade NAT",
    "http://100.127.255.254/": "carrier-grade NAT",
    "http://169.254.169.254/latest/meta-data": "link-local",
    "http://[fe80::1]/": "link-local",
    "http://[fe80::1%25eth0]/": "zone",
    "http://[fec0::1]/": "site-local",
    "http://224.0.0.1/": "multicast",
    "http://239.255.255.250/": "multicast",
    "http://[ff02::1]/": "multicast",
    "http://255.255.255.255/": "broadcast",
    "http://240.0.0.1/": "reserved",
    "http://192.0.0.8/": "reserved",
    "http://198.18.0.1/": "benchmarking",
    "http://198.19.255.1/": "benchmarking",
    "http://192.0.2.1/": "documentation",
    "http://198.51.100.7/": "documentation",
    "http://203.0.113.9/": "documentation",
    "http://[2001:db8::1]/": "documentation",
    "http://[100::1]/": "discard",
    "http://intranet/": "internal host name",
    "http://db.internal/": "internal host name",
    "http://printer.local./": "internal host name",
    "http://router.home.arpa/": "internal host name",
    "http://foo.999/": "not a valid IPv4",
    "http://1.2.3.4.5/": "not a valid",
    "http://256.1.1.1/": "not a valid IPv4",
    "http://08.0.0.1/": "not a valid IPv4",
    "ftp://example.com/": "only http",
    "file:///etc/passwd": "only http",
    "http://user:pw@example.com/": "credentials",
    "http://@example.com/": "credentials",
    "http:///path": "no host",
    "http://exa mple.com/": "not a valid host",
    "http://[::1/": "not valid",
    "https://example.com/" + "a" * 500: "longer than",
}


@pytest.mark.parametrize("url", list(REFUSED))
def test_refused_in_every_form(url: str) -> None:
    with pytest.raises(OutboundRefused) as refused:
        STRICT.check_url(url)
    assert REFUSED[url] in refused.value.reason


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://example.com/hook?x=1", "example.com"),
        ("https://Example.COM./hook", "example.com"),
        ("https://bücher.example/", "xn--bcher-kva.example"),
        ("http://8.8.8.8:8080/", "8.8.8.8"),
        ("http://134744072/", "8.8.8.8"),  # decimal form of a public address is just that address
        ("http://[2606:4700:4700::1111]/", "2606:4700:4700::1111"),
        ("http://[::ffff:8.8.8.8]/", "::ffff:808:808"),
        ("http://[2002:808:808::1]/", "2002:808:808::1"),
        ("http://[64:ff9b::808:808]/", "64:ff9b::808:808"),
        ("https://orders.internal.acme.example/", "orders.internal.acme.example"),
    ],
)
def test_public_targets_pass(url: str, host: str) -> None:
    assert STRICT.check_url(url).host == host


def test_allowed_networks_let_listed_networks_through() -> None:
    policy = OutboundPolicy.build(["10.20.0.0/16", "fd00:1::/48"])
    assert str(policy.check_url("http://10.20.1.2:8080/").address) == "10.20.1.2"
    assert policy.check_url("http://[fd00:1::5]/").address is not None
    assert policy.check_url("http://[::ffff:10.20.1.2]/").address is not None
    assert policy.check_url("http://billing.internal/").host == "billing.internal"  # vetted at connect time
    for url in ("http://10.21.0.1/", "http://127.0.0.1/", "http://169.254.169.254/"):
        with pytest.raises(OutboundRefused):
            policy.check_url(url)


def test_settings_drive_the_policy() -> None:
    with (
        override_settings(OUTBOUND_ALLOWED_NETWORKS=[], OUTBOUND_ALLOW_PRIVATE_TARGETS=False),
        pytest.raises(OutboundRefused),
    ):
        outbound.check_url("http://10.20.1.2/")
    with override_settings(OUTBOUND_ALLOWED_NETWORKS=["10.20.0.0/16"], OUTBOUND_ALLOW_PRIVATE_TARGETS=False):
        assert outbound.check_url("http://10.20.1.2/").host == "10.20.1.2"
    # The development switch allows loopback and private networks, never metadata or reserved ones.
    with override_settings(OUTBOUND_ALLOWED_NETWORKS=[], OUTBOUND_ALLOW_PRIVATE_TARGETS=True):
        assert outbound.check_url("http://localhost:9101/").host == "localhost"
        assert outbound.check_url("http://[::ffff:127.0.0.1]/").address is not None
        for url in ("http://169.254.169.254/", "http://0.0.0.0/", "http://224.0.0.1/", "http://100.64.0.1/"):
            with pytest.raises(OutboundRefused):
                outbound.check_url(url)


def test_production_refuses_the_development_switch() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "portal.example",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",  # never connected to: settings only
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    code = "import django; django.setup()"
    base = [str(Path(".venv/bin/python")), "-c", code]
    cwd = Path(__file__).resolve().parents[2]
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    bad = subprocess.run(
        base, env={**env, "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}, cwd=cwd, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "OUTBOUND_ALLOWED_NETWORKS" in bad.stderr
    bad = subprocess.run(
        base, env={**env, "OUTBOUND_ALLOWED_NETWORKS": "10.0.0.0/8,nonsense"}, cwd=cwd, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "'nonsense' is not a network" in bad.stderr


# --- Sending: one lookup, every answer vetted, connect to the vetted address --------------


def test_connects_to_the_first_vetted_answer_never_a_second_lookup(monkeypatch, servers) -> None:
    good = Server("127.0.0.2")
    servers.append(good)
    evil = Server("127.0.0.1", good.port)  # same port on the loopback address an attacker would rebind to
    servers.append(evil)
    calls = fake_resolver(monkeypatch, ["127.0.0.2"], ["127.0.0.1"])
    policy = OutboundPolicy.build(["127.0.0.2/32"])
    result = policy.post(f"http://hook.example:{good.port}/in?x=1", b"{}", {"X-Test": "1"}, timeout=5)
    assert (result.status, result.body, result.address) == (200, b"ok", "127.0.0.2")
    assert calls == ["hook.example"]  # resolved exactly once
    assert len(good.requests) == 1 and evil.requests == []
    assert good.requests[0]["headers"]["Host"] == f"hook.example:{good.port}"
    assert good.requests[0]["path"] == "/in?x=1" and good.requests[0]["headers"]["X-Test"] == "1"


def test_a_refused_first_answer_is_never_connected_to(monkeypatch, servers) -> None:
    evil = Server("127.0.0.1")
    servers.append(evil)
    fake_resolver(monkeypatch, ["127.0.0.1"], ["127.0.0.2"])
    with pytest.raises(OutboundRefused, match="loopback"):
        OutboundPolicy.build(["127.0.0.2/32"]).post(f"http://hook.example:{evil.port}/", b"", {}, timeout=5)
    assert evil.requests == []


@pytest.mark.parametrize(
    "answer", [["127.0.0.2", "127.0.0.1"], ["127.0.0.2", "::ffff:169.254.169.254"], ["127.0.0.2", "10.0.0.1"]]
)
def test_every_resolved_address_is_vetted(monkeypatch, servers, answer) -> None:
    good = Server("127.0.0.2")
    servers.append(good)
    fake_resolver(monkeypatch, answer)
    with pytest.raises(OutboundRefused):
        OutboundPolicy.build(["127.0.0.2/32"]).post(f"http://hook.example:{good.port}/", b"", {}, timeout=5)
    assert good.requests == []


def test_literal_hosts_are_not_resolved(monkeypatch, servers) -> None:
    good = Server("127.0.0.2")
    servers.append(good)
    calls = fake_resolver(monkeypatch, ["127.0.0.1"])
    result = OutboundPolicy.build(["127.0.0.2/32"]).post(f"http://2130706434:{good.port}/", b"", {}, timeout=5)
    assert result.status == 200 and calls == [] and len(good.requests) == 1  # 2130706434 is 127.0.0.2


def test_redirects_are_not_followed(servers) -> None:
    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", f"http://127.0.0.1:{target.port}/")
        handler.end_headers()

    target = Server()
    servers.append(target)
    hook = Server(answer=redirect)
    servers.append(hook)
    result = OutboundPolicy.build(allow_private=True).post(f"http://127.0.0.1:{hook.port}/", b"", {}, timeout=5)
    assert result.status == 302 and result.location == f"http://127.0.0.1:{target.port}/"
    assert len(hook.requests) == 1 and target.requests == []


def test_the_answer_is_capped(servers) -> None:
    def big(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(500)
        handler.send_header("Content-Length", str(1 << 20))
        handler.end_headers()
        handler.wfile.write(b"x" * (1 << 20))

    hook = Server(answer=big)
    servers.append(hook)
    result = OutboundPolicy.build(allow_private=True).post(
        f"http://127.0.0.1:{hook.port}/", b"", {}, timeout=5, max_response_bytes=4096
    )
    assert result.status == 500 and len(result.body) == 4096 and result.truncated


def test_a_trickling_receiver_is_cut_off_at_the_deadline(servers) -> None:
    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(1000):
            try:
                handler.wfile.write(b"z")
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.05)

    hook = Server(answer=trickle)
    servers.append(hook)
    started = time.monotonic()
    result = OutboundPolicy.build(allow_private=True).post(f"http://127.0.0.1:{hook.port}/", b"", {}, timeout=1)
    assert time.monotonic() - started < 2
    assert result.status == 200 and 0 < len(result.body) < 1000


def test_a_receiver_that_never_answers_times_out(servers) -> None:
    def slow_headers(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(100):
            try:
                handler.wfile.write(b"X-Slow: 1\r\n")
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.1)

    hook = Server(answer=slow_headers)
    servers.append(hook)
    started = time.monotonic()
    with pytest.raises(OutboundError, match="timed out"):
        OutboundPolicy.build(allow_private=True).post(f"http://127.0.0.1:{hook.port}/", b"", {}, timeout=1)
    assert time.monotonic() - started < 2


def test_connection_errors_are_outbound_errors() -> None:
    with pytest.raises(OutboundError):
        OutboundPolicy.build(allow_private=True).post("http://127.0.0.1:9/", b"", {}, timeout=2)


# --- TLS to a pinned address: SNI and certificate checked against the name --------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"), "-days", "1"),
            *("-subj", "/CN=hook.example", "-addext", "subjectAltName=DNS:hook.example"),
        ],
        check=True,
        capture_output=True,
    )
    return folder


def _tls_server(folder: Path) -> Server:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    seen: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: seen.append(name)  # type: ignore[assignment]
    server = Server("127.0.0.2", tls=context)
    server.sni = seen  # type: ignore[attr-defined]
    return server


def test_https_connects_to_the_vetted_address_and_verifies_the_name(monkeypatch, servers, certificate) -> None:
    server = _tls_server(certificate)
    servers.append(server)
    monkeypatch.setattr(
        outbound, "ssl_context_factory", lambda: ssl.create_default_context(cafile=certificate / "cert.pem")
    )
    calls = fake_resolver(monkeypatch, ["127.0.0.2"], ["127.0.0.1"])
    policy = OutboundPolicy.build(["127.0.0.2/32"])
    result = policy.post(f"https://hook.example:{server.port}/tls", b"{}", {}, timeout=5)
    assert result.status == 200 and calls == ["hook.example"]
    assert server.sni == ["hook.example"]  # type: ignore[attr-defined]
    # The same server under another name fails verification: the certificate is checked.
    fake_resolver(monkeypatch, ["127.0.0.2"])
    with pytest.raises(OutboundError, match="certificate"):
        policy.post(f"https://other.example:{server.port}/tls", b"{}", {}, timeout=5)
    assert len(server.requests) == 1
