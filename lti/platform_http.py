"""HTTP to a platform that is not trusted yet (Dynamic Registration): only http(s), never a redirect,
never a loopback, private, link-local or otherwise non-public address unless the operator allowed
its network (``CREDBRIDGE_LTI_PRIVATE_NETWORKS``: many school Moodles are on-premises).

The address is checked where the connection is made, on the address actually connected to, so a
name that resolves to a public address when checked and to 127.0.0.1 a moment later (DNS
rebinding) cannot slip through. No maintained library does this for requests and urllib3 2
(``advocate`` stopped at urllib3 1), hence the few lines below.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: an openid-configuration is a few kilobytes; a registration answer too
MAX_ANSWER_BYTES = 256 * 1024


class AddressNotAllowed(Exception):
    """The URL is not http(s), or its host is (or resolves to) an address we may not reach."""


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def address_allowed(address: str, allowed: Sequence[Network]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed if network.version == ip.version):
        return True
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def check_url(url: str, allowed: Sequence[Network]) -> None:
    """Refuse before any connection: a URL that is not http(s), and a host none of whose addresses may
    be reached. (The connection checks again, on the address it connects to.)"""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise AddressNotAllowed(f"{url[:200]!r} is not a URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressNotAllowed(f"{url[:200]!r} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise AddressNotAllowed("a platform URL carries no user name or password")
    try:
        found = {info[4][0] for info in _resolve(parts.hostname, port)}
    except (OSError, UnicodeError):
        return  # unknown name: the request fails like any unreachable host, with the same answer
    if found and not any(address_allowed(a, allowed) for a in found):
        raise AddressNotAllowed(f"{parts.hostname} is a loopback, private or link-local address; the operator "
                                "allows such platforms with CREDBRIDGE_LTI_PRIVATE_NETWORKS")


def _guarded_connection(base: type[HTTPConnection], allowed: Sequence[Network]) -> type[HTTPConnection]:
    class Guarded(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            timeout = self.timeout if isinstance(self.timeout, int | float) else None
            refused: OSError | None = None
            try:
                infos = _resolve(self._dns_host, self.port)
            except OSError as exc:
                raise NewConnectionError(self, f"cannot resolve {self._dns_host}: {exc}") from exc
            for family, kind, proto, _name, address in infos:
                if not address_allowed(address[0], allowed):
                    log.warning("platform HTTP: %s resolves to %s, which may not be reached", self._dns_host,
                                address[0])
                    continue
                sock = socket.socket(family, kind, proto)
                for option in self.socket_options or []:
                    sock.setsockopt(*option)
                sock.settimeout(timeout)
                try:
                    sock.connect(address)
                except OSError as exc:
                    sock.close()
                    refused = exc
                    continue
                return sock
            raise NewConnectionError(self, f"no allowed address of {self._dns_host} answered ({refused})")

    return Guarded


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allowed: Sequence[Network]) -> None:
        self._allowed = tuple(allowed)
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        http_connection = _guarded_connection(HTTPConnection, self._allowed)
        https_connection = _guarded_connection(HTTPSConnection, self._allowed)
        http_pool = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection})
        https_pool = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection})
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}


def guarded_session(allowed: Sequence[Network]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the address checked is the one reached
    session.max_redirects = 0
    adapter = _GuardedAdapter(allowed)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "credbridge-lti-registration/0.1"
    return session


def read_limited(response: requests.Response, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """The body, refusing more than ``limit`` bytes (a hostile server could send gigabytes)."""
    body = b""
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise ValueError(f"the answer is larger than {limit} bytes")
    return body
