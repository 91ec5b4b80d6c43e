"""HTTP requests to addresses someone outside gave us (OpenDSR status callbacks).

A URL that names a host is checked where it matters, at send time: the name is resolved here,
every address it resolves to must be public, and the connection goes to the address that was
checked, with the original name in ``Host`` and in TLS SNI (so the certificate is still checked
against the name). A DNS answer that changes between the check and the connection cannot turn
a public name into a way into the internal network. Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httpx

Resolver = Callable[[str, int], list[str]]


class UnsafeDestination(Exception):
    """The URL leads to an address Ferry must not call."""


def kind_of(address: str) -> str | None:
    """``"loopback"``, ``"private"`` (any other internal range) or None for a public address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None:
        return kind_of(str(ip.sixtofour))  # 6to4 carries an IPv4 address inside
    # anything not globally routable: private, shared (100.64/10), link-local, reserved, …
    return None if ip.is_global and not ip.is_multicast else "private"


def system_resolver(host: str, port: int) -> list[str]:
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in found})


def checked_address(
    host: str, port: int, allow_loopback: bool, resolver: Resolver | None = None
) -> str:
    """The address to connect to: every address the name has must be public (or loopback, when
    the operator allows it for tests). Raises :class:`UnsafeDestination` otherwise."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        try:
            addresses = (resolver or system_resolver)(host, port)
        except OSError as exc:
            raise UnsafeDestination(f"{host} does not resolve ({exc})") from None
    if not addresses:
        raise UnsafeDestination(f"{host} has no address")
    for address in addresses:
        kind = kind_of(address)
        if kind == "private" or (kind == "loopback" and not allow_loopback):
            raise UnsafeDestination(f"{host} resolves to an internal address ({address})")
    return addresses[0]


def post(
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    timeout: float,
    allow_loopback: bool = False,
    resolver: Resolver | None = None,
) -> httpx.Response:
    """POST to ``url`` over a connection pinned to its checked address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeDestination(f"{url[:100]!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = checked_address(parts.hostname, port, allow_loopback, resolver)
    target = httpx.URL(url).copy_with(host=address)
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    request_headers = {**headers, "Host": host_header}
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        request = client.build_request(
            "POST", target, content=content, headers=request_headers, extensions=extensions
        )
        return client.send(request)
