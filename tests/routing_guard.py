"""The routing guard: while the suite runs on PostgreSQL, every statement the application
issues on a user-owned table must name its user (app/sharding.py, tests/routing_checker.py).

Which statements are checked: those issued, directly or through SQLAlchemy, by the
project's code, meaning those with a frame under app/ or methodologies/ on the stack when
the driver is called. The innermost such frame decides; a statement with none (test code
and fixtures writing their own rows, or reading to assert) is not checked, nor is one with
a migration (migrations/) on its stack: a migration runs before any table is distributed.
Statements inside `app.sharding.fan_out(...)` pass.

The ORM's own statements are checked like the rest, and are where most id-only statements
come from while a mapped primary key is the id alone: a flush's `UPDATE behaviours SET …
WHERE behaviours.id = ?` (attributed to the app line that flushed, explicitly or by a
query's autoflush), a lazy load of a many-to-one (`WHERE ledger_holds.id = ?`), and
`session.get(Model, id)`. With `(user_id, id)` as the mapped key and the relationships
joined through `(user_id, …)`, the ORM names the user in each of them.

A violation is recorded with the statement and where the application issued it: the
innermost app frame that is not plumbing (app/sql.py's helpers, app/uow.py's commit, which
only carry the statement), and the chain of app frames above it. The listener never
raises (the code under test sees what it would see in production); the test fails at its
teardown, listing what was recorded.

ROUTING_GUARD picks the mode, for a run on PostgreSQL (on SQLite nothing is checked):
`enforce` (default) fails the tests, `report` records every distinct violation with the
tests that hit it and writes them to ROUTING_GUARD_FILE (default: routing_inventory.txt in
the rootdir) at the end of the run, `off` does nothing.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

import app as app_package
import methodologies
from app.sharding import current_fan_out
from tests.routing_checker import mentions_user_tables, violations

MODES = ("off", "report", "enforce")
MODE = os.environ.get("ROUTING_GUARD", "enforce")
if MODE not in MODES:
    raise ValueError(f"ROUTING_GUARD={MODE!r}: one of {', '.join(MODES)}")

ROOT = Path(app_package.__file__).resolve().parent.parent
_CHECKED = tuple(str(Path(p.__file__).resolve().parent) + os.sep
                 for p in (app_package, methodologies))
_MIGRATIONS = str(ROOT / "migrations") + os.sep
_PLUMBING = tuple(str(ROOT / "app" / name) for name in ("sql.py", "uow.py"))
_CHAIN = 4  # app frames kept for a violation, innermost first


@dataclass(frozen=True)
class Violation:
    statement: str  # normalised: parameters as ?, lists folded, whitespace collapsed
    problems: tuple[str, ...]
    site: str  # path:line of the app frame that issued it
    function: str
    chain: tuple[str, ...]  # the app frames above, innermost first (path:line function)

    def describe(self, limit: int | None = None) -> str:
        callers = "".join(f"\n      from {frame}" for frame in self.chain[1:])
        shown = self.statement
        if limit and len(shown) > limit:
            shown = shown[:limit] + " …"
        return (f"{self.site} in {self.function}(): " + "; ".join(self.problems)
                + callers + f"\n    {shown}")


class Recorder:
    """Violations of the running test (any thread), and in report mode of the run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: list[Violation] = []
        # Report mode: each distinct statement and site, with its callers and tests.
        self.inventory: dict[Violation, tuple[set[str], list[str]]] = {}

    def add(self, violation: Violation) -> None:
        with self._lock:
            self._current.append(violation)

    def take(self) -> list[Violation]:
        with self._lock:
            found, self._current = list(dict.fromkeys(self._current)), []
        return found


recorder = Recorder()


def app_frames(frame: FrameType | None) -> list[FrameType]:
    """The app frames on the stack from `frame` out, innermost first; none when a
    migration is on it."""
    found: list[FrameType] = []
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(_MIGRATIONS):
            return []
        if path.startswith(_CHECKED):
            found.append(frame)
        frame = frame.f_back
    return found


def _where(frame: FrameType) -> str:
    path = Path(frame.f_code.co_filename)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return f"{shown}:{frame.f_lineno}"


_FOLDS = ((re.compile(r"%\([^)]*\)s|%s"), "?"), (re.compile(r"\s+"), " "),
          (re.compile(r"\?(?:, \?)+"), "?, …"), (re.compile(r"\((\?, …|\?)\)(?:, \(\1\))+"),
                                                   r"(\1), …"))


def normalise(statement: str) -> str:
    for pattern, replacement in _FOLDS:
        statement = pattern.sub(replacement, statement)
    return statement.strip()


def observe(statement: str, frame: FrameType | None) -> None:
    """Record a violation if the application issued `statement` (`frame` being the
    caller's) and it touches user-owned rows without naming their user."""
    if current_fan_out() is not None or not mentions_user_tables(statement):
        return
    frames = app_frames(frame)
    if not frames:
        return
    problems = violations(statement)
    if not problems:
        return
    issuer = next((f for f in frames if not f.f_code.co_filename.startswith(_PLUMBING)),
                  frames[0])
    chain = frames[frames.index(issuer):][:_CHAIN]
    recorder.add(Violation(normalise(statement), problems, _where(issuer),
                           issuer.f_code.co_name,
                           tuple(f"{_where(f)} {f.f_code.co_name}" for f in chain)))


def _before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
    if conn.dialect.name == "postgresql":
        observe(statement, sys._getframe(1))


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("TEST_DATABASE_URL") and MODE != "off":
        event.listen(Engine, "before_cursor_execute", _before_cursor_execute)


def pytest_unconfigure(config: pytest.Config) -> None:
    if event.contains(Engine, "before_cursor_execute", _before_cursor_execute):
        event.remove(Engine, "before_cursor_execute", _before_cursor_execute)


@pytest.fixture(autouse=True)
def routing_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test, at its teardown, for the unrouted statements the app issued."""
    recorder.take()
    yield
    found = recorder.take()
    if not found:
        return
    if MODE == "report":
        for violation in found:
            callers, tests = recorder.inventory.setdefault(replace(violation, chain=()),
                                                           (set(), []))
            callers.add(" ← ".join(violation.chain[1:]))
            tests.append(request.node.nodeid)
        return
    listed = "\n".join(f"  {v.describe(limit=600)}" for v in found)
    pytest.fail(f"{len(found)} statement(s) on user-owned tables without their user "
                f"(app/sharding.py; mark a legitimate fan-out with fan_out(name)):\n{listed}",
                pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if MODE != "report" or not recorder.inventory:
        return
    path = Path(os.environ.get("ROUTING_GUARD_FILE")
                or session.config.rootpath / "routing_inventory.txt")
    entries = sorted(recorder.inventory.items(), key=lambda item: (item[0].site,
                                                                   item[0].statement))
    with path.open("w", encoding="utf-8") as out:
        out.write(f"# {len(entries)} distinct unrouted statements (site, problems, callers, "
                  f"statement, tests)\n\n")
        for violation, (callers, tests) in entries:
            out.write(violation.describe() + "".join(f"\n      from {c}" for c in sorted(callers)
                                                     if c)
                      + f"\n    tests ({len(set(tests))}): "
                      + ", ".join(sorted(set(tests))[:3]) + "\n\n")
