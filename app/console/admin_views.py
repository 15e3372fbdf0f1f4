"""Administrators' pages. The landing page shows what waits for someone; the full
dashboard, approvals and lists are added beside it (docs/console.md)."""

from __future__ import annotations

from app.behaviours import service as behaviours
from app.console.blueprint import blp, render
from app.console.i18n import t
from app.console.session import console_login_required
from app.methodology import service as methodologies
from app.rewards import service as rewards
from app.sql import count_rows


def waiting_counts() -> list[tuple[str, int]]:
    """(label key, count) of what waits for an administrator's decision."""
    pending_versions = sum(1 for v in methodologies.versions() if v.status == "pending")
    return [("home.pending_versions", pending_versions),
            ("home.pending_behaviours", count_rows(behaviours.review_queue())),
            ("home.pending_revisions", count_rows(rewards.revisions(status="pending")))]


@blp.route("/admin")
@console_login_required("admin")
def admin_home():
    return render("console/admin/home.html", t("home.title"), waiting=waiting_counts())
