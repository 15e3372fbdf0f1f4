"""Settlement: what each merchant is owed for the redemptions verified in a period."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from sqlalchemy import select

from app.db_types import utcnow
from app.extensions import db
from app.http.moments import utc_bounds
from app.http.problems import ApiError
from app.localtime import local_date, local_zone
from app.merchants.models import Merchant
from app.rewards.models import FULFILLED, Redemption, Reward
from app.sharding import fan_out

MAX_SETTLEMENT_DAYS = 366


def settlement_period(date_from: date | None, date_to: date | None,
                      now: datetime | None = None) -> tuple[date, date]:
    today = local_date(now or utcnow())
    date_to = date_to or today
    date_from = date_from or date_to.replace(day=1)
    if date_from > date_to:
        raise ApiError(422, "'from' must not be after 'to'.", slug="validation-error",
                       errors={"from": ["After 'to'."]})
    if (date_to - date_from).days >= MAX_SETTLEMENT_DAYS:
        raise ApiError(422, f"A settlement covers at most {MAX_SETTLEMENT_DAYS} days.",
                       slug="validation-error",
                       errors={"to": [f"At most {MAX_SETTLEMENT_DAYS} days after 'from'."]})
    return date_from, date_to


def fulfilled_in(date_from: date, date_to: date):
    """The condition of a settlement's redemptions: fulfilled (verified) in the local dates."""
    since, until = utc_bounds(date_from, date_to)
    return ((Redemption.status == FULFILLED) & (Redemption.ended_at >= since)
            & (Redemption.ended_at < until))


def settlement(date_from: date, date_to: date, merchant_id: int | None = None) -> dict:
    """Fulfilled redemptions whose verification fell in the local dates, with totals.

    With `merchant_id`, that merchant's (404 if there is none: not an empty report).
    """
    if merchant_id is not None:
        merchant_name = db.session.scalar(select(Merchant.name).where(Merchant.id == merchant_id))
        if merchant_name is None:
            raise ApiError.not_found("merchant")
    stmt = (select(Redemption.id, Redemption.merchant_id, Merchant.name, Redemption.reward_id,
                   Reward.title_zh, Reward.title_en, Redemption.points, Redemption.ended_at,
                   Redemption.ended_by)
            .join(Reward, Reward.id == Redemption.reward_id)
            .join(Merchant, Merchant.id == Redemption.merchant_id)
            .where(fulfilled_in(date_from, date_to))
            .order_by(Redemption.merchant_id, Redemption.ended_at, Redemption.id))
    if merchant_id is not None:
        stmt = stmt.where(Redemption.merchant_id == merchant_id)
    merchants: dict[int, dict] = {}
    rewards: dict[int, dict[int, dict]] = defaultdict(dict)
    lines = []
    with fan_out("settlement"):
        captured = db.session.execute(stmt).all()
    for rid, mid, name, reward_id, title_zh, title_en, points, ended_at, ended_by in captured:
        m = merchants.setdefault(mid, {"merchant_id": mid, "name": name, "redemptions": 0,
                                       "points": 0})
        r = rewards[mid].setdefault(reward_id, {"reward_id": reward_id, "title_zh": title_zh,
                                                "title_en": title_en, "redemptions": 0,
                                                "points": 0})
        for total in (m, r):
            total["redemptions"] += 1
            total["points"] += points
        lines.append({"redemption_id": rid, "merchant_id": mid, "merchant": name,
                      "reward_id": reward_id, "title_zh": title_zh, "points": points,
                      "fulfilled_at": ended_at, "verified_by": ended_by})
    for mid, m in merchants.items():
        m["rewards"] = sorted(rewards[mid].values(), key=lambda r: r["reward_id"])
    if merchant_id is not None and merchant_id not in merchants:
        merchants[merchant_id] = {"merchant_id": merchant_id, "name": merchant_name,
                                  "redemptions": 0, "points": 0, "rewards": []}
    return {
        "date_from": date_from, "date_to": date_to,
        "timezone": str(local_zone()),
        "redemptions": len(lines), "points": sum(line["points"] for line in lines),
        "merchants": list(merchants.values()), "lines": lines,
    }


def settlement_rows(report: dict) -> list[list]:
    """One row per fulfilled redemption, then totals per reward, per merchant and overall."""
    tz = local_zone()
    rows: list[list] = [["kind", "merchant_id", "merchant", "reward_id", "reward",
                         "redemption_id", "fulfilled_at", "verified_by", "redemptions", "points"]]
    rows += [["redemption", line["merchant_id"], line["merchant"], line["reward_id"],
              line["title_zh"], line["redemption_id"],
              line["fulfilled_at"].astimezone(tz).isoformat(), line["verified_by"] or "", 1,
              line["points"]] for line in report["lines"]]
    for m in report["merchants"]:
        rows += [["reward_total", m["merchant_id"], m["name"], r["reward_id"], r["title_zh"],
                  "", "", "", r["redemptions"], r["points"]] for r in m["rewards"]]
        rows.append(["merchant_total", m["merchant_id"], m["name"], "", "", "", "", "",
                     m["redemptions"], m["points"]])
    rows.append(["total", "", "", "", "", "", "", "", report["redemptions"], report["points"]])
    return rows
