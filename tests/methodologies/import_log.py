"""Records imports of test modules that must never be imported (see fake_forbidden)."""

ATTEMPTS: list[str] = []
