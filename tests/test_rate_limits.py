"""The rate limiter only has per-view limits, so it runs no check on other requests."""

from __future__ import annotations

from app.extensions import limiter
from tests.helpers import PASSWORD


def test_every_limit_is_on_a_view(app):
    # create_app drops Flask-Limiter's before_request check, which applies only these
    # kinds of limit: adding one means restoring that check.
    manager = limiter.limit_manager
    assert manager.default_limits == [] and manager.application_limits == []
    assert not any(app.config.get(name) for name in
                   ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META"))
    with app.test_request_context():
        assert not any(manager.blueprint_limits(app, name) for name in app.blueprints)
    assert limiter._check_request_limit not in app.before_request_funcs.get(None, [])


def test_view_limits_still_apply_and_send_their_headers(api):
    api.create_user(email="limited@example.com")
    ok = api.login("limited@example.com", PASSWORD)
    assert ok.status_code == 200
    assert ok.headers["X-RateLimit-Limit"]
    assert api.client.get("/healthz").headers.get("X-RateLimit-Limit") is None
