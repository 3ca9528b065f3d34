"""Sign-in throttling: budgets per account and per client address, checked before any password
hash, and a bound on the password hashes one process computes at once (issue 13 major 2).

An argon2id verification costs 64 MiB and tens of milliseconds of CPU (argon2-cffi defaults,
RFC 9106 §4), so a flood of wrong passwords is a flood of that work. Three defences, in order:

1. **Budgets** (token buckets, storage.rate_limit): each attempt takes one token from the bucket
   of its client address and one from the bucket of its account (workspace name + email, as
   typed; unknown accounts have buckets too, so the answer does not tell which exist). An empty
   bucket answers 429 with ``Retry-After`` before any hashing or transaction (OWASP
   Authentication Cheat Sheet, "Protect Against Automated Attacks"; RFC 6585 §4). Bucket keys
   are SHA-256 digests: no email or address is stored. Each worker first asks its own
   in-memory buckets (storage.rate_limit.LocalBuckets, same budgets, bounded in keys): an
   attempt they refuse touches no database or Redis at all, so a flood that is already over
   budget costs no write transaction (on SQLite: no turn of the writer lock SCIM writes need).
   The address buckets live only there; what the account buckets admit is asked of the shared
   account buckets, which stay the truth across workers (:meth:`SignInGuard.admit`).
2. **Hash slots**: at most ``sign_in_hashes_in_flight`` verifications run at once per process
   (a semaphore); an attempt waits up to ``HASH_WAIT_SECONDS`` for a slot, else it gets 429.
   And at most ``sign_in_hashes_per_second`` hashes a second (bursts of twice that) per
   process, a budget of this process's memory checked before the shared account bucket and
   spent before the slot: a distributed flood (every attempt from a new address, each account
   within its budget) gets 429 instead of more argon2 work than that, and writes nothing.
   The hashes run on the guard's own threads at the lowest CPU
   priority (Linux: ``SCHED_IDLE`` at nice 19, per thread; setpriority(2), sched(7)), and so
   does the rest of an attempt (:meth:`SignInGuard.attempt`): under a flood a core that
   provisioning needs goes to provisioning first. The price: on a worker whose CPU is
   saturated, sign-ins wait for idle CPU.
3. The account lockout of services.admins stays as it was (5 free failures, then a doubling lock).

Member single sign-on (``POST /login``, the SAML ACS, the OIDC callback) has no password; its
own, larger per-address budget is services.sso_throttle.

Where the buckets live: in Redis when ``redis_url`` is set, falling back to the database while
Redis is unavailable (unlike the SCIM limiter, which lets requests through: a sign-in limit that
vanishes with Redis is what an attacker would wait for); otherwise in the database
(``rate_bucket`` rows), which every worker and machine shares.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from scimgate.config import Settings
from scimgate.storage.rate_limit import (
    BucketStore,
    DatabaseBuckets,
    FallbackBuckets,
    LocalBuckets,
    RedisBuckets,
)

HASH_WAIT_SECONDS = 2.0
HASH_KEY = "hashes"
T = TypeVar("T")
HASH_NICENESS = 19
"""The niceness of the sign-in threads (the lowest priority; setpriority(2))."""
ATTEMPT_THREADS = 4
ATTEMPTS_PENDING = 64


class SignInThrottled(Exception):
    """A sign-in attempt refused before any password work; ``retry_after`` in whole seconds (>= 1)."""

    def __init__(self, retry_after: float):
        super().__init__(f"sign-in throttled; retry after {retry_after:.0f} s")
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass
class Budget:
    """``per_minute`` attempts refilled per minute, up to ``burst`` at once."""

    per_minute: float
    burst: float

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0


class SignInGuard:
    """The budgets and hash slots of one process (see the module docstring)."""

    def __init__(self, store: BucketStore, account: Budget, address: Budget, hashes_in_flight: int,
                 local: LocalBuckets | None = None, hashes_per_second: float = 0.0):
        self.store, self.account, self.address = store, account, address
        self.hashing = (Budget(hashes_per_second * 60, max(1.0, 2 * hashes_per_second))
                        if hashes_per_second > 0 else None)
        self._hash_bucket = LocalBuckets(max_keys=1)
        self.local = local if local is not None else LocalBuckets()
        self._slots = threading.BoundedSemaphore(max(1, hashes_in_flight))
        self._hashers = ThreadPoolExecutor(max(1, hashes_in_flight), "sign-in-hash", _lower_priority)
        self._pending = 0
        self._attempts = ThreadPoolExecutor(ATTEMPT_THREADS, "sign-in", _lower_priority)

    async def attempt(self, work: Callable[[], T]) -> T:
        """``await`` ``work()`` (one whole sign-in attempt: budgets, account read, password check,
        outcome write) run on one of the guard's ``ATTEMPT_THREADS`` lowest-priority threads, so
        a flood of attempts takes only the CPU that provisioning leaves idle and holds no thread
        of the request thread pool. At most ``ATTEMPTS_PENDING`` attempts run or wait per
        process; beyond that SignInThrottled(1) at once. Called on the event loop only."""
        if self._pending >= ATTEMPTS_PENDING:
            raise SignInThrottled(1)
        self._pending += 1
        try:
            return await asyncio.wrap_future(self._attempts.submit(work))
        finally:
            self._pending -= 1

    def admit(self, workspace_name: str, email: str, address: str) -> None:
        """Spend one attempt of the address's budget (this process's buckets) and of the
        account's (this process's, then the shared ones); SignInThrottled when either is used up.
        The address is checked first: a refused address spends nothing of the account's budget,
        and a refusal by the process's buckets asks nothing of the shared store. The address
        budget is per process: with N workers an address may try N times its budget, while an
        account's budget, the one that stands between a guesser and a password, holds across
        workers and machines. Before the shared store is asked, the process's hashes-per-second
        budget is looked at (not spent: :meth:`run_hashes` spends it): an attempt that could not
        get a hash anyway is refused at once, asks the shared store nothing (on SQLite: no turn
        of the writer lock) and spends nothing of the account's shared budget, which a flood
        would otherwise drain for the account's owner. A flood from a new address each time
        then costs the database at most what the hash budget admits."""
        account = workspace_name.strip().lower() + "\n" + email.strip().lower()
        address_key, account_key = bucket_key("signin-addr", address), bucket_key("signin-acct", account)
        for key, budget in ((address_key, self.address), (account_key, self.account)):
            wait = self.local.take(key, budget.rate, budget.burst)
            if wait > 0:
                raise SignInThrottled(wait)
        if self.hashing is not None:
            wait = self._hash_bucket.wait(HASH_KEY, self.hashing.rate, self.hashing.burst)
            if wait > 0:
                raise SignInThrottled(wait)
        wait = self.store.take(account_key, self.account.rate, self.account.burst)
        if wait > 0:
            raise SignInThrottled(wait)

    @contextmanager
    def hash_slot(self) -> Iterator[None]:
        """Hold one of the process's hash slots; SignInThrottled(1) after ``HASH_WAIT_SECONDS``
        without one."""
        if not self._slots.acquire(timeout=HASH_WAIT_SECONDS):
            raise SignInThrottled(1)
        try:
            yield
        finally:
            self._slots.release()

    def run_hashes(self, work: Callable[[], T]) -> T:
        """``work()`` (the password hashing of one attempt) in one of the process's hash slots,
        on a low-priority hashing thread; SignInThrottled when the process's hashes-per-second
        budget is spent, or as :meth:`hash_slot`."""
        if self.hashing is not None:
            wait = self._hash_bucket.take(HASH_KEY, self.hashing.rate, self.hashing.burst)
            if wait > 0:
                raise SignInThrottled(wait)
        with self.hash_slot():
            return self._hashers.submit(work).result()


def _lower_priority() -> None:
    """Give the calling thread the lowest CPU priority: nice ``HASH_NICENESS`` under
    ``SCHED_IDLE`` (Linux: both per thread, and inherited by the threads it starts, such as
    argon2's lanes; sched(7)); a no-op where that is not supported or refused."""
    thread = threading.get_native_id()
    with suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, thread, HASH_NICENESS)
    with suppress(AttributeError, OSError):
        os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))


def bucket_key(kind: str, value: str) -> str:
    """The bucket key of ``value`` (a digest: no email or address is stored)."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:48]}"  # fits rate_bucket.key (64)


def make_sign_in_guard(settings: Settings, sessions: sessionmaker[Session]) -> SignInGuard:
    """The guard ``settings`` ask for (``sign_in_*`` settings; Redis with database fallback when
    ``redis_url`` is set)."""
    database = DatabaseBuckets(sessions)
    store: BucketStore = (FallbackBuckets(RedisBuckets.from_url(settings.redis_url), database)
                          if settings.redis_url else database)
    return SignInGuard(
        store,
        account=Budget(settings.sign_in_account_per_minute, max(1.0, float(settings.sign_in_account_burst))),
        address=Budget(settings.sign_in_address_per_minute, max(1.0, float(settings.sign_in_address_burst))),
        hashes_in_flight=settings.sign_in_hashes_in_flight,
        hashes_per_second=settings.sign_in_hashes_per_second,
    )
