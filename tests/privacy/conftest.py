from tests.rewards.conftest import _fast_hash, world  # noqa: F401  (shared fixtures)
