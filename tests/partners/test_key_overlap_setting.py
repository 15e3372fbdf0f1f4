"""PARTNER_KEY_OVERLAP_HOURS sets how long the old keys work after a rotation."""

from __future__ import annotations

from datetime import datetime

import pytest


@pytest.fixture
def app_env(app_env):
    return {**app_env, "PARTNER_KEY_OVERLAP_HOURS": "2"}


def test_overlap_follows_the_setting(api, admin, partner):
    before = datetime.now().astimezone()
    body = api.post(f"/api/v1/admin/partners/{partner.creds.id}/keys", admin).get_json()
    gap = (datetime.fromisoformat(body["old_keys_expire_at"]) - before).total_seconds()
    assert 2 * 3600 - 5 < gap < 2 * 3600 + 60
