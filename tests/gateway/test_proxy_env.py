"""Provider calls honour HTTP(S)_PROXY and NO_PROXY: through a real forward proxy on loopback.

The proxy here is written for the test (``LoopbackProxy``): it tunnels ``CONNECT`` and forwards
absolute-form requests, refuses any host but loopback, and logs what it was asked. The https
provider is the stand-in behind a TLS front with a certificate made here (``localhost``), which
the pool is told to trust; the gateway is the real server driven by the official ``openai`` client.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import ssl
import threading
from urllib.parse import urlsplit

import openai
import pytest
from elsupport import start_server
from gwsupport import KEY, KEY_ENV
from standin import StandIn

from edgelearn.errors import ConfigError
from edgelearn.serve.providers import http, proxy_env
from edgelearn.serve.providers.http import ConnectError, Pool

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
LOOPBACK = ("127.0.0.1", "localhost")


# --- reading the environment --------------------------------------------------------------------
def test_lowercase_wins_and_all_proxy_fills_in():
    env = proxy_env.from_environ({"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2",
                                  "ALL_PROXY": "all:3"})
    assert (env.https.host, env.https.port) == ("lower", 2)
    assert (env.http.host, env.http.port) == ("all", 3)  # no scheme: http, as httpx and requests read it
    assert proxy_env.from_environ({}) == proxy_env.ProxyEnv()
    assert proxy_env.from_environ({"HTTP_PROXY": "http://p"}).http.port == 80


@pytest.mark.parametrize(("no_proxy", "host", "port", "bypassed"), [
    ("*", "api.openai.com", 443, True),
    ("openai.com", "api.openai.com", 443, True),
    ("openai.com", "openai.com", 443, True),
    ("openai.com", "notopenai.com", 443, False),
    (".openai.com", "api.openai.com", 443, True),
    ("*.openai.com", "api.openai.com", 443, True),
    ("API.OpenAI.com", "api.openai.com", 443, True),
    ("box.local:8000", "box.local", 8000, True),
    ("box.local:8000", "box.local", 8001, False),
    ("10.0.0.0/8, 192.168.1.7", "10.2.3.4", 80, True),
    ("10.0.0.0/8, 192.168.1.7", "192.168.1.7", 80, True),
    ("10.0.0.0/8, 192.168.1.7", "192.168.1.8", 80, False),
    ("::1", "::1", 80, True),
    ("localhost,127.0.0.1", "api.anthropic.com", 443, False),
])
def test_no_proxy_hosts_suffixes_ports_networks_and_star(no_proxy, host, port, bypassed):
    env = proxy_env.from_environ({"https_proxy": "http://proxy:3128", "NO_PROXY": no_proxy})
    assert (env.for_origin("https", host, port) is None) is bypassed


def test_credentials_become_proxy_authorization_and_are_never_shown():
    env = proxy_env.from_environ({"https_proxy": "http://me%40corp:s%3Acret-PW@proxy.corp:3128"})
    proxy = env.https
    assert proxy.header_lines() == ("proxy-authorization: Basic " + base64.b64encode(b"me@corp:s:cret-PW").decode(),)
    assert "cret-PW" not in f"{proxy} {proxy!r} {env!r}" and str(proxy) == "http://proxy.corp:3128"
    with pytest.raises(ConfigError) as err:
        proxy_env.from_environ({"HTTPS_PROXY": "socks5://me:s3cret-PW@proxy:1080"})
    assert "HTTPS_PROXY" in str(err.value) and "s3cret-PW" not in str(err.value)


# --- a forward proxy and a TLS front on loopback -------------------------------------------------
def _certificate(tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for a self-signed ``localhost`` certificate."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return server, ssl.create_default_context(cadata=cert_pem.decode())


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class LoopbackProxy:
    """A forward proxy on 127.0.0.1 in its own thread: ``CONNECT`` tunnels and absolute-form requests,
    to loopback only; ``seen`` holds (method, target, proxy-authorization) of each connection's first
    request. With ``refuse``, it answers every request with that status. Also serves a TLS front
    (``tls_front``) that hands its decrypted bytes to another loopback port."""

    def __init__(self, refuse: int | None = None) -> None:
        self.refuse = refuse
        self.seen: list[tuple[str, str, str | None]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self._run(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def tls_front(self, context: ssl.SSLContext, to_port: int) -> int:
        async def handle(reader, writer):
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", to_port)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        front = self._run(asyncio.start_server(handle, "127.0.0.1", 0, ssl=context))
        return front.sockets[0].getsockname()[1]

    async def _handle(self, reader, writer) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        auth = next((line.split(":", 1)[1].strip() for line in lines[1:]
                     if line.lower().startswith("proxy-authorization:")), None)
        self.seen.append((method, target, auth))
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
        else:
            parts = urlsplit(target)
            host, port = parts.hostname, parts.port or 80
        if self.refuse or host not in LOOPBACK:
            status = self.refuse or 403
            writer.write(f"HTTP/1.1 {status} Refused\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
            await writer.drain()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:  # origin form to the origin, without the proxy's credentials
            parts = urlsplit(target)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            rest = [line for line in lines[1:] if not line.lower().startswith("proxy-authorization:")]
            up_writer.write("\r\n".join([f"{method} {path} HTTP/1.1", *rest]).encode("latin-1"))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def close(self) -> None:
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.fixture
def setup(home, tmp_path, no_proxy_env):
    """A stand-in provider twice over (https behind the TLS front, plain http), a loopback proxy,
    and the pool trusting the test certificate; yields a function that starts the gateway."""
    server_tls, client_tls = _certificate(tmp_path)
    no_proxy_env.setattr(http, "_ssl_context", client_tls)
    no_proxy_env.setenv(KEY_ENV, KEY)
    stops = []
    with StandIn(key=KEY) as up:
        proxy = LoopbackProxy()
        tls_port = proxy.tls_front(server_tls, urlsplit(up.url).port)
        (home / "edgelearn.toml").write_text(
            f'[providers.secure]\ntype = "openai"\nbase_url = "https://localhost:{tls_port}/v1"\n'
            f'api_key_env = "{KEY_ENV}"\nmax_retries = 0\ntimeout_s = 5\nmodels = ["small"]\n\n'
            f'[providers.plain]\ntype = "openai"\nbase_url = "{up.openai_base}"\n'
            f'api_key_env = "{KEY_ENV}"\nmax_retries = 0\ntimeout_s = 5\nmodels = ["small"]\n')

        def gateway():
            from edgelearn.runtime import Runtime

            rt = Runtime(home=home, embed=False)
            server, stop = start_server(rt)
            stops.append(stop)
            # the test's own client talks to the gateway directly (httpx would honour the variables too)
            return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.token, max_retries=0,
                                 http_client=openai.DefaultHttpxClient(trust_env=False))

        try:
            yield up, proxy, tls_port, gateway
        finally:
            for stop in stops:
                stop()
            proxy.close()


def _ask(client, model: str) -> str:
    out = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return out.choices[0].message.content


def test_provider_calls_go_through_the_proxy_https_by_connect_http_in_absolute_form(setup, no_proxy_env):
    up, proxy, tls_port, gateway = setup
    proxy_url = proxy.url.replace("http://", "http://me:pro%78y-PW@")
    no_proxy_env.setenv("HTTPS_PROXY", proxy_url)
    no_proxy_env.setenv("http_proxy", proxy_url)
    client = gateway()
    assert _ask(client, "secure/small") == "ok"
    assert _ask(client, "plain/small") == "ok"
    auth = "Basic " + base64.b64encode(b"me:proxy-PW").decode()
    port = urlsplit(up.url).port
    assert proxy.seen == [("CONNECT", f"localhost:{tls_port}", auth),
                          ("POST", f"http://127.0.0.1:{port}/v1/chat/completions", auth)]
    assert len(up.completions()) == 2 and up.completions()[0].headers["authorization"] == f"Bearer {KEY}"


def test_no_proxy_sends_the_calls_around_the_proxy(setup, no_proxy_env):
    up, proxy, tls_port, gateway = setup
    no_proxy_env.setenv("https_proxy", proxy.url)
    no_proxy_env.setenv("HTTP_PROXY", proxy.url)
    no_proxy_env.setenv("no_proxy", "localhost,127.0.0.1")
    client = gateway()
    assert _ask(client, "secure/small") == "ok" and _ask(client, "plain/small") == "ok"
    assert proxy.seen == [] and len(up.completions()) == 2


def test_a_refused_tunnel_is_a_connect_error_naming_the_proxy_not_its_credentials(no_proxy_env):
    proxy = LoopbackProxy(refuse=407)
    try:
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://me:s3cret-PW@"))

        async def go():
            pool = Pool(2)
            try:
                await pool.request("POST", "https://localhost:9/v1/chat/completions", {}, b"{}")
            finally:
                await pool.aclose()

        with pytest.raises(ConnectError) as err:
            asyncio.run(go())
        assert f"the proxy {proxy.url} refused CONNECT localhost:9: 407" in str(err.value)
        assert "s3cret-PW" not in str(err.value) and len(proxy.seen) == 1
    finally:
        proxy.close()
