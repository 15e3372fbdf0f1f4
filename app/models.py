"""Import every model module so metadata (and Alembic autogenerate) sees all tables."""

from app.audit.models import AuditEvent  # noqa: F401
from app.auth.models import RevokedToken  # noqa: F401
from app.http.idempotency import IdempotencyKey  # noqa: F401
from app.ledger.models import (  # noqa: F401
    Hold,
    HoldLot,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Lot,
)
from app.scheduler.models import ApschedulerJob, JobRun  # noqa: F401
from app.users.models import User, UserRole  # noqa: F401
