"""Prefect blocks of prefect-oxen (registered through the ``prefect.collections`` entry point)."""

from prefect_oxen.blocks.credentials import OxenCredentials

__all__ = ["OxenCredentials"]
