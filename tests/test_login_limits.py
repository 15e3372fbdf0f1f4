"""Failed logins are limited per account and per address, exactly, across every worker,
whatever the rate-limit storage does."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.auth import throttle
from app.auth.models import LoginFailure
from app.db_types import utcnow
from app.extensions import db
from tests.conftest import TEST_JWT_SECRET
from tests.helpers import PASSWORD
from tests.live_server import call, closed_port, live_server

WRONG = "Wrong-password-123"


def test_sixth_wrong_password_is_refused_and_so_is_the_right_one(api):
    api.create_user(email="target@example.com")
    answers = [api.login("target@example.com", WRONG) for _ in range(7)]
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 2
    refused = answers[5]
    assert refused.content_type == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 300
    assert answers[0].headers["X-RateLimit-Limit"] == "5"
    assert answers[0].headers["X-RateLimit-Remaining"] == "4"
    assert api.login("target@example.com").status_code == 429
    # The counter is the account's, not the caller's: another account is not affected.
    api.create_user(email="other@example.com")
    assert api.login("other@example.com").status_code == 200


def test_successful_logins_use_no_failure_slot(api):
    api.create_user(email="often@example.com")
    for _ in range(8):
        assert api.login("often@example.com").status_code == 200
    assert [api.login("often@example.com", WRONG).status_code for _ in range(6)] == (
        [401] * 5 + [429])


def test_same_mobile_written_two_ways_shares_one_counter(api, app):
    api.client.post("/api/v1/auth/register", json={"mobile": "13912345678",
                                                     "password": PASSWORD})
    codes = [api.login(login, WRONG).status_code
             for login in ("13912345678", "+86 139 1234 5678", "+8613912345678") * 2]
    assert codes == [401] * 5 + [429]


def test_window_passing_opens_a_new_one(api, app):
    api.create_user(email="patient@example.com")
    for _ in range(5):
        api.login("patient@example.com", WRONG)
    assert api.login("patient@example.com", WRONG).status_code == 429
    with app.app_context():
        db.session.execute(update(LoginFailure).values(
            window_start=utcnow() - timedelta(minutes=5, seconds=1)))
        db.session.commit()
    assert api.login("patient@example.com").status_code == 200


def test_counters_hold_no_login_or_address(api, app):
    api.create_user(email="private.person@example.com")
    api.login("private.person@example.com", WRONG)
    api.login("13812345678", WRONG)
    with app.app_context():
        keys = db.session.scalars(select(LoginFailure.key)).all()
    assert len(keys) == 3  # two accounts and one address
    for key in keys:
        assert "private" not in key and "1381234" not in key and "127.0.0.1" not in key


def test_address_limit_spans_accounts(db_url, tmp_path):
    from app import create_app
    from tests.helpers import Api

    app = create_app({"DATABASE_URL": db_url, "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "LOGIN_LIMIT_PER_ADDRESS": "3 per 5 minutes"},
                     instance_path=str(tmp_path / "instance"), TESTING=True)
    api = Api(app, app.test_client())
    codes = [api.login(f"nobody{n}@example.com", WRONG).status_code for n in range(4)]
    assert codes == [401, 401, 401, 429]
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_bad_limit_setting_stops_start_up(tmp_path):
    from app.config import ConfigError, load

    with pytest.raises(ConfigError, match="LOGIN_LIMIT_PER_ACCOUNT"):
        load(str(tmp_path), {"LOGIN_LIMIT_PER_ACCOUNT": "five a minute"})


@pytest.mark.parametrize("storage", ["memory", "redis-down"])
def test_limit_is_exact_across_gunicorn_workers(db_url, tmp_path, storage):
    """2 workers, 7 wrong passwords at once and then one by one: 5 are checked."""
    uri = "memory://" if storage == "memory" else f"redis://127.0.0.1:{closed_port()}/0"
    env = {"DATABASE_URL": db_url, "JWT_SECRET_KEY": TEST_JWT_SECRET,
           "RATELIMIT_STORAGE_URI": uri}
    with live_server(env, tmp_path, workers=2) as server:
        for login in ("parallel@example.com", "serial@example.com"):
            status, _, _ = call(server, "POST", "/api/v1/auth/register",
                                {"email": login, "password": PASSWORD})
            assert status == 201

        def attempt(_: int) -> int:
            return call(server, "POST", "/api/v1/auth/login",
                        {"identifier": "parallel@example.com", "password": WRONG})[0]

        with ThreadPoolExecutor(7) as pool:
            parallel = sorted(pool.map(attempt, range(7)))
        assert parallel == [401] * 5 + [429] * 2

        serial = [call(server, "POST", "/api/v1/auth/login",
                       {"identifier": "serial@example.com", "password": WRONG})[0]
                  for _ in range(7)]
        assert serial == [401] * 5 + [429] * 2
        pids = {line.split("pid: ")[1].split()[0] for line in server.log_text().splitlines()
                if "Booting worker" in line}
        assert len(pids) == 2
        status, _, ready = call(server, "GET", "/readyz")
        assert status == 200
        assert ready["limiter"] == ("ok" if storage == "memory" else "degraded")
        assert ready["status"] == ("ready" if storage == "memory" else "degraded")


def test_purge_job_drops_counters_whose_window_has_passed(api, app):
    api.login("old@example.com", WRONG)
    api.login("recent@example.com", WRONG)
    with app.app_context():
        old = utcnow() - timedelta(minutes=6)
        db.session.execute(update(LoginFailure).where(LoginFailure.key.in_(
            [throttle.account_key("old@example.com")])).values(window_start=old))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["scheduler", "run", "purge_expired_keys"])
    assert result.exit_code == 0, result.output
    assert "'login_failures': 1" in result.output
    with app.app_context():
        keys = set(db.session.scalars(select(LoginFailure.key)))
        assert throttle.account_key("recent@example.com") in keys
        assert throttle.account_key("old@example.com") not in keys
