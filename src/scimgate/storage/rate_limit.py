"""Token buckets shared by every worker: in the database (``rate_bucket`` table) or in Redis.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; a request
takes one token. The classic algorithm (Turner, "New directions in communications", 1986; the
form used by e.g. Stripe's and GitHub's API limiters) stores just two numbers per key: the
tokens left at ``updated``. Both stores do the read-refill-take-write step atomically, so
several worker processes (or machines) share one budget per key:

- database: the row is created if missing (``INSERT ... ON CONFLICT DO NOTHING``) and read with
  ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the transaction starts with
  ``BEGIN IMMEDIATE`` (``storage.db``), which serialises writers;
- Redis: one Lua script (``EVAL`` runs scripts atomically, Redis docs "Scripting with Lua"),
  timed by the Redis server's own clock so the workers' clocks do not matter.

Contract: ``take(key, rate, burst)`` returns 0.0 when a token was taken, else the seconds until
one will be available (nothing is taken then). ``take_up_to(key, rate, burst, count)`` takes as
many tokens as the bucket holds, up to ``count``, and returns ``(tokens taken, seconds to wait)``
(the wait only when none was taken), after putting back ``give_back`` tokens taken earlier and
not spent (capped at the burst): the SCIM limiter leases a few tokens at a time with it
(services.rate_limit). ``RedisBuckets`` raises ``BucketsUnavailable`` when Redis cannot be
reached.

Redis failing is made cheap: the client waits at most ``REDIS_TIMEOUT_SECONDS`` for a connection
or an answer (a Redis that accepts and never answers costs that, not uvicorn's whole request),
and a circuit breaker (:class:`CircuitBreaker`; Nygard, "Release It!", ch. "Stability Patterns")
stops calling Redis for ``OPEN_SECONDS`` after a failure: during an outage a request costs one
failed call per ``OPEN_SECONDS`` per process, and the log gets one warning when the outage
starts and one line when Redis answers again, not a line per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from scimgate.storage.db import transaction
from scimgate.storage.models import RateBucket

REDIS_TIMEOUT_SECONDS = 0.1
"""Connect and read timeout of the Redis client: loopback or a LAN answers in well under 1 ms."""
OPEN_SECONDS = 5.0
"""How long the breaker stays open (Redis not called) after a failure."""

log = logging.getLogger("scimgate.rate_limit")


class BucketsUnavailable(RuntimeError):
    """The bucket store cannot be reached (Redis down or unreachable)."""


def refill_and_take(tokens: float, elapsed: float, rate: float, burst: float) -> tuple[float, float]:
    """One token-bucket step: ``(tokens left, seconds to wait)``; the wait is 0.0 when a token
    was taken. ``elapsed`` (seconds since the bucket was last written) is clamped at 0."""
    left, _, wait = refill_and_take_up_to(tokens, elapsed, rate, burst, 1)
    return left, wait


def refill_and_take_up_to(tokens: float, elapsed: float, rate: float, burst: float,
                          count: int) -> tuple[float, int, float]:
    """One token-bucket step taking up to ``count`` whole tokens: ``(tokens left, tokens
    taken, seconds to wait)``; the wait is 0.0 when at least one was taken."""
    available = min(burst, tokens + max(elapsed, 0.0) * rate)
    taken = min(max(count, 1), int(available))
    if taken >= 1:
        return available - taken, taken, 0.0
    return available, 0, (1.0 - available) / rate


class BucketStore(Protocol):
    """Where buckets live; see the module docstring for the contract of ``take``."""

    def take(self, key: str, rate: float, burst: float) -> float: ...


class LeasingStore(BucketStore, Protocol):
    """A shared store that also hands out several tokens at once (``take_up_to``)."""

    def take_up_to(self, key: str, rate: float, burst: float, count: int,
                   give_back: int = 0) -> tuple[int, float]: ...


@dataclass
class DatabaseBuckets:
    """Buckets as ``rate_bucket`` rows (key, tokens, updated in epoch seconds)."""

    sessions: sessionmaker[Session]

    def take(self, key: str, rate: float, burst: float) -> float:
        """Take a token from ``key``'s bucket in one short transaction of its own."""
        return self.take_up_to(key, rate, burst, 1)[1]

    def take_up_to(self, key: str, rate: float, burst: float, count: int,
                   give_back: int = 0) -> tuple[int, float]:
        """Put back ``give_back`` tokens and take up to ``count`` from ``key``'s bucket in one
        short transaction of its own: three Core statements built once (the row ensured, read
        locked, written back)."""
        with transaction(self.sessions) as session:
            connection = session.connection()
            now = time.time()
            postgres = connection.dialect.name == "postgresql"
            connection.execute(_ENSURE_POSTGRES if postgres else _ENSURE_SQLITE,
                               {"key": key, "tokens": float(burst), "updated": now})
            tokens, updated = connection.execute(_READ_LOCKED, {"key": key}).one()
            left, taken, wait = refill_and_take_up_to(tokens + give_back, now - updated, rate, burst, count)
            connection.execute(_WRITE, {"b_key": key, "tokens": left, "updated": now})
            return taken, wait


_BUCKETS: Table = RateBucket.__table__  # type: ignore[assignment]
_ENSURE_POSTGRES = postgresql.insert(_BUCKETS).on_conflict_do_nothing(index_elements=["key"])
_ENSURE_SQLITE = sqlite.insert(_BUCKETS).on_conflict_do_nothing(index_elements=["key"])
_READ_LOCKED = (select(_BUCKETS.c.tokens, _BUCKETS.c.updated).where(_BUCKETS.c.key == bindparam("key"))
                .with_for_update())
_WRITE = (update(_BUCKETS).where(_BUCKETS.c.key == bindparam("b_key"))
          .values(tokens=bindparam("tokens"), updated=bindparam("updated")))


# KEYS[1] bucket key; ARGV rate, burst, ttl seconds, count, tokens given back. Returns {tokens
# taken, the wait in microseconds when none was}.
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = (tonumber(state[1]) or burst) + (tonumber(ARGV[5]) or 0)
local updated = tonumber(state[2]) or now
local elapsed = math.max(now - updated, 0)
tokens = math.min(burst, tokens + elapsed * rate)
local wait = 0
local taken = math.min(math.max(tonumber(ARGV[4]), 1), math.floor(tokens))
if taken >= 1 then
  tokens = tokens - taken
else
  taken = 0
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {taken, math.ceil(wait * 1000000)}
"""


@dataclass
class CircuitBreaker:
    """Closed (calls go through) until a call fails, then open for ``open_seconds`` (calls fail
    at once), then half-open: the next call is a trial that closes it again on success.

    One warning is logged when it opens after having been closed, and one info line when a call
    succeeds after an outage; failures while the outage lasts log nothing. Thread-safe.
    """

    name: str
    open_seconds: float = OPEN_SECONDS
    clock: Any = time.monotonic
    _open_until: float = 0.0
    _in_outage: bool = False
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def allow(self) -> bool:
        """True when a call may be tried now (closed, or the open period is over)."""
        return self.clock() >= self._open_until

    def failed(self, reason: str) -> None:
        """Record a failed call: open the breaker; warn if this starts an outage."""
        with self._guard:
            self._open_until = self.clock() + self.open_seconds
            starting, self._in_outage = not self._in_outage, True
        if starting:
            log.warning("%s unavailable (%s); not tried again for %.0f s at a time until it answers",
                        self.name, reason, self.open_seconds)

    def succeeded(self) -> None:
        """Record a successful call: close the breaker; log the recovery after an outage."""
        with self._guard:
            recovered, self._in_outage = self._in_outage, False
            self._open_until = 0.0
        if recovered:
            log.info("%s recovered", self.name)


@dataclass
class RedisBuckets:
    """Buckets as Redis hashes ``scimgate:bucket:<key>`` that expire once full again, behind a
    circuit breaker (module docstring)."""

    client: Any  # redis.Redis
    breaker: CircuitBreaker = field(default_factory=lambda: CircuitBreaker("Redis rate-limit buckets"))

    def __post_init__(self) -> None:
        self._script = self.client.register_script(TAKE_SCRIPT)

    @classmethod
    def from_url(cls, url: str, timeout: float = REDIS_TIMEOUT_SECONDS) -> RedisBuckets:
        """Buckets on the Redis server at ``url`` (``redis://host:port/db``); ``timeout`` seconds
        bound the connect and every answer."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return cls(redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                        retry=Retry(NoBackoff(), 0)))  # the breaker decides when to retry

    def take(self, key: str, rate: float, burst: float) -> float:
        """Take a token from ``key``'s bucket with one atomic script call; BucketsUnavailable
        at once while the breaker is open, or when the call fails."""
        return self.take_up_to(key, rate, burst, 1)[1]

    def take_up_to(self, key: str, rate: float, burst: float, count: int,
                   give_back: int = 0) -> tuple[int, float]:
        """Put back ``give_back`` tokens and take up to ``count`` from ``key``'s bucket with one
        atomic script call; BucketsUnavailable as :meth:`take`."""
        import redis

        if not self.breaker.allow():
            raise BucketsUnavailable("Redis rate-limit buckets unavailable (circuit open)")
        ttl = max(1, int(burst / rate) + 1)
        try:
            taken, micros = self._script(keys=[f"scimgate:bucket:{key}"],
                                         args=[rate, burst, ttl, count, give_back])
        except redis.RedisError as exc:
            self.breaker.failed(type(exc).__name__)
            raise BucketsUnavailable(f"Redis rate-limit buckets unavailable: {type(exc).__name__}") from exc
        self.breaker.succeeded()
        return int(taken), int(micros) / 1_000_000


@dataclass
class FallbackBuckets:
    """``primary``'s buckets (Redis), or ``fallback``'s (the database) while the primary is
    unavailable: for limits that must hold through a Redis outage (sign-in throttling)."""

    primary: BucketStore
    fallback: BucketStore

    def take(self, key: str, rate: float, burst: float) -> float:
        try:
            return self.primary.take(key, rate, burst)
        except BucketsUnavailable:
            return self.fallback.take(key, rate, burst)


LOCAL_MAX_KEYS = 10_000
"""Buckets one process keeps in memory at most (:class:`LocalBuckets`): about 2 MB."""


class LocalBuckets:
    """Buckets in this process's memory, for a cheap first answer in front of a shared store.

    Same contract as the shared stores, but seen by one worker only, so it can only refuse
    *earlier* than the shared bucket would (it never holds more tokens than the worker could
    take there): a refusal here writes nothing anywhere, an admission still asks the shared
    store, which stays the truth across workers and machines. At most ``max_keys`` buckets are
    kept, least recently used dropped first (an LRU map): a flood from ever-new keys costs
    bounded memory, and a dropped bucket starts full again, which only defers to the shared one.
    Thread-safe; timed by ``time.monotonic``.
    """

    def __init__(self, max_keys: int = LOCAL_MAX_KEYS, clock: Any = time.monotonic):
        self.max_keys, self._clock = max(1, max_keys), clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, rate: float, burst: float) -> float:
        """Take a token from ``key``'s bucket in memory; the seconds to wait when it is empty."""
        with self._guard:
            now = self._clock()
            tokens, updated = self._buckets.pop(key, (float(burst), now))
            tokens, wait = refill_and_take(tokens, now - updated, rate, burst)
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait

    def wait(self, key: str, rate: float, burst: float) -> float:
        """The seconds until ``key``'s bucket holds a token (0.0: it holds one now), taking none."""
        with self._guard:
            now = self._clock()
            tokens, updated = self._buckets.get(key, (float(burst), now))
            available = min(burst, tokens + max(now - updated, 0.0) * rate)
            return 0.0 if available >= 1.0 else (1.0 - available) / rate
