"""Rotating the JWT signing key does not log everyone out."""

from __future__ import annotations

import time
from pathlib import Path

import jwt as pyjwt
import pytest

from app import create_app
from app.config import JWT_RETIRED_FILE, jwt_key_id
from tests.helpers import Api

OLD = "old-signing-key-" + "o" * 32
NEW = "new-signing-key-" + "n" * 32


@pytest.fixture
def build(db_url, tmp_path):
    """Apps over the same database, as after a restart with other settings."""
    built = []

    def make(instance: Path | None = None, **env: str):
        app = create_app({"DATABASE_URL": db_url, **env},
                         instance_path=str(instance or tmp_path / "instance"), TESTING=True)
        built.append(app)
        return app

    yield make
    from app.extensions import db
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _login(app) -> dict:
    api = Api(app, app.test_client())
    caller = api.caller("citizen")
    return {"access": caller.access_token, "refresh": caller.refresh_token}


def _me(app, token: str) -> int:
    return app.test_client().get("/api/v1/me",
                                 headers={"Authorization": f"Bearer {token}"}).status_code


def test_tokens_of_the_previous_key_keep_working_and_refresh_onto_the_new_one(build):
    before = build(JWT_SECRET_KEY=OLD)
    tokens = _login(before)
    assert pyjwt.get_unverified_header(tokens["access"])["kid"] == jwt_key_id(OLD)

    after = build(JWT_SECRET_KEY=NEW, JWT_PREVIOUS_SECRET_KEYS=OLD)
    assert _me(after, tokens["access"]) == 200
    refreshed = after.test_client().post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh']}"})
    assert refreshed.status_code == 200
    new_access = refreshed.get_json()["access_token"]
    assert pyjwt.get_unverified_header(new_access)["kid"] == jwt_key_id(NEW)
    assert _me(after, new_access) == 200


def test_without_the_previous_key_old_tokens_are_refused(build):
    tokens = _login(build(JWT_SECRET_KEY=OLD))
    after = build(JWT_SECRET_KEY=NEW)
    resp = after.test_client().get("/api/v1/me",
                                   headers={"Authorization": f"Bearer {tokens['access']}"})
    assert resp.status_code == 401
    assert resp.content_type == "application/problem+json"


def test_a_token_naming_a_known_key_but_signed_by_another_is_refused(build):
    app = build(JWT_SECRET_KEY=NEW, JWT_PREVIOUS_SECRET_KEYS=OLD)
    claims = pyjwt.decode(_login(app)["access"], options={"verify_signature": False})
    forged = pyjwt.encode(claims, "attacker-key-" + "a" * 32, algorithm="HS256",
                          headers={"kid": jwt_key_id(OLD)})
    assert _me(app, forged) == 401


def test_cli_rotation_of_the_instance_key(build, tmp_path):
    instance = tmp_path / "generated"
    before = build(instance)  # no JWT_SECRET_KEY: the key lives in the instance folder
    tokens = _login(before)
    result = before.test_cli_runner().invoke(args=["auth", "rotate-jwt-key"])
    assert result.exit_code == 0, result.output

    after = build(instance)
    assert after.config["JWT_SECRET_KEY"] != before.config["JWT_SECRET_KEY"]
    assert _me(after, tokens["access"]) == 200
    assert (instance / JWT_RETIRED_FILE).stat().st_mode & 0o777 == 0o600


def test_retired_keys_are_dropped_once_their_tokens_have_expired(build, tmp_path):
    instance = tmp_path / "generated"
    instance.mkdir()
    (instance / JWT_RETIRED_FILE).write_text(f"{time.time() - 7200:.0f} {OLD}\n")
    app = build(instance, JWT_REFRESH_TOKEN_SECONDS="3600")
    assert jwt_key_id(OLD) not in app.config["JWT_VERIFY_KEYS"]
    app = build(instance, JWT_REFRESH_TOKEN_SECONDS="86400")
    assert jwt_key_id(OLD) in app.config["JWT_VERIFY_KEYS"]


def test_cli_refuses_when_the_key_comes_from_the_environment(build, monkeypatch):
    app = build(JWT_SECRET_KEY=NEW)
    monkeypatch.setenv("JWT_SECRET_KEY", NEW)
    result = app.test_cli_runner().invoke(args=["auth", "rotate-jwt-key"])
    assert result.exit_code != 0
    assert "JWT_PREVIOUS_SECRET_KEYS" in result.output


def test_short_previous_key_is_a_config_error(build):
    from app.config import ConfigError
    with pytest.raises(ConfigError, match="JWT_PREVIOUS_SECRET_KEYS"):
        build(JWT_SECRET_KEY=NEW, JWT_PREVIOUS_SECRET_KEYS="short")
