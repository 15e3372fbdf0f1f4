from __future__ import annotations

from flask import current_app
from flask_jwt_extended import get_jwt
from flask_smorest import Blueprint

from app.auth.guard import current_user, login_required
from app.extensions import limiter
from app.http.limit_keys import limit_key
from app.http.problems import error_responses
from app.privacy import service
from app.privacy.schemas import ErasureSchema, ExportSchema

blp = Blueprint("privacy", __name__, url_prefix="/api/v1/me",
                description="Personal information rights (PIPL): export and erasure")


def _export_limit() -> str:
    return current_app.config["EXPORT_LIMIT"]


def _user_key() -> str:
    return limit_key("export", get_jwt()["sub"])


@blp.route("/export", methods=["GET"])
@login_required()
@limiter.limit(_export_limit, key_func=_user_key)
@blp.response(200, ExportSchema, headers={"Content-Disposition": {
    "description": "attachment; filename=carbon-points-export.json",
    "schema": {"type": "string"}}})
@error_responses({429: "Too many exports by this account; wait and retry"})
def export_me():
    """Everything the platform holds on you: profile, points and every ledger entry,
    behaviours (with the reviewer's note), redemptions, partner links and the link codes
    you asked for (when made and used, never the code), merchant staff membership, the
    redemptions you verified and the reward revisions you proposed or decided, and the
    audit trail of what was done to or by your account or names it."""
    return service.export(current_user()), 200, {
        "Content-Disposition": "attachment; filename=carbon-points-export.json"}


@blp.route("", methods=["DELETE"])
@login_required()
@blp.arguments(ErasureSchema)
@blp.response(204)
@error_responses({403: "Wrong password (wrong-password)",
                  409: "The last active administrator (last-admin)"})
def erase_me(data: dict):
    """Delete your account. Your login, name, evidence and partner links are erased and
    every token stops working; reserved redemptions are cancelled and their points
    released. Each behaviour keeps only what its accounting needs (a trip: its mode and
    distance, no places or times); partner record ids and reviewers' notes go, and
    self-reports still awaiting review are rejected. The points history stays in the
    ledger under an anonymous id, so the platform's accounts still balance."""
    service.erase(current_user(), data["password"])
