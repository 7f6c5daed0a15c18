"""Standard Webhooks signatures (https://www.standardwebhooks.com), through its library.

``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, one per
valid secret, space-separated: during a rotation's grace period a receiver that still has
the old secret and one that has the new both verify.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_headers(
    webhook_id: str, timestamp: datetime, body: bytes, signing_secrets: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers (no signature when the account has no secret)."""
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(timestamp.timestamp()))}
    if signing_secrets:
        text = body.decode()
        headers["webhook-signature"] = " ".join(
            Webhook(secret).sign(webhook_id, timestamp, text) for secret in signing_secrets
        )
    return headers
