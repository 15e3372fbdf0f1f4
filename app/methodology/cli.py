from __future__ import annotations

import click
from flask.cli import AppGroup

from app.methodology import service
from app.uow import unit_of_work

methodologies_cli = AppGroup("methodologies", help="Methodology modules and versions.")


@methodologies_cli.command("sync")
def sync() -> None:
    """Record each installed release's default parameters as a version (pending if new)."""
    with unit_of_work():
        count = service.sync_discovered()
    click.echo(f"{count} release(s) checked; new versions are pending approval")


@methodologies_cli.command("list")
def list_versions() -> None:
    """Loaded modules, failed modules and every version with its status."""
    for cls in service.registry().all():
        releases = ", ".join(r.version for r in service.registry().releases(cls.code))
        click.echo(f"{cls.code} {cls.version} ({cls.name_en} / {cls.name_zh}); "
                   f"installed releases: {releases}")
        for v in service.versions(cls.code):
            window = f"{v.effective_from or '-'} .. {v.effective_until or ''}"
            click.echo(f"  #{v.id} {v.label:<20} {v.status:<11} {window}")
    for name, error in service.registry().failed.items():
        click.echo(f"FAILED {name}: {error}")
