"""Member sign-in throttling: a budget per client address for ``POST /login`` and the ACS
(issue 18 "sign-in and ACS endpoints rate-limited").

Each ``POST /login`` writes an AuthnRequest row and each ACS post runs a signature check in an
``xmlsec1`` process (bench: a few milliseconds of CPU each), so both are budgeted per client
address with token buckets (storage.rate_limit), one bucket per endpoint and address; an empty
bucket is answered 429 with ``Retry-After`` before any database or XML work (RFC 6585 §4).
The budget is wider than the admin sign-in's (services.sign_in_guard): a whole office signs in
through one NAT address in the morning, and a member's sign-in costs no password hash.

Buckets live where the admin sign-in's do: Redis when ``redis_url`` is set, falling back to the
database while Redis is down; else the database. Keys are SHA-256 digests (no address stored). Each worker
asks its own in-memory buckets first (storage.rate_limit.LocalBuckets): a refusal there
touches no database.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from scimgate.config import Settings
from scimgate.services.sign_in_guard import Budget, SignInThrottled, bucket_key
from scimgate.storage.rate_limit import (
    BucketStore,
    DatabaseBuckets,
    FallbackBuckets,
    LocalBuckets,
    RedisBuckets,
)

ENDPOINTS = ("login", "acs")


class SsoThrottle:
    """The per-address budget of the member sign-in endpoints (``ENDPOINTS``)."""

    def __init__(self, store: BucketStore, budget: Budget, local: LocalBuckets | None = None):
        self.store, self.budget = store, budget
        self.local = local if local is not None else LocalBuckets()

    def admit(self, endpoint: str, address: str) -> None:
        """Spend one request of ``address``'s budget at ``endpoint``; SignInThrottled (with
        ``retry_after`` in whole seconds) when it is used up; this process's buckets answer
        first, as the admin sign-in's do (services.sign_in_guard)."""
        key = bucket_key(f"sso-{endpoint}", address)
        for store in (self.local, self.store):
            wait = store.take(key, self.budget.rate, self.budget.burst)
            if wait > 0:
                raise SignInThrottled(wait)


def make_sso_throttle(settings: Settings, sessions: sessionmaker[Session]) -> SsoThrottle:
    """The throttle ``settings`` ask for (``sso_address_burst``, ``sso_address_per_minute``)."""
    database = DatabaseBuckets(sessions)
    store: BucketStore = (FallbackBuckets(RedisBuckets.from_url(settings.redis_url), database)
                          if settings.redis_url else database)
    budget = Budget(settings.sso_address_per_minute, max(1.0, float(settings.sso_address_burst)))
    return SsoThrottle(store, budget)
