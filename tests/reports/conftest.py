"""The dashboard reads every domain: rewards' world (admin, merchant, funded citizens) and
approved methodologies."""

from tests.partners.conftest import approved  # noqa: F401
from tests.rewards.conftest import _fast_hash, at, world  # noqa: F401
