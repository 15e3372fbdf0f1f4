"""A new behaviour as judged and stored, before anything reads it back as a Behaviour."""

from __future__ import annotations

from typing import Any

from app.behaviours.models import Behaviour

COLUMN_KEYS = tuple(column.key for column in Behaviour.__table__.c)
_NEW_INSTANCE = Behaviour.__mapper__.class_manager.new_instance


class Draft:
    """A new behaviour as judged and stored: a Behaviour's columns (and its version) as
    plain attributes.

    Not a Behaviour, whose every attribute access goes through the ORM's instrumentation
    and whose making costs an instance state: a batch judges hundreds, and that
    bookkeeping cost more than the judging.
    """

    def __init__(self, **columns: Any) -> None:
        self.__dict__.update(dict.fromkeys(COLUMN_KEYS), version=None, **columns)

    methodology_version = Behaviour.methodology_version  # the same property


def written(draft: Draft) -> Behaviour:
    """The stored draft as a Behaviour, never added to the session (its row is written
    already, so read it again to change it). Every column is set: nothing left to load."""
    behaviour = _NEW_INSTANCE()
    behaviour.__dict__.update({key: draft.__dict__[key] for key in COLUMN_KEYS},
                              version=draft.version)
    return behaviour
