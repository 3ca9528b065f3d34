"""Rate limiting per SCIM token: a token bucket shared by every worker (issue 3 §4).

Entra's gallery checklist asks an app to accept at least 25 requests per second per tenant,
and Entra's handling of 429 is not confirmed (docs/identity-providers.md §6), so the default
budget (``rate_limit_per_second`` = 100, ``rate_limit_burst`` = 200) sits well above that and a
refused request is told to come back soon: ``Retry-After`` is the whole seconds until the next
token, at least 1.

When Redis holds the buckets and cannot be reached, requests are let through: a limiter outage
must not turn into a provisioning outage, which Entra would answer by quarantining the job. The
store's circuit breaker (storage.rate_limit) keeps that fast and logs once per outage.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from scimgate.config import Settings
from scimgate.scim.errors import TooManyRequestsException
from scimgate.storage.rate_limit import BucketsUnavailable, DatabaseBuckets, LeasingStore, RedisBuckets

LEASE_TOKENS = 25
"""The most tokens a worker leases from the shared bucket at once."""
LEASE_SECONDS = 1.0
"""How long a worker may spend a lease; what is left then is dropped."""
LEASED_KEYS = 1024
"""Leases kept at most; beyond that the expired ones are dropped."""


@dataclass
class RateLimiter:
    """``rate`` requests per second per key, with bursts of up to ``burst``, leased from
    ``store`` ``lease`` tokens at a time (module docstring). Thread-safe."""

    store: LeasingStore
    rate: float
    burst: float
    clock: Any = time.monotonic
    lease: int = field(init=False)
    _leases: dict[str, tuple[int, float]] = field(init=False, default_factory=dict)
    _guard: threading.Lock = field(init=False, default_factory=threading.Lock)
    _leasing: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.lease = max(1, min(LEASE_TOKENS, int(self.burst // 8)))

    def spend_leased(self, key: str) -> bool:
        """Spend one of the tokens this process holds for ``key``: True when one was spent (no
        I/O: callable from the event loop), False when a shared-store call (:meth:`check`) is due."""
        with self._guard:
            left, until = self._leases.get(key, (0, 0.0))
            if left < 1 or self.clock() >= until:
                return False
            self._leases[key] = (left - 1, until)
            return True

    def check(self, key: str) -> None:
        """Spend one request of ``key``'s budget, from this process's lease or else by leasing
        from the shared store; raises ``TooManyRequestsException`` (429, ``retry_after`` in
        whole seconds) when it is used up."""
        if self.spend_leased(key):
            return
        with self._leasing:  # one lease at a time: requests that ran out together share the next
            if self.spend_leased(key):
                return
            with self._guard:
                unspent = self._leases.pop(key, (0, 0.0))[0]
            try:
                taken, wait = self.store.take_up_to(key, self.rate, self.burst, self.lease, give_back=unspent)
            except BucketsUnavailable:
                return  # logged once per outage by the store's circuit breaker
            if taken > 1:
                self._keep(key, taken - 1)
        if taken < 1:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequestsException(
                retry_after=seconds,
                detail=f"Too many requests for this SCIM token (limit {self.rate:g}/s, "
                f"burst {self.burst:g}); retry after {seconds} s.",
            )

    def _keep(self, key: str, tokens: int) -> None:
        with self._guard:
            now = self.clock()
            if len(self._leases) >= LEASED_KEYS:  # a key dropped here keeps its unspent tokens away
                self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
            self._leases[key] = (tokens, now + LEASE_SECONDS)


def make_rate_limiter(settings: Settings, sessions: sessionmaker[Session]) -> RateLimiter | None:
    """The limiter ``settings`` ask for: None when ``rate_limit_per_second`` is 0; buckets in
    Redis when ``redis_url`` is set, else in the database."""
    if settings.rate_limit_per_second <= 0:
        return None
    store: LeasingStore = (
        RedisBuckets.from_url(settings.redis_url) if settings.redis_url else DatabaseBuckets(sessions)
    )
    burst = max(1.0, float(settings.rate_limit_burst))
    return RateLimiter(store, settings.rate_limit_per_second, burst)
