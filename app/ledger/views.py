from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from app import behaviours, ledger
from app.auth.guard import caller, current_user, login_required
from app.http.idempotency import HEADER, idempotent
from app.http.moments import utc_bounds
from app.http.pagination import page_of, paginate
from app.ledger.schemas import (
    AccountSchema,
    AdjustmentSchema,
    EntryQuerySchema,
    EntrySchema,
    ReversalSchema,
    VerifySchema,
)
from app.ledger.verify import verify
from app.users import service as users

blp = Blueprint("account", __name__, url_prefix="/api/v1/account",
                description="The caller's points account")
admin_blp = Blueprint("admin_ledger", __name__, url_prefix="/api/v1/admin",
                      description="Administer points accounts and the ledger")


def _entries_page(user_id: int, args: dict) -> dict:
    since, until = utc_bounds(args.get("date_from"), args.get("date_to"))
    stmt = ledger.entries(user_id, types=args.get("type"), since=since, until=until)
    return paginate(stmt, args)


@blp.route("", methods=["GET"])
@login_required()
@blp.response(200, AccountSchema)
def my_account():
    """Balances, lifetime totals and points expiring in the next 30 days."""
    return ledger.summary(caller().id)


@blp.route("/entries", methods=["GET"])
@login_required()
@blp.arguments(EntryQuerySchema, location="query")
@blp.response(200, page_of(EntrySchema))
def my_entries(args: dict):
    """Ledger entries, newest first, each with the balance after it."""
    return _entries_page(caller().id, args)


@admin_blp.route("/users/<int:user_id>/account", methods=["GET"])
@login_required("admin")
@admin_blp.response(200, AccountSchema)
def user_account(user_id: int):
    """Any user's balances."""
    return ledger.summary(users.get(user_id).id)


@admin_blp.route("/users/<int:user_id>/account/entries", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(EntryQuerySchema, location="query")
@admin_blp.response(200, page_of(EntrySchema))
def user_entries(args: dict, user_id: int):
    """Any user's ledger entries."""
    return _entries_page(users.get(user_id).id, args)


@admin_blp.route("/users/<int:user_id>/account/adjustments", methods=["POST"])
@login_required("admin")
@idempotent()
@admin_blp.arguments(AdjustmentSchema)
@admin_blp.response(201, EntrySchema)
def adjust(data: dict, user_id: int):
    """Credit or debit points by hand, with a reason; recorded as the administrator's act."""
    actor = current_user()
    return ledger.adjust(users.get(user_id).id, data["points"], reason=data["reason"],
                         actor_id=actor.id, key=f"admin:{actor.id}:{request.headers[HEADER]}")


@admin_blp.route("/ledger/transactions/<int:tx_id>/reversal", methods=["POST"])
@login_required("admin")
@idempotent()
@admin_blp.arguments(ReversalSchema)
@admin_blp.response(201, EntrySchema)
def reverse(data: dict, tx_id: int):
    """Reverse an earn; what was already spent becomes debt. A behaviour's earn is reversed
    as the behaviour is (`POST /api/v1/admin/behaviours/{id}/reverse`), so that it is no
    longer counted as credited."""
    actor = current_user()
    return ledger.reverse_earn(tx_id, actor=actor, reason=data["reason"],
                               key=f"admin:{actor.id}:{request.headers[HEADER]}",
                               owner_of=behaviours.earned_by,
                               reverse_owned=behaviours.reverse)


@admin_blp.route("/ledger/verify", methods=["GET"])
@login_required("admin")
@admin_blp.response(200, VerifySchema)
def verify_ledger():
    """Check every ledger invariant now."""
    problems = verify()
    return {"ok": not problems, "violations": problems}
