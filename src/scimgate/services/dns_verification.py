"""DNS proof that a workspace controls an email domain: a TXT record holding its challenge.

The admin publishes ``scimgate-verification=<challenge>`` as a TXT record at the domain itself
or at ``_scimgate.<domain>`` (an underscored name, as RFC 8552 does for attribute leaves, keeps
the domain's own TXT set clean). ``check_txt`` asks for both names at once with dnspython and
reports, per name, exactly what it found: the record, other TXT values, no TXT record, no such
name (NXDOMAIN), no answer in time, or a server failure. Every lookup is bounded by the
configured timeout; the two names are asked in parallel, so a check takes at most that long.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

import dns.exception
import dns.resolver

from scimgate.config import Settings

RECORD_PREFIX = "scimgate-verification="
SUBDOMAIN_LABEL = "_scimgate"


@dataclass(frozen=True)
class ResolverConfig:
    """Where to ask: ``nameservers`` (IP addresses; empty = the system's resolv.conf), their
    ``port`` and the time budget of one check in seconds."""

    nameservers: tuple[str, ...] = ()
    port: int = 53
    timeout_seconds: float = 3.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ResolverConfig:
        """From ``SCIMGATE_DNS_NAMESERVERS`` (comma- or space-separated addresses),
        ``SCIMGATE_DNS_PORT`` and ``SCIMGATE_DNS_TIMEOUT_SECONDS``."""
        raw = (settings.dns_nameservers or "").replace(",", " ")
        return cls(tuple(raw.split()), settings.dns_port, settings.dns_timeout_seconds)

    def describe(self) -> str:
        """``127.0.0.1:5353`` or ``the system resolver``, for messages."""
        if not self.nameservers:
            return "the system resolver"
        return ", ".join(f"{ns}:{self.port}" for ns in self.nameservers)


class Finding(StrEnum):
    """What one name's TXT lookup found."""

    MATCH = "match"
    OTHER_VALUES = "other_values"
    NO_TXT = "no_txt"
    NXDOMAIN = "nxdomain"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True)
class NameResult:
    """The lookup of one name: its finding, the TXT strings seen and any resolver message."""

    name: str
    finding: Finding
    values: tuple[str, ...] = ()
    error: str = ""

    def describe(self, resolver: ResolverConfig) -> str:
        """One sentence saying what was found at this name."""
        if self.finding is Finding.MATCH:
            return f"{self.name}: the verification record is present."
        if self.finding is Finding.OTHER_VALUES:
            found = ", ".join(f'"{value}"' for value in self.values)
            return f"{self.name}: TXT records exist but none is the expected value (found {found})."
        if self.finding is Finding.NO_TXT:
            return f"{self.name}: the name exists but has no TXT record."
        if self.finding is Finding.NXDOMAIN:
            return f"{self.name}: the name does not exist (NXDOMAIN)."
        if self.finding is Finding.TIMEOUT:
            return (f"{self.name}: no answer from {resolver.describe()} within "
                    f"{resolver.timeout_seconds:g} s (timeout).")
        return f"{self.name}: the lookup failed ({self.error})."


@dataclass(frozen=True)
class DnsCheck:
    """The outcome of one verification attempt over both names."""

    expected: str
    results: tuple[NameResult, ...]
    resolver: ResolverConfig

    @property
    def verified(self) -> bool:
        return any(r.finding is Finding.MATCH for r in self.results)

    @property
    def matched_name(self) -> str | None:
        """The name where the record was found, or None."""
        return next((r.name for r in self.results if r.finding is Finding.MATCH), None)

    def explanation(self) -> str:
        """For the admin: what was found where and, on failure, what to publish."""
        if self.verified:
            return f"Found the TXT record {self.expected} at {self.matched_name}."
        names = " or ".join(r.name for r in self.results)
        found = " ".join(r.describe(self.resolver) for r in self.results)
        return (f"The TXT record {self.expected} was not found. {found} Publish a TXT record "
                f"with the value {self.expected} at {names}, wait for DNS to propagate, then verify again.")


def expected_record(challenge: str) -> str:
    """The TXT value proving control: ``scimgate-verification=<challenge>``."""
    return RECORD_PREFIX + challenge


def record_names(domain: str) -> tuple[str, str]:
    """The two names where the record may be published: the domain and ``_scimgate.<domain>``."""
    return domain, f"{SUBDOMAIN_LABEL}.{domain}"


def check_txt(domain: str, challenge: str, resolver: ResolverConfig) -> DnsCheck:
    """Look for ``scimgate-verification=<challenge>`` in the TXT records of ``domain`` (an
    IDNA A-label name) and of ``_scimgate.<domain>``. Never raises for DNS trouble: every
    failure is a Finding in the result."""
    expected = expected_record(challenge)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = tuple(pool.map(lambda name: _lookup(name, expected, resolver), record_names(domain)))
    return DnsCheck(expected, results, resolver)


def _resolver(config: ResolverConfig) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=not config.nameservers)
    if config.nameservers:
        resolver.nameservers = list(config.nameservers)
        resolver.port = config.port
    resolver.timeout = config.timeout_seconds
    resolver.lifetime = config.timeout_seconds
    resolver.cache = None
    return resolver


def _lookup(name: str, expected: str, config: ResolverConfig) -> NameResult:
    try:
        answer = _resolver(config).resolve(name, "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        return NameResult(name, Finding.NXDOMAIN)
    except dns.resolver.NoAnswer:
        return NameResult(name, Finding.NO_TXT)
    except dns.exception.Timeout:
        return NameResult(name, Finding.TIMEOUT)
    except dns.exception.DNSException as exc:
        return NameResult(name, Finding.ERROR, error=str(exc))
    # A TXT record may be split into several character-strings; they form one value (RFC 7208 §3.3).
    values = tuple(b"".join(rdata.strings).decode("utf-8", "replace").strip() for rdata in answer)
    if expected in values:
        return NameResult(name, Finding.MATCH, values)
    return NameResult(name, Finding.OTHER_VALUES, values)
