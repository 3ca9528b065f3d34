"""Settings, read from ``SCIMGATE_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SCIM_PREFIX = "/api/scim/v2"


class Settings(BaseSettings):
    """Every setting scimgate reads, with its environment variable and default.

    - ``database_url`` (``SCIMGATE_DATABASE_URL``): SQLAlchemy URL; SQLite at ``./var/scimgate.db``
      by default, ``postgresql+psycopg://...`` in production.
    - ``public_url`` (``SCIMGATE_PUBLIC_URL``): the externally visible origin; the SCIM Base URL is
      this plus ``/api/scim/v2``. Unset, it is ``http://<host>:<port>`` of ``host``/``port``
      (``SCIMGATE_HOST``, ``SCIMGATE_PORT``: where ``scimgate serve`` listens; a wildcard address
      is shown as 127.0.0.1), so every command prints the address the server really has.
    - ``max_results``: the largest ``count`` a list answers (RFC 7644 §3.4.2.4; advertised as
      ``filter.maxResults``).
    - ``max_body_bytes``: larger request bodies get 413.
    - ``rate_limit_per_second`` / ``rate_limit_burst``: the token bucket per SCIM token (0 = off).
    - ``redis_url``: share the rate-limit buckets through Redis instead of the database.
    - ``sign_in_account_burst`` / ``sign_in_account_per_minute``, ``sign_in_address_burst`` /
      ``sign_in_address_per_minute``: admin sign-in attempts per account (shared by every worker) and
      per client address (per worker)
      (services.sign_in_guard); ``sign_in_hashes_in_flight``: password hashes at once per process;
      ``sign_in_hashes_per_second``: password hashes a second per process (bursts of twice that).
    - ``sso_address_burst`` / ``sso_address_per_minute``: member sign-ins (``POST /login`` with the
      OIDC callback, and the SAML ACS: two buckets) per client address (services.sso_throttle).
    - ``forwarded_allow_ips``: addresses of the TLS proxies whose ``X-Forwarded-Proto`` and
      ``X-Forwarded-For`` are believed (``scimgate serve``); default loopback only.
    - ``audit_flush_seconds``: how often a worker writes the pending audit rows of reads
      (services.audit_journal): on a crash without shutdown, at most this much of reads' log is lost.
    - ``token_cache_seconds``: how long a worker reuses a SCIM token's resolution (0 to 2; 0 =
      look it up on every request); a change made on another worker or process holds within it.
    - ``dns_nameservers`` / ``dns_timeout_seconds``: the resolver for domain verification.
    - ``event_retention_days``: how long events (and cursors into them) are kept (``scimgate events
      purge``; the deliverer also purges hourly).
    - ``webhook_allow_private`` (``SCIMGATE_WEBHOOK_ALLOW_PRIVATE``): allow webhook URLs on
      loopback, private and link-local addresses and plain http (development and tests only).
    - ``webhook_deliverer``: run a webhook deliverer inside each server worker (else run
      ``scimgate events deliver``); ``webhook_poll_seconds``: how often it looks for work that
      another process committed; ``webhook_retry_schedule``: the delays in seconds between
      attempts (a delivery is given up, and its endpoint disabled, after the last);
      ``webhook_timeout_seconds``: the whole of one attempt's HTTP exchange.
    - ``oidc_allow_loopback_http``: accept an OpenID Connect issuer and endpoints over plain
      http on a loopback host (127.0.0.0/8, ::1, localhost): for tests and local providers only;
      everything else must be https.
    - ``smtp_host`` / ``smtp_port`` / ``smtp_from`` / ``smtp_starttls`` / ``smtp_username`` /
      ``smtp_password``: the mail server alerts go through (scimgate.alerts; no host: no alert
      is mailed); ``alert_error_rate``: the 24-hour failure rate from which provisioning counts
      as failing (0 to 1).
    - ``secret_key``: signs admin session cookies and keys the sealing of stored secrets
      (services.sealing: OIDC client secrets); must be the same on every worker and machine.
      When unset, a random key is made once and kept in ``secret_key_file`` (mode 0600), so a
      single-machine install is safe without configuration and no default key exists.
    """

    model_config = SettingsConfigDict(env_prefix="SCIMGATE_", extra="ignore")

    database_url: str = "sqlite:///./var/scimgate.db"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    max_results: int = 200
    default_count: int = 100
    max_body_bytes: int = 1024 * 1024
    rate_limit_per_second: float = 100.0
    rate_limit_burst: int = 200
    redis_url: str | None = None
    sign_in_account_burst: int = 10
    sign_in_account_per_minute: float = 2.0
    sign_in_address_burst: int = 30
    sign_in_address_per_minute: float = 10.0
    sign_in_hashes_in_flight: int = 1  # one argon2id at a time: docs/benchmarks.md "Sign-in flood"
    sign_in_hashes_per_second: float = 1.0  # one argon2id: ~0.14 s of both cores; docs/decisions.md
    sso_address_burst: int = 120
    sso_address_per_minute: float = 60.0
    forwarded_allow_ips: str = "127.0.0.1"
    audit_flush_seconds: float = Field(default=0.2, gt=0.0, le=3600.0)
    token_cache_seconds: float = Field(default=2.0, ge=0.0, le=2.0)
    dns_nameservers: str | None = None
    dns_port: int = 53
    dns_timeout_seconds: float = 3.0
    event_retention_days: int = Field(default=30, ge=1, le=3650)
    webhook_allow_private: bool = False
    webhook_deliverer: bool = True
    webhook_poll_seconds: float = Field(default=1.0, gt=0.0, le=60.0)
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    webhook_timeout_seconds: float = Field(default=10.0, gt=0.0, le=30.0)
    oidc_allow_loopback_http: bool = False
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "scimgate@localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    alert_error_rate: float = Field(default=0.2, gt=0.0, le=1.0)
    secret_key: str = ""
    secret_key_file: str = "./var/secret_key"
    log_json: bool = True

    @model_validator(mode="after")
    def _local_public_url(self) -> Settings:
        if not self.public_url:
            shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
            self.public_url = f"http://{shown}:{self.port}"
        return self

    @property
    def scim_base_url(self) -> str:
        """The SCIM Base URL an identity provider is given (RFC 7644 §1.3)."""
        return self.public_url.rstrip("/") + SCIM_PREFIX


def resolve_secret_key(settings: Settings) -> str:
    """``settings.secret_key``, or the key kept in ``settings.secret_key_file`` (made on first
    use from 32 random bytes; created exclusively, so workers starting together agree)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.secret_key_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            key = path.read_text(encoding="ascii").strip()
            if key:
                return key
            time.sleep(0.1)
        raise RuntimeError(f"{path} is empty: delete it or set SCIMGATE_SECRET_KEY") from None
    key = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
