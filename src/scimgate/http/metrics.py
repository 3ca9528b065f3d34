"""Prometheus metrics (prometheus-client), correct with several worker processes.

Metrics, all prefixed ``scimgate_``:

- ``http_requests_total{resource, method, status}``: every HTTP request;
- ``http_request_duration_seconds{resource, method}``: latency histogram (seconds);
- ``provisioning_failures_total{resource, status, scim_type}``: SCIM error responses, by
  ``scimType`` (``none`` for errors without one, e.g. 401, 404, 429, 500);
- ``db_pool_checked_out`` / ``db_pool_size``: connections in use and pool capacity (summed over
  live workers).

``resource`` is one of a fixed set (``Users``, ``Groups``, discovery endpoint names, ``ops``,
``other``) so label cardinality stays bounded whatever path a client sends.

With several workers each process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
and ``/metrics`` merges them (prometheus-client docs, "Multiprocess Mode (E.g. Gunicorn)");
``scimgate serve`` sets that folder up. The variable must be set before this module is first
imported, which ``serve`` guarantees by setting it before the workers start.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import Engine

from scimgate.config import SCIM_PREFIX
from scimgate.scim.errors import ScimError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SCIM_RESOURCES = frozenset({"Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas", ".search",
                            "Bulk", "Me"})
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Latency buckets in seconds: SCIM writes take a few ms; Entra times out after tens of seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("scimgate_http_requests_total", "HTTP requests answered.",
                   ["resource", "method", "status"])
LATENCY = Histogram("scimgate_http_request_duration_seconds", "Time to answer an HTTP request, in seconds.",
                    ["resource", "method"], buckets=LATENCY_BUCKETS)
FAILURES = Counter("scimgate_provisioning_failures_total", "SCIM error responses, by scimType.",
                   ["resource", "status", "scim_type"])
POOL_CHECKED_OUT = Gauge("scimgate_db_pool_checked_out", "Database connections in use.",
                         multiprocess_mode="livesum")
POOL_SIZE = Gauge("scimgate_db_pool_size", "Database pool capacity (pool_size + max_overflow).",
                  multiprocess_mode="livesum")


def resource_of(path: str) -> str:
    """The ``resource`` label of a (normalised) request path; see the module docstring."""
    if path in OPS_PATHS:
        return "ops"
    if not path.startswith(SCIM_PREFIX):
        return "other"
    first = path[len(SCIM_PREFIX):].strip("/").split("/", 1)[0]
    return first if first in SCIM_RESOURCES else "other"


def count_failure(path: str, exc: ScimError) -> None:
    """Count one SCIM error response for the request at ``path``."""
    FAILURES.labels(resource_of(path), str(exc.status), exc.scim_type or "none").inc()


def render_metrics() -> tuple[bytes, str]:
    """(body, content type) of the Prometheus text exposition, merged over workers if needed."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def forget_this_worker() -> None:
    """Drop this process's live gauges from the multiprocess folder as the worker stops, so
    ``livesum`` gauges count live workers only (prometheus-client docs: ``mark_process_dead``)."""
    if os.environ.get(MULTIPROC_ENV):
        mark_process_dead(os.getpid())


_POOL_SEEN: list[tuple[int, int] | None] = [None]


def _observe_pool(engine: Engine) -> None:
    """Set the pool gauges when they changed since the last request (a multiprocess gauge's
    ``set`` writes its memory-mapped file)."""
    pool: Any = engine.pool
    if hasattr(pool, "checkedout") and hasattr(pool, "size"):
        seen = pool.checkedout(), pool.size() + max(getattr(pool, "_max_overflow", 0), 0)
        if seen != _POOL_SEEN[0]:
            _POOL_SEEN[0] = seen
            POOL_CHECKED_OUT.set(seen[0])
            POOL_SIZE.set(seen[1])


_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe(path: str, method: str, status: int, seconds: float, engine: Engine | None) -> None:
    """Count and time one answered request (``path`` normalised, ``method`` as routed: a HEAD is
    a GET) and sample ``engine``'s pool. Called by the edge middleware after every request. The
    labelled series are kept per (resource, method, status): their number is bounded by the
    fixed resources, the server's methods and the statuses, and looking a series up through
    ``labels()`` costs more than the increment."""
    resource = resource_of(path)
    series = _SERIES.get((resource, method, status))
    if series is None:
        series = REQUESTS.labels(resource, method, str(status)), LATENCY.labels(resource, method)
        _SERIES[(resource, method, status)] = series
    series[0].inc()
    series[1].observe(seconds)
    if engine is not None:
        _observe_pool(engine)
