"""A module that must never be imported when its entry point is not allowed."""

from tests.methodologies import import_log

import_log.ATTEMPTS.append(__name__)
raise RuntimeError("fake_forbidden was imported although it is not allowed")
