"""Keys for rate limits: a keyed hash of what they count, never the identifier itself.

A limit's key names an account, a client address, a staff member or a partner. Stored in
clear (Redis, the database) it would be a list of who tried to log in from where. Hashed
with a secret of the deployment (LIMIT_KEY_SECRET), the same input still lands on the same
counter in every worker and on every machine that shares the secret, and the keys say
nothing to whoever reads the storage.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from flask_limiter.util import get_remote_address


def limit_key(kind: str, value: str) -> str:
    """`kind:` and a keyed hash of `value`, 32 hex characters (128 bits)."""
    secret = current_app.config["LIMIT_KEY_SECRET"].encode()
    digest = hmac.new(secret, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:32]}"


def remote_address_key() -> str:
    """The client address (after PROXY_FIX_HOPS), hashed: the limiter's default key."""
    return limit_key("address", get_remote_address())
