"""`flask seed-demo` gives the demo citizens a history a newcomer can use at once."""

from __future__ import annotations

import re
from datetime import date, timedelta

from app.db_types import utcnow
from app.localtime import local_date
from app.partners.signing import sign
from tests.conftest import run_sql

LI_LEI = "li.lei@demo.carbon-points.test"
HAN_MEIMEI = "han.meimei@demo.carbon-points.test"
STAFF = "staff@demo.carbon-points.test"


def _seed(app) -> str:
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    return result.output


def _login(api, output: str, email: str) -> dict[str, str]:
    password = re.search(re.escape(email) + r"\s+(\S+)", output).group(1)
    token = api.login(email, password).get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _history(api, headers) -> dict:
    account = api.client.get("/api/v1/account", headers=headers).get_json()
    listed = api.client.get("/api/v1/behaviours?per_page=100", headers=headers).get_json()
    statuses: dict[str, int] = {}
    for b in listed["items"]:
        statuses[b["status"]] = statuses.get(b["status"], 0) + 1
    links = api.client.get("/api/v1/me/partner-links", headers=headers).get_json()["items"]
    return {"account": account, "statuses": statuses,
            "links": [(link["partner_user_ref"], link["status"]) for link in links]}


def test_demo_citizens_start_with_history(app, api):
    output = _seed(app)
    li = _login(api, output, LI_LEI)
    seen = _history(api, li)
    assert seen["statuses"] == {"credited": 4, "pending_review": 1}
    assert seen["links"] == [("demo-card-li-lei", "active")]
    account = seen["account"]
    assert account["held"] == 100  # the coffee reserved for Li Lei
    assert account["available"] > 800  # enough to redeem the bag too
    soonest = account["expiring"][0]
    # 300 carried-over points expire within days; the coffee's hold took the soonest first.
    assert soonest["points"] == 300 - 100
    with app.app_context():
        today = local_date(utcnow())
    assert today < date.fromisoformat(soonest["date"]) <= today + timedelta(days=5)
    assert _history(api, _login(api, output, HAN_MEIMEI))["statuses"] == \
        {"credited": 4, "pending_review": 1}

    # Li Lei redeems the other reward; the staff verifies the reserved coffee.
    rewards = api.client.get("/api/v1/rewards?sort=price_desc", headers=li).get_json()["items"]
    assert len(rewards) == 2
    bag = api.client.post(f"/api/v1/rewards/{rewards[0]['id']}/redemptions",
                          headers={**li, "Idempotency-Key": "bag-1"})
    assert bag.status_code == 201, bag.get_json()
    code = re.search(r"code (\w+)", output.split("Reserved for", 1)[1]).group(1)
    verified = api.client.post("/api/v1/merchant/redemptions/verify",
                               headers=_login(api, output, STAFF), json={"code": code})
    assert verified.status_code == 200, verified.get_json()


def test_seed_twice_keeps_one_history_and_replaces_the_partner_key(app, api, client):
    first = _seed(app)
    before = _history(api, _login(api, first, LI_LEI))
    old_key = re.search(r"key id (\S+)\s+secret (\S+)", first).groups()
    second = _seed(app)
    assert _history(api, _login(api, second, LI_LEI)) == before
    new_key = re.search(r"key id (\S+)\s+secret (\S+)", second).groups()
    assert new_key != old_key
    assert run_sql(app, "SELECT count(*) FROM partners")[0][0] == 1

    def status_with(key_id: str, secret: str) -> int:
        path = "/api/v1/partner/links/demo-card-li-lei"
        headers = sign(secret, "GET", path, b"", int(utcnow().timestamp()), key_id=key_id)
        return client.get(path, headers=headers).status_code

    assert status_with(*new_key) == 200
    assert status_with(*old_key) == 401  # revoked: the demo's secrets are new every run
    verify = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert verify.exit_code == 0, verify.output
