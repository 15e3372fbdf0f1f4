"""Parallel partner requests: one signature is accepted once, one record credited once."""

from __future__ import annotations

import json
import threading

from tests.partners.conftest import PREFIX, count, trip

N = 8


def _storm(app, requests: list[tuple[bytes, dict]]) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(requests))

    def send(body: bytes, headers: dict) -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post(PREFIX + "/behaviours", data=body, headers=headers,
                           content_type="application/json")
        with lock:
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=send, args=r) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


def test_the_same_signed_request_in_parallel_goes_through_once(app, approved, partner, link):
    link("alice")
    body = json.dumps({"records": [trip("p1", "alice", 2)]}).encode()
    headers = partner.signed("POST", PREFIX + "/behaviours", body)
    statuses = _storm(app, [(body, headers)] * N)
    assert sorted(statuses) == [200] + [401] * (N - 1)
    assert count(app, "behaviours") == 1


def test_parallel_resends_credit_once(app, api, approved, partner, link):
    alice = link("alice")
    body = json.dumps({"records": [trip("p1", "alice", 2)]}).encode()
    # Differently signed (other timestamps): each passes the signature check.
    requests = [(body, partner.signed("POST", PREFIX + "/behaviours", body)) for _ in range(N)]
    statuses = _storm(app, requests)
    assert all(s in (200, 409) for s in statuses), statuses
    assert 200 in statuses
    assert count(app, "behaviours") == 1
    posted = api.get("/api/v1/account", alice).get_json()["posted"]
    assert posted == 837


def test_batches_naming_the_same_users_in_opposite_orders_do_not_deadlock(app, approved,
                                                                          partner, link):
    refs = [f"rider{i}" for i in range(12)]
    for ref in refs:
        link(ref)
    forward = [trip(f"f-{ref}", ref, 2) for ref in refs]
    backward = [trip(f"b-{ref}", ref, 3) for ref in reversed(refs)]
    requests = []
    for records in (forward, backward) * 2:
        body = json.dumps({"records": records}).encode()
        requests.append((body, partner.signed("POST", PREFIX + "/behaviours", body)))
    statuses = _storm(app, requests)
    assert statuses == [200] * 4, statuses
    assert count(app, "behaviours") == 2 * len(refs)
