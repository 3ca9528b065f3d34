"""Sign-in floods (issue 13 major 2): attempts are throttled per account and per client address
before any password hash, answered 429 with Retry-After on the HTML sign-in page, the account
budgets shared by the server's 2 workers and the address budgets kept by each; refused attempts
change nothing; hashes in flight are bounded.

Budgets: 3 per account, 5 per address, refilled at 0.01 per minute (nothing refills while a
test runs, so the counts are exact). The client address is the ``X-Forwarded-For`` of the
trusted proxy (loopback), as behind the nginx of docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from scimgate.config import Settings
from scimgate.services import sign_in_guard
from scimgate.services.sign_in_guard import Budget, SignInGuard, SignInThrottled, make_sign_in_guard
from scimgate.storage.db import transaction
from scimgate.storage.models import AdminAccount, AuditEvent, RateBucket
from scimgate.storage.rate_limit import DatabaseBuckets, LocalBuckets
from tests.admin.client import CSRF, PASSWORD, make_admin
from tests.support import LiveServer, Tenant, start_server, stop_server

ACCOUNT_BURST, ADDRESS_BURST = 3, 5
WORKERS = 2
THROTTLED = {
    "SCIMGATE_SIGN_IN_ACCOUNT_BURST": str(ACCOUNT_BURST),
    "SCIMGATE_SIGN_IN_ADDRESS_BURST": str(ADDRESS_BURST),
    "SCIMGATE_SIGN_IN_ACCOUNT_PER_MINUTE": "0.01",
    "SCIMGATE_SIGN_IN_ADDRESS_PER_MINUTE": "0.01",
    "UVICORN_TIMEOUT_WORKER_HEALTHCHECK": "60",
}


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A 2-worker server with small sign-in budgets."""
    log = tmp_path_factory.mktemp("log") / "server.log"
    started = start_server(database_url, log, backend, workers=WORKERS, env=THROTTLED)
    yield started
    stop_server(started)


def attempt(server: LiveServer, workspace: str, email: str, password: str, address: str) -> httpx.Response:
    """One sign-in on a fresh connection (so attempts spread over the workers) from ``address``."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        found = CSRF.search(client.get("/admin/login").text)
        assert found
        return client.post("/admin/login", headers={"X-Forwarded-For": address},
                           data={"csrf_token": found.group(1), "workspace": workspace, "email": email,
                                 "password": password})


def address() -> str:
    """A fresh private client address (RFC 1918), random enough not to repeat within a run."""
    n = uuid.uuid4().int
    return f"10.{n % 256}.{(n >> 8) % 256}.{(n >> 16) % 254 + 1}"


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text[:300]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["content-type"].startswith("text/html")
    assert "Too many sign-in attempts" in response.text and 'name="csrf_token"' in response.text


def failed_logins(tenant: Tenant, email: str) -> int:
    with transaction(tenant.server.sessions) as db:
        account = db.scalar(select(AdminAccount).where(AdminAccount.email == email))
        assert account is not None
        return account.failed_logins


def test_account_budget_is_shared_by_every_address(tenant: Tenant) -> None:
    """Wrong passwords from new addresses each time: after the account's budget, 429, even for
    the right password; the refused attempts are not counted as failures (no hash was run)."""
    email = make_admin(tenant)
    for _ in range(ACCOUNT_BURST):
        wrong = attempt(tenant.server, tenant.workspace_name, email, "wrong password!", address())
        assert wrong.status_code == 401
    assert_throttled(attempt(tenant.server, tenant.workspace_name, email, "wrong password!", address()))
    assert_throttled(attempt(tenant.server, tenant.workspace_name, email.upper(), PASSWORD, address()))
    assert failed_logins(tenant, email) == ACCOUNT_BURST
    other = make_admin(tenant)
    assert attempt(tenant.server, tenant.workspace_name, other, PASSWORD, address()).status_code == 303


def test_address_budget_covers_every_account(tenant: Tenant) -> None:
    """One address trying many accounts (known or not): its first attempts up to the budget are
    answered, then 429, and in all it gets at most the budget of each worker (the address
    budget is per process, services.sign_in_guard); another address is not affected."""
    flooding = address()
    answers = []
    for _ in range(WORKERS * ADDRESS_BURST + 10):
        guess = f"guess-{uuid.uuid4().hex[:8]}@example.com"
        answers.append(attempt(tenant.server, tenant.workspace_name, guess, "wrong password!", flooding))
    codes = [answer.status_code for answer in answers]
    assert codes[:ADDRESS_BURST] == [401] * ADDRESS_BURST, codes
    assert set(codes) == {401, 429}, codes
    assert ADDRESS_BURST <= codes.count(401) <= WORKERS * ADDRESS_BURST, codes
    assert_throttled(next(answer for answer in answers if answer.status_code == 429))
    email = make_admin(tenant)
    assert attempt(tenant.server, tenant.workspace_name, email, PASSWORD, address()).status_code == 303


def test_redis_outage_keeps_the_throttle(tenant: Tenant) -> None:
    """With Redis unreachable the sign-in budgets fall back to the database: still throttled."""
    settings = Settings(redis_url="redis://127.0.0.1:1/0", sign_in_account_burst=1,
                        sign_in_account_per_minute=0.01)
    guard = make_sign_in_guard(settings, tenant.server.sessions)
    account = f"redis-down-{uuid.uuid4().hex}"
    guard.admit(account, "a@example.com", address())
    with pytest.raises(SignInThrottled) as refused:
        guard.admit(account, "a@example.com", address())
    assert refused.value.retry_after >= 1


def test_hashes_per_second_are_bounded(tenant: Tenant) -> None:
    """The process's password-hash budget (``SCIMGATE_SIGN_IN_HASHES_PER_SECOND``, default 1,
    bursts of 2): the default admits two hashes at once, then SignInThrottled before any hash
    work; a guard with the budget off hashes on."""
    default = Settings().sign_in_hashes_per_second
    guard = SignInGuard(DatabaseBuckets(tenant.server.sessions), Budget(60, 10), Budget(60, 10),
                        hashes_in_flight=1, hashes_per_second=default)
    hashed: list[int] = []
    assert guard.run_hashes(lambda: hashed.append(1)) is None
    assert guard.run_hashes(lambda: hashed.append(2)) is None
    with pytest.raises(SignInThrottled) as refused:
        guard.run_hashes(lambda: hashed.append(3))
    assert refused.value.retry_after >= 1
    assert hashed == [1, 2]
    unbounded = SignInGuard(DatabaseBuckets(tenant.server.sessions), Budget(60, 10), Budget(60, 10),
                            hashes_in_flight=1, hashes_per_second=0)
    for n in range(5):
        unbounded.run_hashes(lambda n=n: hashed.append(10 + n))
    assert hashed[2:] == [10, 11, 12, 13, 14]


def test_spent_hash_budget_refuses_before_the_shared_store(tenant: Tenant) -> None:
    """Once the process's hash budget is spent, an attempt within its address and account
    budgets is refused before the shared account bucket is asked: no ``rate_bucket`` row is
    written for it (on SQLite no writer lock is taken) and the account keeps its shared
    budget for its owner; the attempt that spends the last hash was admitted and wrote one."""
    guard = SignInGuard(DatabaseBuckets(tenant.server.sessions), Budget(0.01, 10), Budget(0.01, 10),
                        hashes_in_flight=1, hashes_per_second=0.01)  # bursts of 1 hash, no refill
    admitted, refused = f"admitted-{uuid.uuid4().hex}", f"refused-{uuid.uuid4().hex}"
    guard.admit(admitted, "a@example.com", address())
    guard.run_hashes(lambda: None)
    with pytest.raises(SignInThrottled) as throttled:
        guard.admit(refused, "a@example.com", address())
    assert throttled.value.retry_after >= 1

    def rows(workspace: str) -> int:
        key = sign_in_guard.bucket_key("signin-acct", workspace + "\na@example.com")
        with transaction(tenant.server.sessions) as db:
            return db.scalar(select(func.count()).select_from(RateBucket).where(RateBucket.key == key)) or 0

    assert (rows(admitted), rows(refused)) == (1, 0)


def test_hashes_in_flight_are_bounded(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one hash slot taken, another attempt gets SignInThrottled (429) instead of hashing."""
    monkeypatch.setattr(sign_in_guard, "HASH_WAIT_SECONDS", 0.05)
    guard = SignInGuard(DatabaseBuckets(tenant.server.sessions), Budget(60, 10), Budget(60, 10),
                        hashes_in_flight=1)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with guard.hash_slot():
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)
    with pytest.raises(SignInThrottled), guard.hash_slot():
        pass
    release.set()
    holder.join()
    with guard.hash_slot():  # free again
        pass


def stored_buckets_and_audit(tenant: Tenant) -> tuple[list[tuple[str, float, float]], int]:
    """Every rate_bucket row (key, tokens, updated) and the number of audit rows."""
    with transaction(tenant.server.sessions) as db:
        rows = [(b.key, b.tokens, b.updated) for b in db.scalars(select(RateBucket).order_by(RateBucket.key))]
        return rows, db.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_refused_by_the_worker_writes_nothing(tenant: Tenant) -> None:
    """Once a worker's own bucket for an account is empty, its refusals (429 with Retry-After)
    touch no database: no rate_bucket row is written or added (not even for the new addresses),
    no audit row. One keep-alive connection keeps every attempt on one worker."""
    email = make_admin(tenant)
    with httpx.Client(base_url=tenant.server.url, timeout=30) as client:
        def once() -> httpx.Response:
            found = CSRF.search(client.get("/admin/login").text)
            assert found
            return client.post("/admin/login", headers={"X-Forwarded-For": address()}, data={
                "csrf_token": found.group(1), "workspace": tenant.workspace_name, "email": email,
                "password": "wrong password!"})

        for _ in range(ACCOUNT_BURST):
            assert once().status_code == 401
        before = stored_buckets_and_audit(tenant)
        for _ in range(5):
            assert_throttled(once())
        assert stored_buckets_and_audit(tenant) == before
    assert failed_logins(tenant, email) == ACCOUNT_BURST


def test_worker_buckets_stay_bounded(tenant: Tenant) -> None:
    """A distributed flood (a new address per attempt) keeps at most ``max_keys`` buckets in a
    worker's memory; the shared budget still refuses the account after its burst."""
    guard = SignInGuard(DatabaseBuckets(tenant.server.sessions), Budget(0.01, 3), Budget(0.01, 5),
                        hashes_in_flight=1, local=LocalBuckets(max_keys=8))
    account = f"bounded-{uuid.uuid4().hex}"
    refused = 0
    for n in range(40):
        try:
            guard.admit(account, f"a{n % 10}@example.com", address())
        except SignInThrottled:
            refused += 1
        assert len(guard.local) <= 8
    assert refused == 40 - 10 * 3  # ten accounts of 3 attempts each; evicted buckets defer to the shared ones


def test_hashes_run_at_the_lowest_priority(tenant: Tenant) -> None:
    """The guard's hashing and attempt threads run at nice 19 under SCHED_IDLE, not on the
    caller's thread, so SCIM work gets the CPU first (Linux)."""
    guard = make_sign_in_guard(Settings(), tenant.server.sessions)
    caller = threading.get_native_id()

    def priority() -> tuple[int, int, int]:
        thread = threading.get_native_id()
        return thread, os.getpriority(os.PRIO_PROCESS, thread), os.sched_getscheduler(thread)

    for where, niceness, policy in (guard.run_hashes(priority), asyncio.run(guard.attempt(priority))):
        assert where != caller
        assert (niceness, policy) == (sign_in_guard.HASH_NICENESS, os.SCHED_IDLE)
    assert os.sched_getscheduler(caller) != os.SCHED_IDLE
