from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request
from flask_jwt_extended import get_jwt
from flask_smorest import Blueprint

from app import rewards
from app.auth.guard import caller, current_user, login_required
from app.extensions import limiter
from app.http.exports import csv_doc, csv_only_doc, csv_response, wants_csv
from app.http.idempotency import HEADER, idempotent
from app.http.limit_keys import limit_key
from app.http.pagination import PageArgsSchema, page_of, paginate, pop_page_args
from app.http.problems import error_responses
from app.merchants import service as merchants
from app.rewards.schemas import (
    AdminRewardQuerySchema,
    AdminSettlementArgsSchema,
    ManagedRewardQuerySchema,
    ManagedRewardSchema,
    MerchantRedemptionSchema,
    RedemptionQuerySchema,
    RedemptionSchema,
    RejectSchema,
    ReviewQueueItemSchema,
    RevisionQuerySchema,
    RevisionSchema,
    RewardCreateSchema,
    RewardQuerySchema,
    RewardSchema,
    RewardUpdateSchema,
    SettlementArgsSchema,
    SettlementSchema,
    VerificationSchema,
    VerifyArgsSchema,
)
from app.sharding import fan_out

blp = Blueprint("rewards", __name__, url_prefix="/api/v1/rewards",
                description="The rewards catalogue, and redeeming a reward")
redemptions_blp = Blueprint("redemptions", __name__, url_prefix="/api/v1/redemptions",
                            description="The caller's redemptions")
merchant_blp = Blueprint("merchant_rewards", __name__, url_prefix="/api/v1/merchant",
                         description="Merchant staff: rewards, verification (核销), settlement")
admin_blp = Blueprint("admin_rewards", __name__, url_prefix="/api/v1/admin",
                      description="Administer rewards: approvals and settlement")

SETTLEMENT_CSV_HEADER = ("kind,merchant_id,merchant,reward_id,reward,redemption_id,"
                         "fulfilled_at,verified_by,redemptions,points")
REDEEM_REFUSALS = {
    404: "No such listed reward",
    409: "Merchant suspended (merchant-suspended), outside the availability window "
         "(reward-not-available), out of stock (out-of-stock), per-user limit reached "
         "(redemption-limit-reached) or the price changed meanwhile (reward-changed)",
    422: "Not enough available points (insufficient-points)",
}


# -- catalogue and redemption (citizens) ------------------------------------------------

@blp.route("", methods=["GET"])
@login_required()
@blp.arguments(RewardQuerySchema, location="query")
@blp.response(200, page_of(RewardSchema))
def list_rewards(args: dict):
    """Browse listed rewards: filter by category, merchant, or what I can afford; sort by
    price or newest."""
    return rewards.catalogue(pop_page_args(args), user_id=caller().id, **args)


@blp.route("/<int:reward_id>", methods=["GET"])
@login_required()
@blp.response(200, RewardSchema)
def get_reward(reward_id: int):
    """One listed reward, with the stock left."""
    return rewards.listed_reward(reward_id)


@blp.route("/<int:reward_id>/redemptions", methods=["POST"])
@login_required("citizen")
@idempotent()
@blp.response(201, RedemptionSchema)
@error_responses(REDEEM_REFUSALS)
def redeem(reward_id: int):
    """Redeem: hold the points, take one from stock and get a code to show the merchant.

    The code expires after REDEMPTION_TTL_DAYS (default 7); until then it can be
    cancelled, which gives the points and the stock back.
    """
    return rewards.redeem(caller().id, reward_id, request_key=request.headers[HEADER])


@redemptions_blp.route("", methods=["GET"])
@login_required()
@redemptions_blp.arguments(RedemptionQuerySchema, location="query")
@redemptions_blp.response(200, page_of(RedemptionSchema))
def my_redemptions(args: dict):
    """My redemptions, newest first, with their codes."""
    page_args = pop_page_args(args)
    return paginate(rewards.user_redemptions(caller().id, **args), page_args)


@redemptions_blp.route("/<int:redemption_id>", methods=["GET"])
@login_required()
@redemptions_blp.response(200, RedemptionSchema)
def my_redemption(redemption_id: int):
    """One of my redemptions."""
    return rewards.own_redemption(caller().id, redemption_id)


@redemptions_blp.route("/<int:redemption_id>/cancel", methods=["POST"])
@login_required()
@idempotent(required=False)
@redemptions_blp.response(200, RedemptionSchema)
@error_responses({409: "Already used (already-used) or cancelled (redemption-cancelled)",
                  410: "Expired (redemption-expired)"})
def cancel_redemption(redemption_id: int):
    """Cancel a reserved redemption: the points are released and the stock restored."""
    return rewards.cancel(current_user(), redemption_id)


# -- merchant staff ---------------------------------------------------------------------

def _staff_merchant(*, active: bool = False):
    return merchants.for_staff(current_user(), active=active)


@merchant_blp.route("/rewards", methods=["GET"])
@login_required("merchant")
@merchant_blp.arguments(ManagedRewardQuerySchema, location="query")
@merchant_blp.response(200, page_of(ManagedRewardSchema))
def list_my_rewards(args: dict):
    """My merchant's rewards, listed or not, with any change awaiting approval."""
    page_args = pop_page_args(args)
    args["merchant_id"] = _staff_merchant().id
    return paginate(rewards.managed_rewards(**args), page_args)


@merchant_blp.route("/rewards", methods=["POST"])
@login_required("merchant")
@merchant_blp.arguments(RewardCreateSchema)
@merchant_blp.response(201, ManagedRewardSchema)
@error_responses({403: "Not staff of a merchant, or the merchant is suspended"})
def create_reward(data: dict):
    """Propose a new reward; it is listed once an administrator approves it."""
    return rewards.create_reward(current_user(), _staff_merchant(active=True), data)


@merchant_blp.route("/rewards/<int:reward_id>", methods=["GET"])
@login_required("merchant")
@merchant_blp.response(200, ManagedRewardSchema)
def get_my_reward(reward_id: int):
    """One of my merchant's rewards."""
    return rewards.managed_reward(reward_id, _staff_merchant())


@merchant_blp.route("/rewards/<int:reward_id>", methods=["PATCH"])
@login_required("merchant")
@merchant_blp.arguments(RewardUpdateSchema)
@merchant_blp.response(200, ManagedRewardSchema)
@error_responses({403: "Not staff of a merchant, or the merchant is suspended"})
def update_my_reward(data: dict, reward_id: int):
    """Edit a reward. Price, stock and window changes wait for approval (the listed
    version stays until then); the other fields change at once."""
    return rewards.update_reward(current_user(), _staff_merchant(active=True), reward_id, data)


@merchant_blp.route("/rewards/<int:reward_id>/revisions", methods=["GET"])
@login_required("merchant")
@merchant_blp.arguments(PageArgsSchema, location="query")
@merchant_blp.response(200, page_of(RevisionSchema))
def my_reward_revisions(args: dict, reward_id: int):
    """The reward's proposals and their decisions, newest first."""
    reward = rewards.managed_reward(reward_id, _staff_merchant())
    return paginate(rewards.revisions(reward_id=reward.id), args)


@merchant_blp.route("/redemptions", methods=["GET"])
@login_required("merchant")
@merchant_blp.arguments(RedemptionQuerySchema, location="query")
@merchant_blp.response(200, page_of(MerchantRedemptionSchema))
def merchant_redemptions(args: dict):
    """My merchant's redemptions, newest first (codes still reserved are masked)."""
    page_args = pop_page_args(args)
    merchant_id = _staff_merchant().id
    with fan_out("merchant-redemptions"):
        return paginate(rewards.merchant_redemptions(merchant_id, **args), page_args)


def _verify_limit() -> str:
    return current_app.config["VERIFY_FAILURE_LIMIT"]


def _staff_key() -> str:
    return limit_key("verify", get_jwt()["sub"])


def _wrong_code(response) -> bool:
    return response.status_code in (403, 404, 409, 410)


def verify_limit(staff_key: Callable[[], str]) -> Callable:
    """Wrong codes per staff account (`staff_key` says whose request it is, as
    limit_key("verify", <user id>)). Shared by name and key, so the API and the console's
    核销 screen count against one budget."""
    return limiter.shared_limit(_verify_limit, scope="verify-code", key_func=staff_key,
                                deduct_when=_wrong_code)


@merchant_blp.route("/redemptions/verify", methods=["POST"])
@login_required("merchant")
@idempotent(required=False)
@verify_limit(_staff_key)
@merchant_blp.arguments(VerifyArgsSchema)
@merchant_blp.response(200, VerificationSchema)
@error_responses({
    403: "Another merchant's code (other-merchant), the caller's own redemption "
         "(own-redemption), or the merchant is suspended (merchant-suspended)",
    404: "Unknown code (unknown-code)",
    409: "Already used (already-used) or cancelled (redemption-cancelled)",
    410: "Expired (redemption-expired)",
    429: "Too many wrong codes from this account; wait and retry",
})
def verify_code(data: dict):
    """核销: fulfil a reserved redemption by its code; the points go to the merchant's
    settlement. Every refusal changes nothing; wrong codes count towards a rate limit."""
    return rewards.verify_code(caller().id, data["code"])


def _settlement(args: dict, merchant_id: int | None, *, as_csv: bool):
    date_from, date_to = rewards.settlement_period(args.get("date_from"), args.get("date_to"))
    report = rewards.settlement(date_from, date_to, merchant_id)
    if not as_csv:
        return report
    return csv_response(rewards.settlement_rows(report),
                        f"settlement_{merchant_id or 'all'}_{date_from}_{date_to}.csv")


@merchant_blp.route("/settlement", methods=["GET"])
@login_required("merchant")
@merchant_blp.arguments(SettlementArgsSchema, location="query")
@merchant_blp.response(200, SettlementSchema)
@merchant_blp.doc(responses=csv_doc(SETTLEMENT_CSV_HEADER,
                                    "GET /api/v1/merchant/settlement.csv"))
def my_settlement(args: dict):
    """Fulfilled redemptions between two local dates with totals per reward."""
    return _settlement(args, _staff_merchant().id, as_csv=wants_csv())


@merchant_blp.route("/settlement.csv", methods=["GET"])
@login_required("merchant")
@merchant_blp.arguments(SettlementArgsSchema, location="query")
@merchant_blp.doc(responses=csv_only_doc(SETTLEMENT_CSV_HEADER))
def my_settlement_csv(args: dict):
    """The same settlement as CSV."""
    return _settlement(args, _staff_merchant().id, as_csv=True)


# -- administrators ---------------------------------------------------------------------

@admin_blp.route("/rewards", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(AdminRewardQuerySchema, location="query")
@admin_blp.response(200, page_of(ManagedRewardSchema))
def admin_list_rewards(args: dict):
    """Every reward, listed or not."""
    page_args = pop_page_args(args)
    return paginate(rewards.managed_rewards(**args), page_args)


@admin_blp.route("/rewards/<int:reward_id>", methods=["GET"])
@login_required("admin")
@admin_blp.response(200, ManagedRewardSchema)
def admin_get_reward(reward_id: int):
    """One reward."""
    return rewards.managed_reward(reward_id)


@admin_blp.route("/rewards/revisions", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(RevisionQuerySchema, location="query")
@admin_blp.response(200, page_of(ReviewQueueItemSchema))
def list_revisions(args: dict):
    """The approval queue (pending by default), oldest first."""
    page_args = pop_page_args(args)
    return paginate(rewards.revisions(**args), page_args)


@admin_blp.route("/rewards/revisions/<int:revision_id>/approve", methods=["POST"])
@login_required("admin")
@admin_blp.response(200, ReviewQueueItemSchema)
@error_responses({409: "Already decided (revision-decided), or the stock would fall below "
                       "what is already redeemed (stock-below-redeemed)"})
def approve_revision(revision_id: int):
    """Approve: the proposed values become the listed ones (a new reward is listed)."""
    return rewards.approve(current_user(), revision_id)


@admin_blp.route("/rewards/revisions/<int:revision_id>/reject", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(RejectSchema)
@admin_blp.response(200, ReviewQueueItemSchema)
@error_responses({409: "Already decided (revision-decided)"})
def reject_revision(data: dict, revision_id: int):
    """Reject with a reason: the listed version, if any, stays."""
    return rewards.reject(current_user(), revision_id, data["reason"])


@admin_blp.route("/merchants/settlement", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(AdminSettlementArgsSchema, location="query")
@admin_blp.response(200, SettlementSchema)
@admin_blp.doc(responses=csv_doc(SETTLEMENT_CSV_HEADER,
                                 "GET /api/v1/admin/merchants/settlement.csv"))
@error_responses({404: "No such merchant"})
def admin_settlement(args: dict):
    """Settlement across merchants (or one, with merchant_id)."""
    return _settlement(args, args.get("merchant_id"), as_csv=wants_csv())


@admin_blp.route("/merchants/settlement.csv", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(AdminSettlementArgsSchema, location="query")
@admin_blp.doc(responses=csv_only_doc(SETTLEMENT_CSV_HEADER))
@error_responses({404: "No such merchant"})
def admin_settlement_csv(args: dict):
    """The same settlement as CSV."""
    return _settlement(args, args.get("merchant_id"), as_csv=True)
