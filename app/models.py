"""Import every model module so metadata (and Alembic autogenerate) sees all tables."""

from app.audit.models import AuditEvent  # noqa: F401
from app.auth.models import RevokedToken  # noqa: F401
from app.behaviours.models import Behaviour, ConversionRate, CreditTotal  # noqa: F401
from app.http.idempotency import IdempotencyKey  # noqa: F401
from app.ledger.models import (  # noqa: F401
    Hold,
    HoldLot,
    LedgerAccount,
    LedgerPosting,
    LedgerSystemAccount,
    LedgerTransaction,
    Lot,
)
from app.merchants.models import Merchant, MerchantStaff  # noqa: F401
from app.methodology.models import MethodologyVersion  # noqa: F401
from app.partners.models import (  # noqa: F401
    Partner,
    PartnerKey,
    PartnerLink,
    PartnerLinkCode,
    PartnerRequestNonce,
)
from app.rewards.models import Redemption, RedemptionCode, Reward, RewardRevision  # noqa: F401
from app.scheduler.models import ApschedulerJob, JobRun  # noqa: F401
from app.users.models import User, UserRole  # noqa: F401
