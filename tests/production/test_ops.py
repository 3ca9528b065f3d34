"""Operations: /healthz, /readyz, Prometheus /metrics, JSON access logs without secrets (issue 3 §5)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from scimgate.storage.migrate import head_revision
from tests.production.prometheus import metric_value
from tests.support import LiveServer, Tenant

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


def test_healthz(live_server: LiveServer) -> None:
    """/healthz answers 200 while the process is up, without a token (liveness)."""
    response = httpx.get(live_server.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_ready_at_head(live_server: LiveServer) -> None:
    """/readyz answers 200 when the database answers and is at the newest migration."""
    response = httpx.get(live_server.url + "/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_503_when_schema_behind(live_server: LiveServer) -> None:
    """/readyz answers 503 with the reason when alembic_version is not the head revision."""
    with live_server.sessions() as session, session.begin():
        session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        response = httpx.get(live_server.url + "/readyz")
        assert response.status_code == 503
        assert "migration" in response.json()["reason"]
    finally:
        with live_server.sessions() as session, session.begin():
            session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()})
    assert httpx.get(live_server.url + "/readyz").status_code == 200


def test_metrics_count_requests_and_failures_by_scim_type(tenant: Tenant) -> None:
    """/metrics counts requests by resource, method and status, and failures by scimType (Prometheus)."""
    before = httpx.get(tenant.server.url + "/metrics").text
    body = {"schemas": [USER_SCHEMA], "userName": "counted@example.com"}
    assert tenant.post("/Users", json=body).status_code == 201
    assert tenant.post("/Users", json=body).status_code == 409
    response = httpx.get(tenant.server.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    requests = "scimgate_http_requests_total"
    failures = "scimgate_provisioning_failures_total"
    created = {"resource": "Users", "method": "POST", "status": "201"}
    assert metric_value(after, requests, **created) == metric_value(before, requests, **created) + 1
    unique = {"resource": "Users", "status": "409", "scim_type": "uniqueness"}
    assert metric_value(after, failures, **unique) == metric_value(before, failures, **unique) + 1
    latency = "scimgate_http_request_duration_seconds_count"
    assert metric_value(after, latency, resource="Users", method="POST") >= 2
    assert "scimgate_db_pool_size" in after


def _log_lines_with(tenant: Tenant, text: str) -> list[dict[str, Any]]:
    """The server's JSON log lines containing ``text``. The access line is written after the
    response has been sent, so wait (up to 10 s) for it to appear."""
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in tenant.server.log_path.read_text().splitlines() if text in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_access_log_is_json_with_context(tenant: Tenant) -> None:
    """One JSON line per request with request id, workspace id, client, status and duration (issue 3 §5)."""
    request_id = "ops-" + uuid.uuid4().hex
    headers = {"X-Request-Id": request_id, "User-Agent": "Okta SCIM Client"}
    assert tenant.get("/Users", headers=headers).status_code == 200
    lines = _log_lines_with(tenant, request_id)
    assert len(lines) == 1
    entry = lines[0]
    assert entry["message"] == "request"
    assert entry["workspace_id"] == tenant.workspace_id
    assert entry["status"] == 200
    assert entry["client"]
    assert entry["duration_ms"] >= 0


def test_access_log_keeps_ids_and_redacts_other_path_segments(tenant: Tenant) -> None:
    """A resource id stays readable in the access log's path; a segment that may be personal
    data (an email) is replaced by ``<redacted>``."""
    user = tenant.post("/Users", json={"schemas": [USER_SCHEMA], "userName": "logged@example.com"}).json()
    seen = "ops-" + uuid.uuid4().hex
    tenant.get(f"/Users/{user['id']}", headers={"X-Request-Id": seen})
    assert _log_lines_with(tenant, seen)[0]["path"].endswith(f"/Users/{user['id']}")
    hidden = "ops-" + uuid.uuid4().hex
    tenant.get("/Users/logged@example.com", headers={"X-Request-Id": hidden})
    assert _log_lines_with(tenant, hidden)[0]["path"].endswith("/Users/<redacted>")


def test_log_never_holds_token_header_or_body(tenant: Tenant) -> None:
    """Neither the bearer token, the Authorization header nor request bodies, filters or emails and
    tokens sent as path segments reach the log."""
    marker = "secretmarker" + uuid.uuid4().hex[:8]
    tenant.post("/Users", json={"schemas": [USER_SCHEMA], "userName": f"{marker}@example.com"})
    tenant.post("/Users", json={"schemas": [USER_SCHEMA], "userName": f"{marker}@example.com"})
    tenant.get("/Users", params={"filter": f'userName eq "{marker}@example.com"'})
    tenant.post("/Users", content=b"{not json " + marker.encode())
    # an email, a decoded "?" and the token itself as path segments (ids are the client's to choose)
    for path in (f"/Users/{marker}@example.com", f"/Users%3Ffilter={marker}", f"/Groups/{tenant.token}",
                 f"/Users/{marker}%20{marker}"):
        httpx.get(tenant.server.base_url + path, headers={"Authorization": f"Bearer {tenant.token}"})
    last = "ops-" + uuid.uuid4().hex
    httpx.get(tenant.server.base_url + "/Users",
              headers={"Authorization": f"Bearer {tenant.token}x", "X-Request-Id": last})
    assert _log_lines_with(tenant, last)  # every request before it has been logged too
    log = tenant.server.log_path.read_text()
    assert tenant.workspace_id in log  # the requests were logged
    assert tenant.token not in log
    assert tenant.token[:12] not in log
    assert "Bearer" not in log
    assert "authorization" not in log.lower()
    assert marker not in log


def test_readyz_ready_when_a_newer_release_migrated_ahead(live_server: LiveServer) -> None:
    """During a rolling upgrade the database may be at a revision this code does not know: still ready."""
    with live_server.sessions() as session, session.begin():
        session.execute(text("UPDATE alembic_version SET version_num = 'from_a_newer_release'"))
    try:
        assert httpx.get(live_server.url + "/readyz").status_code == 200
    finally:
        with live_server.sessions() as session, session.begin():
            session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()})
