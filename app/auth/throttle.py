"""Failed-login limits, counted in the database that every worker shares.

Each attempt first takes a slot from two counters, the account's (LOGIN_LIMIT_PER_ACCOUNT)
and the client address's (LOGIN_LIMIT_PER_ADDRESS), in one short transaction of its own:
one upsert per counter increments it, or starts a new window when the last one has passed.
A counter already full refuses the attempt (429) before the password is checked, and the
transaction rolls back, so a refused attempt takes nothing. A login that succeeds, or fails
for a reason other than its credentials, gives its slots back; a wrong password keeps them.
Taking the slot before checking the password makes the limit exact under concurrency: of
seven wrong passwords sent at once to any number of workers, five are checked.

The counters are not the request's work: they commit on their own connection so that the
failed request's rollback keeps them (it is the failure they record). The database is
already needed to log in, so this adds no way for the limit to fail open; Redis is not used
for these limits at all (a Redis outage would otherwise have to choose between refusing
logins and counting per worker).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from limits import RateLimitItem, parse
from sqlalchemy import Connection, case, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from app.auth.models import LoginFailure
from app.db_types import utcnow
from app.extensions import db
from app.http.limit_keys import limit_key
from app.http.problems import ApiError
from app.users.schemas import normalize_email, normalize_mobile

_TABLE = LoginFailure.__table__


@dataclass
class LoginAttempt:
    """The slots one login attempt took: (key, window start) of each counter."""

    slots: list[tuple[str, datetime]] = field(default_factory=list)
    limit: int = 0
    remaining: int = 0
    reset_at: datetime | None = None


def account_key(identifier: str) -> str:
    """The account's counter: the login as the account stores it, so `13800138000` and
    `+86 138 0013 8000` share one."""
    identifier = identifier.strip()
    try:
        norm = normalize_email(identifier) if "@" in identifier else normalize_mobile(identifier)
    except Exception:  # noqa: BLE001 - an unparsable login is counted as it was typed
        norm = identifier
    return limit_key("login", norm[:254])


def begin_login(identifier: str, address: str | None) -> LoginAttempt:
    """Take a failure slot for the account and for the address, or refuse with 429."""
    now = utcnow()
    counters = [(account_key(identifier), _limit("LOGIN_LIMIT_PER_ACCOUNT")),
                (limit_key("login-address", address or "unknown"),
                 _limit("LOGIN_LIMIT_PER_ADDRESS"))]
    attempt = LoginAttempt()
    # Always the account's row, then the address's: two attempts never lock them in
    # opposite orders.
    with db.engine.begin() as conn:
        for n, (key, item) in enumerate(counters):
            failures, start = _take(conn, key, item, now)
            reset_at = start + timedelta(seconds=item.get_expiry())
            if failures > item.amount:
                retry = max(1, math.ceil((reset_at - now).total_seconds()))
                # Raised inside the transaction: it rolls back, the refusal takes no slot.
                raise ApiError(429, "Too many failed logins for this account or address; "
                               f"retry in {retry} s.", title="Too Many Requests",
                               headers={"Retry-After": str(retry)})
            attempt.slots.append((key, start))
            if n == 0:
                attempt.limit, attempt.remaining = item.amount, item.amount - failures
                attempt.reset_at = reset_at
    return attempt


def give_back(attempt: LoginAttempt) -> None:
    """The attempt did not fail on its credentials: it uses up no slot."""
    if not attempt.slots:
        return
    with db.engine.begin() as conn:
        for key, start in attempt.slots:
            conn.execute(update(_TABLE)
                         .where(_TABLE.c.key == key, _TABLE.c.window_start == start,
                                _TABLE.c.failures > 0)
                         .values(failures=_TABLE.c.failures - 1))
    attempt.remaining += 1
    attempt.slots.clear()


def purge_login_failures(now: datetime) -> int:
    """Drop counters whose window has passed under the longest configured limit."""
    longest = max(_limit(name).get_expiry()
                  for name in ("LOGIN_LIMIT_PER_ACCOUNT", "LOGIN_LIMIT_PER_ADDRESS"))
    cutoff = now - timedelta(seconds=longest)
    return db.session.execute(delete(LoginFailure).where(LoginFailure.window_start <= cutoff)
                              ).rowcount


def _limit(name: str) -> RateLimitItem:
    return parse(current_app.config[name])


def _take(conn: Connection, key: str, item: RateLimitItem, now: datetime
          ) -> tuple[int, datetime]:
    """Count one failure in the key's window, or open a new window: one statement, so
    concurrent attempts on any worker serialise on the row."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    passed = _TABLE.c.window_start <= now - timedelta(seconds=item.get_expiry())
    stmt = insert(_TABLE).values(key=key, window_start=now, failures=1)
    stmt = stmt.on_conflict_do_update(index_elements=[_TABLE.c.key], set_={
        "failures": case((passed, 1), else_=_TABLE.c.failures + 1),
        "window_start": case((passed, stmt.excluded.window_start), else_=_TABLE.c.window_start),
    }).returning(_TABLE.c.failures, _TABLE.c.window_start)
    failures, start = conn.execute(stmt).one()
    return failures, start
