"""prefect-oxen: Prefect 3 integration for Oxen.ai video generation.

The API client (`prefect_oxen.client`) and the emulator do not need Prefect, so the Prefect-side
names below are imported lazily: ``from prefect_oxen.client import OxenClient`` stays cheap, while
``from prefect_oxen import OxenCredentials`` and ``prefect block register -m prefect_oxen`` work.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "OxenCredentials": "prefect_oxen.blocks",
    # Lazy too, so importing the emulator loads no other prefect_oxen module.
    "__version__": "prefect_oxen._version",
}

__all__ = [*_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'prefect_oxen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
