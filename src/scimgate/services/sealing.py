"""Secrets kept at rest sealed with AES-256-GCM (NIST SP 800-38D), keyed by the app's secret key.

The AES key is derived from ``Settings.secret_key`` (config.resolve_secret_key: the same on every
worker and machine) with HKDF-SHA256 (RFC 5869) and a fixed ``info`` naming this use, so the
secret key itself never encrypts anything and other uses of it (cookie signatures) stay apart.
A sealed value is ``v1.`` + URL-safe base64 of a random 96-bit nonce followed by the ciphertext
and its 128-bit tag. The caller's ``context`` (for example the workspace id) is the associated
data: a sealed value copied to another row does not open there.

Changing the secret key makes every sealed value unreadable (SealedSecretUnreadable): the admin
then gives the secret again (for OIDC: ``scimgate sso oidc add`` once more).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1."
NONCE_BYTES = 12
HKDF_INFO = b"scimgate sealed secret v1"


class SealedSecretUnreadable(Exception):
    """A sealed value that does not open: another secret key, another context, or damaged."""


def _aead(secret_key: str) -> AESGCM:
    if not secret_key:
        raise ValueError("no secret key to seal with")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret_key.encode("utf-8")
    )
    return AESGCM(key)


def seal(secret_key: str, plaintext: str, context: str) -> str:
    """``plaintext`` sealed under ``secret_key`` and bound to ``context`` (a text of about
    ``len(plaintext) * 4/3 + 40`` characters). Raises ValueError when ``secret_key`` is empty."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = _aead(secret_key).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
    return VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(secret_key: str, sealed: str, context: str) -> str:
    """The plaintext of a value :func:`seal` made with the same key and context. Raises
    SealedSecretUnreadable otherwise."""
    if not sealed.startswith(VERSION):
        raise SealedSecretUnreadable("unknown sealing format")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(VERSION) :].encode("ascii"))
        plain = _aead(secret_key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
    except (InvalidTag, ValueError) as exc:
        raise SealedSecretUnreadable("the sealed value does not open with this key") from exc
    return plain.decode("utf-8")
