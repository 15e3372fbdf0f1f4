"""Merchants and their staff: administration, roles, suspension."""

from __future__ import annotations

from tests.conftest import run_sql
from tests.helpers import assert_problem
from tests.rewards.conftest import make_caller


def test_admin_creates_lists_updates_merchants_and_it_is_audited(world, api, app):
    admin = world.admin
    created = api.post("/api/v1/admin/merchants", admin,
                       json={"name": " 低碳咖啡 Low-Carbon Café ", "contact": "li@cafe.example"})
    assert created.status_code == 201
    body = created.get_json()
    assert (body["name"], body["status"]) == ("低碳咖啡 Low-Carbon Café", "active")
    assert_problem(api.post("/api/v1/admin/merchants", admin,
                            json={"name": "低碳咖啡 low-carbon café", "contact": "x"}),
                   409, "merchant-exists")
    assert_problem(api.post("/api/v1/admin/merchants", admin, json={"name": "x"}), 422)

    page = api.get("/api/v1/admin/merchants?q=咖啡", admin).get_json()
    assert page["total"] == 1 and page["items"][0]["id"] == body["id"]
    # Outside ASCII too, on SQLite (whose lower() folds ASCII only) as on PostgreSQL.
    shop = api.post("/api/v1/admin/merchants", admin,
                    json={"name": "ÉCO ÉPICERIE", "contact": "eco@example.com"}).get_json()
    for q in ("épicerie", "ÉPICERIE", "Épi"):
        page = api.get(f"/api/v1/admin/merchants?q={q}", admin).get_json()
        assert [m["id"] for m in page["items"]] == [shop["id"]], q
    changed = api.patch(f"/api/v1/admin/merchants/{body['id']}", admin,
                        json={"contact": "021-6666 8888"})
    assert changed.get_json()["contact"] == "021-6666 8888"
    actions = [r[0] for r in run_sql(app, "SELECT action FROM audit_events WHERE target_type = "
                                          "'merchant' AND target_id = :id ORDER BY id",
                                     id=str(body["id"]))]
    assert actions == ["merchant.created", "merchant.updated"]

    citizen = make_caller(app)
    assert_problem(api.post("/api/v1/admin/merchants", citizen,
                            json={"name": "n", "contact": "c"}), 403, "forbidden")
    assert_problem(api.get("/api/v1/admin/merchants/999999", admin), 404, "not-found")


def test_staff_get_the_merchant_role_and_belong_to_one_merchant(world, api, app):
    admin = world.admin
    other_id, _ = world.merchant()
    person = make_caller(app)
    assert_problem(api.get("/api/v1/merchant", person), 403, "forbidden")

    added = api.put(f"/api/v1/admin/merchants/{world.merchant_id}/staff/{person.id}", admin)
    assert added.status_code == 200 and added.get_json()["merchant_id"] == world.merchant_id
    assert "merchant" in api.get("/api/v1/me", person).get_json()["roles"]
    assert api.get("/api/v1/merchant", person).get_json()["id"] == world.merchant_id
    # Adding again is harmless; another merchant is refused.
    assert api.put(f"/api/v1/admin/merchants/{world.merchant_id}/staff/{person.id}",
                   admin).status_code == 200
    assert_problem(api.put(f"/api/v1/admin/merchants/{other_id}/staff/{person.id}", admin),
                   409, "staff-of-other-merchant")
    staff = api.get(f"/api/v1/admin/merchants/{world.merchant_id}/staff", admin).get_json()
    assert {s["user_id"] for s in staff["items"]} == {world.staff.id, person.id}

    assert_problem(api.delete(f"/api/v1/admin/merchants/{other_id}/staff/{person.id}", admin),
                   404)
    assert api.delete(f"/api/v1/admin/merchants/{world.merchant_id}/staff/{person.id}",
                      admin).status_code == 204
    assert "merchant" not in api.get("/api/v1/me", person).get_json()["roles"]
    assert_problem(api.get("/api/v1/merchant", person), 403, "forbidden")


def test_revoking_the_merchant_role_removes_the_staff_link(world, api, app):
    admin = world.admin
    other_id, _ = world.merchant()
    person = make_caller(app)
    api.put(f"/api/v1/admin/merchants/{world.merchant_id}/staff/{person.id}", admin)

    revoked = api.delete(f"/api/v1/admin/users/{person.id}/roles/merchant", admin)
    assert revoked.status_code == 200 and "merchant" not in revoked.get_json()["roles"]
    staff = api.get(f"/api/v1/admin/merchants/{world.merchant_id}/staff", admin).get_json()
    assert {s["user_id"] for s in staff["items"]} == {world.staff.id}
    assert_problem(api.get("/api/v1/merchant", person), 403, "forbidden")
    actions = run_sql(app, "SELECT action, target_type, target_id FROM audit_events "
                           "WHERE action IN ('merchant.staff_removed', 'user.role_revoked') "
                           "ORDER BY id")
    assert [tuple(a) for a in actions] == [
        ("merchant.staff_removed", "merchant", str(world.merchant_id)),
        ("user.role_revoked", "user", str(person.id))]
    # Free to join another merchant; revoking again changes nothing.
    assert api.put(f"/api/v1/admin/merchants/{other_id}/staff/{person.id}",
                   admin).status_code == 200
    assert api.get("/api/v1/merchant", person).get_json()["id"] == other_id


def test_the_merchant_role_is_granted_only_with_a_merchant(world, api, app):
    admin = world.admin
    person = make_caller(app)
    refused = api.put(f"/api/v1/admin/users/{person.id}/roles/merchant", admin)
    assert_problem(refused, 409, "merchant-role-needs-staff")
    assert "/api/v1/admin/merchants/{merchant_id}/staff/" in refused.get_json()["detail"]
    assert api.get("/api/v1/me", person).get_json()["roles"] == ["citizen"]
    assert run_sql(app, "SELECT count(*) FROM merchant_staff WHERE user_id = :id",
                   id=person.id)[0][0] == 0
    # Staff already hold it: granting it again is harmless.
    again = api.put(f"/api/v1/admin/users/{world.staff.id}/roles/merchant", admin)
    assert again.status_code == 200 and "merchant" in again.get_json()["roles"]


def test_merchant_role_without_a_merchant_is_refused(world, api, app):
    loose = make_caller(app, "merchant")
    assert_problem(api.get("/api/v1/merchant", loose), 403, "not-merchant-staff")
    assert_problem(api.get("/api/v1/merchant/rewards", loose), 403, "not-merchant-staff")


def test_suspension_hides_rewards_blocks_redeeming_and_verifying_until_reinstated(world, api):
    reward_id = world.reward()
    me = world.citizen(1000)
    code = world.redeem(me, reward_id).get_json()["code"]
    path = f"/api/v1/admin/merchants/{world.merchant_id}"

    suspended = api.post(f"{path}/suspend", world.admin, json={"reason": "complaints"})
    assert suspended.get_json()["status"] == "suspended"
    assert api.get("/api/v1/rewards", me).get_json()["total"] == 0
    assert_problem(api.get(f"/api/v1/rewards/{reward_id}", me), 404)
    before = world.snapshot(reward_id, me.id)
    assert_problem(world.redeem(me, reward_id), 409, "merchant-suspended")
    assert_problem(world.verify(code), 403, "merchant-suspended")
    assert_problem(api.post("/api/v1/merchant/rewards", world.staff,
                            json={"title_zh": "x", "category": "other", "points_price": 1,
                                  "total_stock": 1}), 403, "merchant-suspended")
    assert world.snapshot(reward_id, me.id) == before

    assert api.post(f"{path}/reinstate", world.admin).get_json()["status"] == "active"
    assert api.get("/api/v1/rewards", me).get_json()["total"] == 1
    assert world.verify(code).get_json()["status"] == "fulfilled"
    assert world.redeem(me, reward_id).status_code == 201


def test_a_name_with_capitals_outside_ascii_is_taken_once_with_a_merchant_exists_409(world,
                                                                                    api):
    # Found by the fuzz: the check folded the name in Python and the stored one in SQL, and
    # SQLite's lower() folds ASCII only, so "ÉCO" was not found again and the insert hit the
    # unique constraint instead (a "concurrent change" 409, nothing to do with a race).
    first = api.post("/api/v1/admin/merchants", world.admin,
                     json={"name": "ÉCO Épicerie", "contact": "021-5555 0001"})
    assert first.status_code == 201, first.get_json()
    assert_problem(api.post("/api/v1/admin/merchants", world.admin,
                            json={"name": "ÉCO Épicerie", "contact": "021-5555 0002"}),
                   409, "merchant-exists")
    other = api.post("/api/v1/admin/merchants", world.admin,
                     json={"name": "Ökomarkt", "contact": "021-5555 0003"}).get_json()
    assert_problem(api.patch(f"/api/v1/admin/merchants/{other['id']}", world.admin,
                             json={"name": "ÉCO Épicerie"}), 409, "merchant-exists")
