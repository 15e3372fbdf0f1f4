"""How the tables are laid out on distributed PostgreSQL (Citus), and which statements may
read across users.

The distribution column is `user_id` (docs/operations.md, "Sharding by user"). A table is
one of:

- distributed by user (`DISTRIBUTED_BY_USER`), co-located: one user's rows sit on one
  shard, so every statement on them names its user (`user_id = …`, `user_id = ANY(…)`, an
  IN list, or a join on `user_id` to a row that is itself named) and Citus routes it to
  that user's shard;
- distributed by code (`DISTRIBUTED_BY_CODE`): the merchant's code → owner lookup, routed
  by the code;
- a reference table (`REFERENCE`), copied to every node: read anywhere, written rarely;
- coordinator-local (`LOCAL`): bookkeeping that never joins the distributed tables.

A statement that must read many users' rows (a report, a job's scan, an administrator's
lookup by id) runs inside `fan_out(name)`, with `name` one of `FAN_OUT`: the one list of
the statements that go to every shard, each with the reason it has to. The test suite on
PostgreSQL checks every other statement on a distributed table (tests/routing_guard.py).
"""

from __future__ import annotations

from contextvars import ContextVar
from types import TracebackType

DISTRIBUTED_BY_USER: frozenset[str] = frozenset({
    "ledger_accounts", "ledger_transactions", "ledger_postings", "ledger_lots",
    "ledger_holds", "ledger_hold_lots", "behaviours", "credit_totals", "redemptions",
})

DISTRIBUTED_BY_CODE: frozenset[str] = frozenset({"redemption_codes"})

REFERENCE: frozenset[str] = frozenset({
    "users", "user_roles", "methodology_versions", "conversion_rates", "merchants",
    "merchant_staff", "rewards", "partners", "partner_keys", "ledger_system_accounts",
})

LOCAL: frozenset[str] = frozenset({
    "idempotency_keys", "audit_events", "job_runs", "apscheduler_jobs", "login_failures",
    "revoked_tokens", "partner_request_nonces", "partner_link_codes", "partner_links",
    "partner_batches", "reward_revisions", "alembic_version",
})

# Name → why this statement has to read (or write) across users. Keep it short: each
# entry costs one query per shard every time it runs.
FAN_OUT: dict[str, str] = {
    "expire-lots-scan": "the daily expiry job scans the lots due across all users",
    "release-stale-holds": "the redemption expiry job finds the reservations past their "
                           "time, whoever made them, to release their holds",
    "owner-probe": "an administrator's request names a transaction or behaviour by id "
                   "alone: one index probe per shard finds its owner",
    "statistics": "the platform statistics add up every user's points and reductions",
    "dashboard": "the console dashboard counts and sums across all users",
    "settlement": "a merchant's settlement period sums the redemptions it captured, "
                  "from every user who redeemed there",
    "merchant-redemptions": "a merchant lists the redemptions of its rewards, across users",
    "admin-queues": "an administrator's review queue holds every user's pending records",
    "admin-lists": "an administrator lists and searches records across users",
    "csv-export": "a CSV export writes out a period's records of every user",
    "staff-export": "a staff member's data export lists the redemptions they ended, "
                    "whichever user made them",
    "system-balance": "a system account's balance is the sum of its postings, which sit "
                      "on the shards of every user who earned or spent through it",
    "ledger-verify": "the ledger's consistency check (the nightly job, `flask ledger "
                     "verify`, the console's audit page) compares every account's totals",
}

_current: ContextVar[str | None] = ContextVar("fan_out", default=None)


class fan_out:
    """Marks the statements run inside as an allowed fan-out, named in FAN_OUT.

    A name not in FAN_OUT raises KeyError at once, so a mark cannot drift from the list.
    Costs one context variable set and reset.
    """

    __slots__ = ("name", "_token")

    def __init__(self, name: str) -> None:
        if name not in FAN_OUT:
            raise KeyError(f"fan_out({name!r}): not an allowed fan-out; add it, with the "
                           f"reason, to FAN_OUT in app/sharding.py")
        self.name = name

    def __enter__(self) -> str:
        self._token = _current.set(self.name)
        return self.name

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        _current.reset(self._token)


def current_fan_out() -> str | None:
    """The name of the fan-out the running statement is part of, if any."""
    return _current.get()
