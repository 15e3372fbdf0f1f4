"""Alembic environment, run through Flask-Migrate (`flask db ...`) in an app context.

Logging is the app's own (JSON); alembic.ini's logging section is deliberately unused.
"""

import logging

from alembic import context
from flask import current_app

from app.db_types import UtcDateTime

logger = logging.getLogger("alembic.env")
config = context.config
target_db = current_app.extensions["migrate"].db
config.set_main_option(
    "sqlalchemy.url",
    target_db.engine.url.render_as_string(hide_password=False).replace("%", "%%"),
)


def render_item(type_, obj, autogen_context):
    # Migrations must not import app types: UtcDateTime is a timestamptz column.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def process_revision_directives(_context, _revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def configure_args() -> dict:
    args = dict(current_app.extensions["migrate"].configure_args)
    args.setdefault("process_revision_directives", process_revision_directives)
    args.update(target_metadata=target_db.metadata, render_item=render_item, compare_type=True)
    return args


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
                      **configure_args())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    with target_db.engine.connect() as connection:
        context.configure(connection=connection, **configure_args())
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
