"""The merchant portal's pages through the test client: rewards go to approval through
the rewards service, bad input writes nothing, settlement is the merchant's own."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.merchants import service as merchants
from app.rewards.models import Reward, RewardRevision
from app.uow import unit_of_work
from app.users.models import User
from tests.console.conftest import Staff, console_login
from tests.console.shop import open_shop


@pytest.fixture
def shop(app):
    return open_shop(app)


@pytest.fixture
def staff(app, shop) -> Staff:
    client = app.test_client()
    assert console_login(client, shop.staff_email).status_code == 302
    return Staff(shop.staff_id, shop.staff_email, client)


def _count(app, model) -> int:
    with app.app_context():
        return db.session.query(model).count()


FORM = {"title_zh": "竹制餐具一套", "title_en": "", "category": "shopping",
        "points_price": "300", "total_stock": "20", "description": ""}


def test_new_reward_goes_to_approval(app, shop, staff):
    resp = staff.post("/console/merchant/rewards/new", FORM)
    assert resp.status_code == 302
    with app.app_context():
        reward = db.session.scalar(db.select(Reward).where(Reward.title_zh == "竹制餐具一套"))
        assert not reward.listed and reward.merchant_id == shop.merchant_id
        assert reward.title_en is None
        [revision] = db.session.scalars(db.select(RewardRevision).where(
            RewardRevision.reward_id == reward.id)).all()
        assert revision.status == "pending" and revision.proposed_by == shop.staff_id
    page = staff.client.get("/console/merchant/rewards").get_data(as_text=True)
    assert "竹制餐具一套" in page and "待审批" in page


@pytest.mark.parametrize("field, value, message", [
    ("points_price", "abc", "积分应为 1 至 10,000,000 的整数"),
    ("points_price", "0", "积分应为 1 至 10,000,000 的整数"),
    ("total_stock", "-1", "库存应为 0 至 10,000,000 的整数"),
    ("title_zh", "", "请填写中文名称"),
    ("category", "spaceships", "请选择类别"),
])
def test_bad_input_comes_back_with_the_fields_error(app, staff, field, value, message):
    before = (_count(app, Reward), _count(app, RewardRevision))
    resp = staff.post("/console/merchant/rewards/new", {**FORM, field: value})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert message in page and f'id="f-{field}-error"' in page
    assert (_count(app, Reward), _count(app, RewardRevision)) == before


def test_editing_the_price_waits_for_approval_and_the_listed_price_stays(app, shop, staff):
    resp = staff.post(f"/console/merchant/rewards/{shop.reward_id}/edit",
                      {**FORM, "title_zh": "低碳咖啡一杯", "title_en": "A low-carbon coffee",
                       "category": "food_drink", "points_price": "150", "total_stock": "100"})
    assert resp.status_code == 302
    with app.app_context():
        reward = db.session.get(Reward, shop.reward_id)
        assert reward.points_price == 100 and reward.pending.changes == {"points_price": 150}


def test_another_merchants_reward_is_not_found(app, staff):
    other = open_shop(app)
    assert staff.client.get(f"/console/merchant/rewards/{other.reward_id}/edit"
                            ).status_code == 404


def test_a_suspended_merchant_cannot_propose(app, shop, staff):
    with app.app_context(), unit_of_work():
        merchants.suspend(db.session.get(User, shop.admin_id), merchants.get(shop.merchant_id))
    before = _count(app, Reward)
    resp = staff.post("/console/merchant/rewards/new", FORM)
    assert resp.status_code == 403 and _count(app, Reward) == before


def test_settlement_by_period_and_csv(app, shop, staff):
    code = shop.code()
    staff.post("/console/merchant/verify", {"code": code, "attempt": "x"})
    resp = staff.client.get("/console/merchant/settlement")
    assert resp.status_code == 302
    page = staff.client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'data-total="redemptions">1<' in page and 'data-total="points">100<' in page
    csv = staff.client.get(f"/console/merchants/{shop.merchant_id}/settlement?format=csv")
    assert csv.mimetype == "text/csv" and "低碳咖啡一杯" in csv.get_data(as_text=True)
    bad = staff.client.get(f"/console/merchants/{shop.merchant_id}/settlement?from=2026-13-01")
    assert bad.status_code == 422 and "请按 年-月-日 填写日期" in bad.get_data(as_text=True)
    backwards = staff.client.get(f"/console/merchants/{shop.merchant_id}/settlement"
                                 "?from=2026-02-01&to=2026-01-01")
    assert backwards.status_code == 422


def test_own_settlement_redirect_passes_only_its_own_fields(shop, staff):
    """The query's known fields go along; anything else (another merchant_id, url_for's
    _external and _scheme) is dropped rather than a 500 or an absolute http:// URL."""
    own = f"/console/merchants/{shop.merchant_id}/settlement"
    resp = staff.client.get("/console/merchant/settlement?from=2026-01-01&to=2026-01-31"
                            "&format=csv&merchant_id=1")
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"{own}?from=2026-01-01&to=2026-01-31&format=csv"
    resp = staff.client.get("/console/merchant/settlement?_external=1&_scheme=http")
    assert resp.status_code == 302 and resp.headers["Location"] == own


def test_admin_opens_any_merchants_settlement(app, shop, signed_in):
    admin = signed_in("admin")
    assert admin.client.get(f"/console/merchants/{shop.merchant_id}/settlement"
                            ).status_code == 200
    assert admin.client.get("/console/merchants/999999/settlement").status_code == 404
