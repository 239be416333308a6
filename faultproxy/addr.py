"""TCP addresses the way Go's ``net`` package handles them (parsing, resolving, printing, listening).

The real server passes ``listen`` to ``net.Listen`` and compares addresses after ``net.ResolveTCPAddr``;
its answers carry Go's error text (``address 99999: invalid port``, ``listen tcp 127.0.0.1:8474: bind:
address already in use``). These helpers reproduce that for IP literals, ``localhost`` and port numbers or
service names. Other host names are resolved with the system resolver; their error text is Go's
``lookup NAME: no such host`` without the DNS server Go sometimes names.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

LOCALHOST_NAMES = frozenset({"localhost", "localhost.", "localhost.localdomain"})


class AddrError(Exception):
    """A Go ``net.AddrError`` (``address X: reason``) or lookup error; ``str()`` is Go's text."""


@dataclass(frozen=True)
class TCPAddr:
    """A resolved address; ``ip`` None means "every interface" (Go's nil IP)."""

    ip: str | None
    port: int

    def __str__(self) -> str:
        return format_addr(self.ip, self.port)


def format_addr(ip: str | None, port: int) -> str:
    """Go's ``TCPAddr.String()``: ``1.2.3.4:80``, ``[::1]:80``, ``:80``."""
    if not ip:
        return f":{port}"
    if ":" in ip:
        return f"[{ip}]:{port}"
    return f"{ip}:{port}"


def _addr_error(addr: str, reason: str) -> AddrError:
    return AddrError(f"address {addr}: {reason}" if addr else reason)


def split_host_port(hostport: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort`` with its error messages."""
    missing = "missing port in address"
    colon = hostport.rfind(":")
    if colon < 0:
        raise _addr_error(hostport, missing)
    start, end_host = 0, 0
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise _addr_error(hostport, "missing ']' in address")
        if close + 1 == len(hostport):
            raise _addr_error(hostport, missing)
        if close + 1 != colon:
            if hostport[close + 1] == ":":
                raise _addr_error(hostport, "too many colons in address")
            raise _addr_error(hostport, missing)
        host = hostport[1:close]
        start, end_host = 1, close + 1
    else:
        host = hostport[:colon]
        if ":" in host:
            raise _addr_error(hostport, "too many colons in address")
    if "[" in hostport[start:]:
        raise _addr_error(hostport, "unexpected '[' in address")
    if "]" in hostport[end_host:]:
        raise _addr_error(hostport, "unexpected ']' in address")
    return host, hostport[colon + 1 :]


def parse_port(service: str) -> int:
    """Go's port parsing: numbers (range-checked) or service names from the services database."""
    if service == "":
        return 0
    text = service
    negative = False
    if text[0] in "+-":
        negative = text[0] == "-"
        text = text[1:]
    if text.isdigit() and text.isascii():
        port = int(text)
        if negative:
            port = -port
        if port < 0 or port > 0xFFFF:
            raise _addr_error(service, "invalid port")
        return port
    try:
        return socket.getservbyname(service.lower(), "tcp")
    except OSError:
        raise _addr_error(f"tcp/{service}", "unknown port") from None


def _literal_ip(host: str) -> str | None:
    """The canonical text of an IP literal (zones kept), or None when ``host`` is a name."""
    base, _, zone = host.partition("%")
    try:
        ip = ipaddress.ip_address(base)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return f"{ip}%{zone}" if zone else str(ip)


async def resolve(hostport: str) -> TCPAddr:
    """Go's ``net.ResolveTCPAddr("tcp", hostport)`` (IPv4 preferred for names; "" means ":0")."""
    if hostport == "":
        return TCPAddr(None, 0)
    host, service = split_host_port(hostport)
    port = parse_port(service)
    if host == "":
        return TCPAddr(None, port)
    literal = _literal_ip(host)
    if literal is not None:
        return TCPAddr(literal, port)
    if host.lower() in LOCALHOST_NAMES:
        return TCPAddr("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise AddrError(f"lookup {host}: no such host") from None
    addresses = [str(info[4][0]) for info in infos]
    v4 = [a for a in addresses if ":" not in a]
    return TCPAddr((v4 or addresses)[0], port)


def is_loopback_host(hostport: str) -> bool:
    """Whether ``host:port`` names this machine through loopback (literal, ``localhost`` or empty host)."""
    try:
        host, _ = split_host_port(hostport)
    except AddrError:
        return False
    if host == "" or host.lower() in LOCALHOST_NAMES:
        return True
    literal = _literal_ip(host)
    return literal is not None and ipaddress.ip_address(literal.partition("%")[0]).is_loopback


def dial_target(hostport: str) -> tuple[str, int]:
    """Host and port to connect to for an upstream (an empty host means this machine, as in Go)."""
    host, service = split_host_port(hostport)
    return (host or "localhost"), parse_port(service)


async def listen_socket(listen: str) -> socket.socket:
    """A bound, listening socket for ``listen``, or AddrError with ``net.Listen``'s message."""
    try:
        addr = await resolve(listen)
    except AddrError as exc:
        raise AddrError(f"listen tcp: {exc}") from None
    if addr.ip is None:
        family, bind_host = socket.AF_INET6, "::"
    elif ":" in addr.ip:
        family, bind_host = socket.AF_INET6, addr.ip
    else:
        family, bind_host = socket.AF_INET, addr.ip
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if addr.ip is None:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((bind_host, addr.port))
        sock.listen(4096)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise AddrError(f"listen tcp {addr}: bind: {reason}") from None
    sock.setblocking(False)
    return sock


def bound_address(sock: socket.socket) -> str:
    """Go's ``listener.Addr().String()`` for a bound socket."""
    host, port = sock.getsockname()[:2]
    if sock.family == socket.AF_INET6 and host == "::":
        return f"[::]:{port}"
    return format_addr(host, port)
