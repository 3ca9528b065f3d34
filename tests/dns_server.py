"""A real DNS server on 127.0.0.1 for domain-verification tests (dnslib's DNSServer, UDP).

``DnsZone`` is what it answers: names with TXT values, names that exist without TXT (NOERROR,
empty answer), silent names (no reply at all: the client times out) and NXDOMAIN for anything
else. Tests add names unique to themselves, so one server serves a whole module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSError, DNSLogger, DNSServer


@dataclass
class DnsZone:
    """The records the test server answers (names without the trailing dot, lower-case)."""

    txt: dict[str, list[str]] = field(default_factory=dict)
    empty: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    port: int = 0

    def add_txt(self, name: str, *values: str) -> None:
        self.txt.setdefault(name.lower(), []).extend(values)


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: DnsZone):
        self.zone = zone

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        name = str(request.q.qname).rstrip(".").lower()
        if name in self.zone.silent:
            raise DNSError("silent name: no reply")  # the handler drops the request
        reply = request.reply()
        if name in self.zone.txt:
            if request.q.qtype == QTYPE.TXT:
                for value in self.zone.txt[name]:
                    reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=60))
        elif name not in self.zone.empty:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@contextmanager
def dns_server() -> Iterator[DnsZone]:
    """Run the server on a free UDP port of 127.0.0.1; the zone's ``port`` says which."""
    zone = DnsZone()
    quiet = DNSLogger(logf=lambda *args: None)
    server = DNSServer(_ZoneResolver(zone), address="127.0.0.1", port=0, logger=quiet)
    zone.port = server.server.server_address[1]
    server.start_thread()
    try:
        yield zone
    finally:
        server.stop()
        server.server.server_close()


def dns_env(zone: DnsZone, timeout_seconds: float = 0.5) -> dict[str, str]:
    """The settings that point a scimgate process at the test server."""
    return {
        "SCIMGATE_DNS_NAMESERVERS": "127.0.0.1",
        "SCIMGATE_DNS_PORT": str(zone.port),
        "SCIMGATE_DNS_TIMEOUT_SECONDS": str(timeout_seconds),
    }
