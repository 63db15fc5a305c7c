"""Prefect blocks of prefect-oxen (registered through the ``prefect.collections`` entry point)."""

from prefect_oxen.blocks._credentials import OxenCredentials

__all__ = ["OxenCredentials"]
