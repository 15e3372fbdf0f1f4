from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import AppGroup

from app.config import rotate_instance_jwt_secret

auth_cli = AppGroup("auth", help="Token signing keys.")


@auth_cli.command("rotate-jwt-key")
def rotate_jwt_key() -> None:
    """Replace the instance folder's JWT signing key; tokens signed with the old one stay
    valid until they expire. Restart the workers afterwards (gunicorn: kill -HUP)."""
    if os.environ.get("JWT_SECRET_KEY"):
        raise click.ClickException(
            "JWT_SECRET_KEY is set in the environment: rotate it there, moving the old "
            "value to JWT_PREVIOUS_SECRET_KEYS until JWT_REFRESH_TOKEN_SECONDS have passed.")
    kid = rotate_instance_jwt_secret(current_app.instance_path)
    click.echo(f"new signing key {kid}; restart the workers to start using it")
