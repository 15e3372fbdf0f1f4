"""MethodologyRegistry and entry-point discovery, with faked entry points (nothing installed)."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable

import pytest

from methodologies.base import (
    ENTRY_POINT_GROUP,
    InvalidMethodology,
    MethodologyNotInstalled,
    MethodologyRegistry,
    discover,
)
from methodologies.green_travel import GreenTravel
from tests.methodologies import import_log
from tests.methodologies.fake_module import (
    AbstractMethodology,
    FakeMethodology,
    IncoherentPolicyMethodology,
    NotAMethodology,
    SameCodeAsFake,
)

PKG = "tests.methodologies"


def _ep(name: str, value: str, group: str = ENTRY_POINT_GROUP) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=group)


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make importlib.metadata.entry_points() return the given entry points."""

    def install(*eps: importlib.metadata.EntryPoint) -> None:
        def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
            return [ep for ep in eps if ep.group == group]

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    import_log.ATTEMPTS.clear()
    return install


# --------------------------------------------------------------------------- registry


def test_register_get_all() -> None:
    registry = MethodologyRegistry()
    assert registry.register(FakeMethodology) is FakeMethodology
    registry.register(GreenTravel)
    registry.register(GreenTravel)  # same class again is harmless
    assert registry.get("fake_method") is FakeMethodology
    assert registry.all() == [FakeMethodology, GreenTravel]
    assert registry.codes() == ["fake_method", "green_travel"]
    assert "green_travel" in registry and len(registry) == 2


def test_get_unknown_code_names_it() -> None:
    with pytest.raises(MethodologyNotInstalled, match="'tree_planting'") as info:
        MethodologyRegistry().get("tree_planting")
    assert info.value.code == "tree_planting"
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (NotAMethodology, "not a Methodology subclass"),
        (AbstractMethodology, "abstract"),
        (IncoherentPolicyMethodology, "refuse"),
    ],
)
def test_register_rejects_invalid_classes(cls: type, message: str) -> None:
    with pytest.raises(InvalidMethodology, match=message):
        MethodologyRegistry().register(cls)


def test_register_rejects_duplicate_code() -> None:
    registry = MethodologyRegistry()
    registry.register(FakeMethodology)
    with pytest.raises(InvalidMethodology, match="duplicate methodology code 'fake_method'"):
        registry.register(SameCodeAsFake)
    assert registry.get("fake_method") is FakeMethodology


# --------------------------------------------------------------------------- discover


def test_discover_loads_valid_and_records_failures(fake_entry_points, caplog) -> None:
    fake_entry_points(
        _ep("fake_method", f"{PKG}.fake_module:FakeMethodology"),
        _ep("broken", f"{PKG}.fake_broken:Broken"),
        _ep("not_a_methodology", f"{PKG}.fake_module:NotAMethodology"),
        _ep("abstract_method", f"{PKG}.fake_module:AbstractMethodology"),
        _ep("elsewhere", f"{PKG}.fake_forbidden:X", group="some.other.group"),
    )
    with caplog.at_level(logging.WARNING, logger="methodologies.base"):
        registry = discover(None)

    assert registry.codes() == ["fake_method"]
    assert registry.get("fake_method") is FakeMethodology
    assert set(registry.failed) == {"broken", "not_a_methodology", "abstract_method"}
    assert "ImportError" in registry.failed["broken"]
    assert "simulated missing dependency" in registry.failed["broken"]
    assert "not a Methodology subclass" in registry.failed["not_a_methodology"]
    assert "abstract" in registry.failed["abstract_method"]
    logged = " ".join(r.getMessage() for r in caplog.records)
    for name in ("broken", "not_a_methodology", "abstract_method"):
        assert name in logged
    # Entry points of other groups are not looked at.
    assert import_log.ATTEMPTS == []
    with pytest.raises(MethodologyNotInstalled):
        registry.get("broken")


def test_discover_never_imports_names_outside_allowed(fake_entry_points) -> None:
    fake_entry_points(
        _ep("fake_method", f"{PKG}.fake_module:FakeMethodology"),
        _ep("forbidden", f"{PKG}.fake_forbidden:Forbidden"),
    )
    registry = discover({"fake_method"})
    assert registry.codes() == ["fake_method"]
    assert registry.failed == {}
    assert import_log.ATTEMPTS == []


def test_discover_with_none_imports_everything(fake_entry_points) -> None:
    fake_entry_points(_ep("forbidden", f"{PKG}.fake_forbidden:Forbidden"))
    registry = discover(None)
    attempted = list(import_log.ATTEMPTS)
    assert attempted == [f"{PKG}.fake_forbidden"]
    assert "RuntimeError" in registry.failed["forbidden"]
    assert len(registry) == 0


def test_discover_reports_allowed_names_without_entry_point(fake_entry_points) -> None:
    fake_entry_points(_ep("fake_method", f"{PKG}.fake_module:FakeMethodology"))
    registry = discover({"fake_method", "tree_planting"})
    assert registry.codes() == ["fake_method"]
    assert "no entry point named 'tree_planting'" in registry.failed["tree_planting"]


def test_discover_rejects_name_code_mismatch_and_duplicates(fake_entry_points) -> None:
    fake_entry_points(
        _ep("fake_method", f"{PKG}.fake_module:FakeMethodology"),
        _ep("fake_method", f"{PKG}.fake_module:SameCodeAsFake"),
        _ep("renamed", f"{PKG}.fake_module:FakeMethodology"),
    )
    registry = discover(None)
    assert registry.get("fake_method") is FakeMethodology
    assert "duplicate entry point name" in registry.failed["fake_method"]
    assert "does not match methodology code 'fake_method'" in registry.failed["renamed"]


def test_discover_custom_group(fake_entry_points) -> None:
    fake_entry_points(_ep("fake_method", f"{PKG}.fake_module:FakeMethodology", group="x.y"))
    assert discover(None).codes() == []
    assert discover(None, group="x.y").codes() == ["fake_method"]


def test_discover_builtins_by_their_entry_point_values(fake_entry_points) -> None:
    # The lines proposed for pyproject.toml's [project.entry-points] table.
    fake_entry_points(
        _ep("green_travel", "methodologies.green_travel:GreenTravel"),
        _ep("clean_plate", "methodologies.clean_plate:CleanPlate"),
        _ep("recycling", "methodologies.recycling:Recycling"),
        _ep("paperless", "methodologies.paperless:Paperless"),
    )
    registry = discover(None)
    assert registry.failed == {}
    assert registry.codes() == ["clean_plate", "green_travel", "paperless", "recycling"]


def test_a_module_exiting_at_import_is_recorded_not_obeyed(fake_entry_points) -> None:
    fake_entry_points(_ep("fake_method", f"{PKG}.fake_module:FakeMethodology"),
                      _ep("exits", f"{PKG}.fake_exits:Gone"))
    registry = discover(None)
    assert registry.codes() == ["fake_method"]
    assert "SystemExit" in registry.failed["exits"]
