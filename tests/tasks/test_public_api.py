"""The tasks package's surface: what `__all__` lists, and only private modules behind it."""

from __future__ import annotations

import pkgutil
import types

import prefect_oxen.tasks as package


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(package.__all__) == sorted(public)
    assert all(getattr(package, name, None) is not None for name in package.__all__)


def test_implementation_modules_are_private() -> None:
    modules = [info.name for info in pkgutil.iter_modules(package.__path__)]
    assert modules
    assert [name for name in modules if not name.startswith("_")] == []


def test_every_task_is_a_prefect_task_and_nothing_else_is_defined_here() -> None:
    from prefect import Task

    defined_here = {
        name
        for name in package.__all__
        if getattr(getattr(package, name), "__module__", "").startswith("prefect_oxen.tasks")
        or isinstance(getattr(package, name), Task)
    }
    assert defined_here, "no tasks exported"
    assert all(isinstance(getattr(package, name), Task) for name in defined_here)
    assert "produce_video" in defined_here
