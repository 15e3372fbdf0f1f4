"""Methodology versions waiting for a decision, for administrators' reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.extensions import db
from app.methodology.models import MethodologyVersion


def pending() -> tuple[int, datetime | None]:
    """Versions waiting for approval: how many, and when the oldest was proposed."""
    count, oldest = db.session.execute(
        select(func.count(MethodologyVersion.id), func.min(MethodologyVersion.created_at))
        .where(MethodologyVersion.status == "pending")).one()
    return count, oldest
