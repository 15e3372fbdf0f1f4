"""Merchant staff's pages: 核销 at the counter first (a phone, 360 px wide)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import abort, redirect, request, session, url_for
from marshmallow import ValidationError

from app import rewards
from app.console.blueprint import blp, render
from app.console.i18n import MESSAGES, language, t
from app.console.session import console_login_required, current_user
from app.db_types import utcnow
from app.extensions import db
from app.http.exports import csv_response
from app.http.limit_keys import limit_key
from app.http.problems import ApiError
from app.localtime import local_date, local_zone
from app.merchants import service as merchants
from app.merchants.models import Merchant
from app.rewards.models import CATEGORIES
from app.rewards.schemas import MerchantRedemptionSchema, RewardCreateSchema, RewardUpdateSchema
from app.rewards.views import verify_limit
from app.sharding import fan_out

# What a verification ended in, keyed by the service's refusal slug: the big answer's
# message and how it looks ("ok" or "bad"; the text says it too, not colour alone).
OUTCOMES = {
    "fulfilled": ("verify.fulfilled", "ok"),
    "already-used": ("verify.already_used", "bad"),
    "redemption-expired": ("verify.expired", "bad"),
    "redemption-cancelled": ("verify.cancelled", "bad"),
    "other-merchant": ("verify.other_merchant", "bad"),
    "unknown-code": ("verify.not_found", "bad"),
    "own-redemption": ("verify.own", "bad"),
    "merchant-suspended": ("verify.suspended", "bad"),
    "not-merchant-staff": ("verify.no_merchant", "bad"),
}


def _console_staff_key() -> str:
    # The API's key for the same account (its JWT's "sub" is the id as text): one budget
    # of wrong codes across both, stored hashed.
    return limit_key("verify", str(current_user().id))


def _title(reward: Any) -> str:
    return reward.title_en if language() == "en" and reward.title_en else reward.title_zh


def _local(moment: Any) -> str | None:
    return moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M") if moment else None


def _result(slug: str, redemption: Any = None) -> dict[str, Any]:
    message, tone = OUTCOMES.get(slug, ("verify.not_found", "bad"))
    result = {"slug": slug, "message": t(message), "tone": tone}
    if redemption is not None:
        result.update(reward=_title(redemption.reward), points=redemption.points,
                      code=redemption.code, used_at=_local(redemption.ended_at),
                      expires_at=_local(redemption.expires_at))
    return result


def verify_page(result: dict | None = None, error: str | None = None, status: int = 200,
                 code: str = "") -> Any:
    template = ("console/merchant/_verify_panel.html" if request.headers.get("HX-Request")
                else "console/merchant/verify.html")
    return render(template, t("menu.verify"), status, result=result, error=error, code=code,
                  attempt=uuid.uuid4().hex)


@blp.route("/merchant/verify", methods=["GET"])
@console_login_required("merchant")
def merchant_verify():
    return verify_page()


@blp.route("/merchant/verify", methods=["POST"])
@console_login_required("merchant")
@verify_limit(_console_staff_key)
def merchant_verify_submit():
    """The API's verify(); a form sent twice (same attempt) shows the first answer again."""
    staff = current_user()
    raw = request.form.get("code", "")
    attempt = request.form.get("attempt", "")[:64]
    if not raw.strip():
        return verify_page(error=t("verify.code_required"), status=422)
    try:
        merchant = merchants.for_staff(staff, active=True)
        redemption = rewards.verify(staff, merchant, raw)
    except ApiError as err:
        shown = None
        if err.slug in ("already-used", "redemption-expired", "redemption-cancelled"):
            shown = rewards.merchant_code(merchants.for_staff(staff), raw)
            if (err.slug == "already-used" and shown is not None and attempt
                    and session.get("verify_attempt") == [attempt, shown.id]):
                return verify_page(_result("fulfilled", shown), code=raw)
        return verify_page(_result(err.slug, shown), status=err.status, code=raw)
    session["verify_attempt"] = [attempt, redemption.id]
    return verify_page(_result("fulfilled", redemption))


# -- redemptions, rewards, settlement ---------------------------------------------------

RECENT = 50


def _my_merchant() -> Merchant:
    return merchants.for_staff(current_user())


@blp.route("/merchant/redemptions")
@console_login_required("merchant")
def merchant_redemptions():
    """Today's totals (the settlement of today) and the latest redemptions."""
    merchant = _my_merchant()
    today = local_date(utcnow())
    totals = rewards.settlement(today, today, merchant.id)
    with fan_out("merchant-redemptions"):
        rows = db.session.scalars(rewards.merchant_redemptions(merchant.id).limit(RECENT)).all()
    masked = MerchantRedemptionSchema(only=("code",), many=True).dump(rows)
    lines = [{"r": r, "code": m["code"], "reward": _title(r.reward),
              "created": _local(r.created_at), "ended": _local(r.ended_at)}
             for r, m in zip(rows, masked, strict=True)]
    return render("console/merchant/redemptions.html", t("menu.redemptions"),
                  totals=totals, lines=lines, today=today)


@blp.route("/merchant/rewards")
@console_login_required("merchant")
def merchant_rewards():
    """The merchant's rewards, listed or not, and what waits for an administrator."""
    merchant = _my_merchant()
    items = db.session.scalars(rewards.managed_rewards(merchant_id=merchant.id)).all()
    pending = db.session.scalars(rewards.revisions(merchant_id=merchant.id,
                                                   status="pending")).all()
    return render("console/merchant/rewards.html", t("menu.rewards"), rewards=items,
                  pending=pending, title_of=_title, category=_category,
                  notice=t("reward.sent") if request.args.get("sent") else None)


REWARD_FIELDS = ("title_zh", "title_en", "category", "points_price", "total_stock",
                 "description")
NUMBERS = ("points_price", "total_stock")


def _category(code: str) -> str:
    return t(f"category.{code}")


def _reward_form(values: Any, reward: Any = None, errors: dict | None = None,
                 status: int = 200) -> Any:
    title = t("reward.edit") if reward is not None else t("reward.new")
    errors = dict(errors or {})
    form_error = errors.pop("_form", None)  # a refusal that names no field
    return render("console/merchant/reward_form.html", title, status, values=values,
                  reward=reward, errors=errors, form_error=form_error,
                  categories=CATEGORIES, category=_category)


def _read_reward_form(reward: Any = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's fields as the API's schema would take them, or the errors per field."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in REWARD_FIELDS:
        raw = request.form.get(name, "").strip()
        if name in NUMBERS:
            try:
                data[name] = int(raw)
            except ValueError:
                errors[name] = t(f"reward.error.{name}")
        elif raw or reward is not None:
            data[name] = raw or None
    if reward is not None:  # an edit sends only what changed
        data = {k: v for k, v in data.items() if getattr(reward, k) != v}
    schema = RewardUpdateSchema() if reward is not None else RewardCreateSchema()
    try:
        data = schema.load({k: v for k, v in data.items() if k not in errors})
    except ValidationError as err:
        for name in err.messages:
            errors[name] = t(f"reward.error.{name}") if f"reward.error.{name}" in MESSAGES \
                else t("reward.error.nothing")
    order = {name: i for i, name in enumerate(REWARD_FIELDS)}  # as the form lists them
    return data, dict(sorted(errors.items(), key=lambda item: order.get(item[0], 99)))


def _service_errors(err: ApiError) -> dict[str, str]:
    names = [n for n in (err.errors or {}) if f"reward.error.{n}" in MESSAGES]
    return {n: t(f"reward.error.{n}") for n in names} or {"_form": err.detail or ""}


@blp.route("/merchant/rewards/new", methods=["GET", "POST"])
@console_login_required("merchant")
def merchant_reward_new():
    """Propose a new reward: the rewards service lists it once an administrator approves."""
    if request.method == "GET":
        return _reward_form({"category": "food_drink"})
    data, errors = _read_reward_form()
    if errors:
        return _reward_form(request.form, errors=errors, status=422)
    try:
        rewards.create_reward(current_user(), merchants.for_staff(current_user(), active=True),
                              data)
    except ApiError as err:
        return _reward_form(request.form, errors=_service_errors(err), status=err.status)
    return redirect(url_for("console.merchant_rewards", sent=1))


@blp.route("/merchant/rewards/<int:reward_id>/edit", methods=["GET", "POST"])
@console_login_required("merchant")
def merchant_reward_edit(reward_id: int):
    """Edit a reward: price, stock and window wait for approval, the rest applies now."""
    reward = rewards.managed_reward(reward_id, _my_merchant())  # another's: 404
    if request.method == "GET":
        return _reward_form({k: getattr(reward, k) for k in REWARD_FIELDS}, reward)
    data, errors = _read_reward_form(reward)
    if errors:
        return _reward_form(request.form, reward, errors=errors, status=422)
    if data:
        try:
            rewards.update_reward(current_user(),
                                  merchants.for_staff(current_user(), active=True),
                                  reward.id, data)
        except ApiError as err:
            return _reward_form(request.form, reward, errors=_service_errors(err),
                                status=err.status)
    return redirect(url_for("console.merchant_rewards", sent=1))


SETTLEMENT_ARGS = ("from", "to", "format")


@blp.route("/merchant/settlement")
@console_login_required("merchant")
def merchant_settlement_own():
    # Only the page's own fields: the rest of a query would reach url_for as its keywords
    # (merchant_id twice is a 500, _external/_scheme an absolute URL).
    kept = {k: request.args[k] for k in SETTLEMENT_ARGS if k in request.args}
    return redirect(url_for("console.merchant_settlement", merchant_id=_my_merchant().id,
                            **kept))


def settlement_period_args() -> tuple[date | None, date | None, dict[str, str]]:
    """The settlement period from ?from=&to= (local dates), held to the API's rules
    (rewards.settlement_period); the fields' errors in the page's language."""
    errors: dict[str, str] = {}
    parsed: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = request.args.get(name, "").strip()
        try:
            parsed[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            parsed[name] = None
            errors[name] = t("settlement.error.date")
    if errors:
        return parsed["from"], parsed["to"], errors
    try:
        date_from, date_to = rewards.settlement_period(parsed["from"], parsed["to"])
    except ApiError as err:
        return parsed["from"], parsed["to"], {
            "from" if "from" in (err.errors or {}) else "to": t("settlement.error.period")}
    return date_from, date_to, {}


@blp.route("/merchants/<int:merchant_id>/settlement")
@console_login_required("merchant", "admin")
def merchant_settlement(merchant_id: int):
    """Fulfilled redemptions of a period: the merchant's own staff, or an administrator.
    As CSV with ?format=csv (the API's rows)."""
    user = current_user()
    if not user.has_role("admin"):
        own = merchants.merchant_of(user.id)
        if own is None or own.id != merchant_id:
            abort(403)
    merchant = merchants.get(merchant_id)
    date_from, date_to, errors = settlement_period_args()
    if errors:
        return render("console/merchant/settlement.html", t("menu.settlement"), 422,
                      merchant=merchant, report=None, errors=errors, args=request.args)
    report = rewards.settlement(date_from, date_to, merchant_id)
    if request.args.get("format") == "csv":
        return csv_response(rewards.settlement_rows(report),
                            f"settlement_{merchant_id}_{date_from}_{date_to}.csv")
    for line in report["lines"]:
        line["fulfilled_local"] = _local(line["fulfilled_at"])
    return render("console/merchant/settlement.html", t("menu.settlement"), merchant=merchant,
                  report=report, errors={}, args={"from": date_from.isoformat(),
                                                  "to": date_to.isoformat()})
