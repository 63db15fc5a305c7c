"""The emulator package's surface: `__all__` pinned, every implementation module private."""

from __future__ import annotations

import pkgutil

import prefect_oxen.emulator as package

PUBLIC = ["EmulatorConfig", "EmulatorServer", "FaultConfig", "emulator_command", "running_emulator"]


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert sorted(package.__all__) == PUBLIC
    for name in package.__all__:
        assert getattr(package, name) is not None


def test_implementation_modules_are_private() -> None:
    modules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    assert {name for name in modules if not name.startswith("_")} == set()
