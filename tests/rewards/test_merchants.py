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
