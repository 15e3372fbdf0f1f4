"""The rewards domain's part in a citizen's PIPL rights: what it holds on an account (for
the copy) and what it does when the account is erased (forget_user)."""

from __future__ import annotations

from app import rewards
from app.extensions import db
from app.ledger.verify import verify
from app.uow import unit_of_work
from app.users.models import User
from tests.conftest import run_sql


def test_the_redemptions_staff_verified_and_the_revisions_a_user_proposed_or_decided(world,
                                                                                     app):
    reward_id = world.reward()  # proposed by world.staff, approved by world.admin
    citizen = world.citizen(300)
    verified = world.redeem(citizen, reward_id).get_json()
    assert world.verify(verified["code"]).status_code == 200
    world.redeem(citizen, reward_id)  # reserved, not verified
    with app.app_context():
        def ids(stmt) -> list[int]:
            return [row.id for row in db.session.scalars(stmt)]

        assert ids(rewards.verified_redemptions(world.staff.id)) == [verified["id"]]
        assert ids(rewards.verified_redemptions(citizen.id)) == []
        [revision] = db.session.scalars(rewards.user_revisions(world.staff.id)).all()
        assert (revision.reward_id, revision.proposed_by) == (reward_id, world.staff.id)
        assert ids(rewards.user_revisions(world.admin.id)) == [revision.id]
        assert ids(rewards.user_revisions(citizen.id)) == []


def test_forgetting_a_user_gives_back_what_is_reserved_and_keeps_what_was_fulfilled(world,
                                                                                    app):
    reward_id = world.reward()
    me = world.citizen(300)
    fulfilled = world.redeem(me, reward_id).get_json()
    assert world.verify(fulfilled["code"]).status_code == 200
    reserved = world.redeem(me, reward_id).get_json()
    with app.app_context(), unit_of_work():
        rewards.forget_user(db.session.get(User, me.id))
    ended = {rid: (status, by) for rid, status, by in run_sql(
        app, "SELECT id, status, ended_by FROM redemptions WHERE user_id = :u", u=me.id)}
    assert ended == {fulfilled["id"]: ("fulfilled", world.staff.id),
                     reserved["id"]: ("cancelled", me.id)}
    assert world.stock_left(reward_id) == 9
    assert world.balance(me.id) == {"available": 200, "held": 0, "posted": 200}
    with app.app_context():
        assert verify() == []
