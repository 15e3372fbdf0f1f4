"""The points ledger: users' books, the journal, lots, and the operations on them.

What other domains, views, the CLI, jobs, tests and bench scripts may call; the modules'
other names are the ledger's own.
"""

from app.ledger.books import (
    EXPIRED_CODE,
    ISSUANCE_CODE,
    Book,
    lock_book,
    lock_books,
    merchant_settlement_account_id,
    open_books,
    system_account_id,
)
from app.ledger.corrections import adjust, reversal_of, reverse, reverse_earn
from app.ledger.earning import Earning, count_reduction, earn, earn_many
from app.ledger.expiry import expire_user_lots, users_with_due_lots
from app.ledger.holds import capture, hold, release
from app.ledger.journal import Rider, insufficient
from app.ledger.merged_writes import (
    capture_parameters,
    capture_writes,
    hold_parameters,
    hold_writes,
    written,
)
from app.ledger.reading import account_balance, available, entries, summary

__all__ = [
    "EXPIRED_CODE",
    "ISSUANCE_CODE",
    "Book",
    "Earning",
    "Rider",
    "account_balance",
    "adjust",
    "available",
    "capture",
    "capture_parameters",
    "capture_writes",
    "count_reduction",
    "earn",
    "earn_many",
    "entries",
    "expire_user_lots",
    "hold",
    "hold_parameters",
    "hold_writes",
    "insufficient",
    "lock_book",
    "lock_books",
    "merchant_settlement_account_id",
    "open_books",
    "release",
    "reversal_of",
    "reverse",
    "reverse_earn",
    "summary",
    "system_account_id",
    "users_with_due_lots",
    "written",
]
