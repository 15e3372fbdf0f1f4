"""Administering partners: register (secret shown once), list, change, keys."""

from __future__ import annotations

import re

from tests.conftest import run_sql
from tests.helpers import assert_problem
from tests.partners.conftest import count

URL = "/api/v1/admin/partners"


def test_register_shows_the_secret_once(app, api, admin):
    resp = api.post(URL, admin, json={"name": "Canteen 7", "methodologies": ["clean_plate"]})
    assert resp.status_code == 201
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert re.fullmatch(r"pk_[A-Za-z0-9_-]{16}", body["key_id"])
    assert len(body["secret"]) >= 40
    partner = body["partner"]
    assert partner["name"] == "Canteen 7" and partner["status"] == "active"
    assert partner["methodologies"] == ["clean_plate"] and partner["created_by"] == admin.id
    got = api.get(f"{URL}/{partner['id']}", admin)
    assert got.status_code == 200
    assert body["secret"] not in got.get_data(as_text=True)
    assert [k["key_id"] for k in got.get_json()["keys"]] == [body["key_id"]]
    listed = api.get(URL, admin)
    assert body["secret"] not in listed.get_data(as_text=True)
    events = run_sql(app, "SELECT action, details FROM audit_events")
    assert [e[0] for e in events] == ["partner.created"]
    assert body["secret"] not in str(events)


def test_only_admins(api):
    citizen = api.caller()
    assert_problem(api.post(URL, citizen, json={"name": "x", "methodologies": ["recycling"]}),
                   403, "forbidden")
    assert_problem(api.get(URL), 401)


def test_validation(api, admin):
    assert_problem(api.post(URL, admin, json={"name": "x", "methodologies": []}), 422)
    body = assert_problem(api.post(URL, admin, json={"name": "x", "methodologies": [
        "green_travel", "no_such_thing"]}), 422, "validation-error")
    assert "no_such_thing" in body["detail"]
    assert_problem(api.post(URL, admin, json={"name": "x", "methodologies": ["Bad Code"]}), 422)
    assert_problem(api.post(URL, admin, json={"name": "", "methodologies": ["recycling"]}), 422)


def test_duplicate_name_is_409(api, admin, make_partner):
    make_partner("Bus Co")
    assert_problem(api.post(URL, admin, json={"name": "Bus Co", "methodologies": [
        "green_travel"]}), 409, "partner-exists")


def test_list_is_paginated_and_filterable(api, admin, make_partner):
    for n in range(3):
        make_partner(f"Station {n}")
    page = api.get(URL + "?per_page=2", admin).get_json()
    assert page["total"] == 3 and page["pages"] == 2 and len(page["items"]) == 2
    assert api.get(URL + "?q=tion 1", admin).get_json()["total"] == 1
    assert api.get(URL + "?status=suspended", admin).get_json()["total"] == 0


def test_patch(app, api, admin, partner):
    url = f"{URL}/{partner.creds.id}"
    resp = api.patch(url, admin, json={"name": "Metro 2", "methodologies": [
        "green_travel", "paperless", "green_travel"]})
    assert resp.status_code == 200
    assert resp.get_json()["methodologies"] == ["green_travel", "paperless"]
    assert resp.get_json()["name"] == "Metro 2"
    assert_problem(api.patch(url, admin, json={}), 422)
    assert_problem(api.patch(url, admin, json={"status": "gone"}), 422)
    assert_problem(api.patch(url, admin, json={"methodologies": ["nope"]}), 422)
    assert_problem(api.patch(f"{URL}/999999", admin, json={"name": "x"}), 404)
    actions = [r[0] for r in run_sql(app, "SELECT action FROM audit_events ORDER BY id")]
    assert actions == ["partner.created", "partner.updated"]
    api.patch(url, admin, json={"status": "suspended"})
    assert api.get(url, admin).get_json()["status"] == "suspended"


def test_rotate_and_revoke_keys(app, api, admin, partner):
    url = f"{URL}/{partner.creds.id}/keys"
    first = api.post(url, admin)
    assert first.status_code == 201 and first.headers["Cache-Control"] == "no-store"
    second = api.post(url, admin).get_json()
    keys = {k["key_id"]: k for k in api.get(f"{URL}/{partner.creds.id}", admin).get_json()["keys"]}
    assert len(keys) == 3
    assert keys[second["key_id"]]["expires_at"] is None
    # A second rotation never extends an earlier key's expiry.
    assert keys[partner.creds.key_id]["expires_at"] <= keys[first.get_json()["key_id"]][
        "expires_at"]
    resp = api.delete(f"{url}/{second['key_id']}", admin)
    assert resp.status_code == 200 and resp.get_json()["revoked_at"]
    assert "secret" not in resp.get_json()
    assert api.delete(f"{url}/{second['key_id']}", admin).status_code == 200  # idempotent
    assert_problem(api.delete(f"{url}/pk_unknown", admin), 404)
    other = api.post(URL, admin, json={"name": "Other", "methodologies": ["recycling"]}
                     ).get_json()
    assert_problem(api.delete(f"{url}/{other['key_id']}", admin), 404)  # not this partner's
    assert count(app, "audit_events", "action = 'partner.key_rotated'") == 2
    assert count(app, "audit_events", "action = 'partner.key_revoked'") == 1
