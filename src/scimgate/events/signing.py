"""Standard Webhooks secrets and signatures (https://www.standardwebhooks.com/, with the
``standardwebhooks`` package).

A secret is ``whsec_`` + base64 of 32 random bytes. A message is signed as ``v1,<base64 of
HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")>``; during a rotation's overlap
the ``webhook-signature`` header holds one signature per live secret, space-separated, and a
receiver accepts the message if any of them verifies with the secret it knows.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A new signing secret (shown to the admin once)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def headers(message_id: str, timestamp: datetime, body: str,
            signing_secrets: Sequence[str]) -> dict[str, str]:
    """The ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` headers
    of ``body`` signed with each of ``signing_secrets`` (the current one first)."""
    signatures = " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in signing_secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }
