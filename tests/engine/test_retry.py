"""Retry conditions: a repeat only where it cannot lose or double-pay anything."""

from __future__ import annotations

from types import SimpleNamespace

from prefect_oxen.client import GenerationFailed
from prefect_oxen.engine import (
    retry_if_delivery_may_recover,
    retry_if_item_may_recover,
    retry_if_storage_may_recover,
    retry_if_transient,
)
from prefect_oxen.media import VideoQuarantined
from prefect_oxen.storage import ArchiveConflict


def _failed(exc: BaseException) -> SimpleNamespace:
    return SimpleNamespace(data=exc)


def _conflict() -> ArchiveConflict:
    return ArchiveConflict(uri="s3://b/k", existing_sha256="a" * 64, new_sha256="b" * 64)


def test_an_unbilled_generation_failure_is_retried() -> None:
    assert retry_if_transient(
        None, None, _failed(GenerationFailed("failed", generation_id="g1", error_message=None))
    )
    assert not retry_if_transient(None, None, _failed(ValueError("bad")))


def test_a_quarantined_video_or_a_conflicting_object_is_never_retried() -> None:
    quarantined = VideoQuarantined("kept", path="p", reason_path="r", problems=("long",))
    for condition in (retry_if_delivery_may_recover, retry_if_item_may_recover):
        assert not condition(None, None, _failed(quarantined))
        assert not condition(None, None, _failed(_conflict()))
    assert not retry_if_storage_may_recover(None, None, _failed(_conflict()))
    assert retry_if_storage_may_recover(None, None, _failed(OSError("disk")))


def test_an_item_is_retried_for_an_unbilled_failure_or_a_delivery_that_may_recover() -> None:
    assert retry_if_item_may_recover(
        None, None, _failed(GenerationFailed("failed", generation_id="g1", error_message=None))
    )
    assert retry_if_item_may_recover(None, None, _failed(OSError("disk")))
    assert not retry_if_item_may_recover(None, None, SimpleNamespace(data=None))
