"""Ledger operations, one behaviour per test, invariants checked after each."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError, IntegrityError

from app import ledger
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.ledger.models import Hold, LedgerAccount, LedgerTransaction, Lot
from app.uow import unit_of_work
from app.users import service as users
from tests.helpers import PASSWORD
from tests.ledger.conftest import assert_consistent


def earn(user_id, points, key, **kw):
    with unit_of_work():
        return ledger.earn(user_id, points, key=key, cause_type="behaviour",
                           cause_id=key, **kw).id


def hold(user_id, points, key):
    with unit_of_work():
        return ledger.hold(user_id, points, key=key, cause_type="redemption", cause_id=key).id


def balances(user_id):
    s = ledger.summary(user_id)
    return s["posted"], s["held"], s["available"], s["debt"]


def lots(user_id):
    return [(lot.amount, lot.open_amount) for lot in db.session.scalars(
        select(Lot).where(Lot.user_id == user_id).order_by(Lot.id))]


def test_earn_credits_posted_and_available_and_creates_a_lot(new_user):
    u = new_user()
    earn(u, 120, "e1", reduction_g=Decimal("120.5"))
    assert balances(u) == (120, 0, 120, 0)
    s = ledger.summary(u)
    assert s["lifetime_earned"] == 120 and s["lifetime_reduction_g"] == Decimal("120.5")
    assert lots(u) == [(120, 120)]
    lot = db.session.scalars(select(Lot)).one()
    local = lot.expires_at.astimezone(current_app.config["TIMEZONE"])
    assert (local.hour, local.minute) == (0, 0)
    assert 364 <= (lot.expires_at - utcnow()).days <= 365
    assert_consistent()


def account_kinds(user_id):
    return sorted(db.session.scalars(select(LedgerAccount.kind).where(
        LedgerAccount.user_id == user_id)))


def test_a_citizen_has_empty_accounts_from_registration(new_user):
    u = new_user()
    assert account_kinds(u) == ["user_available", "user_debt", "user_held"]
    assert balances(u) == (0, 0, 0, 0)
    assert_consistent()


def test_a_user_registered_without_accounts_gets_them_at_the_first_earn(ctx):
    with unit_of_work():
        u = users.register(email="staff-only@example.com", password=PASSWORD,
                           roles=("merchant",)).id
    assert account_kinds(u) == []
    earn(u, 30, "first")
    assert account_kinds(u) == ["user_available", "user_debt", "user_held"]
    assert balances(u) == (30, 0, 30, 0)
    assert_consistent()


def test_same_key_earns_once_and_other_operation_with_it_is_refused(new_user):
    u = new_user()
    first = earn(u, 50, "k")
    assert earn(u, 50, "k") == first
    assert balances(u)[0] == 50
    with pytest.raises(ApiError) as err, unit_of_work():
        ledger.hold(u, 10, key="k", cause_type="redemption", cause_id="r1")
    assert err.value.status == 409
    assert_consistent()


def test_hold_lowers_available_not_posted_and_refuses_overdraft(new_user):
    u = new_user()
    earn(u, 100, "e")
    hold(u, 70, "h1")
    assert balances(u) == (100, 70, 30, 0)
    with pytest.raises(ApiError) as err:
        hold(u, 31, "h2")
    assert err.value.status == 422 and err.value.slug == "insufficient-points"
    assert balances(u) == (100, 70, 30, 0)
    assert db.session.scalar(select(LedgerTransaction).where(
        LedgerTransaction.idempotency_key == "h2")) is None
    assert_consistent()


def test_spending_takes_soonest_expiring_lots_first_and_release_gives_them_back(new_user,
                                                                                 monkeypatch):
    u = new_user()
    earn(u, 30, "late")
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 10)
    earn(u, 50, "soon")
    h = hold(u, 60, "h")
    # The 10-day lot (50) goes first, then 10 of the 365-day lot.
    assert lots(u) == [(30, 20), (50, 0)]
    with unit_of_work():
        ledger.release(h, key="rel")
    assert lots(u) == [(30, 30), (50, 50)]
    assert balances(u) == (80, 0, 80, 0)
    assert_consistent()


def refused_leaving_open(hold_id, status, slug, *ops):
    """Each of `ops` (a capture or release of the hold) is refused; the hold stays open."""
    for op in ops:
        with pytest.raises(ApiError) as err, unit_of_work():
            op()
        assert err.value.status == status and slug in (None, err.value.slug)
    assert db.session.get(Hold, hold_id).status == "open"


def test_a_hold_named_with_another_owner_is_not_found_and_stays_open(new_user):
    u, other = new_user(), new_user()
    earn(u, 100, "e")
    earn(other, 100, "e")
    h = hold(u, 40, "h")
    refused_leaving_open(h, 404, None,
                         lambda: ledger.capture(h, merchant_id=7, key="cap", user_id=other),
                         lambda: ledger.release(h, key="rel", user_id=other))
    assert balances(u) == (100, 40, 60, 0) and balances(other) == (100, 0, 100, 0)
    with unit_of_work():
        ledger.capture(h, merchant_id=7, key="cap", user_id=u)
    assert balances(u) == (60, 0, 60, 0)
    assert_consistent()


def test_a_key_used_for_another_operation_is_refused_and_the_hold_stays_open(new_user):
    u = new_user()
    earn(u, 100, "e")
    h = hold(u, 40, "h")
    refused_leaving_open(h, 409, "ledger-key-reused",
                         lambda: ledger.capture(h, merchant_id=7, key="e"),
                         lambda: ledger.release(h, key="h"))
    assert balances(u) == (100, 40, 60, 0)
    assert_consistent()


def test_capture_moves_held_points_to_merchant_once(new_user):
    u = new_user()
    earn(u, 100, "e")
    h = hold(u, 40, "h")
    with unit_of_work():
        tx = ledger.capture(h, merchant_id=7, key="cap")
    assert balances(u) == (60, 0, 60, 0)
    assert ledger.account_balance(ledger.merchant_settlement_account_id(7)) == 40
    with unit_of_work():
        assert ledger.capture(h, merchant_id=7, key="cap").id == tx.id  # replay
    for op in (lambda: ledger.capture(h, merchant_id=7, key="cap2"),
               lambda: ledger.release(h, key="rel")):
        with pytest.raises(ApiError) as err, unit_of_work():
            op()
        assert err.value.status == 409 and err.value.slug == "hold-ended"
    assert db.session.get(Hold, h).status == "captured"
    assert_consistent()


def test_partial_capture_releases_the_rest_to_the_latest_expiring_lots(new_user, monkeypatch):
    u = new_user()
    earn(u, 30, "late")
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 10)
    earn(u, 50, "soon")
    h = hold(u, 60, "h")
    with unit_of_work():
        ledger.capture(h, merchant_id=1, amount=45, key="cap")
    assert balances(u) == (35, 0, 35, 0)
    # 45 spent: all 50 of the soon lot would go first... 45 of it; the rest comes back.
    assert sorted(lots(u)) == [(30, 30), (50, 5)]
    assert db.session.get(Hold, h).captured_amount == 45
    assert_consistent()


def test_capture_more_than_held_is_refused(new_user):
    u = new_user()
    earn(u, 100, "e")
    h = hold(u, 40, "h")
    with pytest.raises(ApiError) as err, unit_of_work():
        ledger.capture(h, merchant_id=1, amount=41, key="c")
    assert err.value.status == 422
    assert db.session.get(Hold, h, populate_existing=True).status == "open"


def test_release_after_release_is_refused(new_user):
    u = new_user()
    earn(u, 10, "e")
    h = hold(u, 10, "h")
    with unit_of_work():
        ledger.release(h, key="r1")
    with pytest.raises(ApiError) as err, unit_of_work():
        ledger.release(h, key="r2")
    assert err.value.slug == "hold-ended"
    assert balances(u) == (10, 0, 10, 0)


def test_expiry_posts_what_is_left_of_due_lots_once(new_user, monkeypatch):
    u = new_user()
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 1)
    earn(u, 40, "old")
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 365)
    earn(u, 25, "new")
    hold(u, 15, "h")  # takes 15 of the old lot first
    later = utcnow() + timedelta(days=2)
    assert ledger.users_with_due_lots(later) == [u]
    with unit_of_work():
        assert ledger.expire_user_lots(u, later) == 25
    with unit_of_work():
        assert ledger.expire_user_lots(u, later) == 0
    assert balances(u) == (40, 15, 25, 0)
    assert ledger.account_balance(ledger.system_account_id(ledger.EXPIRED_CODE,
                                                           "expired")) == 25
    assert_consistent()


def test_points_released_to_an_expired_lot_expire_on_the_next_run(new_user, monkeypatch):
    u = new_user()
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 1)
    earn(u, 40, "old")
    h = hold(u, 10, "h")
    later = utcnow() + timedelta(days=2)
    with unit_of_work():
        assert ledger.expire_user_lots(u, later) == 30
    with unit_of_work():
        ledger.release(h, key="r")
    with unit_of_work():
        assert ledger.expire_user_lots(u, later) == 10
    assert balances(u) == (0, 0, 0, 0)
    assert_consistent()


def test_a_hold_never_spends_points_past_their_expiry(new_user, monkeypatch):
    """Between a lot's expiry and the daily job (or for a day after a release gives points
    back to an expired lot) they were spendable, and a hold kept over the job's run and
    released again kept them alive indefinitely."""
    u = new_user()
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 0)  # expired at midnight
    earn(u, 40, "stale")
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 365)
    earn(u, 25, "fresh")
    assert balances(u) == (65, 0, 65, 0)  # the job has not run yet
    with pytest.raises(ApiError) as err:
        hold(u, 30, "too-much")
    assert err.value.slug == "insufficient-points"
    assert balances(u) == (65, 0, 65, 0)  # a refusal changes nothing
    h = hold(u, 25, "h")
    assert lots(u) == [(40, 0), (25, 0)]
    assert balances(u) == (25, 25, 0, 0)
    assert ledger.account_balance(ledger.system_account_id(ledger.EXPIRED_CODE,
                                                           "expired")) == 40
    with unit_of_work():  # the job's run finds the lot already expired, and posts nothing
        assert ledger.expire_user_lots(u, utcnow()) == 0
    with unit_of_work():
        ledger.release(h, key="r")
    assert balances(u) == (25, 0, 25, 0)
    assert_consistent()


def test_summary_lists_points_expiring_in_30_days_by_local_date(new_user, monkeypatch):
    u = new_user()
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 20)
    earn(u, 10, "a")
    earn(u, 5, "b")
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 365)
    earn(u, 100, "c")
    s = ledger.summary(u)
    assert s["expiring_30d"] == 15
    assert len(s["expiring"]) == 1 and s["expiring"][0]["points"] == 15


def test_reversal_takes_back_unspent_points_from_the_earns_own_lot(new_user, monkeypatch):
    u = new_user()
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 10)
    earn(u, 30, "soon")
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 365)
    target = earn(u, 50, "late", reduction_g=Decimal("50"))
    with unit_of_work():
        rev = ledger.reverse(target, key="rev", reason="fraud", actor_id=None)
    assert rev.reverses_id == target and rev.type == "reversal"
    assert balances(u) == (30, 0, 30, 0)
    assert lots(u) == [(30, 30), (50, 0)]
    s = ledger.summary(u)
    assert s["lifetime_earned"] == 30 and s["lifetime_reduction_g"] == 0
    assert_consistent()


def test_reversal_of_spent_points_records_debt_settled_by_next_earnings(new_user):
    u = new_user()
    target = earn(u, 100, "e")
    h = hold(u, 80, "h")
    with unit_of_work():
        ledger.capture(h, merchant_id=3, key="c")
    with unit_of_work():
        ledger.reverse(target, key="rev", reason="duplicate trip", actor_id=None)
    assert balances(u) == (0, 0, 0, 80)
    earn(u, 50, "e2")
    assert balances(u) == (0, 0, 0, 30)
    assert lots(u) == [(100, 0)]  # no lot for points that only settled debt
    earn(u, 50, "e3")
    assert balances(u) == (20, 0, 20, 0)
    assert lots(u)[-1] == (20, 20)
    assert_consistent()


def test_reversal_while_points_are_held_is_settled_by_their_release(new_user):
    """The held part of a reversed earn became debt, and cancelling the redemption gave
    the points back as spendable while the debt stayed: released points settle debt first,
    as earnings do."""
    u = new_user()
    target = earn(u, 100, "e")
    earn(u, 50, "e2")
    h = hold(u, 120, "h")
    with unit_of_work():
        ledger.reverse(target, key="rev", reason="fraud", actor_id=None)
    assert balances(u) == (120, 120, 0, 70)
    with unit_of_work():
        ledger.release(h, key="r")
    assert balances(u) == (50, 0, 50, 0)
    assert sum(open_ for _, open_ in lots(u)) == 50
    assert_consistent()


def test_the_unused_part_of_a_capture_settles_debt_first(new_user):
    u = new_user()
    target = earn(u, 100, "e")
    h = hold(u, 80, "h")
    with unit_of_work():
        ledger.reverse(target, key="rev", reason="fraud", actor_id=None)
    assert balances(u) == (80, 80, 0, 80)
    with unit_of_work():
        ledger.capture(h, merchant_id=3, key="c", amount=30)
    assert balances(u) == (0, 0, 0, 30)
    assert lots(u) == [(100, 0)]
    assert_consistent()


def test_reversal_of_expired_points_does_not_take_them_again(new_user, monkeypatch):
    """Points of the reversed earn that had expired already left the user; they come back
    from the expired account, not a second time from the user's other points."""
    u = new_user()
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 1)
    target = earn(u, 40, "old")
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 365)
    earn(u, 25, "fresh")
    h = hold(u, 15, "h")  # 15 of the old lot, spent below
    with unit_of_work():
        ledger.capture(h, merchant_id=3, key="c")
    with unit_of_work():
        assert ledger.expire_user_lots(u, utcnow() + timedelta(days=2)) == 25
    expired = ledger.system_account_id(ledger.EXPIRED_CODE, "expired")
    assert ledger.account_balance(expired) == 25
    with unit_of_work():
        ledger.reverse(target, key="rev", reason="fraud", actor_id=None)
    # 25 expired come back from the expired account; the 15 spent come from what is left.
    assert ledger.account_balance(expired) == 0
    assert balances(u) == (10, 0, 10, 0)
    assert ledger.summary(u)["lifetime_earned"] == 25
    assert_consistent()


def test_reversal_happens_once_and_only_for_earns(new_user):
    u = new_user()
    target = earn(u, 10, "e")
    with unit_of_work():
        ledger.reverse(target, key="r1", reason="x", actor_id=None)
    with pytest.raises(ApiError) as err, unit_of_work():
        ledger.reverse(target, key="r2", reason="x", actor_id=None)
    assert err.value.slug == "already-reversed"
    earn(u, 10, "e2")
    hold_tx = db.session.scalar(select(LedgerTransaction.id).where(
        LedgerTransaction.idempotency_key == "e2"))
    with unit_of_work():
        rev = ledger.reverse(hold_tx, key="r3", reason="x", actor_id=None)
    with pytest.raises(ApiError) as err, unit_of_work():
        ledger.reverse(rev.id, key="r4", reason="x", actor_id=None)
    assert err.value.slug == "not-reversible"
    with pytest.raises(ApiError) as err, unit_of_work():
        ledger.reverse(999999, key="r5", reason="x", actor_id=None)
    assert err.value.status == 404


def test_adjustments_credit_as_lots_and_debit_within_available(new_user):
    admin = new_user()
    u = new_user()
    with unit_of_work():
        ledger.adjust(u, 40, key="a1", reason="goodwill", actor_id=admin)
    with unit_of_work():
        tx = ledger.adjust(u, -15, key="a2", reason="correction", actor_id=admin)
    assert tx.created_by == admin and tx.reason == "correction"
    assert balances(u) == (25, 0, 25, 0)
    with pytest.raises(ApiError) as err, unit_of_work():
        ledger.adjust(u, -26, key="a3", reason="too much", actor_id=admin)
    assert err.value.slug == "insufficient-points"
    assert ledger.summary(u)["lifetime_earned"] == 0
    assert_consistent()


def test_journal_rows_cannot_be_updated_or_deleted(new_user):
    u = new_user()
    earn(u, 10, "e")
    for sql in ("UPDATE ledger_postings SET amount = amount * 2",
                "DELETE FROM ledger_postings",
                "UPDATE ledger_transactions SET reason = 'edited'",
                "DELETE FROM ledger_transactions"):
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text(sql))
        db.session.rollback()
    assert_consistent()


def test_rows_filed_under_another_user_than_their_owner_are_refused(new_user):
    """The ledger's references carry the user id: a posting, a lot or a hold's lot can
    belong only to the user of its transaction or hold."""
    u, other = new_user(), new_user()
    tx = earn(u, 10, "e")
    held = hold(u, 4, "h")
    lot = db.session.scalar(select(Lot.id).where(Lot.user_id == u))
    account = db.session.scalar(select(LedgerAccount.id).where(LedgerAccount.user_id == other))
    for sql in (
        f"INSERT INTO ledger_postings (user_id, transaction_id, account_id, amount) "
        f"VALUES ({other}, {tx}, {account}, 1)",
        f"INSERT INTO ledger_lots (user_id, transaction_id, amount, open_amount, "
        f"expired_amount, expires_at) VALUES ({other}, {tx}, 1, 1, 0, '2030-01-01')",
        f"INSERT INTO ledger_hold_lots (user_id, hold_id, lot_id, amount) "
        f"VALUES ({other}, {held}, {lot}, 1)",
    ):
        with pytest.raises(IntegrityError, match="(?i)foreign key"):
            db.session.execute(text(sql))
        db.session.rollback()
    assert_consistent()


def test_verify_names_a_tampered_cached_balance(new_user, app):
    u = new_user()
    earn(u, 10, "e")
    with unit_of_work():
        db.session.execute(text("UPDATE ledger_accounts SET balance = balance + 5 "
                                "WHERE kind = 'user_available'"))
    problems = ledger_verify()
    assert any("cached balance 15 but postings sum to 10" in p for p in problems)
    assert any("available 15 but open lots hold 10" in p for p in problems)
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert "cached balance 15" in result.output


def ledger_verify():
    from app.ledger.verify import verify

    return verify()


def test_verify_cli_passes_on_a_consistent_ledger(new_user, app):
    u = new_user()
    earn(u, 10, "e")
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0 and "OK" in result.output
