"""The webhook deliverer: events to deliveries, deliveries to receivers, off the request path.

One :class:`Deliverer` runs in each server worker (a thread started by the app's lifespan) and
in ``scimgate events deliver``; any number may run against one database (storage.webhooks:
fan-out under ``SKIP LOCKED``, deliveries under leases). A round:

1. a read-only probe (no SQLite write lock) for endpoints behind the outbox or due deliveries;
2. fan-out: each such endpoint's new events become pending deliveries;
3. claim: due deliveries are leased, as chains per (endpoint, resource) in seq order;
4. send: each chain in order (chains side by side on a few threads), stopping at its first
   failure; each attempt's outcome is written by the lease's owner.

At-least-once: a delivery stays pending until a 2xx is recorded, so a crash between the
receiver's 2xx and the record sends it again (receivers deduplicate on ``webhook-id``). A
failed attempt is retried after the next delay of ``webhook_retry_schedule`` (±20 % jitter);
after the last one the delivery is ``failed`` and its endpoint disabled, with the reason, until
an admin enables it again. A commit that wrote events in this process wakes the deliverer at
once (events.outbox.on_commit); other processes' events are found by polling.

Each attempt resolves the endpoint's host and checks every address again (events.targets)
before connecting to the address checked; redirects are not followed; the response body is
read up to ``RESPONSE_LIMIT`` bytes and never stored.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import orjson
from sqlalchemy.orm import Session, sessionmaker

from scimgate.config import Settings
from scimgate.events import feed, outbox, signing, targets
from scimgate.events.envelope import envelope
from scimgate.storage import webhooks as store
from scimgate.storage.db import snapshot, transaction
from scimgate.storage.models import Event, WebhookEndpoint, utcnow

log = logging.getLogger(__name__)

RESPONSE_LIMIT = 4096  # bytes of a response body read (and dropped)
CLAIM_LIMIT = 200
CHAIN_LIMIT = 50
SENDERS = 4  # chains sent side by side
PURGE_EVERY_SECONDS = 3600
WAKE_GAP_SECONDS = 0.05
"""Least time from the start of one round to the start of the next that a commit brings on: the
commits of that gap share one round. Without it every SCIM write woke a round (two probes) of
its own, which cost as much server CPU as the write (docs/decisions.md, "The deliverer's wake")."""
USER_AGENT = "scimgate-webhooks/1"


def retry_delays(schedule: str) -> list[float]:
    """The seconds between attempts, from ``webhook_retry_schedule`` ("5,300,..."); raises
    ValueError for an empty or negative schedule."""
    delays = [float(part) for part in schedule.split(",") if part.strip()]
    if not delays or any(d < 0 for d in delays):
        raise ValueError("webhook_retry_schedule must be comma-separated non-negative seconds")
    return delays


@dataclass(frozen=True)
class Outcome:
    """One attempt: the HTTP status (None when no response came), the time it took and, on
    failure, a short reason without secrets."""

    status: int | None
    latency_ms: float
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Deliverer:
    """Delivers webhooks for one database (see the module docstring). ``run_once`` does one
    round and returns how many attempts it made; ``start``/``stop`` run rounds on a thread."""

    def __init__(self, sessions: sessionmaker[Session], readers: sessionmaker[Session], settings: Settings):
        self.sessions, self.readers, self.settings = sessions, readers, settings
        self.delays = retry_delays(settings.webhook_retry_schedule)
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        timeout = settings.webhook_timeout_seconds
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
                                   follow_redirects=False, trust_env=False)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="scimgate-webhook")
        self._last_purge = 0.0
        self._endpoints = True  # whether the last round found an enabled endpoint

    # -- the loop ---------------------------------------------------------------------------
    def wake(self) -> None:
        """Run a round soon (called after a commit that wrote events). While the last round
        found no enabled endpoint this does nothing (``_rest`` would let the wake pass anyway):
        setting the event woke the deliverer's thread at every SCIM commit, a thread switch and
        a GIL hand-over per write for nothing; an already set event is not set again."""
        if self._endpoints and not self._wake.is_set():
            self._wake.set()

    def endpoints_changed(self) -> None:
        """An endpoint was added or enabled in this process: its events go out without waiting
        for the next poll."""
        self._endpoints = True
        self._wake.set()

    def start(self) -> None:
        """Run rounds on a daemon thread until :meth:`stop`."""
        outbox.on_commit(self.wake)
        outbox.on_endpoints_changed(self.endpoints_changed)
        self._thread = threading.Thread(target=self.run_forever, name="scimgate-deliverer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the round in progress (attempts under way complete) and stop."""
        outbox.remove_on_commit(self.wake)
        outbox.remove_on_endpoints_changed(self.endpoints_changed)
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._senders.shutdown(wait=True)
        self.client.close()

    def run_forever(self) -> None:
        """Rounds until stopped: a busy round is followed by another at once, an idle one by
        :meth:`_rest`."""
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                busy = self.run_once()
                self._purge_if_due()
            except Exception:  # a database outage must not end the thread: log, back off, go on
                log.exception("webhook deliverer round failed")
                busy = 0
            if not busy:
                self._rest(started)

    def _rest(self, started: float) -> None:
        """Wait after an idle round that began at ``started`` (monotonic seconds): until
        ``webhook_poll_seconds`` have passed or :meth:`wake` is called, and then until
        ``WAKE_GAP_SECONDS`` have passed since ``started``. While the last round found no enabled
        endpoint a wake is let pass: the commit has no one to tell, and an endpoint added since
        is announced by :meth:`endpoints_changed` (in this process) or found by the next poll
        (added by another), its cursor still before the events committed meanwhile."""
        deadline = started + self.settings.webhook_poll_seconds
        while self._wake.wait(max(0.0, deadline - time.monotonic())):
            if self._endpoints or self._stopping.is_set() or time.monotonic() >= deadline:
                break
            self._wake.clear()
        rest = WAKE_GAP_SECONDS - (time.monotonic() - started)
        if rest > 0:
            self._stopping.wait(rest)
        self._wake.clear()

    def _purge_if_due(self) -> None:
        if time.monotonic() - self._last_purge >= PURGE_EVERY_SECONDS:
            self._last_purge = time.monotonic()
            feed.purge(self.sessions, self.settings.event_retention_days)

    def run_once(self) -> int:
        """One round; returns how many attempts were made (0: nothing was due)."""
        now = utcnow()
        with snapshot(self.readers) as session:
            self._endpoints = store.has_enabled_endpoint(session)
            behind = store.needing_fan_out(session) if self._endpoints else []
            due = self._endpoints and store.has_due(session, now)
        for endpoint_id in behind:
            while True:
                with transaction(self.sessions) as session:
                    store.fan_out(session, endpoint_id)
                with snapshot(self.readers) as session:
                    if endpoint_id not in store.needing_fan_out(session):
                        break
            due = True
        if not due:
            return 0
        chains = self._claim()
        if not chains:
            return 0
        return sum(self._senders.map(self._send_chain, chains))

    # -- claiming and sending ----------------------------------------------------------------
    @property
    def _per_attempt(self) -> float:
        """Seconds one attempt may take, with its bookkeeping."""
        return self.settings.webhook_timeout_seconds + 2

    @property
    def lease_seconds(self) -> float:
        """How long a claim (or the last renewal) holds the rest of a chain: two attempts' worth.
        Each recorded success renews it for the chain's remaining deliveries, so a crashed
        deliverer's deliveries are free again this long after its last attempt."""
        return 2 * self._per_attempt

    def _claim(self) -> list[tuple[list[store.Claimed], dict[str, Event], float]]:
        now = utcnow()
        with transaction(self.sessions) as session:
            chains = store.claim(session, self.owner, now, now + timedelta(seconds=self.lease_seconds),
                                 CLAIM_LIMIT, CHAIN_LIMIT)
            events = store.events_by_id(session, [d.event_id for chain in chains for d in chain])
            session.expunge_all()
        expires = time.monotonic() + self.lease_seconds - 1
        return [(chain, events, expires) for chain in chains]

    def _send_chain(self, work: tuple[list[store.Claimed], dict[str, Event], float]) -> int:
        """Send a chain in order while the lease lasts; stop at the first failure."""
        chain, events, expires = work
        attempts = 0
        for index, delivery in enumerate(chain):
            rest = [d.id for d in chain[index + 1:]]
            if time.monotonic() + self._per_attempt > expires or self._stopping.is_set():
                self._release([delivery.id, *rest])
                break
            outcome = self.attempt(delivery, events[delivery.event_id])
            attempts += 1
            renewed = time.monotonic() + self.lease_seconds - 1
            if not self._record(delivery, outcome, rest) or not outcome.succeeded:
                break
            expires = renewed
        return attempts

    def _release(self, ids: list[int]) -> None:
        if ids:
            with transaction(self.sessions) as session:
                store.release(session, ids, self.owner)

    def attempt(self, delivery: store.Claimed, event: Event) -> Outcome:
        """POST the event to the delivery's endpoint, signed; never raises."""
        started = time.perf_counter()
        try:
            target = targets.resolve(delivery.url, allow_private=self.settings.webhook_allow_private)
        except targets.TargetRefused as refused:
            return Outcome(None, 0.0, f"refused: {refused}"[:300])
        body = orjson.dumps(envelope(event)).decode("utf-8")
        headers = signing.headers(event.id, utcnow(), body, delivery.secrets)
        headers.update({"content-type": "application/json", "user-agent": USER_AGENT,
                        "host": _host_header(target)})
        try:
            with self.client.stream("POST", target.connect_url(), content=body.encode("utf-8"),
                                    headers=headers, extensions={"sni_hostname": target.host}) as response:
                read = 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read >= RESPONSE_LIMIT:
                        break
                status = response.status_code
        except httpx.HTTPError as exc:
            return Outcome(None, _ms(started), f"{type(exc).__name__}: no response"[:300])
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return Outcome(status, _ms(started), error)

    def _record(self, delivery: store.Claimed, outcome: Outcome, rest: list[int]) -> bool:
        """Write the attempt's outcome; after a success renew the lease of the chain's ``rest``,
        after a failure give it back. False when the lease had been lost."""
        now = utcnow()
        attempts = delivery.attempts + 1
        values: dict[str, object] = {"attempts": attempts, "last_status_code": outcome.status,
                                     "last_latency_ms": round(outcome.latency_ms, 3),
                                     "last_error": outcome.error}
        given_up = False
        if outcome.succeeded:
            values.update(status="succeeded", delivered_at=now)
        elif attempts > len(self.delays):
            values.update(status="failed")
            given_up = True
        else:
            delay = self.delays[attempts - 1] * random.uniform(0.8, 1.2)
            values.update(next_attempt_at=now + timedelta(seconds=delay))
        with transaction(self.sessions) as session:
            if not store.record_attempt(session, delivery.id, self.owner, values):
                return False  # the lease was lost (taken over after expiry): the new owner records
            if outcome.succeeded:
                store.renew(session, rest, self.owner, now + timedelta(seconds=self.lease_seconds))
            else:
                store.release(session, rest, self.owner)
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
            if endpoint is None:
                return True
            if outcome.succeeded:
                endpoint.failing_since = None
            else:
                endpoint.failing_since = endpoint.failing_since or now
            if given_up and endpoint.enabled:
                disable(endpoint, now, f"disabled {now:%Y-%m-%d %H:%M} UTC after {attempts} failed attempts "
                        f"since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC (last: {outcome.error})")
                log.warning("webhook endpoint %s of workspace %s disabled after %d failed attempts",
                            endpoint.id, endpoint.workspace_id, attempts)
        return True


def disable(endpoint: WebhookEndpoint, now: datetime, reason: str) -> None:
    """Switch an endpoint off with the reason the admin is shown."""
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:300]


def _host_header(target: targets.Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
