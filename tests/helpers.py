"""Test helpers: make accounts and call the API as them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from app.extensions import db
from app.uow import unit_of_work
from app.users import service as users

PASSWORD = "Green-Travel-2026"
_seq = itertools.count(1)


@dataclass
class Caller:
    id: int
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class Api:
    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client

    def create_user(self, *roles: str, email: str | None = None,
                    password: str = PASSWORD) -> int:
        email = email or f"user{next(_seq)}@example.com"
        with self.app.app_context(), unit_of_work():
            user = users.register(email=email, password=password,
                                  roles=roles or ("citizen",))
            db.session.flush()
            return user.id

    def login(self, identifier: str, password: str = PASSWORD):
        return self.client.post("/api/v1/auth/login",
                                json={"identifier": identifier, "password": password})

    def caller(self, *roles: str, email: str | None = None) -> Caller:
        email = email or f"user{next(_seq)}@example.com"
        user_id = self.create_user(*roles, email=email)
        resp = self.login(email)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        return Caller(user_id, email, body["access_token"], body["refresh_token"])

    def get(self, path: str, caller: Caller | None = None, **kw: Any):
        return self.client.get(path, headers=_h(caller, kw), **kw)

    def post(self, path: str, caller: Caller | None = None, **kw: Any):
        return self.client.post(path, headers=_h(caller, kw), **kw)

    def patch(self, path: str, caller: Caller | None = None, **kw: Any):
        return self.client.patch(path, headers=_h(caller, kw), **kw)

    def put(self, path: str, caller: Caller | None = None, **kw: Any):
        return self.client.put(path, headers=_h(caller, kw), **kw)

    def delete(self, path: str, caller: Caller | None = None, **kw: Any):
        return self.client.delete(path, headers=_h(caller, kw), **kw)


def _h(caller: Caller | None, kw: dict) -> dict[str, str]:
    headers = dict(kw.pop("headers", {}) or {})
    if caller is not None:
        headers.setdefault("Authorization", f"Bearer {caller.access_token}")
    return headers


def assert_problem(resp, status: int, slug: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    assert resp.mimetype == "application/problem+json", resp.mimetype
    body = resp.get_json(force=True)
    assert body["status"] == status
    assert body["title"]
    if slug:
        assert body["type"] == f"/problems/{slug}", body
    return body


@contextmanager
def counting_statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app sends meanwhile."""
    with app.app_context():
        engine = db.engine
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)
