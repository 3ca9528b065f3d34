"""Settings, read from ``SCIMGATE_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

SCIM_PREFIX = "/api/scim/v2"


class Settings(BaseSettings):
    """Every setting scimgate reads, with its environment variable and default.

    - ``database_url`` (``SCIMGATE_DATABASE_URL``): SQLAlchemy URL; SQLite at ``./var/scimgate.db``
      by default, ``postgresql+psycopg://...`` in production.
    - ``public_url`` (``SCIMGATE_PUBLIC_URL``): the externally visible origin; the SCIM Base URL is
      this plus ``/api/scim/v2``.
    - ``max_results``: the largest ``count`` a list answers (RFC 7644 §3.4.2.4; advertised as
      ``filter.maxResults``).
    - ``max_body_bytes``: larger request bodies get 413.
    - ``rate_limit_per_second`` / ``rate_limit_burst``: the token bucket per SCIM token (0 = off).
    - ``redis_url``: share the rate-limit buckets through Redis instead of the database.
    - ``dns_nameservers`` / ``dns_timeout_seconds``: the resolver for domain verification.
    - ``secret_key``: signs admin session cookies; must be the same on every worker.
    """

    model_config = SettingsConfigDict(env_prefix="SCIMGATE_", extra="ignore")

    database_url: str = "sqlite:///./var/scimgate.db"
    public_url: str = "http://127.0.0.1:8000"
    max_results: int = 200
    default_count: int = 100
    max_body_bytes: int = 1024 * 1024
    rate_limit_per_second: float = 100.0
    rate_limit_burst: int = 200
    redis_url: str | None = None
    dns_nameservers: str | None = None
    dns_port: int = 53
    dns_timeout_seconds: float = 3.0
    secret_key: str = "change-me-in-production"
    log_json: bool = True

    @property
    def scim_base_url(self) -> str:
        """The SCIM Base URL an identity provider is given (RFC 7644 §1.3)."""
        return self.public_url.rstrip("/") + SCIM_PREFIX
