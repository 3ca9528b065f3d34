"""Which webhook URLs may be called: the SSRF rules (docs/events.md, "Endpoints").

A URL must be ``https`` and its host must resolve only to public addresses: never loopback,
private (RFC 1918, unique-local ``fc00::/7``), link-local (``169.254.0.0/16`` with the cloud
metadata address ``169.254.169.254``, ``fe80::/10``), shared (``100.64.0.0/10``), multicast,
reserved or unspecified ones; an IPv4-mapped IPv6 address counts as its IPv4 address. The check
runs when an endpoint is added and again before every connection, which then goes to the very
address checked (a DNS answer that changes between the two, "DNS rebinding", gains nothing).
``allow_private`` (``SCIMGATE_WEBHOOK_ALLOW_PRIVATE``, development and tests) lifts the address
rule and allows plain ``http``.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048


class TargetRefused(ValueError):
    """The URL may not be called; the message says why (for the admin, no secret in it)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its host (for ``Host`` and TLS server name) and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str

    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        parts = urlsplit(self.url)
        shown = f"[{self.address}]" if ":" in self.address else self.address
        path = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.scheme}://{shown}:{self.port}{path}{query}"


def is_public(address: str) -> bool:
    """Whether ``address`` (IPv4 or IPv6 text) is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_url(url: str, *, allow_private: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL acceptable in form; raises TargetRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("The URL is not valid.") from exc
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_private and scheme == "http"):
        raise TargetRefused("A webhook URL must start with https://.")
    if not parts.hostname:
        raise TargetRefused("The URL has no host.")
    if parts.username or parts.password:
        raise TargetRefused("A webhook URL cannot carry a user name or password.")
    if parts.fragment:
        raise TargetRefused("A webhook URL cannot have a #fragment.")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def resolve(url: str, *, allow_private: bool) -> Target:
    """Check ``url`` and resolve its host; the first acceptable address is the one to connect
    to. Raises TargetRefused when the form is wrong, the host does not resolve, or (unless
    ``allow_private``) any address it resolves to is not public: one private answer among public
    ones refuses the whole name."""
    scheme, host, port = check_url(url, allow_private=allow_private)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"The host {host} does not resolve.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused(f"The host {host} does not resolve.")
    if not allow_private:
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise TargetRefused(f"The host {host} resolves to {refused[0]}, a loopback, private, link-local "
                                "or otherwise non-public address: webhooks go to public addresses only.")
    return Target(url.strip(), scheme, host, port, addresses[0])
