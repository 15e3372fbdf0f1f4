"""总览 in a real browser: the charts render (ECharts' own option, not pixels) and their
numbers are the statistics and settlement endpoints' for the same period; the CSV links
download the same numbers; the period switch and the custom dates work by keyboard."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest

from app.db_types import utcnow
from app.localtime import local_date
from tests.browser.conftest import sign_in
from tests.partners.conftest import approved  # noqa: F401
from tests.reports.test_dashboard import Scene
from tests.rewards.conftest import _fast_hash, at, world  # noqa: F401

pytestmark = pytest.mark.usefixtures("approved")

OPTION = """(id) => {
  const chart = echarts.getInstanceByDom(document.getElementById(id));
  const option = chart.getOption();
  return {categories: option.xAxis[0].data,
          series: option.series.map(s => ({name: s.name, data: s.data})),
          aria: [].concat(option.aria)[0].enabled, animation: option.animation,
          renderer: chart.getZr().painter.type};
}"""


def _chart(page, name: str) -> dict:
    page.locator(f"#chart-{name}[data-chart-ready]").wait_for()
    return page.evaluate(OPTION, f"chart-{name}")


def _csv(page, name: str) -> list[list[str]]:
    href = page.locator(f'a[data-csv="{name}"]').get_attribute("href")
    resp = page.request.get(href)
    assert resp.ok and resp.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(resp.text().removeprefix("\ufeff"))))


def test_charts_render_the_statistics_and_settlement_numbers(
        page, accounts, world, api, app):  # noqa: F811  (the imported fixture)
    scene = Scene(world, api, app)
    scene.behaviours(2)
    scene.redemptions(2)
    with app.app_context():
        today = local_date(utcnow())
    date_from, date_to = (today - timedelta(days=13)).isoformat(), today.isoformat()
    query = f"from={date_from}&to={date_to}"
    sign_in(page, accounts.admin())

    # Custom local dates, by keyboard.
    page.get_by_label("开始日期").fill(date_from)
    page.get_by_label("结束日期").fill(date_to)
    page.get_by_label("结束日期").press("Enter")
    page.wait_for_url(re.compile(r"period=custom"))
    assert f"{date_from} 至 {date_to}" in page.inner_text("[data-period-shown]")

    for group in ("methodology", "source", "partner", "day", "month"):
        stats = api.get(f"/api/v1/admin/stats/reductions?group_by={group}&{query}",
                        world.admin).get_json()
        chart = _chart(page, f"reductions_{group}")
        assert chart["aria"] is True and chart["renderer"] == "canvas"
        assert chart["animation"] is False  # a browser driven by a machine: drawn at once
        kg, points = chart["series"]
        assert len(kg["data"]) == len(stats["rows"]) > 0, group  # not blank
        assert kg["data"] == [float(Decimal(r["reduction_g"]) / 1000) for r in stats["rows"]]
        assert points["data"] == [r["points"] for r in stats["rows"]], group
        if group in ("methodology", "day", "month"):
            assert chart["categories"] == [r["key"] for r in stats["rows"]], group
        exported = _csv(page, f"reductions_{group}")
        assert [row[-1] for row in exported[1:]] == [
            *(str(r["points"]) for r in stats["rows"]), str(stats["total_points"])]
    assert page.inner_text('[data-kpi="points_issued"]') == f"{stats['total_points']:,}"

    settlement = api.get(f"/api/v1/admin/merchants/settlement?{query}", world.admin).get_json()
    chart = _chart(page, "merchants")
    [settled] = settlement["merchants"]
    assert chart["categories"] == [settled["name"]]
    assert chart["series"][1]["data"] == [settled["redemptions"]] == [2]
    merchants = _csv(page, "merchants")
    assert merchants[1][:6] == [str(world.merchant_id), settled["name"], "8", "800", "2",
                                str(settled["points"])]

    ledger = _chart(page, "ledger")
    assert len(ledger["categories"]) == 14
    redeemed = next(s for s in ledger["series"] if s["name"] == "核销")
    assert sum(redeemed["data"]) == settlement["points"] == 200
    assert [r[4] for r in _csv(page, "ledger")[1:-1]] == [str(n) for n in redeemed["data"]]

    # A tooltip draws on the canvas (an HTML one would break the CSP: the page fixture
    # fails the test on any violation).
    page.locator("#chart-ledger").hover()
    page.wait_for_timeout(300)

    # The period switch: today only.
    page.get_by_role("link", name="今日", exact=True).click()
    page.wait_for_url(re.compile(r"period=today"))
    assert len(_chart(page, "ledger")["categories"]) == 1


def test_a_bad_custom_period_shows_the_fields_error(page, accounts):
    sign_in(page, accounts.admin())
    page.get_by_label("开始日期").fill("2026-03-02")
    page.get_by_label("结束日期").fill("2026-03-01")
    page.get_by_role("button", name="查询").click()
    page.wait_for_url(re.compile(r"period=custom"))
    assert "开始日期不能晚于结束日期" in page.get_by_role("alert").inner_text()
    assert page.locator("[data-chart]").count() == 0


def test_charts_speak_the_pages_language(page, accounts):
    sign_in(page, accounts.admin())
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    ledger = _chart(page, "ledger")
    assert [s["name"] for s in ledger["series"]] == [
        "Issued", "Adjusted", "Reversed", "Redeemed", "Expired", "Held by citizens"]
    # ECharts' aria writes the description it is given as the chart's label.
    assert page.get_by_role("img", name="Chart: The ledger's flows. Its numbers are in the "
                            "table below.").count() == 1
