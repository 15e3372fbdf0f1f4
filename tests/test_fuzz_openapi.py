"""Property-based fuzzing of every operation in /api/v1/openapi.json (schemathesis).

Each generated request is sent as an anonymous caller, a citizen, merchant staff and an
administrator. Whatever the input: no 5xx, the status code is one the document lists for
the operation, and the body matches the documented schema and media type.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from app.auth import service as auth
from app.extensions import db
from app.merchants import service as merchants
from app.uow import unit_of_work
from app.users import service as users
from tests.conftest import TEST_JWT_SECRET, _truncate_all
from tests.helpers import PASSWORD

EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(database, tmp_path_factory) -> Iterator[Flask]:
    """One database for the whole module: the fuzzer's requests pile up in it, as they
    would on a live service."""
    if database["kind"] == "sqlite":
        path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
        shutil.copy(database["template"], path)
        url = f"sqlite:///{path}"
    else:
        url = database["url"]
    app = create_app({"DATABASE_URL": url, "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "LOG_LEVEL": "WARNING"},
                     instance_path=str(tmp_path_factory.mktemp("fuzz-instance")), TESTING=True)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if database["kind"] == "postgresql":
        _truncate_all(url)


@pytest.fixture(scope="module")
def callers(fuzz_app) -> list[dict[str, str]]:
    """Headers of each kind of caller: none, citizen, merchant staff, administrator."""
    headers: list[dict[str, str]] = [{}]
    with fuzz_app.app_context(), unit_of_work():
        admin = users.register(email="fuzz-admin@example.com", password=PASSWORD,
                               roles=("citizen", "admin"))
        citizen = users.register(email="fuzz-citizen@example.com", password=PASSWORD)
        staff = users.register(email="fuzz-staff@example.com", password=PASSWORD)
        db.session.flush()
        merchant = merchants.create(admin, name="Fuzz 商户", contact="021-0000 0000")
        merchants.add_staff(admin, merchant, staff)
        for user in (citizen, staff, admin):
            token = auth.issue_tokens(user)["access_token"]
            headers.append({"Authorization": f"Bearer {token}"})
    return headers


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


def _operations() -> list[tuple[str, str]]:
    """Every operation of the document, read at collection time (no database needed)."""
    app = create_app({"DATABASE_URL": "sqlite://", "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "METHODOLOGY_SYNC_ON_START": "0", "LOG_LEVEL": "WARNING"},
                     instance_path=str(Path(tempfile.gettempdir()) / "fuzz-collect"))
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    return [pytest.param(method.upper(), path, id=f"{method.upper()} {path}")
            for path, item in spec["paths"].items()
            for method in item if method in ("get", "post", "put", "patch", "delete")]


# schemathesis's own pytest integration (from_fixture) does not run on this pytest, so the
# operations are parametrized here and each draws its cases from schemathesis's strategy.
@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_as_every_caller(method, path, api_schema, callers):
    operation = api_schema[path][method]

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def run(case) -> None:
        for headers in callers:
            case.call_and_validate(headers=headers, checks=CHECKS)

    run()
