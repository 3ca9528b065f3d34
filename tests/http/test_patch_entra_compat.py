"""PATCH replace through a value filter that matches nothing: RFC by default, Entra mode on request.

RFC 7644 §3.5.2.3 answers 400 ``noTarget``; Entra relies on the element being created
(identity-providers.md §2.4 e, cases C05/C06), which a workspace switches on explicitly (``workspace
entra-compat``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Tenant

OTHER_EMAIL = 'emails[type eq "other"].value'
WORK_PHONE = 'phoneNumbers[type eq "work"].value'


def _patch(tenant: Tenant, user_id: str, op: str, path: str, value: str):  # type: ignore[no-untyped-def]
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": op, "path": path, "value": value}],
    }
    return tenant.patch(f"/Users/{user_id}", json=body)


def _entra_compat(tenant: Tenant, state: str) -> None:
    """Switch the mode with the real CLI against the server's database."""
    env = dict(os.environ, SCIMGATE_DATABASE_URL=tenant.server.database_url)
    scimgate = str(Path(sys.executable).parent / "scimgate")
    done = subprocess.run(
        [scimgate, "workspace", "entra-compat", tenant.workspace_name, state],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", [OTHER_EMAIL, WORK_PHONE])
def test_replace_without_match_is_no_target_by_default(tenant: Tenant, path: str) -> None:
    """Default: 400 noTarget and the user is unchanged (RFC 7644 §3.5.2.3)."""
    user = tenant.create_user(
        "nt.user@example.com", emails=[{"value": "nt.user@example.com", "type": "work"}]
    )
    response = _patch(tenant, user["id"], "replace", path, "x@example.com")
    assert response.status_code == 400
    assert response.json()["scimType"] == "noTarget"
    assert tenant.get(f"/Users/{user['id']}").json() == user


@pytest.mark.parametrize("op", ["add", "Add"])
def test_add_without_match_creates_the_element(tenant: Tenant, op: str) -> None:
    """``add`` through a value path creates the typed element in every mode (case C06)."""
    user = tenant.create_user("add.user@example.com")
    assert _patch(tenant, user["id"], op, OTHER_EMAIL, "add.other@example.com").status_code in (200, 204)
    emails = tenant.get(f"/Users/{user['id']}").json()["emails"]
    assert emails == [{"type": "other", "value": "add.other@example.com"}]


@pytest.mark.parametrize("path", [OTHER_EMAIL, WORK_PHONE])
def test_entra_compat_mode_makes_replace_create(tenant: Tenant, path: str) -> None:
    """With the workspace's Entra compatibility on, replace creates the missing element once."""
    _entra_compat(tenant, "on")
    user = tenant.create_user("compat.user@example.com")
    for _ in range(2):
        assert _patch(tenant, user["id"], "Replace", path, "compat.other@example.com").status_code == 200
    attribute = path.split("[")[0]
    kind = path.split('"')[1]
    assert tenant.get(f"/Users/{user['id']}").json()[attribute] == [
        {"type": kind, "value": "compat.other@example.com"}
    ]
    _entra_compat(tenant, "off")
    other = tenant.create_user("compat.off@example.com")
    assert _patch(tenant, other["id"], "replace", path, "y@example.com").status_code == 400
