"""What the rate limiter stores in Redis names nobody: its keys are keyed hashes."""

from __future__ import annotations

import re
import uuid

import pytest
import redis

from app import create_app
from app.extensions import db
from tests.conftest import TEST_JWT_SECRET
from tests.helpers import PASSWORD, Api

REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    yield client
    client.close()


def test_keys_in_redis_hold_no_identifier(db_url, tmp_path, redis_client):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    app = create_app({"DATABASE_URL": db_url, "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "RATELIMIT_STORAGE_URI": REDIS, "RATELIMIT_KEY_PREFIX": prefix,
                      "LIMIT_KEY_SECRET": "limit-key-secret-" + "s" * 20},
                     instance_path=str(tmp_path / "instance"), TESTING=True)
    api = Api(app, app.test_client())
    try:
        email = "redis.person@example.com"
        user_id = api.create_user(email=email)
        assert api.login(email, "Wrong-password-9").status_code == 401
        token = api.login(email, PASSWORD).get_json()["access_token"]
        export = api.client.get("/api/v1/me/export", headers={"Authorization": f"Bearer {token}"})
        assert export.status_code == 200
        assert export.headers["X-RateLimit-Limit"]
        keys = [k.decode() for k in redis_client.scan_iter(f"*{prefix}*")]
        assert keys, "the export limit is counted in Redis"
        for key in keys:
            assert "redis.person" not in key and "127.0.0.1" not in key
            # LIMITS:LIMITER/<prefix>/export:<hash>/<view>/5/1/hour: the account is a hash.
            assert re.search(r"/export:[0-9a-f]{32}/", key), key
            assert f"export:{user_id}/" not in key
    finally:
        for key in redis_client.scan_iter(f"*{prefix}*"):
            redis_client.delete(key)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_readyz_says_degraded_when_redis_is_configured_and_unreachable(db_url, tmp_path):
    from tests.live_server import closed_port

    app = create_app({"DATABASE_URL": db_url, "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{closed_port()}/0"},
                     instance_path=str(tmp_path / "instance"), TESTING=True)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "degraded"
    assert answer.get_json()["limiter"] == "degraded"
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_readyz_says_ok_with_a_live_redis(db_url, tmp_path, redis_client):
    app = create_app({"DATABASE_URL": db_url, "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "RATELIMIT_STORAGE_URI": REDIS},
                     instance_path=str(tmp_path / "instance"), TESTING=True)
    answer = app.test_client().get("/readyz").get_json()
    assert (answer["status"], answer["limiter"]) == ("ready", "ok")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_limit_key_secret_is_generated_once_or_checked(tmp_path):
    from app.config import ConfigError, load

    first = load(str(tmp_path), {})["LIMIT_KEY_SECRET"]
    assert load(str(tmp_path), {})["LIMIT_KEY_SECRET"] == first  # every worker, same key
    assert (tmp_path / "limit_key_secret.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError, match="LIMIT_KEY_SECRET"):
        load(str(tmp_path), {"LIMIT_KEY_SECRET": "short"})
