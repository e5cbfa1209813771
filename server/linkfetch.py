"""Fetching a third-party URL for a link preview, without letting it reach inside.

A URL in a message is chosen by another user, so fetching it is a server-side request
forgery risk: it could name the cloud metadata service, a database on localhost or a router
on the LAN. Every hop (the page, each redirect, the image) goes through `GuardedResolver`:
it resolves the host itself and refuses the whole name if any address it resolves to is
not a public one, and the connection is made to exactly those addresses (TCPClient takes
them from the resolver), so a DNS answer cannot change between the check and the connect
(rebinding). Redirects are followed here, at most MAX_REDIRECTS, each one checked the same
way. Bodies are read up to a cap and the connection is dropped there.
See OWASP's SSRF prevention cheat sheet for the address classes refused."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from tornado import httputil
from tornado.iostream import IOStream, StreamClosedError
from tornado.netutil import Resolver
from tornado.tcpclient import TCPClient

USER_AGENT = "chatd link preview (+https://github.com/chatd)"
MAX_REDIRECTS = 3
MAX_URL = 2048
HEADER_MAX = 32 * 1024
URL_SAFE = "/?#[]@!$&'()*+,;=:%~-._"  # reserved characters and escapes stay as they are
REDIRECTS = frozenset((301, 302, 303, 307, 308))

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Named for the reader (and the tests); Python's is_global/is_private also cover them.
FORBIDDEN: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; connecting to 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, with the cloud metadata service at 169.254.169.254
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
        "::/128",  # unspecified
        "::1/128",  # loopback
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)


class Refused(Exception):
    """The URL, or an address its host resolves to, is not one a preview may fetch."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden(ip: IPAddress, allow: tuple[Network, ...] = ()) -> bool:
    """Whether a preview must not connect to `ip`: anything but a public unicast address,
    unless an `allow` network names it (link_preview_allow, for tests and intranets)."""
    if any(ip.version == net.version and ip in net for net in allow):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return forbidden(inner, allow)
    if any(ip.version == net.version and ip in net for net in FORBIDDEN):
        return True
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


class GuardedResolver(Resolver):
    """Resolves a host and refuses it unless every address is allowed; TCPClient then
    connects to the addresses returned here and no others."""

    def initialize(self, allow: tuple[Network, ...] = ()) -> None:
        self.allow = allow

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise Refused(f"{host} does not resolve") from exc
        found: list[tuple[int, Any]] = []
        for fam, _type, _proto, _name, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # drop an IPv6 scope
            if forbidden(ip, self.allow):
                raise Refused(f"{host} resolves to {ip}, which a preview may not fetch")
            found.append((fam, sockaddr))
        if not found:
            raise Refused(f"{host} does not resolve")
        return found


@dataclass
class Fetched:
    url: str  # after redirects
    status: int
    mime: str  # the Content-Type's type, lower case
    charset: str
    body: bytes
    cut: bool  # the body went on past the cap


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL; Refused otherwise."""
    if len(url) > MAX_URL:
        raise Refused("URL too long")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused("only http and https URLs are fetched")
    if parts.username is not None or parts.password is not None:
        raise Refused("URLs with a user name are not fetched")
    host = parts.hostname
    if not host:
        raise Refused("URL has no host")
    try:  # an international name as the DNS and the Host header spell it
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise Refused("URL has a bad host name") from None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("URL has a bad port") from None
    path = quote(parts.path or "/", safe=URL_SAFE)  # what a browser sends for the same URL
    if parts.query:
        path += "?" + quote(parts.query, safe=URL_SAFE)
    return parts.scheme, host, port, path


@dataclass
class _Answer:
    status: int
    headers: httputil.HTTPHeaders
    body: bytes = b""
    cut: bool = False


async def _read_head(stream: IOStream) -> tuple[int, httputil.HTTPHeaders]:
    while True:
        data = await stream.read_until_regex(b"\r?\n\r?\n", max_bytes=HEADER_MAX)
        text = data.decode("latin-1").lstrip("\r\n")
        first, _, rest = text.partition("\n")
        try:
            status = httputil.parse_response_start_line(first.rstrip("\r")).code
            headers = httputil.HTTPHeaders.parse(rest)
        except httputil.HTTPInputError as exc:
            raise Refused(f"malformed answer: {exc}") from None
        if not 100 <= status < 200:  # skip interim answers (100 Continue, 103 Early Hints)
            return status, headers


async def _read_body(stream: IOStream, headers: httputil.HTTPHeaders, cap: int) -> tuple[bytes, bool]:
    """At most `cap` bytes of the body, and whether there was more. Reads no further than
    that: the caller drops the connection."""
    body = bytearray()
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        while len(body) < cap:
            line = await stream.read_until(b"\n", max_bytes=1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise Refused("malformed chunked body") from None
            if size == 0:
                return bytes(body), False
            take = min(size, cap - len(body))
            body += await stream.read_bytes(take)
            if take < size:
                return bytes(body), True
            await stream.read_until(b"\n", max_bytes=1024)
        return bytes(body), True
    length_header = headers.get("Content-Length")
    length = int(length_header) if length_header and length_header.strip().isdigit() else None
    want = cap if length is None else min(length, cap)
    try:
        while len(body) < want:
            body += await stream.read_bytes(min(64 * 1024, want - len(body)), partial=True)
    except StreamClosedError:
        if length is not None:
            raise
        return bytes(body), False  # read until close: that was all of it
    return bytes(body), length is None or length > cap


async def _one_hop(
    url: str, allow: tuple[Network, ...], cap: int, accept: tuple[str, ...], connect_timeout: float
) -> _Answer:
    scheme, host, port, path = check_url(url)
    tls = ssl.create_default_context() if scheme == "https" else None
    client = TCPClient(resolver=GuardedResolver(allow=allow))
    try:
        stream = await client.connect(host, port, ssl_options=tls, timeout=connect_timeout)
    except Refused:
        raise
    except (OSError, StreamClosedError, TimeoutError, ssl.SSLError) as exc:
        raise Refused(f"could not connect to {host}: {exc}") from None
    try:
        default_port = 443 if scheme == "https" else 80
        name = f"[{host}]" if ":" in host else host
        request = (
            f"GET {path} HTTP/1.1\r\n"
            f"Host: {name if port == default_port else f'{name}:{port}'}\r\n"
            f"User-Agent: {USER_AGENT}\r\n"
            f"Accept: {', '.join(a + '*' if a.endswith('/') else a for a in accept)}\r\n"
            "Accept-Encoding: identity\r\n"  # nothing to decompress: the cap counts real bytes
            "Connection: close\r\n\r\n"
        )
        try:
            await stream.write(request.encode("latin-1"))
            status, headers = await _read_head(stream)
            answer = _Answer(status, headers)
            mime = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if status == 200 and mime.startswith(accept):
                answer.body, answer.cut = await _read_body(stream, headers, cap)
        except StreamClosedError:
            raise Refused(f"{host} closed the connection") from None
        return answer
    finally:
        stream.close()


async def fetch(
    url: str,
    *,
    allow: tuple[Network, ...] = (),
    cap: int,
    accept: tuple[str, ...],
    timeout: float,
) -> Fetched:
    """GET `url` through the guard, following at most MAX_REDIRECTS redirects (each hop
    checked), reading at most `cap` bytes of a 200 answer whose type starts with one of
    `accept`. Raises Refused (bad URL, forbidden address, no connection, too many
    redirects) or TimeoutError past `timeout` seconds for everything."""
    async with asyncio.timeout(timeout):
        for _hop in range(MAX_REDIRECTS + 1):
            answer = await _one_hop(url, allow, cap, accept, connect_timeout=timeout / 2)
            location = answer.headers.get("Location", "")
            if answer.status in REDIRECTS and location:
                url = urljoin(url, location.strip())
                continue
            content_type = answer.headers.get("Content-Type", "")
            mime, _, params = content_type.partition(";")
            charset = ""
            for param in params.split(";"):
                key, _, value = param.partition("=")
                if key.strip().lower() == "charset":
                    charset = value.strip().strip("\"'")
            return Fetched(
                url=url,
                status=answer.status,
                mime=mime.strip().lower(),
                charset=charset,
                body=answer.body,
                cut=answer.cut,
            )
    raise Refused(f"more than {MAX_REDIRECTS} redirects")
