"""services.sealing: AES-GCM sealed secrets open only with the same key and context."""

from __future__ import annotations

import pytest

from scimgate.services.sealing import SealedSecretUnreadable, seal, unseal


def test_seal_round_trip_and_refusals() -> None:
    sealed = seal("key-one", "s3cret value", "oidc-client-secret:ws-1")
    assert sealed.startswith("v1.") and "s3cret" not in sealed
    assert unseal("key-one", sealed, "oidc-client-secret:ws-1") == "s3cret value"
    assert seal("key-one", "s3cret value", "oidc-client-secret:ws-1") != sealed  # fresh nonce
    for key, context, value in (
        ("key-two", "oidc-client-secret:ws-1", sealed),  # another secret key
        ("key-one", "oidc-client-secret:ws-2", sealed),  # copied to another workspace
        ("key-one", "oidc-client-secret:ws-1", sealed[:-4] + "AAAA"),  # damaged
        ("key-one", "oidc-client-secret:ws-1", "plain-text"),  # not sealed
    ):
        with pytest.raises(SealedSecretUnreadable):
            unseal(key, value, context)
    with pytest.raises(ValueError):
        seal("", "x", "c")
