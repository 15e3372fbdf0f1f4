"""Console fixtures: accounts of each role and a test client signed in as one of them."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, Api

CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_of(client: FlaskClient, path: str = "/console/login") -> str:
    """The CSRF token of the client's session, as a page of the console shows it."""
    page = client.get(path).get_data(as_text=True)
    match = CSRF.search(page)
    assert match, page[:500]
    return match.group(1)


def console_login(client: FlaskClient, email: str, password: str = PASSWORD):
    token = csrf_of(client)
    return client.post("/console/login", data={"identifier": email, "password": password,
                                               "csrf_token": token})


@dataclass
class Staff:
    user_id: int
    email: str
    client: FlaskClient

    def csrf(self) -> str:
        """The session's CSRF token (a page signed in shows the same in its meta tag)."""
        with self.client.session_transaction("/console/") as session:  # the cookie's path
            return session.setdefault("csrf", secrets.token_urlsafe(32))

    def post(self, path: str, data: dict | None = None, **kw):
        return self.client.post(path, data={"csrf_token": self.csrf(), **(data or {})}, **kw)


@pytest.fixture
def signed_in(app: Flask, api: Api):
    """signed_in(*roles) -> Staff: a new account with the roles, signed in to the console
    in a client of its own."""

    def make(*roles: str, email: str | None = None) -> Staff:
        user_id = api.create_user(*roles, email=email)
        from app.extensions import db
        from app.users.models import User

        with app.app_context():
            address = db.session.get(User, user_id).email
        client = app.test_client()
        resp = console_login(client, address)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return Staff(user_id, address, client)

    return make
