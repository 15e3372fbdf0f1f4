"""Catalogue: proposals, approval of price/stock/window changes, browsing."""

from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from tests.helpers import assert_problem, counting_statements
from tests.rewards.conftest import REWARD, when


def test_new_reward_is_unlisted_until_approved(world, api):
    me = world.citizen(1000)
    proposed = world.propose()
    assert proposed["listed"] is False and proposed["pending"]["kind"] == "create"
    assert proposed["pending"]["changes"]["points_price"] == 100
    reward_id = proposed["id"]
    assert api.get("/api/v1/rewards", me).get_json()["total"] == 0
    assert_problem(api.get(f"/api/v1/rewards/{reward_id}", me), 404)
    before = world.snapshot(reward_id, me.id)
    assert_problem(world.redeem(me, reward_id), 404, "not-found")
    assert world.snapshot(reward_id, me.id) == before

    approved = world.approve(reward_id)
    assert approved["status"] == "approved" and approved["reward"]["listed"] is True
    listed = api.get(f"/api/v1/rewards/{reward_id}", me).get_json()
    assert (listed["points_price"], listed["stock_left"], listed["merchant"]["id"]) == (
        100, 10, world.merchant_id)


def test_rejected_reward_stays_unlisted_and_can_be_resubmitted(world, api):
    reward_id = world.propose()["id"]
    [revision] = api.get("/api/v1/admin/rewards/revisions", world.admin).get_json()["items"]
    rejected = api.post(f"/api/v1/admin/rewards/revisions/{revision['id']}/reject", world.admin,
                        json={"reason": "图片不清楚 image unclear"})
    assert rejected.get_json()["status"] == "rejected"
    assert_problem(api.post(f"/api/v1/admin/rewards/revisions/{revision['id']}/approve",
                            world.admin), 409, "revision-decided")
    assert world.api.get(f"/api/v1/merchant/rewards/{reward_id}",
                         world.staff).get_json()["listed"] is False
    fixed = api.patch(f"/api/v1/merchant/rewards/{reward_id}", world.staff,
                      json={"image_url": "https://img.example.com/bag-v2.png"}).get_json()
    assert fixed["pending"]["kind"] == "create"
    world.approve(reward_id)
    history = api.get(f"/api/v1/merchant/rewards/{reward_id}/revisions",
                      world.staff).get_json()["items"]
    assert [r["status"] for r in history] == ["approved", "rejected"]


def test_price_stock_and_window_changes_wait_for_approval_other_fields_do_not(world, api):
    reward_id = world.reward()
    me = world.citizen(1000)
    path = f"/api/v1/merchant/rewards/{reward_id}"
    edited = api.patch(path, world.staff, json={
        "points_price": 80, "total_stock": 20, "available_until": when(days=30),
        "title_zh": "环保帆布袋", "limit_total": 2}).get_json()
    assert edited["points_price"] == 100 and edited["total_stock"] == 10  # listed version stays
    assert edited["title_zh"] == "环保帆布袋" and edited["limit_total"] == 2  # at once
    assert set(edited["pending"]["changes"]) == {"points_price", "total_stock", "available_until"}
    public = api.get(f"/api/v1/rewards/{reward_id}", me).get_json()
    assert (public["points_price"], public["available_until"]) == (100, None)

    # A second edit merges into the one pending change; proposing the listed value drops it.
    again = api.patch(path, world.staff, json={"points_price": 100, "total_stock": 25}).get_json()
    assert again["pending"]["changes"].keys() == {"total_stock", "available_until"}
    assert again["pending"]["changes"]["total_stock"] == 25
    queue = api.get("/api/v1/admin/rewards/revisions", world.admin).get_json()
    assert queue["total"] == 1 and queue["items"][0]["reward"]["title_zh"] == "环保帆布袋"

    assert world.redeem(me, reward_id).status_code == 201
    world.approve(reward_id)
    public = api.get(f"/api/v1/rewards/{reward_id}", me).get_json()
    assert (public["total_stock"], public["stock_left"]) == (25, 24)
    assert public["available_until"] is not None
    assert api.get(path, world.staff).get_json()["pending"] is None


def test_edits_record_who_changed_what(world, api, app):
    reward_id = world.reward()
    path = f"/api/v1/merchant/rewards/{reward_id}"
    first = api.patch(path, world.staff, json={"points_price": 80}).get_json()["pending"]
    api.patch(path, world.staff, json={"title_zh": "环保帆布袋", "limit_total": 2,
                                       "description": REWARD["description"],
                                       "total_stock": 20})
    api.patch(path, world.staff, json={"title_zh": "环保帆布袋"})  # no change: no event

    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "reward.updated").order_by(AuditEvent.id)).all()
        [(actor, target, details)] = [(e.actor_id, e.target_id, e.details) for e in events]
    assert (actor, target) == (world.staff.id, str(reward_id))
    assert details == {"changes": {"title_zh": "环保帆布袋", "limit_total": 2},
                       "previous": {"title_zh": REWARD["title_zh"], "limit_total": None}}

    history = api.get(f"{path}/revisions", world.staff).get_json()["items"]
    superseded = next(r for r in history if r["id"] == first["id"])
    assert superseded["status"] == "superseded"
    assert (superseded["decided_by"], superseded["decided_at"]) == (
        world.staff.id, history[0]["proposed_at"])


def test_stock_cannot_go_below_what_is_redeemed(world, api):
    reward_id = world.reward(total_stock=3)
    me = world.citizen(1000)
    path = f"/api/v1/merchant/rewards/{reward_id}"
    assert api.patch(path, world.staff, json={"total_stock": 1}).status_code == 200
    for _ in range(2):
        assert world.redeem(me, reward_id).status_code == 201
    # Two are now taken: approving stock 1 would oversell, so it is refused and nothing moves.
    [revision] = api.get("/api/v1/admin/rewards/revisions", world.admin).get_json()["items"]
    assert_problem(api.post(f"/api/v1/admin/rewards/revisions/{revision['id']}/approve",
                            world.admin), 409, "stock-below-redeemed")
    assert world.stock_left(reward_id) == 1
    assert_problem(api.patch(path, world.staff, json={"total_stock": 1}), 422)


def test_staff_manage_only_their_own_merchants_rewards(world, api):
    reward_id = world.reward()
    _, other_staff = world.merchant()
    assert_problem(api.get(f"/api/v1/merchant/rewards/{reward_id}", other_staff), 404)
    assert_problem(api.patch(f"/api/v1/merchant/rewards/{reward_id}", other_staff,
                             json={"title_zh": "x"}), 404)
    assert api.get("/api/v1/merchant/rewards", other_staff).get_json()["total"] == 0
    assert api.get("/api/v1/merchant/rewards", world.staff).get_json()["total"] == 1
    citizen = world.citizen()
    assert_problem(api.post("/api/v1/merchant/rewards", citizen, json={}), 403, "forbidden")


def test_proposals_are_validated(world, api):
    bad = [
        {"points_price": 0},
        {"points_price": "100"},
        {"category": "weapons"},
        {"image_url": "javascript:alert(1)"},
        {"limit_per_period": 1},
        {"limit_period": "year", "limit_per_period": 1},
        {"available_from": when(days=2), "available_until": when(days=1)},
        {"available_from": "2026-01-01T00:00:00"},  # no offset
    ]
    for fields in bad:
        resp = api.post("/api/v1/merchant/rewards", world.staff,
                        json={"title_zh": "袋", "category": "shopping", "points_price": 10,
                              "total_stock": 5, **fields})
        assert_problem(resp, 422)


def test_browse_filters_sorts_and_paginates(world, api):
    other_merchant, other_staff = world.merchant()
    bag = world.reward(points_price=300, category="shopping")
    ride = world.reward(points_price=50, category="transport", title_zh="共享单车月卡")
    coffee = world.reward(other_staff, points_price=150, category="food_drink", title_zh="咖啡")
    world.propose(points_price=1)  # unlisted: never shown
    me = world.citizen(200)

    def ids(query: str) -> list[int]:
        page = api.get(f"/api/v1/rewards{query}", me).get_json()
        return [r["id"] for r in page["items"]]

    assert ids("") == [coffee, ride, bag]  # newest first
    assert ids("?sort=price_asc") == [ride, coffee, bag]
    assert ids("?sort=price_desc") == [bag, coffee, ride]
    assert ids("?category=transport") == [ride]
    assert ids(f"?merchant_id={other_merchant}") == [coffee]
    assert ids("?affordable=true&sort=price_asc") == [ride, coffee]
    assert ids("?affordable=false") == [bag]
    page = api.get("/api/v1/rewards?per_page=2&page=2", me).get_json()
    assert (page["total"], page["pages"], len(page["items"])) == (3, 2, 1)
    assert_problem(api.get("/api/v1/rewards?sort=cheapest", me), 422)
    assert_problem(api.get("/api/v1/rewards"), 401)


def test_catalogue_items_are_the_rewards_as_read_one_by_one(world, api):
    """The catalogue reads plain rows, a single reward an ORM instance: both must answer
    the same fields with the same values, the merchant nested, nulls included."""
    _, other_staff = world.merchant("回收站 Recycle Point")
    full = world.reward(limit_total=3, limit_per_period=1, limit_period="week",
                        available_until=when(days=30))
    bare = world.reward(other_staff, title_zh="公交卡", title_en=None, description=None,
                        image_url=None, category="transport", points_price=20)
    me = world.citizen(1000)
    assert world.redeem(me, full).status_code == 201  # stock_left differs from total_stock

    for query in ("", "?sort=price_asc", "?sort=price_desc", "?affordable=true"):
        items = api.get(f"/api/v1/rewards{query}", me).get_json()["items"]
        assert {item["id"] for item in items} == {full, bare}
        for item in items:
            one = api.get(f"/api/v1/rewards/{item['id']}", me).get_json()
            assert list(item.items()) == list(one.items())
    [item] = api.get(f"/api/v1/rewards?merchant_id={world.merchant_id}", me).get_json()["items"]
    assert (item["limit_period"], item["stock_left"], item["total_stock"]) == ("week", 9, 10)
    assert item["merchant"] == {"id": world.merchant_id, "name": "绿色超市 Green Mart"}


def test_catalogue_statements_do_not_grow_with_the_page(world, api, app):
    _, other_staff = world.merchant()
    me = world.citizen(1000)

    def statements(query: str) -> tuple[int, int]:
        with counting_statements(app) as sent:
            page = api.get(f"/api/v1/rewards{query}", me).get_json()
        return len(page["items"]), len(sent)

    world.reward()
    small = {q: statements(q) for q in ("", "?affordable=true", "?sort=price_asc")}
    for i in range(3):
        world.reward(title_zh=f"奖品 {i}")
        world.reward(other_staff, title_zh=f"他店奖品 {i}")
    for query, (items, sent) in small.items():
        assert items == 1
        assert statements(query) == (7, sent)
    # The token's user, the page; "affordable" reads the caller's balance first.
    assert small[""][1] - small["?affordable=true"][1] == -1


def test_ended_rewards_leave_the_catalogue(world, api, at):
    from datetime import UTC, datetime, timedelta

    reward_id = world.reward(available_until=when(hours=1))
    me = world.citizen(1000)
    assert api.get("/api/v1/rewards", me).get_json()["total"] == 1
    at(datetime.now(UTC) + timedelta(hours=2))
    assert api.get("/api/v1/rewards", me).get_json()["total"] == 0
    assert api.get(f"/api/v1/rewards/{reward_id}", me).status_code == 200  # still readable


def test_window_moments_that_are_no_utc_moment_are_refused(world, api):
    """9999-12-31T23:59-05:00 is in year 10000 in UTC: stored, it was a 500, and a proposed
    change holding it could never be approved (each approval a 500)."""
    beyond = [{"available_until": "9999-12-31T23:59:59-05:00"},
              {"available_from": "0001-01-01T00:00:00+08:00"}]
    for fields in beyond:
        assert_problem(api.post("/api/v1/merchant/rewards", world.staff,
                                json={**REWARD, **fields}), 422, "validation-error")
    reward_id = world.reward()
    path = f"/api/v1/merchant/rewards/{reward_id}"
    for fields in beyond:
        assert_problem(api.patch(path, world.staff, json=fields), 422, "validation-error")
    assert api.get(path, world.staff).get_json()["pending"] is None
    assert api.get("/api/v1/admin/rewards/revisions", world.admin).get_json()["total"] == 0
    far = api.patch(path, world.staff, json={"available_until": "9999-12-31T23:59:59+00:00"})
    assert far.status_code == 200
    world.approve(reward_id)
