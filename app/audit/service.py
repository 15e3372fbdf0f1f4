from __future__ import annotations

from typing import Any

from app.audit.models import AuditEvent
from app.extensions import db


def record(actor_id: int | None, action: str, target_type: str, target_id: object,
           **details: Any) -> AuditEvent:
    event = AuditEvent(actor_id=actor_id, action=action, target_type=target_type,
                       target_id=str(target_id), details=details)
    db.session.add(event)
    return event
