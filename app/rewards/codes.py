"""Redemption codes: what a citizen shows at the counter and staff type or scan (核销)."""

from __future__ import annotations

import secrets

# Crockford base32 without I, L, O, U: no look-alikes, safe in QR alphanumeric mode.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12  # 60 bits
_CODE_READS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str | None:
    """The stored form of a typed or scanned code, or None if it cannot be one."""
    code = "".join(raw.split()).replace("-", "").upper().translate(_CODE_READS)
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code
