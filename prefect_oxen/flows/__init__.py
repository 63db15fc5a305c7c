"""Prefect flows: one video, a multi-shot video, resumable budgeted batches, and sharded ones.

The records they report (`BatchReport`, `ItemReport`, `BatchIncomplete`) and the batch input
reader are re-exported for their callers.
"""

from prefect_oxen.engine import (
    BatchIncomplete,
    BatchItem,
    BatchReport,
    ItemReport,
    load_batch_items,
)
from prefect_oxen.flows.batch import batch_flow
from prefect_oxen.flows.multi_shot import MultiShotResult, multi_shot_flow
from prefect_oxen.flows.sharded import ShardedBatchReport, sharded_batch_flow
from prefect_oxen.flows.single import generate_video_flow

__all__ = [
    "BatchIncomplete",
    "BatchItem",
    "BatchReport",
    "ItemReport",
    "MultiShotResult",
    "ShardedBatchReport",
    "batch_flow",
    "generate_video_flow",
    "load_batch_items",
    "multi_shot_flow",
    "sharded_batch_flow",
]
