"""Prefect flows: one video, a multi-shot video, and resumable, budgeted batches."""

from prefect_oxen.flows.batch import batch_flow
from prefect_oxen.flows.inputs import BatchItem, load_batch_items
from prefect_oxen.flows.multi_shot import MultiShotResult, multi_shot_flow
from prefect_oxen.flows.report import BatchIncomplete, BatchReport, ItemReport
from prefect_oxen.flows.single import generate_video_flow

__all__ = [
    "BatchIncomplete",
    "BatchItem",
    "BatchReport",
    "ItemReport",
    "MultiShotResult",
    "batch_flow",
    "generate_video_flow",
    "load_batch_items",
    "multi_shot_flow",
]
