from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from app.audit.models import AuditEvent
from app.extensions import db


def record(actor_id: int | None, action: str, target_type: str, target_id: object,
           **details: Any) -> AuditEvent:
    event = AuditEvent(actor_id=actor_id, action=action, target_type=target_type,
                       target_id=str(target_id), details=details)
    db.session.add(event)
    return event


def events(*, actor_id: int | None = None, action: list[str] | None = None,
           target_type: str | None = None, target_id: str | None = None,
           since: datetime | None = None, until: datetime | None = None) -> Select:
    """Audit events matching every filter given, newest first."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditEvent.action.in_(action))
    if target_type is not None:
        stmt = stmt.where(AuditEvent.target_type == target_type)
    if target_id is not None:
        stmt = stmt.where(AuditEvent.target_id == target_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    return stmt
