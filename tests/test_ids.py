"""Ids beyond BIGINT are refused as 404 / 422, never a 500 from the database."""

from __future__ import annotations

from tests.helpers import assert_problem

HUGE = "99999999999999999999"


def test_huge_ids_in_paths_are_404(api):
    admin = api.caller("admin")
    for path in (f"/api/v1/admin/users/{HUGE}", f"/api/v1/admin/rewards/{HUGE}",
                 f"/api/v1/rewards/{HUGE}", f"/api/v1/admin/behaviours/{HUGE}",
                 f"/api/v1/admin/merchants/{HUGE}"):
        assert_problem(api.get(path, admin), 404)


def test_huge_ids_in_queries_are_422(api):
    admin = api.caller("admin")
    assert_problem(api.get(f"/api/v1/rewards?merchant_id={HUGE}", admin), 422)
    assert_problem(api.get(f"/api/v1/admin/merchants/settlement?merchant_id={HUGE}", admin), 422)
    assert_problem(api.get("/api/v1/rewards?merchant_id=0", admin), 422)
    assert_problem(api.get(f"/api/v1/admin/rewards?merchant_id={HUGE}", admin), 422)
    assert_problem(api.get(f"/api/v1/admin/rewards/revisions?merchant_id={HUGE}", admin), 422)
    assert_problem(api.get("/api/v1/admin/rewards/revisions?merchant_id=0", admin), 422)


def test_huge_page_numbers_are_422(api):
    """The page becomes an OFFSET: beyond BIGINT it would reach the database and fail."""
    admin = api.caller("admin")
    for path in ("/api/v1/admin/users", "/api/v1/redemptions", "/api/v1/rewards"):
        assert_problem(api.get(f"{path}?page={HUGE}", admin), 422)
        assert_problem(api.get(f"{path}?page=92233720368547759", admin), 422)


def test_id_paths_stay_integers_in_openapi(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    param = next(p for p in spec["paths"]["/api/v1/admin/users/{user_id}"]["parameters"]
                 if p["name"] == "user_id")
    assert param["schema"]["type"] == "integer"
