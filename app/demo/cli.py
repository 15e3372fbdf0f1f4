"""`flask seed-demo`: demo accounts for a local try-out, with fresh passwords each run."""

from __future__ import annotations

import secrets
from datetime import timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app import rewards
from app.auth.passwords import hash_password
from app.db_types import utcnow
from app.demo import history
from app.extensions import db
from app.merchants import service as merchants
from app.merchants.models import Merchant
from app.methodology import service as methodology
from app.rewards.schemas import RewardCreateSchema
from app.uow import unit_of_work
from app.users import service
from app.users.models import User, UserRole

DEMO_ACCOUNTS = (
    ("admin@demo.carbon-points.test", "演示管理员 Demo Admin", ("citizen", "admin")),
    ("staff@demo.carbon-points.test", "演示商户店员 Demo Merchant Staff", ("merchant",)),
    ("li.lei@demo.carbon-points.test", "李雷 Li Lei", ("citizen",)),
    ("han.meimei@demo.carbon-points.test", "韩梅梅 Han Meimei", ("citizen",)),
)
LI_LEI, HAN_MEIMEI = DEMO_ACCOUNTS[2][0], DEMO_ACCOUNTS[3][0]


def demo_password() -> str:
    # Two character classes guaranteed; never stored anywhere but as a hash.
    return f"Demo-{secrets.token_urlsafe(9)}"


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create (or reset) the demo accounts and print their credentials."""
    rows = []
    with unit_of_work():
        for email, name, roles in DEMO_ACCOUNTS:
            password = demo_password()
            user = db.session.scalar(select(User).where(User.email == email))
            if user is None:
                user = service.register(email=email, password=password, display_name=name,
                                        roles=roles)
            else:
                user.password_hash = hash_password(password)
                user.disabled_at = None
                user.token_epoch += 1
                have = set(user.role_names)
                user.roles.extend(UserRole(role=r) for r in roles if r not in have)
            rows.append((", ".join(roles), email, password))
    approved = approve_builtin_methodologies(admin_email=DEMO_ACCOUNTS[0][0])
    merchant, coffee_id = demo_merchant(admin_email=DEMO_ACCOUNTS[0][0],
                                        staff_email=DEMO_ACCOUNTS[1][0])
    partner = history.partner_with_fresh_key(admin_email=DEMO_ACCOUNTS[0][0])
    reserved = {email: history.seed_citizen(email, admin_email=DEMO_ACCOUNTS[0][0],
                                            reward_id=coffee_id if email == LI_LEI else None)
                for email in (LI_LEI, HAN_MEIMEI)}
    click.echo("Demo accounts (passwords are new on every run):")
    for roles, email, password in rows:
        click.echo(f"  {roles:<16} {email:<38} {password}")
    if approved:
        click.echo(f"Approved the built-in methodologies for the demo: {', '.join(approved)}")
    click.echo(f"Demo merchant: {merchant} (staff: {DEMO_ACCOUNTS[1][0]}), with "
               f"{len(DEMO_REWARDS)} listed rewards")
    click.echo(f"Demo partner: {partner.name}, linked to both citizens "
               f"(as {history.user_ref(LI_LEI)}, {history.user_ref(HAN_MEIMEI)})")
    click.echo(f"  key id {partner.key_id}  secret {partner.secret}  (new on every run)")
    for email, code in reserved.items():
        if code:
            click.echo(f"Reserved for {email}: a coffee, code {code} (verify it as the staff)")
    click.echo("The citizens have credited trips and meals, a self-report in review and "
               f"{history.CARRIED_OVER_POINTS} points that expire in "
               f"{history.CARRIED_OVER_DAYS_LEFT} days.")


DEMO_MERCHANT = "绿色咖啡 Green Café (demo)"
DEMO_REWARDS = (  # the first is the one reserved for Li Lei
    {"title_zh": "低碳咖啡一杯", "title_en": "A low-carbon coffee", "category": "food_drink",
     "points_price": 100, "total_stock": 100},
    {"title_zh": "帆布购物袋", "title_en": "A canvas shopping bag", "category": "shopping",
     "points_price": 800, "total_stock": 50},
)


def demo_merchant(admin_email: str, staff_email: str) -> tuple[str, int]:
    """A merchant for the demo staff account, with approved rewards to redeem; its name
    and the id of the first reward."""
    with unit_of_work():
        admin = db.session.scalar(select(User).where(User.email == admin_email))
        staff = db.session.scalar(select(User).where(User.email == staff_email))
        merchant = db.session.scalar(select(Merchant).where(Merchant.name == DEMO_MERCHANT))
        if merchant is None:
            merchant = merchants.create(admin, name=DEMO_MERCHANT, contact="demo@example.com")
            merchants.add_staff(admin, merchant, staff)
            for fields in DEMO_REWARDS:
                reward = rewards.create_reward(staff, merchant,
                                               RewardCreateSchema().load(fields))
                for revision in db.session.scalars(rewards.revisions(status="pending",
                                                                     reward_id=reward.id)):
                    rewards.approve(admin, revision.id)
        ours = db.session.scalars(rewards.managed_rewards(merchant_id=merchant.id)).all()
        return merchant.name, min(r.id for r in ours)


def approve_builtin_methodologies(admin_email: str) -> list[str]:
    """The demo credits at once: the discovered default versions get approved (a real
    deployment has administrators review them first). A history like a real one: each
    earlier release in force from a year ago, the newest release from the seed's date."""
    with unit_of_work():
        methodology.sync_discovered()
        admin = db.session.scalar(select(User).where(User.email == admin_email))
        approved = []
        newest = {cls.code: cls.version for cls in methodology.registry().all()}
        for version in methodology.discovered_pending():
            now = utcnow()
            in_force = methodology.active_version(version.code, now)
            if version.version == newest.get(version.code):
                start = now if in_force is not None else now - timedelta(days=365)
            elif in_force is None:
                start = now - timedelta(days=365)
            else:
                continue  # an earlier release is not put back in force over a later one
            methodology.approve(admin, version.id, start)
            approved.append(f"{version.code} {version.version}")
    return approved
