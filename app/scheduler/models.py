from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, LargeBinary, String, Unicode
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UtcDateTime
from app.extensions import db


class ApschedulerJob(db.Model):
    """APScheduler 3's job store table, declared here so migrations own the schema.

    Same columns as apscheduler.jobstores.sqlalchemy; the store then finds the table
    present and creates nothing itself. Only the scheduler touches its rows.
    """

    __tablename__ = "apscheduler_jobs"

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)


class JobRun(db.Model):
    """Last successful run per job: the heartbeat, and what readiness reports."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    runs: Mapped[int] = mapped_column(default=0)
