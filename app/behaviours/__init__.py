"""Behaviours: reported low-carbon acts, judged into reductions and credited as points.

Other domains use the package (`from app import behaviours`) and the names below; the
modules behind them are the domain's own.
"""

from app.behaviours.erasure import ERASED_BEFORE_REVIEW, forget_user
from app.behaviours.rates import DEFAULT_POINTS_PER_GRAM, Rate, conversion_rate, set_rate
from app.behaviours.reading import earned_by, get, list_all, list_for, review_queue
from app.behaviours.recomputing import check_credit, recompute
from app.behaviours.reporting import Report, report
from app.behaviours.review import approve, reject, reverse
from app.behaviours.submission import is_new, submit, submit_many

__all__ = [
    "DEFAULT_POINTS_PER_GRAM",
    "ERASED_BEFORE_REVIEW",
    "Rate",
    "Report",
    "approve",
    "check_credit",
    "conversion_rate",
    "earned_by",
    "forget_user",
    "get",
    "is_new",
    "list_all",
    "list_for",
    "recompute",
    "reject",
    "report",
    "reverse",
    "review_queue",
    "set_rate",
    "submit",
    "submit_many",
]
