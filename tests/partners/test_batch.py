"""Partner batches: per-record outcomes, consent, limits, idempotent resends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

from tests.conftest import run_sql
from tests.helpers import assert_problem
from tests.partners.conftest import PREFIX, count, trip

NO_CONSENT = "no active link (consent) for this user"


def _balance(api, citizen) -> int:
    return api.get("/api/v1/account", citizen).get_json()["posted"]


def test_mixed_batch_reports_each_record(app, api, approved, partner, link):
    alice = link("alice")
    records = [
        trip("t1", "alice", 5),
        trip("t2", "alice", 3, methodology="clean_plate"),           # not allowed
        trip("t3", "stranger", 2),                                     # no consent
        trip("t4", "alice", 2, data={"mode": "rocket", "distance_km": "5"}),  # bad data
        {"external_id": "t5", "user_ref": "alice", "methodology": "green_travel",
         "data": {"mode": "bus", "distance_km": "3"}},                 # no occurred_at
        trip("t6", "alice", 1, occurred_at="2026-01-01T08:00:00"),    # naive time
        trip("t1", "alice", 4),                      # same external_id, other data
        "not an object",
        trip("t7", "alice", -2),                                       # in the future
        trip("t8", "alice", 1, km="2"),
    ]
    resp = partner.post("/behaviours", {"records": records})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(records)))
    by = {r["index"]: r for r in results}
    assert by[0]["status"] == "credited" and by[0]["points"] > 0
    assert by[0]["behaviour_id"] and by[0]["methodology_version"]
    assert by[0]["reduction_g"] == "837.000"
    assert by[1]["status"] == "rejected" and "not allowed" in by[1]["reasons"][0]
    assert by[2] == dict(by[2], status="rejected", reasons=[NO_CONSENT], behaviour_id=None)
    assert by[3]["status"] == "invalid" and any("mode" in r for r in by[3]["reasons"])
    assert by[4]["status"] == "invalid" and by[4]["external_id"] == "t5"
    assert any(r.startswith("occurred_at") for r in by[4]["reasons"])
    assert by[5]["status"] == "invalid"
    # The same external id with other data is refused, never a second credit.
    assert by[6]["status"] == "invalid" and by[6]["duplicate_of_index"] == 0
    assert "already used by record 0" in by[6]["reasons"][0]
    assert by[7]["status"] == "invalid" and by[7]["external_id"] is None
    assert by[8]["status"] == "invalid" and any("future" in r for r in by[8]["reasons"])
    assert by[9]["status"] == "credited"
    assert body["counts"] == {"credited": 2, "rejected": 2, "invalid": 6}
    assert (body["replayed_counts"], body["duplicates"], body["written"]) == ({}, 0, 2)
    assert count(app, "behaviours") == 2
    assert _balance(api, alice) == by[0]["points"] + by[9]["points"]


def test_resend_is_idempotent(app, api, approved, partner, link):
    alice = link("alice")
    records = [trip("r1", "alice", 5), trip("r2", "alice", 3), trip("r3", "bob", 2),
               trip("r4", "alice", 1, data={"mode": "metro"})]
    first = partner.post("/behaviours", {"records": records}).get_json()
    balance = _balance(api, alice)
    assert balance > 0
    assert (first["counts"], first["replayed_counts"], first["written"]) == (
        {"credited": 2, "rejected": 1, "invalid": 1}, {}, 2)
    again = partner.post("/behaviours", {"records": records})
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    body = again.get_json()
    # The records already processed answer their original outcome, marked replayed; the
    # two that wrote nothing (no consent, bad data) are judged again, as new.
    assert body["results"][:2] == [dict(r, replayed=True) for r in first["results"][:2]]
    assert body["results"][2:] == first["results"][2:]
    assert body["counts"] == {"rejected": 1, "invalid": 1}
    assert body["replayed_counts"] == {"credited": 2} and body["written"] == 0
    assert count(app, "behaviours") == 2
    assert _balance(api, alice) == balance
    # Once bob links, his record is credited on resend; the others still are not doubled.
    bob = link("bob")
    third = partner.post("/behaviours", {"records": records}).get_json()
    assert third["results"][2]["status"] == "credited"
    assert third["results"][2]["replayed"] is False
    assert third["results"][:2] == body["results"][:2]
    assert third["counts"] == {"credited": 1, "invalid": 1} and third["written"] == 1
    assert _balance(api, alice) == balance and _balance(api, bob) > 0
    # Summed over the three sends, each record that was credited counts once.
    assert sum(b["counts"].get("credited", 0) for b in (first, body, third)) == 3


def test_same_idempotency_key_replays_the_exact_response(app, api, approved, partner, link):
    link("alice")
    payload = {"records": [trip("k1", "alice", 5), trip("k2", "nobody", 4)]}
    first = partner.post("/behaviours", payload, headers={"Idempotency-Key": "batch-1"})
    assert first.status_code == 200
    again = partner.post("/behaviours", payload, headers={"Idempotency-Key": "batch-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    other = partner.post("/behaviours", {"records": [trip("k3", "alice", 1)]},
                         headers={"Idempotency-Key": "batch-1"})
    assert_problem(other, 422, "idempotency-key-reused")
    assert run_sql(app, "SELECT scope FROM idempotency_keys") == [
        (f"partner:{partner.creds.id}",)]
    assert count(app, "behaviours") == 1


def test_keys_are_scoped_per_partner(app, api, approved, partner, make_partner, link):
    link("alice")
    other = make_partner("Bus Co", ["green_travel"])
    link("alice", via=other)
    a = partner.post("/behaviours", {"records": [trip("x", "alice", 5)]},
                     headers={"Idempotency-Key": "same"})
    b = other.post("/behaviours", {"records": [trip("x", "alice", 3, data={
        "mode": "bus", "distance_km": "4"})]}, headers={"Idempotency-Key": "same"})
    assert a.status_code == b.status_code == 200
    assert "Idempotent-Replayed" not in b.headers
    assert a.get_json()["results"][0]["behaviour_id"] != b.get_json()["results"][0][
        "behaviour_id"]


def test_revoked_consent_refuses_later_records(app, api, approved, partner, link):
    alice = link("alice")
    assert partner.post("/behaviours", {"records": [trip("a1", "alice", 5)]}).get_json()[
        "counts"] == {"credited": 1}
    link_id = api.get("/api/v1/me/partner-links", alice).get_json()["items"][0]["id"]
    api.delete(f"/api/v1/me/partner-links/{link_id}", alice)
    body = partner.post("/behaviours", {"records": [trip("a2", "alice", 3)]}).get_json()
    assert body["results"][0]["status"] == "rejected"
    assert body["results"][0]["reasons"] == [NO_CONSENT]
    assert count(app, "behaviours") == 1


def test_too_many_or_no_records_is_422_and_nothing_written(app, api, approved, partner, link):
    link("alice")
    records = [trip(f"e{i}", "alice", 1 + i / 100) for i in range(1001)]
    resp = partner.post("/behaviours", {"records": records})
    body = assert_problem(resp, 422, "validation-error")
    assert "records" in body["errors"]
    for bad in ({"records": []}, {}, {"records": "x"}, {"records": [], "extra": 1}):
        assert_problem(partner.post("/behaviours", bad), 422)
    assert count(app, "behaviours") == 0
    assert count(app, "partner_request_nonces") == 1  # only the bind's
    assert count(app, "idempotency_keys") == 0


def test_a_full_batch_of_1000_is_accepted(app, partner):
    records = [trip(f"n{i}", f"unlinked-{i}", 1) for i in range(1000)]
    resp = partner.post("/behaviours", {"records": records})
    assert resp.status_code == 200
    assert resp.get_json()["counts"] == {"rejected": 1000}


def test_unsigned_batch_is_refused_and_nothing_written(app, approved, partner, link):
    link("alice")
    body = json.dumps({"records": [trip("u1", "alice", 2)]}).encode()
    headers = partner.signed("POST", PREFIX + "/behaviours", b"{}")
    assert_problem(partner.raw("POST", PREFIX + "/behaviours", body, headers), 401,
                   "partner-auth-invalid")
    assert count(app, "behaviours") == 0


def test_methodology_no_longer_allowed_is_rejected(app, api, admin, approved, partner, link):
    link("alice")
    api.patch(f"/api/v1/admin/partners/{partner.creds.id}", admin,
              json={"methodologies": ["recycling"]})
    result = partner.post("/behaviours", {"records": [trip("m1", "alice", 2)]}).get_json()
    assert result["results"][0]["status"] == "rejected"
    assert "not allowed" in result["results"][0]["reasons"][0]


def test_one_batch_judges_its_records_in_order(app, api, approved, partner, link, monkeypatch):
    """Duplicates and caps inside one batch come out as if the records came one by one."""
    monkeypatch.setitem(app.config, "DAILY_CAP_G", 2000)
    alice, bob = link("alice"), link("bob")
    zone = app.config["TIMEZONE"]
    day = datetime.now(zone).date() - timedelta(days=1)

    def at(hour: int) -> str:
        return datetime.combine(day, time(hour), zone).isoformat()

    records = [trip("a1", "alice", 0, occurred_at=at(8)),
               trip("b1", "bob", 0, occurred_at=at(8)),
               trip("a2", "alice", 0, occurred_at=at(8)),   # a1 reported again
               trip("a3", "alice", 0, occurred_at=at(12)),
               trip("a4", "alice", 0, occurred_at=at(18)),  # reaches the daily cap
               trip("a5", "alice", 0, occurred_at=at(20))]  # over it
    results = partner.post("/behaviours", {"records": records}).get_json()["results"]
    assert [r["status"] for r in results] == [
        "credited", "credited", "rejected", "credited", "credited", "capped"]
    assert results[2]["reasons"] == [
        f"duplicate of behaviour {results[0]['behaviour_id']} (partner) covering the same time"]
    assert [r["points"] for r in results if r["status"] == "credited"] == [
        837, 837, 837, 2000 - 2 * 837]
    assert _balance(api, alice) == 2000 and _balance(api, bob) == 837
    ids = [r["behaviour_id"] for r in results]
    assert len(set(ids)) == 6 and ids == sorted(ids)  # one row each, in the batch's order


def test_a_methodology_failing_on_one_record_does_not_sink_the_batch(
        app, api, approved, partner, link, monkeypatch, caplog):
    """A plug-in's bug refuses the record it failed on; the batch's others go through."""
    from methodologies.green_travel import GreenTravel

    quantify = GreenTravel.quantify.__func__

    def fragile(cls, record, params):
        if record["distance_km"] == 13:
            raise ZeroDivisionError("a plug-in's bug")
        return quantify(cls, record, params)

    monkeypatch.setattr(GreenTravel, "quantify", classmethod(fragile))
    alice = link("alice")
    records = [trip("ok-1", "alice", 5), trip("bad", "alice", 3, km="13"),
               trip("ok-2", "alice", 1)]
    resp = partner.post("/behaviours", {"records": records})
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert [r["status"] for r in results] == ["credited", "rejected", "credited"]
    assert "could not assess this record" in results[1]["reasons"][0]
    assert _balance(api, alice) == 2 * 837
    assert any("green_travel" in r.getMessage() and r.exc_info for r in caplog.records)


def test_records_older_than_the_claim_window_are_invalid_alone(app, api, approved, partner,
                                                                link):
    link("alice")
    days = app.config["CLAIM_WINDOW"].days
    records = [trip("old", "alice", 24 * days + 1), trip("new", "alice", 1)]
    results = partner.post("/behaviours", {"records": records}).get_json()["results"]
    assert [r["status"] for r in results] == ["invalid", "credited"]
    assert "claim window" in results[0]["reasons"][0]


def test_a_record_spanning_the_ends_of_the_calendar_is_invalid_alone(app, api, approved,
                                                                      partner, link):
    link("alice")
    at = datetime.now(UTC) - timedelta(hours=1)
    span = {"mode": "metro", "distance_km": "10", "started_at": "0001-01-01T00:00:00+14:00",
            "ended_at": at.isoformat()}
    records = [trip("edge", "alice", 1, occurred_at=at.isoformat(), data=span),
               trip("fine", "alice", 3)]
    resp = partner.post("/behaviours", {"records": records})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert [r["status"] for r in resp.get_json()["results"]] == ["invalid", "credited"]
    assert count(app, "behaviours") == 1


def test_a_database_failure_while_judging_is_not_taken_for_the_methodologys(
        app, api, approved, partner, link, monkeypatch):
    """The database failing mid-judging fails the batch (503, nothing written), where a
    methodology's own bug would only refuse its record."""
    from sqlalchemy.exc import OperationalError

    from app.behaviours import rates

    def unavailable(at):
        raise OperationalError("SELECT conversion_rates …", {}, Exception("server closed"))

    monkeypatch.setattr(rates, "conversion_rate", unavailable)
    link("alice")
    resp = partner.post("/behaviours", {"records": [trip("t1", "alice", 2)]})
    assert_problem(resp, 503)
    assert count(app, "behaviours") == 0


def test_a_body_over_the_request_limit_is_a_413_before_it_is_read(app, api, approved,
                                                                   partner, link):
    """A partner batch is at most 1,000 records, but nothing bounded their size: the
    signature check (for any caller, signed or not) and the parser read a body of any
    length into memory."""
    link("alice")
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert 1_000_000 <= limit <= 16 * 1024 * 1024
    padding = "x" * limit
    resp = partner.post("/behaviours", {"records": [
        trip("big", "alice", 1, evidence={"note": padding})]})
    assert_problem(resp, 413)
    citizen = api.caller()
    resp = api.post("/api/v1/behaviours", citizen, json={
        "methodology": "paperless", "occurred_at": datetime.now(UTC).isoformat(),
        "data": {"kind": "e_receipt", "sheets": 1}, "evidence": {"note": padding}},
        headers={"Idempotency-Key": "big"})
    assert_problem(resp, 413)
    assert count(app, "behaviours") == 0
    # A full batch of ordinary records stays well inside it.
    full = json.dumps({"records": [trip(f"n{i}", "alice", 1, evidence={"ticket": "T" * 200})
                                   for i in range(1000)]})
    assert len(full) < limit / 2


def test_a_record_with_an_unpaired_surrogate_is_a_422_not_a_500(app, api, approved, partner,
                                                                 link):
    """Python's JSON parser keeps "\\udc80" as half a UTF-16 pair, which no UTF-8 text can
    hold: the driver's encoding error lost the whole batch as a 500 on both databases."""
    link("alice")
    body = json.dumps({"records": [trip("ok", "alice", 2), trip("odd", "alice", 1)]})
    body = body.replace('"odd"', '"odd\\udc80"')
    assert "\\udc80" in body
    resp = partner.post("/behaviours", body=body.encode())
    assert assert_problem(resp, 422, "validation-error")["errors"] == {"json": [
        "Contains an unpaired UTF-16 surrogate (U+D800 to U+DFFF)."]}
    assert count(app, "behaviours") == 0


def test_a_record_repeated_in_a_batch_is_answered_as_its_first(app, api, approved, partner,
                                                               link):
    alice = link("alice")
    d1 = trip("d1", "alice", 5)
    records = [d1, trip("d2", "alice", 3), dict(d1), dict(d1), trip("d2", "alice", 2)]
    body = partner.post("/behaviours", {"records": records}).get_json()
    first, second, *repeats = body["results"]
    assert first["status"] == second["status"] == "credited"
    assert repeats[0] == dict(first, index=2, duplicate_of_index=0)
    assert repeats[1] == dict(first, index=3, duplicate_of_index=0)
    assert repeats[2]["status"] == "invalid" and repeats[2]["duplicate_of_index"] == 1
    assert repeats[2]["behaviour_id"] is None
    # Each record counted once: the new ones by status, the repeats apart.
    assert body["counts"] == {"credited": 2, "invalid": 1}
    assert (body["duplicates"], body["written"], body["replayed_counts"]) == (2, 2, {})
    assert sum(body["counts"].values()) + body["duplicates"] == len(records)
    assert count(app, "behaviours") == 2
    assert _balance(api, alice) == first["points"] + second["points"]


def test_a_partner_record_claimed_elsewhere_is_recorded_and_refused(app, api, approved,
                                                                    partner, link):
    alice = link("alice")
    claim = {"mechanism": "CCER-type project", "reference": "P-77"}
    records = [trip("c1", "alice", 5, claimed_elsewhere=claim), trip("c2", "alice", 3),
               trip("c3", "alice", 1, claimed_elsewhere={"mechanism": ""})]
    body = partner.post("/behaviours", {"records": records}).get_json()
    claimed, fine, bad = body["results"]
    assert claimed["status"] == "rejected" and claimed["behaviour_id"] is not None
    assert claimed["points"] == 0 and "CCER-type project" in claimed["reasons"][0]
    assert fine["status"] == "credited"
    assert bad["status"] == "invalid" and any("claimed_elsewhere" in r for r in bad["reasons"])
    assert body["counts"] == {"rejected": 1, "credited": 1, "invalid": 1}
    assert body["written"] == 2 and _balance(api, alice) == fine["points"]
    assert run_sql(app, "SELECT claimed_elsewhere FROM behaviours WHERE external_id = 'c1'"
                   )[0][0] in (claim, json.dumps(claim), json.dumps(claim, separators=(",", ":")))


def test_each_accepted_batch_is_recorded_with_its_counts_once(app, api, approved, partner,
                                                              link):
    from app.partners import service
    from app.partners.models import Partner

    link("alice")
    payload = {"records": [trip("b1", "alice", 5), trip("b2", "nobody", 4), "bad"]}
    first = partner.post("/behaviours", payload, headers={"Idempotency-Key": "rec-1"})
    partner.post("/behaviours", payload, headers={"Idempotency-Key": "rec-1"})  # a replay
    partner.post("/behaviours", {"records": [trip("b3", "alice", 1)]})
    with app.app_context():
        from app.extensions import db

        batches = service.recent_batches(db.session.get(Partner, partner.creds.id))
        assert [(b.records, b.counts) for b in batches] == [
            (1, {"credited": 1}), (3, first.get_json()["counts"])]
