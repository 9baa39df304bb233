"""``HTTP(S)_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` for the provider pool, read as httpx and requests read them.

- ``http_proxy`` for http origins, ``https_proxy`` for https ones, ``all_proxy`` for both where the
  scheme's own is unset; each also in capitals, the lowercase name winning when both are set.
- ``no_proxy``: comma-separated; ``*`` bypasses the proxy for every host; a name matches itself
  and its subdomains (``example.com``, ``.example.com`` and ``*.example.com`` all match
  ``api.example.com``); ``name:port`` only that port; an IP address or a CIDR range
  (``10.0.0.0/8``) the addresses in it.
- A proxy is ``http://[user:password@]host[:port]`` (no scheme: http; port 80 by default). An http
  origin is asked through it in absolute form (``POST http://host/path``); an https one through a
  ``CONNECT host:port`` tunnel, then TLS to the origin inside it (the proxy sees no content).
  Credentials go in ``Proxy-Authorization`` (Basic) and appear in no message or log line.

``from_environ`` is called once per pool (``Pool.__init__``): a changed variable takes effect with
the next process.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import os
import ssl
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import unquote, urlsplit

from edgelearn.errors import ConfigError

log = logging.getLogger(__name__)


class ProxyRefused(OSError):
    """The proxy could not be reached, or did not open the tunnel; the message names it, never its credentials."""


@dataclass(frozen=True)
class Proxy:
    """One proxy: where it listens, and the ``Proxy-Authorization`` value when its URL had credentials."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"http://{self.host}:{self.port}"  # never the credentials

    def header_lines(self) -> tuple[str, ...]:
        """Header lines a request to or through this proxy carries."""
        return (f"proxy-authorization: {self.authorization}",) if self.authorization else ()


@dataclass(frozen=True)
class ProxyEnv:
    """The proxies of the environment and the hosts that bypass them."""

    http: Proxy | None = None
    https: Proxy | None = None
    everything_direct: bool = False  # no_proxy=*
    names: tuple[tuple[str, int | None], ...] = ()  # (domain, port or None: any)
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def for_origin(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy to reach ``scheme://host:port`` through, or None to connect directly."""
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or self.bypassed(host, port):
            return None
        return proxy

    def bypassed(self, host: str, port: int) -> bool:
        """Whether ``no_proxy`` sends ``host:port`` around the proxy."""
        if self.everything_direct:
            return True
        host = host.lower().rstrip(".").strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and any(address in net for net in self.networks):
            return True
        return any((host == name or host.endswith("." + name)) and (want is None or want == port)
                   for name, want in self.names)


def parse_proxy(value: str, variable: str) -> Proxy:
    """A ``Proxy`` from a variable's value; ``ConfigError`` naming the variable when it is not one we can use."""
    text = value.strip()
    if "://" not in text:
        text = "http://" + text  # as httpx and requests take "proxy:3128"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{variable}: not a proxy URL (expected http://host:port)") from None
    if parts.scheme.lower() != "http":
        raise ConfigError(f"{variable}: a {parts.scheme}:// proxy is not supported for provider calls; "
                          "give the proxy's http:// URL (https origins still get TLS end to end, through CONNECT)")
    if not parts.hostname:
        raise ConfigError(f"{variable}: no host in the proxy URL (expected http://host:port)")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return Proxy(parts.hostname, port or 80, authorization)


def _bypass(value: str) -> tuple[bool, tuple[tuple[str, int | None], ...], tuple]:
    names: list[tuple[str, int | None]] = []
    networks: list = []
    for raw in value.split(","):
        entry = raw.strip().lower()
        if entry == "*":
            return True, (), ()
        if "://" in entry:  # httpx takes "http://host" too: the host is what counts
            entry = entry.split("://", 1)[1]
        entry = entry.rstrip("/")
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        port = None
        host, sep, tail = entry.rpartition(":")
        if sep and tail.isdigit():
            entry, port = host, int(tail)
        name = entry.strip("[]").removeprefix("*").strip(".")
        if name:
            names.append((name, port))
    return False, tuple(names), tuple(networks)


def _get(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    for key in (name, name.upper()):
        value = environ.get(key)
        if value:
            return key, value
    return None


def from_environ(environ: Mapping[str, str] | None = None) -> ProxyEnv:
    """The proxy settings of ``environ`` (default: this process's environment)."""
    environ = os.environ if environ is None else environ
    everything = _get(environ, "all_proxy")
    proxies: dict[str, Proxy | None] = {}
    for scheme in ("http", "https"):
        found = _get(environ, f"{scheme}_proxy") or everything
        proxies[scheme] = parse_proxy(found[1], found[0]) if found else None
    if proxies["http"] is None and proxies["https"] is None:
        return ProxyEnv()
    no_proxy = _get(environ, "no_proxy")
    direct, names, networks = _bypass(no_proxy[1]) if no_proxy else (False, (), ())
    env = ProxyEnv(proxies["http"], proxies["https"], direct, names, networks)
    log.info("provider calls go through proxies from the environment: http %s, https %s%s",
             env.http or "direct", env.https or "direct", f"; no_proxy: {no_proxy[1]}" if no_proxy else "")
    return env


async def open_via(proxy: Proxy, scheme: str, host: str, port: int, *, limit: int,
                   tls: ssl.SSLContext) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to ``host:port`` through ``proxy``: the proxy itself for an http origin (requests go
    in absolute form), a ``CONNECT`` tunnel with TLS to the origin inside it for https."""
    try:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port, limit=limit)
    except OSError as exc:
        raise ProxyRefused(f"cannot connect to the proxy {proxy}: {type(exc).__name__}") from exc
    if scheme != "https":
        return reader, writer
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"host: {authority}", *proxy.header_lines()]
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await reader.readuntil(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProxyRefused(f"the proxy {proxy} answered CONNECT {authority} with {status_line[:80]!r}")
        if not 200 <= int(parts[1]) < 300:
            raise ProxyRefused(f"the proxy {proxy} refused CONNECT {authority}: {' '.join(parts[1:])[:120]}")
        await writer.start_tls(tls, server_hostname=host)
    except ProxyRefused:
        writer.transport.abort()
        raise
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        writer.transport.abort()
        raise ProxyRefused(f"the proxy {proxy} closed the connection during CONNECT {authority}") from exc
    except BaseException:
        writer.transport.abort()
        raise
    return reader, writer
