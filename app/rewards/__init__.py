"""Rewards catalogue, redemption, verification (核销) and settlement.

These names are the domain's public API: views, the console, jobs, other domains, tests
and bench scripts call them through the package (`from app import rewards`, then
`rewards.redeem(...)`). The modules of the package import one another by module path.
Functions flush; the caller's unit of work commits.
"""

from app.rewards.listing import catalogue, listed_reward
from app.rewards.management import (
    approve,
    create_reward,
    managed_reward,
    managed_rewards,
    reject,
    revisions,
    update_reward,
    user_revisions,
)
from app.rewards.redemption import redeem
from app.rewards.release import cancel, due_for_expiry, expire, forget_user
from app.rewards.reservations import (
    merchant_redemptions,
    own_redemption,
    user_redemptions,
    verified_redemptions,
)
from app.rewards.settlements import settlement, settlement_period, settlement_rows
from app.rewards.verification import merchant_code, verify, verify_code

__all__ = [
    # the catalogue citizens see
    "catalogue",
    "listed_reward",
    # rewards as merchants manage them and administrators review them
    "managed_rewards",
    "managed_reward",
    "create_reward",
    "update_reward",
    "revisions",
    "user_revisions",
    "approve",
    "reject",
    # redemption: reserve, verify at the counter, give back
    "redeem",
    "verify",
    "verify_code",
    "merchant_code",
    "cancel",
    "due_for_expiry",
    "expire",
    "forget_user",
    "own_redemption",
    "user_redemptions",
    "merchant_redemptions",
    "verified_redemptions",
    # settlement
    "settlement_period",
    "settlement",
    "settlement_rows",
]
