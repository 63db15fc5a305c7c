"""The CLI's Python surface: `app`, `main` and `ExitCode`; the command modules are private."""

from __future__ import annotations

import pkgutil

import prefect_oxen.cli as package


def test_implementation_modules_are_private() -> None:
    modules = [info.name for info in pkgutil.iter_modules(package.__path__)]
    assert modules
    assert [name for name in modules if not name.startswith("_")] == []


def test_the_surface_is_the_app_and_the_entry_point() -> None:
    # The command functions are imported into the package to register them, not exported.
    assert sorted(package.__all__) == ["ExitCode", "app", "main"]
    assert all(getattr(package, name, None) is not None for name in package.__all__)
