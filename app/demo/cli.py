"""`flask seed-demo`: demo accounts for a local try-out, with fresh passwords each run."""

from __future__ import annotations

import secrets
from datetime import timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.auth.passwords import hash_password
from app.db_types import utcnow
from app.extensions import db
from app.merchants import service as merchants
from app.merchants.models import Merchant
from app.methodology import service as methodologies
from app.rewards import service as rewards
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
    merchant = demo_merchant(admin_email=DEMO_ACCOUNTS[0][0], staff_email=DEMO_ACCOUNTS[1][0])
    click.echo("Demo accounts (passwords are new on every run):")
    for roles, email, password in rows:
        click.echo(f"  {roles:<16} {email:<38} {password}")
    if approved:
        click.echo(f"Approved the built-in methodologies for the demo: {', '.join(approved)}")
    click.echo(f"Demo merchant: {merchant} (staff: {DEMO_ACCOUNTS[1][0]}), with a listed reward")


DEMO_MERCHANT = "绿色咖啡 Green Café (demo)"


def demo_merchant(admin_email: str, staff_email: str) -> str:
    """A merchant for the demo staff account, with one approved reward to redeem."""
    with unit_of_work():
        admin = db.session.scalar(select(User).where(User.email == admin_email))
        staff = db.session.scalar(select(User).where(User.email == staff_email))
        merchant = db.session.scalar(select(Merchant).where(Merchant.name == DEMO_MERCHANT))
        if merchant is None:
            merchant = merchants.create(admin, name=DEMO_MERCHANT, contact="demo@example.com")
            merchants.add_staff(admin, merchant, staff)
            reward = rewards.create_reward(staff, merchant, RewardCreateSchema().load({
                "title_zh": "低碳咖啡一杯", "title_en": "A low-carbon coffee",
                "category": "food_drink", "points_price": 100, "total_stock": 100}))
            for revision in db.session.scalars(rewards.revisions(status="pending",
                                                                 reward_id=reward.id)):
                rewards.approve(admin, revision.id)
        return merchant.name


def approve_builtin_methodologies(admin_email: str) -> list[str]:
    """The demo credits at once: the discovered default versions get approved (a real
    deployment has administrators review them first). A history like a real one: each
    earlier release in force from a year ago, the newest release from the seed's date."""
    with unit_of_work():
        methodologies.sync_discovered()
        admin = db.session.scalar(select(User).where(User.email == admin_email))
        approved = []
        newest = {cls.code: cls.version for cls in methodologies.registry().all()}
        for version in methodologies.discovered_pending():
            now = utcnow()
            in_force = methodologies.active_version(version.code, now)
            if version.version == newest.get(version.code):
                start = now if in_force is not None else now - timedelta(days=365)
            elif in_force is None:
                start = now - timedelta(days=365)
            else:
                continue  # an earlier release is not put back in force over a later one
            methodologies.approve(admin, version.id, start)
            approved.append(f"{version.code} {version.version}")
    return approved
