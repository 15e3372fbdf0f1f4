"""Rows per local day are grouped in SQL by the platform's zone, across a DST change."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from app.extensions import db
from app.uow import unit_of_work
from app.users import stats
from app.users.models import User


@pytest.fixture
def app_env(app_env):
    # Berlin moves its clocks on 2026-03-29 at 01:00 UTC: that local day has 23 hours.
    return {**app_env, "TIMEZONE": "Europe/Berlin"}


@pytest.mark.parametrize("grain, expected", [
    ("day", {"2026-03-27": 0, "2026-03-28": 1, "2026-03-29": 3, "2026-03-30": 1,
             "2026-03-31": 1}),
    ("month", {"2026-03": 6}),
])
def test_registrations_fall_on_their_local_day_across_a_dst_change(api, app, grain, expected):
    moments = [
        datetime(2026, 3, 26, 22, 59, tzinfo=UTC),  # 23:59 CET on the 26th: before the period
        datetime(2026, 3, 28, 22, 59, tzinfo=UTC),  # 23:59 CET on the 28th
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC),   # midnight CET: the 29th
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),    # 03:00 CEST, the moment clocks move
        datetime(2026, 3, 29, 21, 59, tzinfo=UTC),  # 23:59 CEST on the 29th
        datetime(2026, 3, 29, 22, 0, tzinfo=UTC),   # midnight CEST: the 30th
        datetime(2026, 3, 31, 21, 59, tzinfo=UTC),  # 23:59 CEST on the 31st
        datetime(2026, 3, 31, 22, 0, tzinfo=UTC),   # April: after the period
    ]
    ids = [api.create_user() for _ in moments]
    with app.app_context(), unit_of_work():
        for user_id, moment in zip(ids, moments, strict=True):
            db.session.execute(update(User).where(User.id == user_id).values(created_at=moment))
    with app.app_context():
        report = stats.registered(date(2026, 3, 27), date(2026, 3, 31), grain)
    assert report["total"] == len(moments)
    assert {r["key"]: r["registered"] for r in report["rows"]} == expected
