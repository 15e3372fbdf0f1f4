"""The OpenAPI document as client generators read it.

An apispec plugin gives each operation its operationId (OPERATION_IDS), lists the
problems it answers with where the code raises them (a path id: 404; a JSON body: 400;
an Idempotency-Key: 400, 409, 422; a rate limit: 429) and declares the response headers
(X-Request-ID on every response, Idempotent-Replayed, Retry-After and the rate-limit
headers). Response schemas derive from ResponseSchema: every field they name is always
in the body (null where it is nullable), so the document lists them all as required.
"""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from apispec import BasePlugin

from app.http.problems import problem_doc

REQUEST_ID = "X-Request-ID"
IDEMPOTENCY_KEY = "Idempotency-Key"  # app.http.idempotency.HEADER (which imports this module)

# Every operation by its Flask endpoint ("blueprint.view"): a view added without a name
# here stops the document from being built (tests/test_openapi.py builds it).
OPERATION_IDS = {
    "auth.register": "register",
    "auth.login": "login",
    "auth.refresh": "refreshTokens",
    "auth.logout": "logout",
    "me.get_me": "getMe",
    "me.patch_me": "updateMe",
    "privacy.erase_me": "deleteMe",
    "privacy.export_me": "exportMe",
    "admin_users.list_users": "listUsers",
    "admin_users.get_user": "getUser",
    "admin_users.grant_role": "grantRole",
    "admin_users.revoke_role": "revokeRole",
    "admin_users.disable_user": "disableUser",
    "admin_users.enable_user": "enableUser",
    "account.my_account": "getMyAccount",
    "account.my_entries": "listMyEntries",
    "admin_ledger.user_account": "getUserAccount",
    "admin_ledger.user_entries": "listUserEntries",
    "admin_ledger.adjust": "adjustUserAccount",
    "admin_ledger.reverse": "reverseTransaction",
    "admin_ledger.verify_ledger": "verifyLedger",
    "methodologies.list_methodologies": "listMethodologies",
    "methodologies.get_methodology": "getMethodology",
    "methodologies.get_filing_document": "getMethodologyFilingDocument",
    "admin_methodologies.admin_listing": "adminListMethodologies",
    "admin_methodologies.propose": "proposeMethodologyVersion",
    "admin_methodologies.approve": "approveMethodologyVersion",
    "admin_methodologies.reject": "rejectMethodologyVersion",
    "admin_methodologies.retire": "retireMethodologyVersion",
    "behaviours.submit": "reportBehaviour",
    "behaviours.list_mine": "listMyBehaviours",
    "behaviours.get_mine": "getMyBehaviour",
    "admin_behaviours.review_queue": "adminListBehaviours",
    "admin_behaviours.admin_get": "adminGetBehaviour",
    "admin_behaviours.check_credit": "recomputeBehaviourCredit",
    "admin_behaviours.approve": "approveBehaviour",
    "admin_behaviours.reject": "rejectBehaviour",
    "admin_behaviours.reverse": "reverseBehaviour",
    "admin_behaviours.rates": "listConversionRates",
    "admin_behaviours.set_rate": "setConversionRate",
    "admin_behaviours.reduction_stats": "getReductionStats",
    "admin_behaviours.reduction_stats_csv": "getReductionStatsCsv",
    "admin_merchants.create_merchant": "createMerchant",
    "admin_merchants.list_merchants": "listMerchants",
    "admin_merchants.get_merchant": "getMerchant",
    "admin_merchants.update_merchant": "updateMerchant",
    "admin_merchants.suspend_merchant": "suspendMerchant",
    "admin_merchants.reinstate_merchant": "reinstateMerchant",
    "admin_merchants.list_staff": "listMerchantStaff",
    "admin_merchants.add_staff": "addMerchantStaff",
    "admin_merchants.remove_staff": "removeMerchantStaff",
    "merchant.my_merchant": "getMyMerchant",
    "rewards.list_rewards": "listRewards",
    "rewards.get_reward": "getReward",
    "rewards.redeem": "redeemReward",
    "redemptions.my_redemptions": "listMyRedemptions",
    "redemptions.my_redemption": "getMyRedemption",
    "redemptions.cancel_redemption": "cancelRedemption",
    "merchant_rewards.list_my_rewards": "listMerchantRewards",
    "merchant_rewards.create_reward": "createReward",
    "merchant_rewards.get_my_reward": "getMerchantReward",
    "merchant_rewards.update_my_reward": "updateMerchantReward",
    "merchant_rewards.my_reward_revisions": "listMerchantRewardRevisions",
    "merchant_rewards.merchant_redemptions": "listMerchantRedemptions",
    "merchant_rewards.verify_code": "verifyRedemption",
    "merchant_rewards.my_settlement": "getMerchantSettlement",
    "merchant_rewards.my_settlement_csv": "getMerchantSettlementCsv",
    "admin_rewards.admin_list_rewards": "adminListRewards",
    "admin_rewards.admin_get_reward": "adminGetReward",
    "admin_rewards.list_revisions": "listRewardRevisions",
    "admin_rewards.approve_revision": "approveRewardRevision",
    "admin_rewards.reject_revision": "rejectRewardRevision",
    "admin_rewards.admin_settlement": "getSettlement",
    "admin_rewards.admin_settlement_csv": "getSettlementCsv",
    "admin_partners.create_partner": "createPartner",
    "admin_partners.list_partners": "listPartners",
    "admin_partners.get_partner": "getPartner",
    "admin_partners.update_partner": "updatePartner",
    "admin_partners.rotate_key": "rotatePartnerKey",
    "admin_partners.revoke_key": "revokePartnerKey",
    "my_partner_links.my_links": "listMyPartnerLinks",
    "my_partner_links.new_link_code": "createLinkCode",
    "my_partner_links.revoke_my_link": "revokeMyPartnerLink",
    "partner.bind": "bindPartnerLink",
    "partner.link_status": "getPartnerLinkStatus",
    "partner.submit_behaviours": "submitPartnerBehaviours",
    "admin_audit.list_events": "listAuditEvents",
}


class ResponseSchema(ma.Schema):
    """A response body: every field it names is always present (null where nullable),
    but for one whose metadata says {"optional": True}."""


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


HEADERS = {
    REQUEST_ID: _header("This request's id, as sent in X-Request-ID (when valid) or made "
                        "by the server; it is in the server's log lines"),
    "Idempotent-Replayed": _header("true when this is the stored response of an earlier "
                                   "request with the same Idempotency-Key",
                                   {"type": "string", "enum": ["true"]}),
    "Retry-After": _header("Seconds to wait before retrying", {"type": "integer"}),
    "X-RateLimit-Limit": _header("Requests allowed in the window", {"type": "integer"}),
    "X-RateLimit-Remaining": _header("Requests left in the window", {"type": "integer"}),
    "X-RateLimit-Reset": _header("When the window resets (unix seconds)",
                                 {"type": "integer"}),
    "WWW-Authenticate": _header("The authentication scheme expected"),
}
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
_PATH_PARAMETER = re.compile(r"{([^}]+)}")


def with_headers(response: dict[str, Any] | str, *names: str) -> None:
    """Declare response headers, each by reference to its component in HEADERS (a response
    given by reference is left as it is)."""
    if isinstance(response, dict) and "$ref" not in response:
        headers = response.setdefault("headers", {})
        for name in (REQUEST_ID, *names):
            headers.setdefault(name, name)  # apispec makes a name a reference


class ContractPlugin(BasePlugin):
    """operationIds, the problems each operation answers with, and response headers."""

    def schema_helper(self, name: str, definition: dict, **kwargs: Any) -> dict | None:
        schema = kwargs.get("schema")
        schema = schema() if isinstance(schema, type) else schema
        if not isinstance(schema, ResponseSchema):
            return None
        return {"required": [field.data_key or field_name for field_name, field
                             in schema.dump_fields.items()
                             if not field.metadata.get("optional")]}

    def operation_helper(self, path: str | None = None, operations: dict | None = None,
                         **kwargs: Any) -> None:
        rule = kwargs["rule"]
        for operation in (operations or {}).values():
            operation["operationId"] = OPERATION_IDS[rule.endpoint]
            self._problems(path or "", operation)
            self._headers(operation)

    @staticmethod
    def _problems(path: str, operation: dict) -> None:
        # Decorators give statuses as ints, apispec as strings: one key for each.
        responses = operation["responses"] = {str(status): response for status, response
                                              in operation.get("responses", {}).items()}

        def add(status: int, description: str) -> None:
            key = str(status)
            if key not in responses:
                responses[key] = problem_doc(description)
                return
            response = responses[key]  # a component's name (str) or a response object
            if isinstance(response, dict) and "$ref" not in response and \
                    description not in response["description"]:
                response["description"] += f"; or {description[0].lower()}{description[1:]}"

        ids = _PATH_PARAMETER.findall(path)
        if ids:
            names = " or ".join(name.removesuffix("_id").replace("_", " ") for name in ids)
            add(404, f"No such {names} (or not yours to see)")
        if "requestBody" in operation:
            add(400, "The body is not valid JSON (malformed-json)")
            add(422, "A field is missing or invalid (validation-error)")
        if any(p.get("name") == IDEMPOTENCY_KEY for p in operation.get("parameters", [])):
            add(400, f"{IDEMPOTENCY_KEY} missing or invalid (idempotency-key-missing, "
                     "idempotency-key-invalid)")
            add(409, "A request with this Idempotency-Key is still being processed "
                     "(idempotency-key-in-use); retry after Retry-After")
            add(422, "This Idempotency-Key was used with another request "
                     "(idempotency-key-reused)")

    @staticmethod
    def _headers(operation: dict) -> None:
        responses = operation["responses"]
        replayable = any(p.get("name") == IDEMPOTENCY_KEY
                         for p in operation.get("parameters", []))
        limited = "429" in responses
        for status, response in responses.items():
            names: list[str] = []
            if status.startswith("2"):
                names += ["Idempotent-Replayed"] if replayable else []
                names += list(RATE_LIMIT_HEADERS) if limited else []
            elif status == "429":
                names += ["Retry-After", *RATE_LIMIT_HEADERS]
            elif status == "409" and replayable:
                names.append("Retry-After")
            elif status == "401":
                names.append("WWW-Authenticate")
            with_headers(response, *names)
