"""Methodology contract, parameter sets and the entry-point registry.

A methodology turns one validated behaviour record into a reduction in grams CO2e:
ER = BE - PE (baseline minus project emissions), never below zero, computed with Decimal.
Every factor is a `Parameter` carrying its unit and a precise citation. Stored credits keep
the *values* of the parameter set they were computed with (`params_values`) and its
`parameter_hash`, so a credit can be recomputed or audited after the defaults change.

The entry-point contract. A package advertises each methodology under the group
`carbon_points.methodologies`, with the code as the entry-point name and its *newest*
release as the target class. A release whose arithmetic or parameter set changes gets a new
version (a new class, usually in a new module) and the entry point moves to it; the class
lists the releases before it in `earlier_releases`, which stay importable and unchanged:
the platform records every release's defaults as versions, credits under whichever release
an administrator approved for a date, and recomputes each stored credit with the class of
the release it used (`MethodologyRegistry.get(code, version)`). Dropping a release from
`earlier_releases` makes the credits made under it unrecomputable: never do it while such
credits are kept. `filing_document` points to the filing document (see
docs/methodologies/TEMPLATE.md).

This module depends only on the standard library and marshmallow.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any, ClassVar

from marshmallow import Schema

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "carbon_points.methodologies"

SOURCES = ("partner", "self_report")
SELF_REPORT_POLICIES = ("refuse", "discount", "review")
# Every methodology must define these policy parameters besides its emission factors.
POLICY_PARAMETERS = ("daily_cap_g", "accepted_sources", "self_report_policy", "self_report_factor")

# Results are kept to the milligram and rounded down: where unsure, credit less.
GRAMS_QUANTUM = Decimal("0.001")

ParamValue = Decimal | int | str | bool | tuple[str, ...]

_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


class MethodologyError(Exception):
    """Base class for methodology errors."""


class MethodologyNotInstalled(MethodologyError, LookupError):
    """No methodology with this code (or no release of it with this version) is loaded:
    not installed, not allowed, or failed."""

    def __init__(self, code: str, version: str | None = None) -> None:
        what = f"methodology {code!r}" if version is None else \
            f"release {version} of methodology {code!r}"
        super().__init__(f"{what} is not installed or not enabled")
        self.code, self.version = code, version


class InvalidMethodology(MethodologyError, TypeError):
    """A class offered to the registry does not satisfy the Methodology contract."""


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Parameter:
    """One parameter of a methodology: a value with its unit and where it comes from."""

    value: ParamValue
    unit: str
    source: str
    description: str

    def __post_init__(self) -> None:
        value = self.value
        if isinstance(value, list):
            value = tuple(value)
            object.__setattr__(self, "value", value)
        if isinstance(value, float):
            raise TypeError("Parameter values must be Decimal, not float (use Decimal('...'))")
        if isinstance(value, tuple):
            if not all(isinstance(v, str) for v in value):
                raise TypeError("tuple parameter values may only contain str")
        elif not isinstance(value, Decimal | int | str):  # bool is an int subclass
            raise TypeError(f"unsupported parameter value type {type(value).__name__}")
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError("Parameter values must be finite")


def params_values(parameters: Mapping[str, Parameter]) -> dict[str, ParamValue]:
    """The plain values of a parameter set (what quantify() receives and credits store)."""
    return {name: p.value for name, p in parameters.items()}


def _jsonable(value: Any) -> Any:
    # bool before int: bool is an int subclass and must stay true/false.
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("non-finite Decimal in parameter values")
        return str(value)
    if isinstance(value, int | str):
        return value
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    raise TypeError(f"cannot serialise parameter value of type {type(value).__name__}")


def values_to_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe copy of a values dict: Decimals become strings, tuples become lists.

    `Methodology.coerce_params` turns the result back into typed values.
    """
    return {str(name): _jsonable(v) for name, v in values.items()}


def parameter_hash(values: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of a values dict: sorted keys, Decimals as strings.

    Decimals are hashed as `str(value)`, so Decimal("1.5") and Decimal("1.50") differ: the
    hash identifies the parameter set exactly as it was recorded.
    """
    canonical = json.dumps(
        values_to_json(values), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _to_decimal(name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValueError(f"parameter {name!r}: expected a decimal number, got {value!r}")
    try:
        result = Decimal(value)
    except ArithmeticError as exc:
        raise ValueError(f"parameter {name!r}: {value!r} is not a decimal number") from exc
    if not result.is_finite():
        raise ValueError(f"parameter {name!r}: must be finite")
    return result


def decimal_param(params: Mapping[str, Any], name: str) -> Decimal:
    """Read a numeric parameter as Decimal (stored sets may hold strings or ints)."""
    try:
        value = params[name]
    except KeyError:
        raise KeyError(f"parameter {name!r} missing from the parameter set") from None
    return _to_decimal(name, value)


def int_param(params: Mapping[str, Any], name: str) -> int:
    try:
        value = params[name]
    except KeyError:
        raise KeyError(f"parameter {name!r} missing from the parameter set") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"parameter {name!r}: expected an integer, got {value!r}")
    return value


def check_policy_values(values: Mapping[str, Any]) -> None:
    """Raise ValueError unless the four policy parameters are present and coherent."""
    missing = [n for n in POLICY_PARAMETERS if n not in values]
    if missing:
        raise ValueError(f"missing policy parameters: {', '.join(missing)}")
    if decimal_param(values, "daily_cap_g") < 0:
        raise ValueError("daily_cap_g must be >= 0")
    sources = values["accepted_sources"]
    if (
        isinstance(sources, str)
        or not isinstance(sources, tuple | list)
        or not sources
        or any(s not in SOURCES for s in sources)
    ):
        raise ValueError(f"accepted_sources must be a non-empty subset of {SOURCES}")
    policy = values["self_report_policy"]
    if policy not in SELF_REPORT_POLICIES:
        raise ValueError(f"self_report_policy must be one of {SELF_REPORT_POLICIES}")
    factor = decimal_param(values, "self_report_factor")
    if not Decimal(0) <= factor <= Decimal(1):
        raise ValueError("self_report_factor must be between 0 and 1")
    if policy == "refuse" and "self_report" in sources:
        raise ValueError("self_report_policy 'refuse' contradicts accepted_sources")
    if policy != "refuse" and "self_report" not in sources:
        raise ValueError(f"self_report_policy {policy!r} needs 'self_report' in accepted_sources")


#: Numeric parameters are physical quantities (factors in grams per unit, caps in grams a
#: day, speeds, distances, counts): none is negative, and an administrator's value stays
#: far inside what the ledger's Numeric(20, 3) columns and the 28-digit decimal context
#: hold, so no approved set can make every credit's arithmetic fail.
PARAMETER_MAX = Decimal(10) ** 9
PARAMETER_MAX_DECIMALS = 9


def out_of_range(values: Mapping[str, ParamValue]) -> dict[str, str]:
    """Each numeric value outside 0 … PARAMETER_MAX (or finer than its decimals), why."""
    found = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            continue
        if not 0 <= value <= PARAMETER_MAX:
            found[name] = f"Must be between 0 and {PARAMETER_MAX:,}."
        elif isinstance(value, Decimal) and value.as_tuple().exponent < -PARAMETER_MAX_DECIMALS:
            found[name] = f"At most {PARAMETER_MAX_DECIMALS} decimal places."
    return found


# --------------------------------------------------------------------------- methodology


@dataclass(frozen=True)
class PlausibilityContext:
    """What the caller knows about the user's day when checking one record.

    same_day_count: records of this methodology the user already has that local day.
    source: "partner" or "self_report".
    same_day_records: optionally, the validated data of those records (enables overlap
        checks for trips and meal totals); when empty only `same_day_count` is used.
    """

    same_day_count: int
    source: str
    same_day_records: tuple[Mapping[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.same_day_count < 0:
            raise ValueError("same_day_count must be >= 0")
        if not isinstance(self.same_day_records, tuple):
            object.__setattr__(self, "same_day_records", tuple(self.same_day_records))


def _decimal_context() -> Context:
    # A fixed context so results never depend on the caller's thread-local decimal settings.
    return Context(prec=28, rounding=ROUND_HALF_EVEN)


_RECORD_SCHEMAS: dict[tuple[type, type], Any] = {}


class Methodology(ABC):
    """A versioned, cited way to quantify one kind of low-carbon behaviour.

    Subclasses set the class attributes, `record_schema`, and implement
    `default_parameters()` and `emissions()`; they usually extend `check_record()`.
    All methods are class methods: the registry holds classes, never instances.
    """

    code: ClassVar[str]
    name_zh: ClassVar[str]
    name_en: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str]
    record_schema: ClassVar[type[Schema]]
    # True when the act takes the person's time (a trip): two records of one person whose
    # times overlap are then one act reported twice. Otherwise (a meal, a weighing, an
    # invoice) only the same instant from another source is.
    occupies_time: ClassVar[bool] = False
    # Dedupe groups (see dedupe_group) whose records take no time even when the
    # methodology's acts do (a day's step count is not a trip): such a record is one act
    # only with a record of its own group at the same instant, as for an act of no time.
    timeless_groups: ClassVar[frozenset[str]] = frozenset()
    # Record fields that tell who the person is or where and when they were (places,
    # exact times, free text, identifiers of people or places): anonymise() drops them.
    personal_fields: ClassVar[frozenset[str]] = frozenset()
    # Earlier releases of this methodology that stay installed beside it: credits made
    # under them are recomputed with their own class, never with this one. Only the class
    # an entry point names declares them; each has the same code and a lower version.
    earlier_releases: ClassVar[tuple[type[Methodology], ...]] = ()
    # The filing document (Markdown): an absolute path, or None. See docs/methodologies/.
    filing_document: ClassVar[str | None] = None

    @classmethod
    def dedupe_group(cls, record: Mapping[str, Any]) -> str:
        """The kind of act a record is, for matching one act reported twice."""
        return str(record.get("mode") or record.get("kind") or "")

    @classmethod
    def takes_time(cls, *groups: str) -> bool:
        """Whether records of these dedupe groups are matched as acts that take time."""
        return cls.occupies_time and not set(groups) & cls.timeless_groups

    @classmethod
    @abstractmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        """Emission factors and policy parameters (see POLICY_PARAMETERS), with citations."""

    @classmethod
    def default_values(cls) -> dict[str, ParamValue]:
        return params_values(cls.default_parameters())

    @classmethod
    def _schema(cls) -> Schema:
        # One schema instance per class: building one costs more than a load.
        schema = _RECORD_SCHEMAS.get((cls, cls.record_schema))
        if schema is None:
            schema = _RECORD_SCHEMAS[(cls, cls.record_schema)] = cls.record_schema()
        return schema

    @classmethod
    def load_record(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate raw record data; raises marshmallow.ValidationError."""
        return cls._schema().load(data)

    @classmethod
    def anonymise(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """The stored (raw) record of an erased account, reduced to what its accounting needs.

        The result replaces the record for good, so it keeps what the quantity depends on:
        it still loads with `record_schema` and quantifies to the same reduction with the
        same parameters. What tells who the person is, or where and when they were, goes.
        Default: the record without `personal_fields` and without anything the record
        schema does not declare. Override when a personal field is also an input of the
        quantity (green_travel turns a trip's points into their distance).
        """
        declared = {f.data_key or name for name, f in cls._schema().fields.items()}
        return {k: v for k, v in data.items()
                if k in declared and k not in cls.personal_fields}

    @classmethod
    @abstractmethod
    def emissions(
        cls, record: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[Decimal, Decimal]:
        """(baseline_g, project_g) for one validated record, in grams CO2e."""

    @classmethod
    def quantify(cls, record: Mapping[str, Any], params: Mapping[str, Any]) -> Decimal:
        """Reduction in grams CO2e = baseline - project, clamped at 0, rounded down to mg."""
        with localcontext(_decimal_context()):
            baseline, project = cls.emissions(record, params)
            reduction = Decimal(baseline) - Decimal(project)
            if reduction < 0:
                reduction = Decimal(0)
            return reduction.quantize(GRAMS_QUANTUM, rounding=ROUND_DOWN)

    @classmethod
    def plausibility(
        cls,
        record: Mapping[str, Any],
        params: Mapping[str, Any],
        context: PlausibilityContext,
    ) -> list[str]:
        """Reasons to reject the record (empty list = plausible)."""
        reasons: list[str] = []
        accepted = tuple(params["accepted_sources"])
        if context.source not in accepted:
            reasons.append(
                f"source {context.source!r} is not accepted for {cls.code} "
                f"(accepted: {', '.join(accepted)})"
            )
        elif context.source == "self_report" and params["self_report_policy"] == "refuse":
            reasons.append(f"self-reported records are refused for {cls.code}")
        with localcontext(_decimal_context()):
            reasons.extend(cls.check_record(record, params, context))
        return reasons

    @classmethod
    def check_record(
        cls,
        record: Mapping[str, Any],
        params: Mapping[str, Any],
        context: PlausibilityContext,
    ) -> list[str]:
        """Methodology-specific plausibility checks; override in subclasses."""
        return []

    @classmethod
    def apply_policy(
        cls,
        reduction_g: Decimal,
        params: Mapping[str, Any],
        *,
        source: str,
        credited_today_g: Decimal = Decimal(0),
    ) -> Decimal:
        """Grams to credit: the self-report discount, then what is left of the daily cap.

        "refuse" gives 0 for self-reports; "review" credits in full (after approval);
        "discount" multiplies by self_report_factor. The result is never negative.
        """
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        with localcontext(_decimal_context()):
            grams = max(Decimal(reduction_g), Decimal(0))
            if source == "self_report":
                policy = params["self_report_policy"]
                if policy == "refuse" or "self_report" not in tuple(params["accepted_sources"]):
                    grams = Decimal(0)
                elif policy == "discount":
                    grams *= decimal_param(params, "self_report_factor")
            room = decimal_param(params, "daily_cap_g") - Decimal(credited_today_g)
            grams = min(grams, max(room, Decimal(0)))
            return grams.quantize(GRAMS_QUANTUM, rounding=ROUND_DOWN)

    @classmethod
    def coerce_params(cls, values: Mapping[str, Any]) -> dict[str, ParamValue]:
        """Typed values from a stored (e.g. JSON) parameter set, checked against the defaults.

        The stored set must name exactly the default parameters; each value is converted to
        the type of its default (Decimal from str/int, int, bool, str, tuple of str).
        """
        defaults = cls.default_values()
        unknown = sorted(set(values) - set(defaults))
        missing = sorted(set(defaults) - set(values))
        if unknown or missing:
            raise ValueError(
                f"{cls.code} parameter set mismatch: unknown={unknown} missing={missing}"
            )
        out: dict[str, ParamValue] = {}
        for name, default in defaults.items():
            value = values[name]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"parameter {name!r}: expected a boolean")
                out[name] = value
            elif isinstance(default, Decimal):
                out[name] = _to_decimal(name, value)
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"parameter {name!r}: expected an integer")
                out[name] = value
            elif isinstance(default, str):
                if not isinstance(value, str):
                    raise ValueError(f"parameter {name!r}: expected a string")
                out[name] = value
            else:
                if isinstance(value, str) or not isinstance(value, tuple | list):
                    raise ValueError(f"parameter {name!r}: expected a list of strings")
                if not all(isinstance(v, str) for v in value):
                    raise ValueError(f"parameter {name!r}: expected a list of strings")
                out[name] = tuple(value)
        check_policy_values(out)
        return out


def check_daily_count(context: PlausibilityContext, limit: int, noun: str) -> list[str]:
    """Reject when the user already has `limit` records of this kind that local day."""
    if context.same_day_count >= limit:
        return [f"{context.same_day_count} {noun} already recorded today; at most {limit} per day"]
    return []


def validate_methodology(cls: Any) -> None:
    """Raise InvalidMethodology unless `cls` is a complete, coherent Methodology class."""
    if not (inspect.isclass(cls) and issubclass(cls, Methodology)):
        raise InvalidMethodology(f"{cls!r} is not a Methodology subclass")
    if inspect.isabstract(cls):
        raise InvalidMethodology(f"{cls.__qualname__} is abstract (missing methods)")
    code = getattr(cls, "code", None)
    if not isinstance(code, str) or not _CODE_RE.match(code):
        raise InvalidMethodology(f"{cls.__qualname__}.code must match {_CODE_RE.pattern}")
    for attr in ("name_zh", "name_en", "description"):
        value = getattr(cls, attr, None)
        if not isinstance(value, str) or not value.strip():
            raise InvalidMethodology(f"{cls.__qualname__}.{attr} must be a non-empty string")
    version = getattr(cls, "version", None)
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise InvalidMethodology(f"{cls.__qualname__}.version must look like '1.0.0'")
    schema = getattr(cls, "record_schema", None)
    if not (inspect.isclass(schema) and issubclass(schema, Schema)):
        raise InvalidMethodology(f"{cls.__qualname__}.record_schema must be a Schema class")
    personal = getattr(cls, "personal_fields", None)
    if not (isinstance(personal, frozenset) and all(isinstance(f, str) for f in personal)):
        raise InvalidMethodology(f"{cls.__qualname__}.personal_fields must be a frozenset of str")
    try:
        parameters = cls.default_parameters()
    except Exception as exc:
        raise InvalidMethodology(f"{cls.__qualname__}.default_parameters() failed: {exc}") from exc
    if not isinstance(parameters, dict) or not all(
        isinstance(k, str) and isinstance(v, Parameter) for k, v in parameters.items()
    ):
        raise InvalidMethodology(
            f"{cls.__qualname__}.default_parameters() must return dict[str, Parameter]"
        )
    try:
        check_policy_values(params_values(parameters))
    except (ValueError, KeyError) as exc:
        raise InvalidMethodology(f"{cls.__qualname__}: {exc}") from exc
    filing = getattr(cls, "filing_document", None)
    if filing is not None and not isinstance(filing, str):
        raise InvalidMethodology(f"{cls.__qualname__}.filing_document must be a path or None")
    _validate_earlier_releases(cls)


def version_key(version: str) -> tuple[int, ...]:
    """'1.10.0' -> (1, 10, 0): versions compare by number, not as text."""
    return tuple(int(part) for part in version.split("."))


def _validate_earlier_releases(cls: type[Methodology]) -> None:
    earlier = getattr(cls, "earlier_releases", ())
    if not isinstance(earlier, tuple):
        raise InvalidMethodology(f"{cls.__qualname__}.earlier_releases must be a tuple")
    seen = {cls.version}
    for old in earlier:
        if old is cls or not (inspect.isclass(old) and issubclass(old, Methodology)):
            raise InvalidMethodology(
                f"{cls.__qualname__}.earlier_releases holds {old!r}, not an earlier release")
        if old.__dict__.get("earlier_releases"):
            raise InvalidMethodology(f"{old.__qualname__}: only the newest release (the one "
                                     "an entry point names) lists earlier releases")
        validate_methodology(old)
        if old.code != cls.code:
            raise InvalidMethodology(f"{old.__qualname__} has code {old.code!r}, not "
                                     f"{cls.code!r}: earlier releases share the code")
        if old.version in seen or version_key(old.version) > version_key(cls.version):
            raise InvalidMethodology(f"{old.__qualname__} {old.version}: each earlier release "
                                     f"has its own version, lower than {cls.version}")
        seen.add(old.version)


# --------------------------------------------------------------------------- registry


class MethodologyRegistry:
    """Loaded methodology classes: the newest release of each code, and every release by
    (code, version), plus the entry points that failed to load.

    An entry point names the newest release; its `earlier_releases` are registered with it,
    so a stored version of any installed release is quantified by that release's class.
    """

    def __init__(self) -> None:
        self._by_code: dict[str, type[Methodology]] = {}
        self._releases: dict[tuple[str, str], type[Methodology]] = {}
        self.failed: dict[str, str] = {}

    def register(self, cls: type[Methodology]) -> type[Methodology]:
        """Add a class and its earlier releases (validated); raises InvalidMethodology.
        Usable as a decorator."""
        validate_methodology(cls)
        existing = self._by_code.get(cls.code)
        if existing is not None and existing is not cls:
            raise InvalidMethodology(
                f"duplicate methodology code {cls.code!r}: {existing.__module__}."
                f"{existing.__qualname__} is already registered"
            )
        self._by_code[cls.code] = cls
        for release in (cls, *cls.earlier_releases):
            self._releases[(cls.code, release.version)] = release
        return cls

    def get(self, code: str, version: str | None = None) -> type[Methodology]:
        """The class of one release (`version`), or the newest release when None."""
        try:
            if version is None:
                return self._by_code[code]
            return self._releases[(code, version)]
        except KeyError:
            raise MethodologyNotInstalled(code, version) from None

    def releases(self, code: str) -> list[type[Methodology]]:
        """Every installed release of `code`, oldest first."""
        found = [cls for (c, _), cls in self._releases.items() if c == code]
        return sorted(found, key=lambda cls: version_key(cls.version))

    def all(self) -> list[type[Methodology]]:
        """The newest release of each loaded methodology, sorted by code."""
        return [self._by_code[c] for c in sorted(self._by_code)]

    def codes(self) -> list[str]:
        return sorted(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)


def discover(allowed: Iterable[str] | None, group: str = ENTRY_POINT_GROUP) -> MethodologyRegistry:
    """Load methodologies advertised under an entry-point group.

    Only entry points whose name is in `allowed` are imported (None = all). The entry-point
    name must equal the class's `code`. Import errors, non-Methodology targets, invalid
    classes, duplicate codes and allowed names with no entry point are logged and recorded
    in `registry.failed` (name -> message); discover() itself never raises for them.
    """
    allowed_set = None if allowed is None else set(allowed)
    registry = MethodologyRegistry()
    seen: set[str] = set()
    eps = sorted(importlib.metadata.entry_points(group=group), key=lambda ep: ep.name)
    for ep in eps:
        name = ep.name
        if allowed_set is not None and name not in allowed_set:
            logger.debug("methodology entry point %r not allowed; not imported", name)
            continue
        if name in seen:
            message = f"duplicate entry point name {name!r} ({ep.value}); first one kept"
            logger.warning("methodology %s", message)
            registry.failed[name] = message
            continue
        seen.add(name)
        try:
            target = ep.load()
        except (Exception, SystemExit) as exc:  # a module calling sys.exit() must not stop us
            logger.exception("methodology entry point %r (%s) failed to import", name, ep.value)
            registry.failed[name] = f"import failed: {type(exc).__name__}: {exc}"
            continue
        try:
            validate_methodology(target)
            if target.code != name:
                raise InvalidMethodology(
                    f"entry point name {name!r} does not match methodology code {target.code!r}"
                )
            registry.register(target)
        except InvalidMethodology as exc:
            logger.warning("methodology entry point %r rejected: %s", name, exc)
            registry.failed[name] = str(exc)
            continue
        logger.info("methodology %s %s loaded from %s", target.code, target.version, ep.value)
    if allowed_set is not None:
        for name in sorted(allowed_set - seen):
            message = f"no entry point named {name!r} in group {group!r}"
            logger.warning("methodology %s", message)
            registry.failed[name] = message
    return registry
