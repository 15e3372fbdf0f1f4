"""Recomputing a behaviour's reduction from what it stored: its input and the parameter
set of the methodology version it was assessed under. Audits use this."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma

from app.behaviours.models import Behaviour
from app.behaviours.reading import get
from app.extensions import db
from app.http.problems import ApiError
from app.methodology import service as methodology
from app.methodology.models import MethodologyVersion
from methodologies.base import MethodologyNotInstalled


def recompute(behaviour: Behaviour) -> Decimal:
    """The reduction from the stored input and stored parameter set: audits use this."""
    version = db.session.get(MethodologyVersion, behaviour.methodology_version_id)
    cls = methodology.registry().get(version.code, version.version)  # that release's class
    return cls.quantify(cls.load_record(behaviour.data), methodology.typed_values(cls, version))


def check_credit(behaviour_id: int, user_id: int | None = None) -> dict[str, Any]:
    """Recompute a behaviour's reduction from what it stored, next to what it stored.
    Without its owner's id, the owner is found first (reading.get)."""
    behaviour = get(behaviour_id, user_id)
    if behaviour.methodology_version_id is None:
        raise ApiError(409, "This behaviour was not assessed under a methodology version, so "
                       "there is nothing to recompute.", slug="behaviour-state")
    version = db.session.get(MethodologyVersion, behaviour.methodology_version_id)
    try:
        recomputed = recompute(behaviour)
    except (MethodologyNotInstalled, ValueError, TypeError, ma.ValidationError) as err:
        raise ApiError(409, f"It cannot be recomputed with the installed {behaviour.methodology} "
                       f"module: {err}", slug="not-recomputable") from None
    except ArithmeticError as err:  # decimal's errors are not ValueErrors (an occupancy of 0)
        raise ApiError(409, f"It cannot be recomputed with the installed {behaviour.methodology} "
                       f"module: its arithmetic fails with this parameter set "
                       f"({type(err).__name__}).", slug="not-recomputable") from None
    return {"behaviour_id": behaviour.id, "methodology_version_id": version.id,
            "parameters_hash": behaviour.parameters_hash,
            "parameters_hash_matches": behaviour.parameters_hash == version.parameters_hash,
            "stored_reduction_g": behaviour.reduction_g, "recomputed_reduction_g": recomputed,
            "matches": recomputed == behaviour.reduction_g
            and behaviour.parameters_hash == version.parameters_hash}

