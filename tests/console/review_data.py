"""Methodologies in force and behaviours waiting for review, made through the services
(as the API would): for console tests, browser journeys and the screenshot script."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

from flask import Flask

from app import behaviours
from app.db_types import utcnow
from app.extensions import db
from app.methodology import service as methodology
from app.uow import unit_of_work
from app.users import service as users
from tests.helpers import PASSWORD

_seq = itertools.count(1)


def approve_defaults(app: Flask) -> int:
    """Every discovered 1.0.0 default version approved by a new administrator, in force from a
    year ago; that administrator's id."""
    with app.app_context(), unit_of_work():
        admin = users.register(email=f"approver{next(_seq)}-{uuid.uuid4().hex[:6]}@example.com",
                               password=PASSWORD, roles=("admin",))
        # Release 1.0.0, whose figures these pages' tests use (10 sheets: 67 points).
        for version in methodology.discovered_pending("1.0.0"):
            methodology.approve(admin, version.id, utcnow() - timedelta(days=365))
        return admin.id


def queued_behaviour(app: Flask, citizen_id: int | None = None, sheets: int = 10,
                     evidence: dict | None = None) -> tuple[int, int]:
    """A paperless self-report (queued for review: paperless self-reports are); its id
    and its citizen's id. 10 sheets earn 67 points when approved."""
    with app.app_context(), unit_of_work():
        if citizen_id is None:
            citizen_id = users.register(
                email=f"reporter{next(_seq)}-{uuid.uuid4().hex[:6]}@example.com",
                password=PASSWORD).id
        behaviour = behaviours.submit(
            user_id=citizen_id, methodology="paperless",
            occurred_at=utcnow() - timedelta(hours=1, minutes=next(_seq)),
            data={"kind": "e_invoice", "sheets": sheets},
            evidence=evidence or {"invoice_no": f"NJ-{next(_seq):06d}"}, source="self_report")
        assert behaviour.status == "pending_review", behaviour.reasons
        return behaviour.id, citizen_id


def status_of(app: Flask, model: type, row_id: int) -> str:
    with app.app_context():
        return db.session.get(model, row_id).status
