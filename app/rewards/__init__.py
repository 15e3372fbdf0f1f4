"""Rewards catalogue, redemption, verification (核销) and settlement."""
