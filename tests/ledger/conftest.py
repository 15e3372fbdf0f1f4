from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from app.ledger.verify import verify
from app.uow import unit_of_work
from app.users import service as users
from tests.helpers import PASSWORD

_seq = itertools.count(1)


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """An app context for service-level tests; each `tx()` block is one unit of work."""
    with app.app_context():
        yield


@pytest.fixture
def new_user(ctx) -> Callable[[], int]:
    def make() -> int:
        with unit_of_work():
            return users.register(email=f"ledger{next(_seq)}@example.com",
                                  password=PASSWORD).id
    return make


def assert_consistent() -> None:
    assert verify() == []
