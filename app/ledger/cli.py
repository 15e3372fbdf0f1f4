from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from app.ledger.verify import verify

ledger_cli = AppGroup("ledger", help="Inspect the points ledger.")


@ledger_cli.command("verify")
def verify_command() -> None:
    """Check every invariant; exit 1 and name each violation if any."""
    problems = verify()
    for problem in problems:
        click.echo(f"VIOLATION: {problem}", err=True)
    if problems:
        click.echo(f"{len(problems)} violation(s)", err=True)
        sys.exit(1)
    click.echo("ledger OK: every invariant holds")
