"""DNS verification of email domains against a real DNS server on 127.0.0.1 (issue 7 §2)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from tests.dns_server import DnsZone, dns_server

from scimgate.config import Settings
from scimgate.services.dns_verification import Finding, ResolverConfig, check_txt

CHALLENGE = "0123456789abcdef0123456789abcdef"
RECORD = f"scimgate-verification={CHALLENGE}"


@pytest.fixture(scope="module")
def zone() -> Iterator[DnsZone]:
    """One dnslib server for the module."""
    with dns_server() as served:
        yield served


@pytest.fixture
def resolver(zone: DnsZone) -> ResolverConfig:
    return ResolverConfig(("127.0.0.1",), zone.port, 0.5)


def fresh_domain() -> str:
    return f"d{uuid.uuid4().hex[:10]}.example"


def test_record_at_domain_verifies(zone: DnsZone, resolver: ResolverConfig) -> None:
    """TXT scimgate-verification=<challenge> at the domain itself verifies it (issue 7 §2a)."""
    domain = fresh_domain()
    zone.add_txt(domain, "v=spf1 -all", RECORD)
    check = check_txt(domain, CHALLENGE, resolver)
    assert check.verified and check.matched_name == domain
    assert check.explanation() == f"Found the TXT record {RECORD} at {domain}."


def test_record_at_underscore_name_verifies(zone: DnsZone, resolver: ResolverConfig) -> None:
    """The record may instead be at _scimgate.<domain> (issue 7 §2a)."""
    domain = fresh_domain()
    zone.empty.add(domain)
    zone.add_txt(f"_scimgate.{domain}", RECORD)
    check = check_txt(domain, CHALLENGE, resolver)
    assert check.verified and check.matched_name == f"_scimgate.{domain}"


def test_wrong_value_is_reported_with_what_was_found(zone: DnsZone, resolver: ResolverConfig) -> None:
    """A TXT record with another value fails and the explanation quotes the values found."""
    domain = fresh_domain()
    zone.add_txt(domain, "scimgate-verification=stale", "v=spf1 -all")
    zone.empty.add(f"_scimgate.{domain}")
    check = check_txt(domain, CHALLENGE, resolver)
    assert not check.verified
    assert [r.finding for r in check.results] == [Finding.OTHER_VALUES, Finding.NO_TXT]
    text = check.explanation()
    assert '"scimgate-verification=stale", "v=spf1 -all"' in text
    assert f"_scimgate.{domain}: the name exists but has no TXT record." in text
    assert f"Publish a TXT record with the value {RECORD} at {domain} or _scimgate.{domain}" in text


def test_missing_record_is_reported(zone: DnsZone, resolver: ResolverConfig) -> None:
    """A name with no TXT record at all fails as 'no TXT record' at both names."""
    domain = fresh_domain()
    zone.empty.update({domain, f"_scimgate.{domain}"})
    check = check_txt(domain, CHALLENGE, resolver)
    assert [r.finding for r in check.results] == [Finding.NO_TXT, Finding.NO_TXT]
    assert f"{domain}: the name exists but has no TXT record." in check.explanation()


def test_nxdomain_is_reported(resolver: ResolverConfig) -> None:
    """A domain that does not exist fails as NXDOMAIN, said in words."""
    domain = fresh_domain()
    check = check_txt(domain, CHALLENGE, resolver)
    assert [r.finding for r in check.results] == [Finding.NXDOMAIN, Finding.NXDOMAIN]
    assert f"{domain}: the name does not exist (NXDOMAIN)." in check.explanation()


def test_timeout_is_bounded_and_reported(zone: DnsZone, resolver: ResolverConfig) -> None:
    """A server that never answers fails within the timeout (both names asked in parallel)."""
    domain = fresh_domain()
    zone.silent.update({domain, f"_scimgate.{domain}"})
    started = time.monotonic()
    check = check_txt(domain, CHALLENGE, resolver)
    elapsed = time.monotonic() - started
    assert [r.finding for r in check.results] == [Finding.TIMEOUT, Finding.TIMEOUT]
    assert elapsed < 1.5
    assert f"no answer from 127.0.0.1:{zone.port} within 0.5 s (timeout)" in check.explanation()


def test_match_at_one_name_wins_over_timeout_at_the_other(zone: DnsZone, resolver: ResolverConfig) -> None:
    """The record at _scimgate.<domain> verifies even when the apex lookup times out."""
    domain = fresh_domain()
    zone.silent.add(domain)
    zone.add_txt(f"_scimgate.{domain}", RECORD)
    assert check_txt(domain, CHALLENGE, resolver).verified


def test_resolver_config_reads_settings() -> None:
    """SCIMGATE_DNS_NAMESERVERS (comma or space separated), _PORT and _TIMEOUT_SECONDS configure it."""
    settings = Settings(dns_nameservers="127.0.0.1, 10.0.0.2", dns_port=5353, dns_timeout_seconds=1.5)
    assert ResolverConfig.from_settings(settings) == ResolverConfig(("127.0.0.1", "10.0.0.2"), 5353, 1.5)
    assert ResolverConfig.from_settings(Settings(dns_nameservers=None)).nameservers == ()
