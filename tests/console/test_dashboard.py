"""The dashboard (总览) through the test client: its figures are the statistics and
settlement endpoints' for the same period, its CSVs the same numbers, bad periods a 422
form in the reader's language, and nothing is written."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from app.db_types import utcnow
from app.localtime import local_date
from tests.partners.conftest import approved  # noqa: F401
from tests.reports.test_dashboard import Scene
from tests.rewards.conftest import _fast_hash, at, world  # noqa: F401

pytestmark = pytest.mark.usefixtures("approved")


def _today(app):
    with app.app_context():
        return local_date(utcnow())


def _csv(resp) -> list[list[str]]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True).removeprefix("\ufeff"))))


def _cell(page: str, attr: str) -> str:
    match = re.search(rf'{attr}>([^<]*)<', page)
    assert match, attr
    return match.group(1)


def test_figures_and_csvs_agree_with_the_statistics_and_settlement_endpoints(
        world, api, app, signed_in):  # noqa: F811  (the imported fixture)
    scene = Scene(world, api, app)
    scene.behaviours(2)
    scene.redemptions(1)
    today = _today(app)
    period = {"period": "custom", "from": (today - timedelta(days=6)).isoformat(),
              "to": today.isoformat()}
    query = f"from={period['from']}&to={period['to']}"
    admin = signed_in("admin")

    resp = admin.client.get("/console/admin", query_string=period)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    stats = api.get(f"/api/v1/admin/stats/reductions?group_by=methodology&{query}",
                    world.admin).get_json()
    settlement = api.get(f"/api/v1/admin/merchants/settlement?{query}", world.admin).get_json()
    assert _cell(page, 'data-kpi="points_issued"') == f"{stats['total_points']:,}"
    kg = f"{float(stats['total_reduction_g']) / 1000:,.3f}"
    assert _cell(page, 'data-kpi="reduction"') == f"{kg} kg"
    assert f'data-row="{world.merchant_id}"' in page
    assert settlement["redemptions"] == 1
    assert _cell(page, 'data-waiting="home.pending_behaviours"') == "2"
    assert "data-chart='" in page

    for group in ("methodology", "source", "partner", "day", "month"):
        api_csv = _csv(api.get(f"/api/v1/admin/stats/reductions?group_by={group}&{query}"
                               "&format=csv", world.admin))
        page_csv = _csv(admin.client.get(f"/console/admin/dashboard/reductions_{group}.csv",
                                         query_string=period))
        assert page_csv == api_csv, group
    merchants = _csv(admin.client.get("/console/admin/dashboard/merchants.csv",
                                      query_string=period))
    [row] = [r for r in merchants if r[0] == str(world.merchant_id)]
    assert row[4:6] == [str(settlement["redemptions"]), str(settlement["points"])]


def test_presets_cover_today_back_to_the_period_start(app, signed_in):
    admin = signed_in("admin")
    today = _today(app)
    for period, first in (("today", today), ("7d", today - timedelta(days=6)),
                          ("30d", today - timedelta(days=29)),
                          ("month", today.replace(day=1))):
        page = admin.client.get(f"/console/admin?period={period}").get_data(as_text=True)
        assert f"{first} 至 {today}" in page, period
        assert re.search(rf'period={period}" aria-current="page"', page), period


def test_bad_periods_come_back_as_the_form_with_the_fields_error(app, signed_in):
    admin = signed_in("admin")
    today = _today(app)
    resp = admin.client.get("/console/admin?period=custom&from=2026-13-01&to=")
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert 'id="f-from" name="from" type="date" class="" value="2026-13-01" aria-invalid="true"' \
        in page
    assert "请按 年-月-日 填写日期" in page
    assert "data-chart" not in page

    later = (today + timedelta(days=1)).isoformat()
    resp = admin.client.get(f"/console/admin?period=custom&from={later}&to={today}")
    assert resp.status_code == 422
    assert "开始日期不能晚于结束日期" in resp.get_data(as_text=True)
    resp = admin.client.get(f"/console/admin?period=custom&from={today - timedelta(days=400)}"
                            f"&to={today}")
    assert resp.status_code == 422

    admin.post("/console/language", {"lang": "en"})
    resp = admin.client.get("/console/admin?period=fortnight")
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert '<a href="#f-period">Choose today, the last 7 or 30 days' in page
    assert 'id="f-period"' in page


def test_csv_of_an_unknown_table_or_a_bad_period_is_refused(app, signed_in):
    admin = signed_in("admin")
    assert admin.client.get("/console/admin/dashboard/users.csv").status_code == 404
    resp = admin.client.get("/console/admin/dashboard/ledger.csv?period=custom&from=x&to=y")
    assert resp.status_code == 422
    assert _csv(admin.client.get("/console/admin/dashboard/waiting.csv?period=7d"))[0] == [
        "queue", "count", "oldest_at", "waiting_s"]


def test_the_page_in_english(app, signed_in):
    admin = signed_in("admin")
    admin.post("/console/language", {"lang": "en"})
    page = admin.client.get("/console/admin?period=7d").get_data(as_text=True)
    assert "<h1 class=\"page-title\">Dashboard</h1>" in page
    assert "Reduction and points by methodology" in page
    assert "Download CSV" in page


def test_what_waits_links_to_each_queue_page(app, signed_in):
    admin = signed_in("admin")
    page = admin.client.get("/console/admin?period=today").get_data(as_text=True)
    for queue in ("/console/admin/methodologies", "/console/admin/review",
                  "/console/admin/revisions"):
        assert f'<a href="{queue}">去处理' in page, queue
    assert page.count("去处理") == 3
