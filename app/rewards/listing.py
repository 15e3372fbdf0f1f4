"""The catalogue as citizens see it: listed rewards of active merchants."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import contains_eager

from app import ledger
from app.db_types import utcnow
from app.extensions import db
from app.http.pagination import paged, paginate
from app.http.problems import ApiError
from app.merchants.models import ACTIVE, Merchant
from app.rewards.models import Reward

REWARDS, MERCHANTS = Reward.__table__, Merchant.__table__


# What citizens see: listed rewards of active merchants (the catalogue and a single reward).
_LISTED = (REWARDS.c.listed_at.is_not(None), MERCHANTS.c.status == ACTIVE)


def _visible() -> Select:
    return (select(Reward).join(Reward.merchant).options(contains_eager(Reward.merchant))
            .where(*_LISTED))


# The catalogue is the read citizens make most. It selects the columns RewardSchema dumps
# as plain rows: loading a Reward and a Merchant instance per row cost more than the
# round trip. A single reward (listed_reward) stays an ORM read.
_LISTING = (select(REWARDS.c.id, REWARDS.c.merchant_id, MERCHANTS.c.name.label("merchant_name"),
                   REWARDS.c.category, REWARDS.c.title_zh, REWARDS.c.title_en,
                   REWARDS.c.description, REWARDS.c.image_url, REWARDS.c.points_price,
                   REWARDS.c.total_stock, REWARDS.c.stock_left, REWARDS.c.limit_total,
                   REWARDS.c.limit_per_period, REWARDS.c.limit_period, REWARDS.c.available_from,
                   REWARDS.c.available_until, REWARDS.c.listed_at)
            .join(MERCHANTS, MERCHANTS.c.id == REWARDS.c.merchant_id).where(*_LISTED))
_CATALOGUE_ORDER = {"newest": (REWARDS.c.listed_at.desc(), REWARDS.c.id.desc()),
                    "price_asc": (REWARDS.c.points_price, REWARDS.c.id),
                    "price_desc": (REWARDS.c.points_price.desc(), REWARDS.c.id)}


def _listing(row) -> dict[str, Any]:
    """A catalogue row as RewardSchema reads it: the merchant nested, as on a Reward."""
    listing = row._asdict()
    listing["merchant"] = {"id": listing["merchant_id"], "name": listing.pop("merchant_name")}
    return listing


@cache
def _catalogue_statement(sort: str, category: bool, merchant: bool,
                         affordable: bool | None) -> Select:
    """The catalogue's statement for one combination of filters and sort, built once (36 at
    most), its values bound at each read: building it on every read, and computing its cache
    key afresh, cost more than running it."""
    until = REWARDS.c.available_until
    stmt = _LISTING.where(until.is_(None) | (until > bindparam("now", type_=until.type)))
    if category:
        stmt = stmt.where(REWARDS.c.category == bindparam("category"))
    if merchant:
        stmt = stmt.where(REWARDS.c.merchant_id == bindparam("merchant_id"))
    if affordable is not None:
        available = bindparam("available", type_=REWARDS.c.points_price.type)
        stmt = stmt.where((REWARDS.c.points_price <= available) if affordable
                          else (REWARDS.c.points_price > available))
    return paged(stmt.order_by(*_CATALOGUE_ORDER[sort]))


def catalogue(page_args: dict[str, Any], *, user_id: int, category: str | None = None,
              merchant_id: int | None = None, affordable: bool | None = None,
              sort: str = "newest", now: datetime | None = None) -> dict[str, Any]:
    """One page of the listed rewards of active merchants whose window has not ended."""
    params: dict[str, Any] = {"now": now or utcnow()}
    if category:
        params["category"] = category
    if merchant_id:
        params["merchant_id"] = merchant_id
    if affordable is not None:
        params["available"] = ledger.available(user_id)
    stmt = _catalogue_statement(sort, bool(category), bool(merchant_id), affordable)
    page = paginate(stmt, page_args, scalars=False, params=params)
    page["items"] = [_listing(row) for row in page["items"]]
    return page


def listed_reward(reward_id: int) -> Reward:
    reward = db.session.scalar(_visible().where(Reward.id == reward_id))
    if reward is None:
        raise ApiError.not_found("reward")
    return reward
