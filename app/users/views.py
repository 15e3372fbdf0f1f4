from __future__ import annotations

from flask_smorest import Blueprint

from app.auth.guard import current_user, login_required
from app.http.pagination import page_of, paginate, pop_page_args
from app.http.problems import error_responses
from app.users import service
from app.users.schemas import UpdateMeSchema, UserQuerySchema, UserSchema

me_blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The caller's account")
admin_blp = Blueprint("admin_users", __name__, url_prefix="/api/v1/admin/users",
                      description="Administer accounts and roles")


@me_blp.route("", methods=["GET"])
@login_required()
@me_blp.response(200, UserSchema)
def get_me():
    """The caller's profile and roles."""
    return current_user()


@me_blp.route("", methods=["PATCH"])
@login_required()
@me_blp.arguments(UpdateMeSchema)
@me_blp.response(200, UserSchema)
def patch_me(data: dict):
    """Change the display name, or the password (old password required; signs out all
    sessions)."""
    return service.update_profile(current_user(), **data)


@admin_blp.route("", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(UserQuerySchema, location="query")
@admin_blp.response(200, page_of(UserSchema))
def list_users(args: dict):
    """List and search accounts, paginated."""
    page_args = pop_page_args(args)
    return paginate(service.search(**args), page_args)


@admin_blp.route("/<int:user_id>", methods=["GET"])
@login_required("admin")
@admin_blp.response(200, UserSchema)
def get_user(user_id: int):
    """One account."""
    return service.get(user_id)


@admin_blp.route("/<int:user_id>/roles/<string:role>", methods=["PUT"])
@login_required("admin")
@admin_blp.response(200, UserSchema)
@error_responses({409: "Granting merchant to an account that is not staff of a merchant "
                       "(merchant-role-needs-staff): add it to a merchant's staff instead"})
def grant_role(user_id: int, role: str):
    """Grant a role (citizen, merchant, admin). The merchant role comes with a merchant's
    staff (PUT /api/v1/admin/merchants/{merchant_id}/staff/{user_id})."""
    return service.grant_role(current_user(), service.get(user_id), service.valid_role(role))


@admin_blp.route("/<int:user_id>/roles/<string:role>", methods=["DELETE"])
@login_required("admin")
@admin_blp.response(200, UserSchema)
@error_responses({409: "The last active administrator (last-admin)"})
def revoke_role(user_id: int, role: str):
    """Revoke a role; the last active administrator keeps theirs. Revoking merchant also
    removes the account from its merchant's staff."""
    return service.revoke_role(current_user(), service.get(user_id), service.valid_role(role))


@admin_blp.route("/<int:user_id>/disable", methods=["POST"])
@login_required("admin")
@admin_blp.response(200, UserSchema)
def disable_user(user_id: int):
    """Disable an account: its tokens stop working at once."""
    return service.disable(current_user(), service.get(user_id))


@admin_blp.route("/<int:user_id>/enable", methods=["POST"])
@login_required("admin")
@admin_blp.response(200, UserSchema)
def enable_user(user_id: int):
    """Enable a disabled account."""
    return service.enable(current_user(), service.get(user_id))
