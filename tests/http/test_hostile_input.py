"""The hostile-input suite (tests/hostile.py): schemathesis drives the published OpenAPI
descriptions of the SCIM and admin APIs against the live server, on SQLite and PostgreSQL,
and no answer is a 5xx, every answer is in its surface's format, and no error changed anything.

Bounded and seeded: ``SCIMGATE_HOSTILE_CASES`` requests per database (default 250, split over
every operation and generation mode), Hypothesis seeded from ``SCIMGATE_HOSTILE_SEED`` (default
13). The long run is ``python -m bench hostile --cases 5000`` (bench/hostile.py).
"""

from __future__ import annotations

import os

import pytest
import requests

from tests.hostile import Target, check_format, make_target, run
from tests.support import LiveServer, Tenant

pytestmark = pytest.mark.dns  # the admin API's verify resolves through the test DNS server only

CASES = int(os.environ.get("SCIMGATE_HOSTILE_CASES", "250"))
SEED = int(os.environ.get("SCIMGATE_HOSTILE_SEED", "13"))


@pytest.fixture
def target(live_server: LiveServer, tenant: Tenant) -> Target:
    return make_target(live_server, tenant)


def test_no_5xx_every_error_in_its_format_nothing_changed_after_an_error(target: Target) -> None:
    report = run(target, CASES, SEED)
    assert report.total >= min(CASES, 100), report.cases
    assert any(400 <= status < 500 for status in report.statuses), report.statuses
    assert any(status < 300 for status in report.statuses), report.statuses  # pool ids reach resources
    assert not report.faults, "\n".join(str(fault) for fault in report.faults[:20])


def answer(status: int, content_type: str, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers["content-type"] = content_type
    return response


def test_the_format_check_refuses_what_a_surface_must_not_send() -> None:
    """The suite's format check can fail: each wrong shape below is named."""
    scim, admin = "/api/scim/v2", "/api/admin/v1"
    error = b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404","detail":"x"}'
    assert check_format(scim, answer(404, "application/scim+json", error)) is None
    assert check_format(scim, answer(400, "application/scim+json", error))  # status differs
    assert check_format(scim, answer(404, "text/plain", error))
    assert check_format(scim, answer(404, "application/scim+json", b'{"detail":"x"}'))
    unknown_type = error.replace(b'"x"', b'"x","scimType":"no"')
    assert check_format(scim, answer(404, "application/scim+json", unknown_type))
    admin_error = b'{"error":{"status":404,"code":"not_found","detail":"x"}}'
    assert check_format(admin, answer(404, "application/json", admin_error)) is None
    assert check_format(admin, answer(404, "application/scim+json", error))
    assert check_format(admin, answer(409, "application/json", admin_error))
    assert check_format(admin, answer(200, "text/html", b"<html>"))
