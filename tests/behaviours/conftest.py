from __future__ import annotations

from datetime import timedelta

import pytest

from app.db_types import utcnow
from app.extensions import db
from app.methodology import service as methodology
from app.uow import unit_of_work
from app.users.models import User


@pytest.fixture
def approve_all(app, api):
    """Approve every discovered default version of a release (1.0.0, which the figures of
    the tests before release 2.0.0 assume), in force from a year ago."""

    def run(release: str = "1.0.0") -> int:
        admin_id = api.create_user("admin")
        with app.app_context(), unit_of_work():
            admin = methodology.db.session.get(User, admin_id)
            pending = methodology.discovered_pending(release)
            for v in pending:
                methodology.approve(admin, v.id, utcnow() - timedelta(days=365))
        return len(pending)

    return run


@pytest.fixture
def partner_id(app, api):
    """A data partner (written directly: the partners' API is tested elsewhere)."""
    from app.partners.models import Partner

    admin = api.create_user("admin")
    with app.app_context(), unit_of_work():
        partner = Partner(name="Metro Co", status="active",
                          methodologies=["green_travel", "clean_plate", "recycling"],
                          created_by=admin)
        db.session.add(partner)
        db.session.flush()
        return partner.id
