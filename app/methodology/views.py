from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from app.auth.guard import current_user, login_required
from app.db_types import utcnow
from app.methodology import service
from app.methodology.schemas import (
    AdminListingSchema,
    ApprovalSchema,
    FilingQuerySchema,
    ProposalSchema,
    PublicMethodologySchema,
    ReasonSchema,
    VersionSchema,
)

blp = Blueprint("methodologies", __name__, url_prefix="/api/v1/methodologies",
                description="Methodologies in force, with cited parameters and record forms")
admin_blp = Blueprint("admin_methodologies", __name__, url_prefix="/api/v1/admin",
                      description="Approve, reject and retire methodology versions")


@blp.route("", methods=["GET"])
@blp.response(200, PublicMethodologySchema(many=True))
def list_methodologies():
    """Every methodology with a version in force now."""
    now = utcnow()
    shown = []
    for cls in service.registry().all():
        version = service.active_version(cls.code, now)
        if version is not None:
            shown.append(service.public_view(cls.code, version))
    return shown


@blp.route("/<string:code>", methods=["GET"])
@blp.response(200, PublicMethodologySchema)
def get_methodology(code: str):
    """One methodology: the version in force (null if none), parameters, record schema."""
    service.module(code)  # 404 for a code not installed
    return service.public_view(code, service.active_version(code, utcnow()))


@blp.route("/<string:code>/filing", methods=["GET"])
@blp.arguments(FilingQuerySchema, location="query")
@blp.response(200, {"type": "string"}, content_type="text/markdown")
def get_filing_document(args: dict, code: str):
    """A release's filing document (Chinese and English), as Markdown: the newest
    release's unless `release` names another."""
    return Response(service.filing_text(code, args.get("release")), mimetype="text/markdown")


@admin_blp.route("/methodologies", methods=["GET"])
@login_required("admin")
@admin_blp.response(200, AdminListingSchema)
def admin_listing():
    """Loaded modules with all their versions, and modules that failed to load."""
    loaded = [{"code": cls.code, "name_zh": cls.name_zh, "name_en": cls.name_en,
               "module_version": cls.version,
               "releases": [r.version for r in service.registry().releases(cls.code)],
               "versions": service.versions(cls.code)}
              for cls in service.registry().all()]
    return {"loaded": loaded, "failed": service.registry().failed}


@admin_blp.route("/methodologies/<string:code>/versions", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(ProposalSchema)
@admin_blp.response(201, VersionSchema)
def propose(data: dict, code: str):
    """Propose changed parameters (each with its source); another admin must approve."""
    return service.propose(current_user(), code, data["parameters"], data.get("note"))


@admin_blp.route("/methodology-versions/<int:version_id>/approve", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(ApprovalSchema)
@admin_blp.response(200, VersionSchema)
def approve(data: dict, version_id: int):
    """Approve a pending version from an effective date (four-eyes for proposals)."""
    return service.approve(current_user(), version_id, data.get("effective_from"))


@admin_blp.route("/methodology-versions/<int:version_id>/reject", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(ReasonSchema)
@admin_blp.response(200, VersionSchema)
def reject(data: dict, version_id: int):
    """Reject a pending version with a reason."""
    return service.reject(current_user(), version_id, data["reason"])


@admin_blp.route("/methodology-versions/<int:version_id>/retire", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(ReasonSchema)
@admin_blp.response(200, VersionSchema)
def retire(data: dict, version_id: int):
    """Retire an approved version: nothing is credited under it any more."""
    return service.retire(current_user(), version_id, data["reason"])
