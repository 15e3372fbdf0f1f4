from __future__ import annotations

from flask_smorest import Blueprint

from app.auth.guard import current_user, login_required
from app.http.pagination import PageArgsSchema, page_of, paginate, pop_page_args
from app.http.problems import error_responses
from app.merchants import service
from app.merchants.schemas import (
    MerchantCreateSchema,
    MerchantQuerySchema,
    MerchantSchema,
    MerchantUpdateSchema,
    StaffSchema,
    SuspendSchema,
)
from app.users import service as users

admin_blp = Blueprint("admin_merchants", __name__, url_prefix="/api/v1/admin/merchants",
                      description="Administer merchants and their staff")
staff_blp = Blueprint("merchant", __name__, url_prefix="/api/v1/merchant",
                      description="The merchant a staff account acts for")


@admin_blp.route("", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(MerchantCreateSchema)
@admin_blp.response(201, MerchantSchema)
@error_responses({409: "A merchant with this name already exists"})
def create_merchant(data: dict):
    """Create a merchant."""
    return service.create(current_user(), **data)


@admin_blp.route("", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(MerchantQuerySchema, location="query")
@admin_blp.response(200, page_of(MerchantSchema))
def list_merchants(args: dict):
    """List and search merchants, paginated."""
    page_args = pop_page_args(args)
    return paginate(service.search(**args), page_args)


@admin_blp.route("/<int:merchant_id>", methods=["GET"])
@login_required("admin")
@admin_blp.response(200, MerchantSchema)
def get_merchant(merchant_id: int):
    """One merchant."""
    return service.get(merchant_id)


@admin_blp.route("/<int:merchant_id>", methods=["PATCH"])
@login_required("admin")
@admin_blp.arguments(MerchantUpdateSchema)
@admin_blp.response(200, MerchantSchema)
@error_responses({409: "A merchant with this name already exists"})
def update_merchant(data: dict, merchant_id: int):
    """Change a merchant's name or contact."""
    return service.update(current_user(), service.get(merchant_id), **data)


@admin_blp.route("/<int:merchant_id>/suspend", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(SuspendSchema)
@admin_blp.response(200, MerchantSchema)
def suspend_merchant(data: dict, merchant_id: int):
    """Suspend: its rewards are hidden and its verifications refused until reinstated."""
    return service.suspend(current_user(), service.get(merchant_id), data.get("reason"))


@admin_blp.route("/<int:merchant_id>/reinstate", methods=["POST"])
@login_required("admin")
@admin_blp.response(200, MerchantSchema)
def reinstate_merchant(merchant_id: int):
    """Reinstate a suspended merchant: its rewards and verifications come back."""
    return service.reinstate(current_user(), service.get(merchant_id))


@admin_blp.route("/<int:merchant_id>/staff", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(PageArgsSchema, location="query")
@admin_blp.response(200, page_of(StaffSchema))
def list_staff(args: dict, merchant_id: int):
    """The merchant's staff accounts, paginated."""
    return paginate(service.staff(service.get(merchant_id)), args)


@admin_blp.route("/<int:merchant_id>/staff/<int:user_id>", methods=["PUT"])
@login_required("admin")
@admin_blp.response(200, StaffSchema)
@error_responses({409: "The account is staff of another merchant"})
def add_staff(merchant_id: int, user_id: int):
    """Make an account staff of this merchant (grants the `merchant` role)."""
    return service.add_staff(current_user(), service.get(merchant_id), users.get(user_id))


@admin_blp.route("/<int:merchant_id>/staff/<int:user_id>", methods=["DELETE"])
@login_required("admin")
@admin_blp.response(204)
def remove_staff(merchant_id: int, user_id: int):
    """Remove an account from the merchant's staff (revokes the `merchant` role)."""
    service.remove_staff(current_user(), service.get(merchant_id), users.get(user_id))


@staff_blp.route("", methods=["GET"])
@login_required("merchant")
@staff_blp.response(200, MerchantSchema)
def my_merchant():
    """The merchant the caller is staff of."""
    return service.for_staff(current_user())
