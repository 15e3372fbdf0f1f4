"""The expiry job (run twice: releases once) and settlement (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from app.ledger.verify import verify
from app.scheduler import jobs
from tests.conftest import run_sql
from tests.helpers import assert_problem


def test_expiry_job_run_twice_releases_once(world, api, app, at):
    reward_id = world.reward()
    me = world.citizen(300)
    used, cancelled, left = (world.redeem(me, reward_id).get_json() for _ in range(3))
    world.verify(used["code"])
    api.post(f"/api/v1/redemptions/{cancelled['id']}/cancel", me)
    assert world.balance(me.id) == {"available": 100, "held": 100, "posted": 200}
    assert world.stock_left(reward_id) == 8

    jobs.bind_app(app)
    at(datetime.now(UTC) + timedelta(days=6))
    assert jobs.run_job("expire_redemptions") == {"expired": 0, "failed": 0}  # not yet due
    at(datetime.now(UTC) + timedelta(days=8))
    assert jobs.run_job("expire_redemptions") == {"expired": 1, "failed": 0}
    assert jobs.run_job("expire_redemptions") == {"expired": 0, "failed": 0}

    assert world.balance(me.id) == {"available": 200, "held": 0, "posted": 200}
    assert world.stock_left(reward_id) == 9
    statuses = dict(run_sql(app, "SELECT id, status FROM redemptions"))
    assert statuses == {used["id"]: "fulfilled", cancelled["id"]: "cancelled",
                        left["id"]: "expired"}
    ended_by = run_sql(app, "SELECT ended_by FROM redemptions WHERE id = :id", id=left["id"])
    assert ended_by == [(None,)]  # the system, not a person
    assert run_sql(app, "SELECT count(*) FROM ledger_transactions WHERE type = 'release'") == [
        (2,)]
    assert_problem(world.verify(left["code"]), 410, "redemption-expired")
    assert_problem(api.post(f"/api/v1/redemptions/{left['id']}/cancel", me), 410)
    with app.app_context():
        assert verify() == []


def test_expiry_job_failing_on_one_redemption_still_expires_the_others(world, app, at,
                                                                      monkeypatch):
    from app import rewards

    reward_id = world.reward()
    bodies = [world.redeem(world.citizen(100), reward_id).get_json() for _ in range(3)]
    real = rewards.expire

    def flaky(redemption_id, now):
        done = real(redemption_id, now)  # the work is flushed …
        if redemption_id == bodies[1]["id"]:
            raise RuntimeError("crash before the commit")  # … and rolled back
        return done

    monkeypatch.setattr(rewards, "expire", flaky)
    jobs.bind_app(app)
    at(datetime.now(UTC) + timedelta(days=8))
    assert jobs.run_job("expire_redemptions") == {"expired": 2, "failed": 1}
    monkeypatch.setattr(rewards, "expire", real)
    assert jobs.run_job("expire_redemptions") == {"expired": 1, "failed": 0}
    assert world.stock_left(reward_id) == 10
    with app.app_context():
        assert verify() == []


def test_expiry_job_is_registered_every_five_minutes():
    spec = jobs.JOBS["expire_redemptions"]
    assert (spec.trigger, spec.trigger_args) == ("interval", {"minutes": 5})


def settle(world, api):
    """Two merchants, three fulfilled redemptions of two rewards, one still reserved."""
    bag = world.reward(points_price=100)
    cup = world.reward(points_price=30, title_zh="竹制杯", title_en="Bamboo cup")
    other_merchant, other_staff = world.merchant("另一家 Other Shop")
    tea = world.reward(other_staff, points_price=7, title_zh="茶")
    me = world.citizen(1000)
    for reward_id, staff in ((bag, world.staff), (bag, world.staff), (cup, world.staff),
                             (tea, other_staff)):
        code = world.redeem(me, reward_id).get_json()["code"]
        assert world.verify(code, staff).status_code == 200
    world.redeem(me, cup)  # reserved, not settled
    return bag, cup, tea, other_merchant


def test_merchant_settlement_json_and_csv(world, api):
    bag, cup, tea, _ = settle(world, api)
    report = api.get("/api/v1/merchant/settlement", world.staff).get_json()
    assert (report["redemptions"], report["points"], report["timezone"]) == (
        3, 230, "Asia/Shanghai")
    [merchant] = report["merchants"]
    assert merchant["merchant_id"] == world.merchant_id
    assert [(r["reward_id"], r["redemptions"], r["points"]) for r in merchant["rewards"]] == [
        (bag, 2, 200), (cup, 1, 30)]
    assert len(report["lines"]) == 3 and {line["reward_id"] for line in report["lines"]} == {
        bag, cup}

    for resp in (api.get("/api/v1/merchant/settlement?format=csv", world.staff),
                 api.get("/api/v1/merchant/settlement", world.staff,
                         headers={"Accept": "text/csv"})):
        assert resp.status_code == 200 and resp.mimetype == "text/csv"
        assert "attachment" in resp.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))
        kinds = [r["kind"] for r in rows]
        assert kinds == ["redemption"] * 3 + ["reward_total"] * 2 + ["merchant_total", "total"]
        assert rows[-1]["points"] == "230" and rows[3]["reward"] == "环保购物袋"


def test_settlement_period_is_local_dates(world, api):
    settle(world, api)
    tz = world.app.config["TIMEZONE"]
    today = datetime.now(tz).date()
    yesterday = today - timedelta(days=1)
    empty = api.get(f"/api/v1/merchant/settlement?from={yesterday}&to={yesterday}",
                    world.staff).get_json()
    assert (empty["redemptions"], empty["points"]) == (0, 0)
    assert empty["merchants"][0]["rewards"] == []
    full = api.get(f"/api/v1/merchant/settlement?from={today}&to={today}",
                   world.staff).get_json()
    assert full["points"] == 230
    assert_problem(api.get(f"/api/v1/merchant/settlement?from={today}&to={yesterday}",
                           world.staff), 422)
    assert_problem(api.get("/api/v1/merchant/settlement?from=2020-01-01&to=2022-01-01",
                           world.staff), 422)


def test_admin_settlement_across_merchants(world, api):
    _, _, tea, other_merchant = settle(world, api)
    report = api.get("/api/v1/admin/merchants/settlement", world.admin).get_json()
    assert (report["redemptions"], report["points"]) == (4, 237)
    assert {m["merchant_id"]: m["points"] for m in report["merchants"]} == {
        world.merchant_id: 230, other_merchant: 7}
    one = api.get(f"/api/v1/admin/merchants/settlement?merchant_id={other_merchant}",
                  world.admin).get_json()
    assert one["points"] == 7 and one["merchants"][0]["rewards"][0]["reward_id"] == tea
    as_csv = api.get("/api/v1/admin/merchants/settlement?format=csv", world.admin)
    assert as_csv.mimetype == "text/csv" and "另一家" in as_csv.data.decode("utf-8-sig")
    assert_problem(api.get("/api/v1/admin/merchants/settlement", world.staff), 403)
    assert_problem(api.get("/api/v1/merchant/settlement", world.admin), 403)


def test_admin_settlement_of_an_unknown_merchant_is_404(world, api):
    for query in ("", "&format=csv"):
        assert_problem(api.get(f"/api/v1/admin/merchants/settlement?merchant_id=999999{query}",
                               world.admin), 404, "not-found")
    assert_problem(api.get("/api/v1/admin/merchants/settlement?merchant_id=999999",
                           world.admin, headers={"Accept": "text/csv"}), 404, "not-found")
    # A merchant with nothing fulfilled is there, with zeros.
    empty = api.get(f"/api/v1/admin/merchants/settlement?merchant_id={world.merchant_id}",
                    world.admin).get_json()
    assert [(m["merchant_id"], m["points"]) for m in empty["merchants"]] == [
        (world.merchant_id, 0)]


def test_settlement_matches_the_ledger(world, api):
    settle(world, api)
    assert world.settled() == 230


def test_csv_and_json_are_both_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/merchant/settlement", "/api/v1/admin/merchants/settlement"):
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert {"application/json", "text/csv"} <= set(content)
    redeem = spec["paths"]["/api/v1/rewards/{reward_id}/redemptions"]["post"]
    header = [p for p in redeem["parameters"] if p["name"] == "Idempotency-Key"]
    assert header and header[0]["required"] is True
    assert {"404", "409", "422"} <= set(redeem["responses"])


def test_settlement_dates_at_the_ends_of_the_calendar_are_refused_not_a_500(world, api):
    """The local days' bounds of year 1 or 9999 are no UTC moment (OverflowError)."""
    for query in ("from=9999-12-01&to=9999-12-31", "from=9999-12-31",
                  "from=0001-01-01&to=0001-01-02"):
        for path, caller in (("/api/v1/merchant/settlement", world.staff),
                             ("/api/v1/admin/merchants/settlement", world.admin)):
            assert_problem(api.get(f"{path}?{query}", caller), 422, "validation-error")
            assert_problem(api.get(f"{path}?{query}&format=csv", caller), 422,
                           "validation-error")
    assert api.get("/api/v1/merchant/settlement?from=2000-01-01&to=2000-12-31",
                   world.staff).status_code == 200


def test_settlement_csv_cells_are_never_spreadsheet_formulas(world, api):
    """Titles are merchant staff's text and names an administrator's: a cell starting with
    = + - @ (or a tab or CR) is run as a formula when the CSV is opened in a spreadsheet."""
    merchant_id, staff = world.merchant("@SUM(1+1) 商户")
    reward_id = world.reward(staff, title_zh='=HYPERLINK("http://evil.example","点我")')
    code = world.redeem(world.citizen(100), reward_id).get_json()["code"]
    assert world.verify(code, staff).status_code == 200

    for resp in (api.get("/api/v1/merchant/settlement?format=csv", staff),
                 api.get("/api/v1/admin/merchants/settlement?format=csv", world.admin)):
        rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
        cells = [cell for row in rows for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
        assert "'=HYPERLINK(\"http://evil.example\",\"点我\")" in cells
        assert "'@SUM(1+1) 商户" in cells
    # JSON is data, not a spreadsheet: it keeps the text as it is.
    report = api.get("/api/v1/merchant/settlement", staff).get_json()
    assert report["merchants"][0]["name"] == "@SUM(1+1) 商户"
