"""The hostile-input probe: schemathesis drives the published OpenAPI descriptions of the SCIM
API and the admin API (http.openapi) against a live server, and every answer is checked.

For every operation of both descriptions, in both schemathesis generation modes (``positive``:
requests the description allows; ``negative``: requests it forbids, such as wrong types,
missing required fields, other media types), a seeded Hypothesis run sends ``cases`` requests
and checks each answer:

- ``5xx``: no answer is a server error (nor a dropped connection);
- ``format``: every answer is in its surface's format: an error under ``/api/scim/v2`` is an
  RFC 7644 §3.12 Error (``application/scim+json``, ``schemas`` the Error URN, ``status`` the HTTP
  status as a string, ``scimType`` one of RFC 7644 Table 9); an error under ``/api/admin/v1``
  is ``{"error": {"status": <int>, "code", "detail"}}`` as ``application/json``; a success with
  a body is JSON;
- ``changed``: an error changed nothing: every row of the workspace (users, their emails,
  groups, memberships, domains, owned chats and agents, the workspace itself, its keys but
  their ``last_used``) reads the same before and after it; audit rows are not compared (a
  failure is audited on purpose).

Path parameters are replaced, two times in three, by the id of a user or group that exists (or
the tenant's spare domain), so PUT, PATCH and DELETE reach real resources instead of a 404; the
Authorization header is the tenant's real key seven times in eight, the generated one
otherwise. Faults are collected, not raised, so one run reports them all; a fault names the
operation, the check and the request (method, path, query, body; never the key).

Used by tests/http/test_hostile_input.py (a bounded, seeded run in ``make test``) and by
``python -m bench hostile`` (the long run).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from sqlalchemy import Table, select

from scimgate.config import SCIM_PREFIX
from scimgate.http.admin_api import PREFIX as ADMIN_PREFIX
from scimgate.scim.json_schema import SCIM_TYPES
from scimgate.scim.schema import ERROR_SCHEMA, GROUP_SCHEMA, USER_SCHEMA
from scimgate.storage.models import Base
from tests.support import LiveServer, Tenant, admin_client

WORKSPACE_TABLES = ("member", "member_email", "scim_group", "group_member", "email_domain", "chat", "agent")
SPARE_DOMAIN = "hostile.example"
PATH_POOLS = {"member_id": "users", "group_id": "groups", "name": "domains"}


@dataclass
class Fault:
    """One answer that broke a rule: ``kind`` is ``5xx``, ``format`` or ``changed``."""

    operation: str
    mode: str
    kind: str
    status: int | None
    request: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.status} {self.operation} [{self.mode}]: {self.detail}\n    {self.request}"


@dataclass
class Report:
    """What a run sent and found: cases per operation, statuses seen, the faults."""

    faults: list[Fault] = field(default_factory=list)
    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    unsendable: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.cases.values())


@dataclass
class Target:
    """A live server, one tenant on it with an admin key, and the resources its cases reuse."""

    server: LiveServer
    tenant: Tenant
    admin_key: str
    pools: dict[str, list[str]]
    session: requests.Session = field(default_factory=requests.Session)

    def digest(self) -> str:
        """A hash of every row of the tenant's workspace that a SCIM or admin request may change."""
        tables = Base.metadata.tables
        parts: list[Any] = []
        with self.server.sessions() as session:
            parts.append(list(session.execute(select(tables["workspace"])
                                              .where(tables["workspace"].c.id == self.tenant.workspace_id))))
            tokens = tables["scim_token"]
            columns = [c for c in tokens.c if c.name != "last_used"]
            parts.append(sorted(session.execute(select(*columns)
                                                .where(tokens.c.workspace_id == self.tenant.workspace_id))))
            for name in WORKSPACE_TABLES:
                table: Table = tables[name]
                rows = session.execute(select(table).where(table.c.workspace_id == self.tenant.workspace_id))
                parts.append(sorted(tuple(_canonical(v) for v in row) for row in rows))
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    def replenish(self) -> None:
        """Keep two users, two groups (the first holding the users) and the spare domain."""
        client = self.tenant.client
        users = self.pools["users"]
        users[:] = [u for u in users if client.get(f"/Users/{u}").status_code == 200]
        while len(users) < 2:
            name = f"probe-{uuid.uuid4().hex[:10]}@example.com"
            created = client.post("/Users", json={"schemas": [USER_SCHEMA], "userName": name,
                                                  "emails": [{"value": name, "primary": True}]})
            users.append(created.json()["id"])
        groups = self.pools["groups"]
        groups[:] = [g for g in groups if client.get(f"/Groups/{g}").status_code == 200]
        while len(groups) < 2:
            created = client.post("/Groups", json={
                "schemas": [GROUP_SCHEMA], "displayName": f"probe-{uuid.uuid4().hex[:10]}",
                "members": [{"value": u} for u in users]})
            groups.append(created.json()["id"])
        with httpx.Client(base_url=self.server.url + ADMIN_PREFIX, timeout=30,
                          headers={"Authorization": f"Bearer {self.admin_key}"}) as admin:
            if admin.get(f"/domains/{SPARE_DOMAIN}").status_code == 404:
                admin.post("/domains", json={"name": SPARE_DOMAIN})
            admin.post(f"/members/{users[0]}/sample-data", json={"chats": 1, "agents": 1})


def _canonical(value: Any) -> Any:
    """A column value in a form that compares the same across reads (JSON documents as text)."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def make_target(server: LiveServer, tenant: Tenant) -> Target:
    """The probe's target: ``tenant`` with an admin key, two users, two groups, a spare domain."""
    with admin_client(tenant) as admin:
        key = admin.headers["Authorization"].removeprefix("Bearer ")
    target = Target(server, tenant, key, {"users": [], "groups": [], "domains": [SPARE_DOMAIN]})
    target.replenish()
    return target


def descriptions(server: LiveServer) -> Iterator[tuple[str, Any]]:
    """(surface prefix, loaded schemathesis schema) of both published descriptions."""
    for prefix in (SCIM_PREFIX, ADMIN_PREFIX):
        document = httpx.get(f"{server.url}{prefix}/openapi.json", timeout=30).json()
        yield prefix, schemathesis.openapi.from_dict(document)


STREAMED_TYPES = ("application/jsonl", "text/csv")
"""Success media types that are not one JSON document (the audit export's JSON Lines and CSV)."""


def check_format(prefix: str, response: requests.Response) -> str | None:
    """Why ``response`` is not in its surface's format, or None when it is."""
    status = response.status_code
    if status in (204, 304) or (status < 400 and not response.content):
        return None
    content_type = response.headers.get("content-type", "")
    if status < 400 and content_type.split(";")[0] in STREAMED_TYPES:
        return None  # a streamed export (admin API /audit): its own line format, as described
    try:
        body = response.json()
    except ValueError:
        return f"body is not JSON ({content_type}): {response.text[:200]!r}"
    if status < 400:
        return None if "json" in content_type else f"success answered as {content_type}"
    if prefix == SCIM_PREFIX:
        if not content_type.startswith("application/scim+json"):
            return f"SCIM error answered as {content_type}"
        if not isinstance(body, dict) or body.get("schemas") != [ERROR_SCHEMA]:
            return f"SCIM error without the Error schema: {str(body)[:200]}"
        if body.get("status") != str(status):
            return f"SCIM error status {body.get('status')!r} for HTTP {status}"
        if "scimType" in body and body["scimType"] not in SCIM_TYPES:
            return f"unknown scimType {body['scimType']!r}"
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not content_type.startswith("application/json") or not isinstance(error, dict):
        return f"admin API error not in its JSON form ({content_type}): {str(body)[:200]}"
    if error.get("status") != status or not error.get("code") or not isinstance(error.get("detail"), str):
        return f"admin API error fields wrong for HTTP {status}: {error}"
    return None


def _described(case: Any) -> str:
    body = "" if type(case.body).__name__ == "NotSet" else f" body={str(case.body)[:300]}"
    return f"{case.method} {case.formatted_path} query={str(case.query)[:200]}{body}"


def run(target: Target, cases: int, seed_value: int, report: Report | None = None) -> Report:
    """Send about ``cases`` generated requests (split over every operation and mode of both
    descriptions, at least 2 each) with Hypothesis seeded from ``seed_value``; the faults found."""
    report = report or Report()
    started = time.monotonic()
    plan = [(prefix, result.ok(), mode) for prefix, schema in descriptions(target.server)
            for result in schema.get_all_operations() for mode in GenerationMode]
    per_run = max(2, cases // len(plan))
    for index, (prefix, operation, mode) in enumerate(plan):
        _run_operation(target, prefix, operation, mode, per_run, seed_value * 1000 + index, report)
    report.seconds += time.monotonic() - started
    return report


def _run_operation(target: Target, prefix: str, operation: Any, mode: GenerationMode, examples: int,
                   seed_value: int, report: Report) -> None:
    key = target.admin_key if prefix == ADMIN_PREFIX else target.tenant.token
    strategy = st.tuples(operation.as_strategy(generation_mode=mode), st.integers(0, 2), st.integers(0, 7),
                         st.integers(0, 1))

    @seed(seed_value)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def probe(drawn: tuple[Any, int, int, int]) -> None:
        case, id_choice, auth, which = drawn  # Hypothesis starts from 0s: pool ids and the real key
        for name in list(case.path_parameters or {}):
            pool = target.pools.get(PATH_POOLS.get(name, ""), [])
            if id_choice < 2 and pool:
                case.path_parameters[name] = pool[which % len(pool)]
        if auth < 7:  # the generated Authorization would win over call(headers=...)
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
        before = target.digest()
        try:
            response = case.call(base_url=target.server.url + prefix, session=target.session, timeout=60)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            report.faults.append(Fault(operation.label, mode.value, "5xx", None, _described(case),
                                       f"connection failed: {type(exc).__name__}"))
            return
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError):
            report.unsendable += 1  # the client cannot send it (a header with a line break)
            return
        report.cases[operation.label] += 1
        report.statuses[response.status_code] += 1
        raw = requests.Response()  # the checks read it as a plain requests response
        raw.status_code, raw._content = response.status_code, response.content
        raw.headers.update({k: ", ".join(v) for k, v in response.headers.items()})
        if response.status_code >= 500:
            report.faults.append(Fault(operation.label, mode.value, "5xx", response.status_code,
                                       _described(case), response.text[:300]))
        problem = check_format(prefix, raw)
        if problem:
            report.faults.append(Fault(operation.label, mode.value, "format", response.status_code,
                                       _described(case), problem))
        if response.status_code >= 400 and target.digest() != before:
            report.faults.append(Fault(operation.label, mode.value, "changed", response.status_code,
                                       _described(case), "the workspace's rows changed after an error"))
        if case.method in ("DELETE", "PUT", "PATCH") and response.status_code < 300:
            target.replenish()

    probe()
