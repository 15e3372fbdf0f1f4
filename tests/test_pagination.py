"""The page envelope's total, whether or not it needed a count (app.http.pagination)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("per_page", "page", "expected"), [
    (10, 1, (10, 10, 1)),   # exactly one full page: nothing follows it
    (4, 1, (10, 4, 3)),     # rows follow the page
    (4, 3, (10, 2, 3)),     # the last, partial page
    (5, 2, (10, 5, 2)),     # the last page, exactly full
    (20, 1, (10, 10, 1)),   # one partial page
    (5, 3, (10, 0, 2)),     # past the end
    (10, 2, (10, 0, 1)),    # just past the end
])
def test_total_and_pages_for_every_shape_of_page(api, per_page, page, expected):
    admin = api.caller("admin", email="root@example.com")
    for i in range(9):
        api.create_user(email=f"rider{i}@example.com")
    body = api.get(f"/api/v1/admin/users?per_page={per_page}&page={page}", admin).get_json()
    assert (body["total"], len(body["items"]), body["pages"]) == expected


def test_empty_list_has_total_zero(api):
    me = api.caller()
    body = api.get("/api/v1/redemptions", me).get_json()
    assert (body["total"], body["items"], body["pages"]) == (0, [], 0)


SHAPES = [(10, 1), (4, 1), (4, 3), (5, 2), (20, 1), (5, 3), (10, 2), (1, 7)]


def test_a_statement_built_once_pages_like_any_other(api, app):
    """paged() leaves LIMIT and OFFSET to paginate(), which binds them with the statement's
    own parameters, in the count too."""
    from sqlalchemy import bindparam, select

    from app.extensions import db
    from app.http.pagination import paged, paginate
    from app.users.models import User

    for i in range(10):
        api.create_user(email=f"pager{i}@example.com")
    with app.app_context():
        first = db.session.scalar(select(User.id).order_by(User.id))
        plain = select(User.id).where(User.id > first + 1).order_by(User.id)
        built_once = paged(select(User.id).where(User.id > bindparam("after"))
                           .order_by(User.id))
        for per_page, page in SHAPES:
            args = {"page": page, "per_page": per_page}
            expected = paginate(plain, args)
            assert expected["total"] == 8
            assert paginate(built_once, args, params={"after": first + 1}) == expected
