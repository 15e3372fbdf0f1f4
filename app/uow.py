"""Unit of work: services flush, the request / CLI command / job commits once.

Services never call commit(). The owner of the transaction is whatever started it:
an HTTP request (commit_request, registered as the last after_request hook), a CLI
command or a scheduled job (unit_of_work()).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Response, current_app
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.extensions import db
from app.http.problems import problem_response

log = logging.getLogger(__name__)


@contextmanager
def unit_of_work() -> Iterator[None]:
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def commit_request(response: Response) -> Response:
    """Commit a successful request's work; anything else is rolled back."""
    if response.status_code >= 400:
        db.session.rollback()
        return response
    try:
        db.session.commit()
    except DATABASE_UNAVAILABLE:
        db.session.rollback()
        log.exception("commit failed: database unavailable")
        return _failure(503, unavailable_response)
    except IntegrityError:
        db.session.rollback()
        log.exception("commit failed: constraint violated")
        return _failure(409, conflict_response)
    return response


# app.extensions[FAILURE_PAGE]: (status) -> an area's own error page for this request, or
# None for the problem. The console registers its HTML page for its paths.
FAILURE_PAGE = "commit_failure_page"


def _failure(status: int, problem: Callable[[], Response]) -> Response:
    page = current_app.extensions.get(FAILURE_PAGE)
    return (page(status) if page else None) or problem()


# The server is down or restarting, the connection died, or the pool is exhausted: the
# client may retry, and nothing was saved.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


def unavailable_response() -> Response:
    return problem_response(503, "Service Unavailable", "The database is unavailable; nothing "
                            "was saved. Retry shortly.", slug="database-unavailable",
                            headers={"Retry-After": "2"})


def conflict_response() -> Response:
    """A constraint a concurrent writer won: the caller may retry."""
    return problem_response(409, "Conflict", "The request conflicts with a concurrent change; "
                            "nothing was saved.", slug="conflict")
