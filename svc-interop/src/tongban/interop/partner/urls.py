"""Where we may send requests for a partner: its registered base URL, and URLs the partner
publishes only when they lie under it (its status lists). Loopback, private, link-local and other
non-public addresses are refused unless INTEROP_ALLOW_PRIVATE_PARTNER_URLS is set (partners on
the same machine: `make run-two-cities`, tests), so a partner (or a typo) cannot point our
services at our own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from tongban.shared.errors import InvalidField


class UnsafeUrl(ValueError):
    """A URL we will not fetch for a partner (the message says why)."""


def _address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified \
            or not ip.is_global:
        return "not a public address"
    return None


def literal_problem(url: str, allow_private: bool) -> str | None:
    """Why `url` is unusable without resolving it (scheme, host, a non-public address literal)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host"
    if parts.username or parts.password:
        return "must not carry credentials"
    if port == 0:
        return "names port 0"
    if allow_private:
        return None
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "names localhost"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    problem = _address_problem(ip)
    return f"names {problem}" if problem else None


def check_registered(field: str, url: str | None, allow_private: bool) -> None:
    """An admin's partner URL (base or token URL): refused with 422 when unusable."""
    if url is None:
        return
    if (problem := literal_problem(url, allow_private)) is not None:
        raise InvalidField(field, f"{problem} (INTEROP_ALLOW_PRIVATE_PARTNER_URLS allows private addresses)")


def under_base(url: str, base_url: str) -> bool:
    """Is `url` on the partner's registered base URL (same scheme, host and port, path below it)?"""
    u, b = urlsplit(url), urlsplit(base_url)
    try:
        same_origin = (u.scheme, (u.hostname or "").lower(), u.port) == (b.scheme, (b.hostname or "").lower(), b.port)
    except ValueError:
        return False
    base_path = b.path.rstrip("/") + "/"
    return same_origin and (u.path + "/").startswith(base_path) and ".." not in u.path.split("/")


async def check_published(url: str, base_urls: list[str], allow_private: bool) -> None:
    """A URL the partner published (a status-list template): under one of its registered base
    URLs, and resolving to public addresses only. Raises UnsafeUrl."""
    if not any(under_base(url, base) for base in base_urls if base):
        raise UnsafeUrl(f"{url} is not under the partner's registered base URLs {base_urls}")
    if (problem := literal_problem(url, allow_private)) is not None:
        raise UnsafeUrl(f"{url} {problem}")
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeUrl(f"{host} does not resolve: {exc}") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if (problem := _address_problem(ip)) is not None:
            raise UnsafeUrl(f"{host} resolves to {problem}")
