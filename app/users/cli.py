from __future__ import annotations

import click
import marshmallow as ma
from flask.cli import AppGroup

from app.http.problems import ApiError
from app.uow import unit_of_work
from app.users import service
from app.users.schemas import RegisterSchema

users_cli = AppGroup("users", help="Manage accounts.")


def load_account(email: str | None, mobile: str | None, password: str) -> dict:
    """Validate CLI input with the same schema as the API."""
    raw = {k: v for k, v in {"email": email, "mobile": mobile, "password": password}.items() if v}
    try:
        return RegisterSchema().load(raw)
    except ma.ValidationError as err:
        raise click.ClickException(f"invalid account: {err.messages}") from None


@users_cli.command("create-admin")
@click.option("--email")
@click.option("--mobile")
@click.option("--name", "display_name")
@click.password_option(envvar="ADMIN_PASSWORD")
def create_admin(email: str | None, mobile: str | None, display_name: str | None,
                 password: str) -> None:
    """Create an administrator account (password prompted, or ADMIN_PASSWORD)."""
    data = load_account(email, mobile, password)
    try:
        with unit_of_work():
            user = service.register(**data, display_name=display_name,
                                    roles=("citizen", "admin"))
    except ApiError as err:
        raise click.ClickException(err.detail) from None
    click.echo(f"created admin #{user.id} ({user.email or user.mobile})")
