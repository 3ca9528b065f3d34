"""SAML response checks, each refused over HTTP with nothing bound and nothing signed in
(issue 18 "Security"; SAML 2.0 Profiles §4.1.4.3, §4.1.4.5; Core §2.5, §5.4)."""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from scimgate.storage.db import transaction
from scimgate.storage.models import SsoBinding, SsoConnection
from tests.sso.support import SsoTenant, browser, me, post_acs, sign_in, sso_tenant, start_login
from tests.sso_idp import RSA_SHA1, SHA1, TestUser
from tests.support import LiveServer


@pytest.fixture
def sso(live_server: LiveServer, tmp_path: Path) -> SsoTenant:
    """A tenant with SAML configured and one provisioned member ada@<domain>."""
    created = sso_tenant(live_server, tmp_path)
    created.tenant.create_user(f"ada@{created.domain}")
    return created


def ada(sso: SsoTenant) -> TestUser:
    return TestUser(f"ada@{sso.domain}", str(uuid.uuid4()))


def bindings(sso: SsoTenant) -> int:
    with transaction(sso.server.sessions) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(SsoBinding)
                .where(SsoBinding.workspace_id == sso.tenant.workspace_id)
            )
            or 0
        )


def assert_refused(sso: SsoTenant, client: httpx.Client, response: httpx.Response) -> None:
    """403 with the refusal page; no member session; no binding made."""
    assert response.status_code == 403, response.text
    assert "scimgate_member" not in response.headers.get("set-cookie", "")
    assert me(sso, client).status_code == 401
    assert bindings(sso) == 0


def answer(sso: SsoTenant, client: httpx.Client, user: TestUser, **options: object) -> str:
    request_id = start_login(sso, client, user.email)
    return sso.idp.response(
        user, sp_entity_id=sso.entity_id, acs_url=sso.acs_url, in_response_to=request_id, **options
    )  # type: ignore[arg-type]


def test_unsigned_response_is_refused(sso: SsoTenant) -> None:
    """Neither the assertion nor the response signed."""
    client = browser()
    assert_refused(sso, client, sign_in(sso, client, ada(sso), sign_assertion=False, sign_response=False))


def test_signed_response_alone_is_accepted(sso: SsoTenant) -> None:
    """A signed Response around an unsigned assertion is enough (want_assertions_or_response_signed)."""
    client = browser()
    assert sign_in(sso, client, ada(sso), sign_assertion=False, sign_response=True).status_code == 303
    assert me(sso, client).status_code == 200


def test_forged_signature_by_another_key_is_refused(sso: SsoTenant) -> None:
    """Same issuer, another key: only the metadata's certificate is trusted."""
    client = browser()
    request_id = start_login(sso, client, f"ada@{sso.domain}")
    forged = sso.idp.forger().response(
        ada(sso), sp_entity_id=sso.entity_id, acs_url=sso.acs_url, in_response_to=request_id
    )
    assert_refused(sso, client, post_acs(sso, client, forged))


def test_sha1_is_refused(sso: SsoTenant) -> None:
    """RSA-SHA1 signature and SHA-1 digest."""
    client = browser()
    assert_refused(sso, client, sign_in(sso, client, ada(sso), sign_alg=RSA_SHA1, digest_alg=SHA1))


def test_expired_assertion_is_refused(sso: SsoTenant) -> None:
    """NotOnOrAfter ten minutes ago, beyond the two-minute skew."""
    sso.idp.set_lifetime(-10)
    client = browser()
    assert_refused(sso, client, sign_in(sso, client, ada(sso)))


def test_wrong_audience_is_refused(sso: SsoTenant) -> None:
    """An assertion for another SP's entity ID."""
    client = browser()
    assert_refused(
        sso, client, post_acs(sso, client, answer(sso, client, ada(sso), audience="https://other.test/sp"))
    )


def test_wrong_destination_and_recipient_are_refused(sso: SsoTenant) -> None:
    """Destination and SubjectConfirmationData Recipient naming another ACS."""
    client = browser()
    wrong = answer(sso, client, ada(sso), recipient="https://other.test/acs")
    assert_refused(sso, client, post_acs(sso, client, wrong))


def test_replayed_response_is_refused(sso: SsoTenant) -> None:
    """The same response posted twice: the request it answers is single use."""
    client = browser()
    first = answer(sso, client, ada(sso))
    assert post_acs(sso, client, first).status_code == 303
    other = browser()
    response = post_acs(sso, other, first)
    assert response.status_code == 403 and me(sso, other).status_code == 401


def test_unknown_in_response_to_is_refused(sso: SsoTenant) -> None:
    """InResponseTo must name a request this server issued."""
    client = browser()
    forged = sso.idp.response(
        ada(sso), sp_entity_id=sso.entity_id, acs_url=sso.acs_url, in_response_to="id-" + uuid.uuid4().hex
    )
    assert_refused(sso, client, post_acs(sso, client, forged))


def test_idp_initiated_is_off_by_default_and_replay_cache_holds(sso: SsoTenant) -> None:
    """Unsolicited responses are refused; once allowed, an assertion id is accepted only once."""
    client = browser()
    unsolicited = sso.idp.response(
        ada(sso), sp_entity_id=sso.entity_id, acs_url=sso.acs_url, in_response_to=None
    )
    assert_refused(sso, client, post_acs(sso, client, unsolicited))
    with transaction(sso.server.sessions) as session:
        session.execute(
            update(SsoConnection)
            .where(SsoConnection.workspace_id == sso.tenant.workspace_id)
            .values(allow_idp_initiated=True)
        )
    assert post_acs(sso, client, unsolicited).status_code == 303
    again = browser()
    assert post_acs(sso, again, unsolicited).status_code == 403 and me(sso, again).status_code == 401


def test_cross_tenant_response_is_refused(live_server: LiveServer, tmp_path: Path, sso: SsoTenant) -> None:
    """A response to workspace B's request, posted to workspace A's ACS, and B's IdP at A's ACS."""
    other = sso_tenant(live_server, tmp_path)
    other.tenant.create_user(f"ada@{other.domain}")
    client = browser()
    request_id = start_login(other, client, f"ada@{other.domain}")
    theirs = other.idp.response(
        TestUser(f"ada@{other.domain}", str(uuid.uuid4())),
        sp_entity_id=sso.entity_id,
        acs_url=sso.acs_url,
        in_response_to=request_id,
    )
    assert_refused(sso, client, post_acs(sso, client, theirs))
    mine_request = start_login(sso, client, f"ada@{sso.domain}")
    signed_by_other = other.idp.response(
        ada(sso), sp_entity_id=sso.entity_id, acs_url=sso.acs_url, in_response_to=mine_request
    )
    assert_refused(sso, client, post_acs(sso, client, signed_by_other))


def test_member_bound_to_another_subject_is_refused(sso: SsoTenant) -> None:
    """A second, different stable subject claiming an already bound member is refused and logged."""
    client = browser()
    assert sign_in(sso, client, ada(sso)).status_code == 303
    intruder = browser()
    response = sign_in(sso, intruder, ada(sso))  # same email, another object id
    assert response.status_code == 403 and "already linked" in response.text
    assert me(sso, intruder).status_code == 401
    assert bindings(sso) == 1
    assert "member already bound to another subject" in sso.server.log_path.read_text()


def test_signature_wrapping_is_refused(sso: SsoTenant) -> None:
    """A signed assertion kept, an unsigned forged copy for another member put first (XSW)."""
    sso.tenant.create_user(f"eve@{sso.domain}")
    client = browser()
    xml = base64.b64decode(answer(sso, client, ada(sso))).decode()
    prefix = re.search(r"<(\w+):Assertion ", xml)
    assert prefix is not None
    start = prefix.start()
    end = xml.index(f"</{prefix.group(1)}:Assertion>") + len(f"</{prefix.group(1)}:Assertion>")
    evil = xml[start:end].replace(f"ada@{sso.domain}", f"eve@{sso.domain}").replace(' ID="', ' ID="evil')
    wrapped = xml[:start] + evil + xml[start:]
    assert_refused(sso, client, post_acs(sso, client, base64.b64encode(wrapped.encode()).decode()))


def test_dtd_is_refused(sso: SsoTenant) -> None:
    """An internal entity declaration (the "billion laughs" family) is refused before parsing on."""
    client = browser()
    xml = base64.b64decode(answer(sso, client, ada(sso))).decode()
    doctype = '<!DOCTYPE r [<!ENTITY e "x">]>'
    body = xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml
    assert_refused(sso, client, post_acs(sso, client, base64.b64encode((doctype + body).encode()).decode()))
