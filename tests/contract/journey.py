"""A citizen's and a merchant's journey through a client generated from the OpenAPI document.

Run by tests/contract/test_generated_client.py with the generated package installed in a
virtualenv of its own: this script imports nothing from the server. Arguments: the base
URL, the administrator's and the staff member's email addresses, their password and the
id of a listed reward. Each step prints one line; any surprise raises.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta

from carbon_points_api_client import AuthenticatedClient, Client
from carbon_points_api_client.api.admin_ledger import adjust_user_account
from carbon_points_api_client.api.auth import login, register
from carbon_points_api_client.api.behaviours import report_behaviour
from carbon_points_api_client.api.merchant_rewards import (
    get_merchant_settlement_csv,
    verify_redemption,
)
from carbon_points_api_client.api.redemptions import get_my_redemption
from carbon_points_api_client.api.rewards import list_rewards, redeem_reward
from carbon_points_api_client.models import (
    Adjustment,
    Behaviour,
    Entry,
    Login,
    Redemption,
    RegisterWithEmail,
    RewardPage,
    Submit,
    SubmitData,
    TokenPair,
    User,
    Verification,
    VerifyArgs,
)


def signed_in(base_url: str, identifier: str, password: str) -> AuthenticatedClient:
    tokens = login.sync(client=Client(base_url=base_url, raise_on_unexpected_status=True),
                        body=Login(identifier=identifier, password=password))
    assert isinstance(tokens, TokenPair), tokens
    return AuthenticatedClient(base_url=base_url, token=tokens.access_token,
                               raise_on_unexpected_status=True)


def main(base_url: str, admin_email: str, staff_email: str, password: str,
         reward_id: int) -> None:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    email = f"rider-{uuid.uuid4().hex[:8]}@example.com"
    user = register.sync(client=anonymous, body=RegisterWithEmail(
        email=email, password=password, display_name="Rider"))
    assert isinstance(user, User), user
    print(f"register: user {user.id} {user.email} roles={user.roles}")

    citizen = signed_in(base_url, email, password)
    print("login: access token received")

    started = datetime.now(UTC) - timedelta(hours=2)
    trip = SubmitData.from_dict({
        "mode": "metro", "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=30)).isoformat(),
        "start": {"lat": 32.0, "lon": 118.8}, "end": {"lat": 32.09, "lon": 118.8}})
    behaviour = report_behaviour.sync(
        client=citizen, idempotency_key=uuid.uuid4().hex,
        body=Submit(methodology="green_travel", occurred_at=started, data=trip))
    assert isinstance(behaviour, Behaviour), behaviour
    print(f"reportBehaviour: behaviour {behaviour.id} {behaviour.methodology} "
          f"status={behaviour.status.value} credited_g={behaviour.credited_g} "
          f"points={behaviour.points}")

    admin = signed_in(base_url, admin_email, password)
    entry = adjust_user_account.sync(user.id, client=admin, idempotency_key=uuid.uuid4().hex,
                                     body=Adjustment(points=100, reason="points to redeem"))
    assert isinstance(entry, Entry), entry
    print(f"adjustUserAccount: entry {entry.id} type={entry.type_.value} points={entry.points} "
          f"available_after={entry.available_after}")

    page = list_rewards.sync(client=citizen)
    assert isinstance(page, RewardPage), page
    reward = next(r for r in page.items if r.id == reward_id)
    print(f"listRewards: {page.total} listed; reward {reward.id} {reward.title_zh} "
          f"costs {reward.points_price}, limit_period={reward.limit_period}")

    key = uuid.uuid4().hex
    redemption = redeem_reward.sync(reward_id, client=citizen, idempotency_key=key)
    assert isinstance(redemption, Redemption), redemption
    print(f"redeemReward: redemption {redemption.id} status={redemption.status.value} "
          f"code={redemption.code} points={redemption.points}")
    again = redeem_reward.sync_detailed(reward_id, client=citizen, idempotency_key=key)
    assert again.parsed.id == redemption.id, again
    assert again.headers["Idempotent-Replayed"] == "true"
    print(f"redeemReward (same Idempotency-Key): redemption {again.parsed.id} replayed")

    staff = signed_in(base_url, staff_email, password)
    verified = verify_redemption.sync(client=staff, body=VerifyArgs(code=redemption.code))
    assert isinstance(verified, Verification), verified
    print(f"verifyRedemption: redemption {verified.redemption_id} "
          f"status={verified.status.value} points={verified.points}")

    mine = get_my_redemption.sync(redemption.id, client=citizen)
    assert isinstance(mine, Redemption) and mine.status.value == "fulfilled", mine
    print(f"getMyRedemption: status={mine.status.value} ended_at={mine.ended_at.isoformat()}")

    settlement = get_merchant_settlement_csv.sync(client=staff)
    assert isinstance(settlement, str), settlement
    lines = settlement.lstrip("\ufeff").splitlines()
    print(f"getMerchantSettlementCsv: {len(lines)} lines, header {lines[0]}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
