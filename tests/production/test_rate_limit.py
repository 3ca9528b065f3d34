"""Rate limiting per SCIM token, shared by two workers, in the database or in Redis (issue 3 §4).

The budget is a burst of 5 refilled at 0.01 token/s, so a test's requests never earn a new
token while it runs and the counts are exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import func, select

from scimgate.scim.errors import TooManyRequestsException
from scimgate.services.rate_limit import LEASE_SECONDS, RateLimiter
from scimgate.storage.db import make_engine, session_factory
from scimgate.storage.migrate import upgrade
from scimgate.storage.models import Member, RateBucket
from scimgate.storage.rate_limit import DatabaseBuckets, RedisBuckets, refill_and_take, refill_and_take_up_to
from tests.support import LiveServer, Tenant, make_tenant, start_server, stop_server

REDIS_URL = "redis://127.0.0.1:6379/15"
BURST = 5
LIMITED = {
    "SCIMGATE_RATE_LIMIT_PER_SECOND": "0.01",
    "SCIMGATE_RATE_LIMIT_BURST": str(BURST),
    "UVICORN_TIMEOUT_WORKER_HEALTHCHECK": "60",
}


def redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module", params=["database", "redis"])
def live_server(request: pytest.FixtureRequest, database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A 2-worker server whose buckets live in the database or in Redis."""
    env = dict(LIMITED)
    if request.param == "redis":
        if backend == "postgres":
            pytest.skip("Redis buckets do not touch the database: the Redis limiter runs on SQLite only")
        if not redis_available():
            pytest.skip(f"Redis is not reachable at {REDIS_URL}: Redis limiter not tested")
        env["SCIMGATE_REDIS_URL"] = REDIS_URL
    log_path = tmp_path_factory.mktemp("log") / "server.log"
    started = start_server(database_url, log_path, backend, workers=2, env=env)
    yield started
    stop_server(started)



def fresh_connection_get(tenant: Tenant) -> httpx.Response:
    """GET /Users on a new connection, so requests spread over the workers."""
    headers = dict(tenant.client.headers)
    with httpx.Client(base_url=tenant.server.base_url, headers=headers, timeout=60) as client:
        return client.get("/Users")


def test_burst_then_429_shared_across_workers(tenant: Tenant) -> None:
    """12 concurrent requests on fresh connections to 2 workers: exactly the burst (5) pass, the rest 429."""
    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(lambda _: fresh_connection_get(tenant), range(12)))
    assert Counter(r.status_code for r in responses) == Counter({200: BURST, 429: 12 - BURST})


def test_429_has_retry_after_and_scim_error_body(tenant: Tenant) -> None:
    """A refused request gets 429, Retry-After in seconds and an RFC 7644 §3.12 error body (RFC 6585 §4)."""
    for _ in range(BURST):
        assert tenant.get("/Users").status_code == 200
    refused = tenant.get("/Users")
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/scim+json")
    assert int(refused.headers["Retry-After"]) >= 1
    body = refused.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "429"


def test_budget_is_per_token(tenant: Tenant) -> None:
    """One token's exhausted budget does not limit another workspace's token."""
    for _ in range(BURST):
        tenant.get("/Users")
    assert tenant.get("/Users").status_code == 429
    other = make_tenant(tenant.server)
    try:
        assert other.get("/Users").status_code == 200
    finally:
        other.client.close()


def test_refused_requests_change_nothing(tenant: Tenant) -> None:
    """A POST refused with 429 creates no user (the limit applies before the operation)."""
    for _ in range(BURST):
        tenant.get("/Users")
    refused = tenant.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                          "userName": "late@example.com"})
    assert refused.status_code == 429
    with tenant.server.sessions() as session:
        mine = select(func.count()).select_from(Member).where(Member.workspace_id == tenant.workspace_id)
        count = session.scalar(mine)
    assert count == 0


def test_bucket_refills_at_rate_up_to_burst() -> None:
    """Token bucket step: refill elapsed x rate, capped at burst; take one; else wait (1 - tokens) / rate."""
    assert refill_and_take(0.0, 10.0, rate=1.0, burst=5.0) == (4.0, 0.0)  # capped at 5, one taken
    assert refill_and_take(0.5, 0.0, rate=2.0, burst=5.0) == (0.5, 0.25)  # refused: 0.5 token missing at 2/s
    assert refill_and_take(0.5, 0.25, rate=2.0, burst=5.0) == (0.0, 0.0)  # exactly one token after 0.25 s
    assert refill_and_take(3.0, -5.0, rate=1.0, burst=5.0) == (2.0, 0.0)  # a clock step back refills nothing
    assert refill_and_take_up_to(2.5, 0.0, rate=1.0, burst=5.0, count=10) == (0.5, 2, 0.0)  # what is there
    assert refill_and_take_up_to(0.0, 10.0, rate=1.0, burst=5.0, count=3) == (2.0, 3, 0.0)  # up to count
    assert refill_and_take_up_to(0.5, 0.0, rate=2.0, burst=5.0, count=10) == (0.5, 0, 0.25)  # none: wait


def test_unreachable_redis_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    """With Redis down the limiter fails open and logs one warning for the outage (no
    provisioning outage, no line per request)."""
    limiter = RateLimiter(RedisBuckets.from_url("redis://127.0.0.1:1/0"), rate=0.01, burst=1)
    for _ in range(3):
        limiter.check("token-id")
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "unavailable" in r.getMessage()]
    assert len(warnings) == 1


def test_a_worker_leases_tokens_and_never_spends_more_than_the_shared_bucket(tmp_path: Path) -> None:
    """Two limiters (two workers) on one database bucket of 80 tokens, leasing 10 at a time:
    together they admit exactly 80 requests, then refuse; the shared row is written once per
    lease, not per request; a lease unspent after LEASE_SECONDS is dropped (the next request
    leases again) and was taken from the shared bucket, so it is never handed out twice."""
    engine = make_engine(f"sqlite:///{tmp_path / 'buckets.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    now = [0.0]
    first, second = (RateLimiter(DatabaseBuckets(sessions), rate=0.001, burst=80, clock=lambda: now[0])
                     for _ in range(2))
    assert first.lease == 10

    def tokens_left() -> float:
        with sessions() as session:
            return session.scalars(select(RateBucket.tokens).where(RateBucket.key == "token-1")).one()

    first.check("token-1")
    assert round(tokens_left()) == 70  # one lease of 10 taken for one request
    admitted = 1
    for n in range(100):
        try:
            (second if n % 2 == 0 else first).check("token-1")
            admitted += 1
        except TooManyRequestsException as refused:
            assert refused.retry_after >= 1
    assert admitted == 80 and round(tokens_left()) == 0
    with engine.begin() as connection:  # refill the shared bucket
        connection.execute(RateBucket.__table__.update().values(tokens=80.0))
    first.check("token-1")  # a new lease: 70 left, 9 held by the first limiter
    now[0] += LEASE_SECONDS
    first.check("token-1")  # the 9 expired: put back with the next lease of 10
    assert round(tokens_left()) == 69
    engine.dispose()


def test_a_slow_client_does_not_drain_its_burst_a_lease_at_a_time(tmp_path: Path) -> None:
    """Requests further apart than a lease lives: each lease's unspent tokens go back with the
    next, so 30 slow requests cost 30 tokens, and the burst after them gets the rest."""
    engine = make_engine(f"sqlite:///{tmp_path / 'buckets.db'}")
    upgrade(engine)
    now = [0.0]
    buckets = DatabaseBuckets(session_factory(engine))
    limiter = RateLimiter(buckets, rate=0.0001, burst=200, clock=lambda: now[0])
    assert limiter.lease == 25
    for _ in range(30):
        limiter.check("slow")
        now[0] += LEASE_SECONDS + 0.05
    admitted = 0
    for _ in range(250):
        try:
            limiter.check("slow")
            admitted += 1
        except TooManyRequestsException:
            pass
    assert admitted == 170
    engine.dispose()


def test_redis_leases_several_tokens_in_one_call() -> None:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    buckets = RedisBuckets.from_url(REDIS_URL)
    key = "lease-test-" + str(id(buckets))
    assert buckets.take_up_to(key, 0.001, 25, 10) == (10, 0.0)
    assert buckets.take_up_to(key, 0.001, 25, 10) == (10, 0.0)
    assert buckets.take_up_to(key, 0.001, 25, 10) == (5, 0.0)
    taken, wait = buckets.take_up_to(key, 0.001, 25, 10)
    assert taken == 0 and wait > 0
    assert buckets.take(key, 0.001, 25) > 0
    assert buckets.take_up_to(key, 0.001, 25, 10, give_back=3) == (3, 0.0)  # what was put back
