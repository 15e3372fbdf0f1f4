"""Password hashing (Argon2id) and the minimum strength policy."""

from __future__ import annotations

import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 128
# The most common leaked passwords that pass the length rule; refusing them is cheap.
COMMON = frozenset({
    "1234567890", "12345678910", "123456789a", "qwertyuiop", "1q2w3e4r5t", "password12",
    "password123", "password1!", "iloveyou12", "qwerty1234", "abcdefghij", "aaaaaaaaaa",
    "a123456789", "1qaz2wsx3edc", "woaini1314", "5201314520", "1234qwer!@#$",
})

_hasher = PasswordHasher()
# Verifying against this when no account matches keeps login time the same either way.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0")


def strength_problems(password: str, *, personal: tuple[str | None, ...] = ()) -> list[str]:
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    classes = sum(
        any(c in chars for c in password)
        for chars in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    ) + any(not c.isalnum() for c in password)
    if classes < 2:
        problems.append("Mix at least two of: lower case, upper case, digits, symbols.")
    if password.lower() in COMMON or len(set(password)) < 4:
        problems.append("This password is too easy to guess.")
    for value in personal:
        if value and len(value) >= 4 and value.lower() in password.lower():
            problems.append("Do not use your email address or mobile number in the password.")
            break
    return problems


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
