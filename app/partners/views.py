from __future__ import annotations

from flask import current_app, g
from flask_smorest import Blueprint

from app.auth.guard import current_user, login_required
from app.extensions import limiter
from app.http.idempotency import idempotent
from app.http.limit_keys import limit_key
from app.http.pagination import page_of, paginate, pop_page_args
from app.http.problems import error_responses
from app.partners import service
from app.partners.schemas import (
    BatchResultSchema,
    BatchSchema,
    BindSchema,
    IssuedKeySchema,
    KeySchema,
    LinkCodeSchema,
    MyLinkQuerySchema,
    MyLinkSchema,
    PartnerCreatedSchema,
    PartnerCreateSchema,
    PartnerLinkSchema,
    PartnerQuerySchema,
    PartnerSchema,
    PartnerUpdateSchema,
)
from app.partners.signing import partner_required

admin_blp = Blueprint("admin_partners", __name__, url_prefix="/api/v1/admin/partners",
                      description="Administer data partners and their signing keys")
links_blp = Blueprint("my_partner_links", __name__, url_prefix="/api/v1/me/partner-links",
                      description="The caller's consent links to data partners")
partner_blp = Blueprint("partner", __name__, url_prefix="/api/v1/partner",
                        description="For data partners: HMAC-signed requests (partnerHmac)")

NO_STORE = {"Cache-Control": "no-store"}
# Wrong link codes per partner: guessing a citizen's code must stay hopeless.


# --------------------------------------------------------------------------- admin


@admin_blp.route("", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(PartnerCreateSchema)
@admin_blp.response(201, PartnerCreatedSchema)
@error_responses({409: "A partner with this name already exists",
                  422: "Unknown methodology codes"})
def create_partner(data: dict):
    """Register a partner and its first key; the secret is in this response only."""
    partner, key, secret = service.create(current_user(), **data)
    return {"partner": partner, "key_id": key.key_id, "secret": secret}, NO_STORE


@admin_blp.route("", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(PartnerQuerySchema, location="query")
@admin_blp.response(200, page_of(PartnerSchema))
def list_partners(args: dict):
    """List partners, paginated."""
    page_args = pop_page_args(args)
    return paginate(service.search(**args), page_args)


@admin_blp.route("/<int:partner_id>", methods=["GET"])
@login_required("admin")
@admin_blp.response(200, PartnerSchema)
def get_partner(partner_id: int):
    """One partner with its keys (never their secrets)."""
    return service.get(partner_id)


@admin_blp.route("/<int:partner_id>", methods=["PATCH"])
@login_required("admin")
@admin_blp.arguments(PartnerUpdateSchema)
@admin_blp.response(200, PartnerSchema)
@error_responses({409: "A partner with this name already exists",
                  422: "Unknown methodology codes"})
def update_partner(data: dict, partner_id: int):
    """Rename, change the methodologies it may report, or suspend / reinstate."""
    return service.update_partner(current_user(), service.get(partner_id), **data)


@admin_blp.route("/<int:partner_id>/keys", methods=["POST"])
@login_required("admin")
@admin_blp.response(201, IssuedKeySchema)
def rotate_key(partner_id: int):
    """Issue a new key (secret in this response only); the partner's other keys keep
    working for PARTNER_KEY_OVERLAP_HOURS, then expire."""
    key, secret, until = service.rotate_key(current_user(), service.get(partner_id))
    return {"key_id": key.key_id, "secret": secret, "created_at": key.created_at,
            "old_keys_expire_at": until}, NO_STORE


@admin_blp.route("/<int:partner_id>/keys/<string:key_id>", methods=["DELETE"])
@login_required("admin")
@admin_blp.response(200, KeySchema)
def revoke_key(partner_id: int, key_id: str):
    """Revoke a key at once (a leaked secret)."""
    return service.revoke_key(current_user(), service.get(partner_id), key_id)


# --------------------------------------------------------------------------- citizen


@links_blp.route("/codes", methods=["POST"])
@login_required("citizen")
@links_blp.response(201, LinkCodeSchema)
def new_link_code():
    """A one-time code (10 minutes) to give a partner, which links it to you: it may then
    report your behaviours."""
    code, expires_at = service.new_link_code(current_user())
    return {"code": code, "expires_at": expires_at}, NO_STORE


@links_blp.route("", methods=["GET"])
@login_required()
@links_blp.arguments(MyLinkQuerySchema, location="query")
@links_blp.response(200, page_of(MyLinkSchema))
def my_links(args: dict):
    """Your partner links, newest first."""
    page_args = pop_page_args(args)
    return paginate(service.my_links(current_user(), **args), page_args)


@links_blp.route("/<int:link_id>", methods=["DELETE"])
@login_required()
@links_blp.response(200, MyLinkSchema)
def revoke_my_link(link_id: int):
    """Withdraw consent: the partner's records for you are refused from now on."""
    return service.revoke_link(current_user(), link_id)


# --------------------------------------------------------------------------- partner


def _link_failure_limit() -> str:
    return current_app.config["PARTNER_LINK_FAILURE_LIMIT"]


def _partner_link_key() -> str:
    return limit_key("partner-link", str(g.partner.id))


def _wrong_code(response) -> bool:
    return response.status_code == 422


@partner_blp.route("/links", methods=["POST"])
@partner_required
@limiter.limit(_link_failure_limit, key_func=_partner_link_key, deduct_when=_wrong_code)
@partner_blp.arguments(BindSchema)
@partner_blp.response(201, PartnerLinkSchema)
@partner_blp.alt_response(200, schema=PartnerLinkSchema,
                          description="This reference was already linked to this citizen")
@error_responses({409: "partner_user_ref is actively linked to another citizen",
                  422: "The code is unknown, used or expired",
                  429: "Too many wrong codes from this partner; wait and retry"})
def bind(data: dict):
    """Redeem a citizen's link code for your user `partner_user_ref`."""
    link, created = service.bind(g.partner, data["code"], data["partner_user_ref"])
    return link, 201 if created else 200


@partner_blp.route("/links/<path:partner_user_ref>", methods=["GET"])
@partner_required
@partner_blp.response(200, PartnerLinkSchema)
def link_status(partner_user_ref: str):
    """Whether your user is linked (active) or has revoked the link."""
    return service.link_status(g.partner, partner_user_ref)


@partner_blp.route("/behaviours", methods=["POST"])
@partner_required
@idempotent(required=False)
@partner_blp.arguments(BatchSchema)
@partner_blp.response(200, BatchResultSchema)
def submit_behaviours(data: dict):
    """Report up to 1,000 behaviour records. Each gets its own outcome; a resent
    external_id returns the first outcome and never credits twice."""
    return service.submit_batch(g.partner, data["records"])
