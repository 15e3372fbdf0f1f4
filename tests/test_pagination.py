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
