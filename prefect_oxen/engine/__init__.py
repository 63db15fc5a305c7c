"""The per-item engine: the plain async machinery the tasks and flows share.

What makes one video safe to pay for (the journal, reattaching, the shared clients, retry
conditions), the bodies of the steps the tasks run (validate, generate, persist, archive, deliver,
produce), the records they hand each other, how flow parameters become settings, and what makes a
batch fast and safe (admission, claims, budget, progress, reports, a run's start and stop hooks).
"""

from prefect_oxen.engine._admission import GenerationSlots, ItemPacing
from prefect_oxen.engine._archive import archive_persisted, open_archive
from prefect_oxen.engine._batch import (
    BatchPlan,
    ensure_concurrency_limit,
    log_admission,
    read_back_costs,
    remember_plan,
    remembered_plan,
    run_batch_item,
    server_keeps_data_in_sqlite,
)
from prefect_oxen.engine._budget import SpendGuard
from prefect_oxen.engine._clients import close_shared_clients, shared_async_client
from prefect_oxen.engine._delivery import deliver_result, produce_result
from prefect_oxen.engine._generation import (
    current_flow_run,
    generate_result,
    generation_cache_key,
)
from prefect_oxen.engine._inputs import BatchItem, load_batch_items, readable_key
from prefect_oxen.engine._item import ItemRun, run_item
from prefect_oxen.engine._journal import GenerationJournal, JournalEntry
from prefect_oxen.engine._multi_shot import (
    combined_result,
    shot_key,
    shot_requests,
    stitched_report,
    stitched_video,
)
from prefect_oxen.engine._persist import persist_result, video_path
from prefect_oxen.engine._records import (
    DeliveredVideo,
    GenerationResult,
    PersistedVideo,
    ProducedVideo,
    ValidatedRequest,
)
from prefect_oxen.engine._report import (
    BatchIncomplete,
    BatchReport,
    ItemFinished,
    ItemReport,
    announce_item,
    located_error,
    money,
    watching_items,
)
from prefect_oxen.engine._retry import (
    retry_if_delivery_may_recover,
    retry_if_item_may_recover,
    retry_if_storage_may_recover,
    retry_if_transient,
    retry_if_transient_or_download,
)
from prefect_oxen.engine._run_state import run_state_for
from prefect_oxen.engine._settings import PipelineSettings, ResolvedRun, RunPlaces
from prefect_oxen.engine._stop import (
    CancellationOutcome,
    GenerationCancel,
    cancel_remote_generations,
    cancel_unfinished,
    cancellation_outcome,
    cancellation_outcomes,
    hook_logger,
    started_run,
    still_billed_advice,
)
from prefect_oxen.engine._validation import check_batch, check_request

__all__ = [
    "BatchIncomplete",
    "BatchItem",
    "BatchPlan",
    "BatchReport",
    "CancellationOutcome",
    "DeliveredVideo",
    "GenerationCancel",
    "GenerationJournal",
    "GenerationResult",
    "GenerationSlots",
    "ItemFinished",
    "ItemPacing",
    "ItemReport",
    "ItemRun",
    "JournalEntry",
    "PersistedVideo",
    "PipelineSettings",
    "ProducedVideo",
    "ResolvedRun",
    "RunPlaces",
    "SpendGuard",
    "ValidatedRequest",
    "announce_item",
    "archive_persisted",
    "cancel_remote_generations",
    "cancel_unfinished",
    "cancellation_outcome",
    "cancellation_outcomes",
    "check_batch",
    "check_request",
    "close_shared_clients",
    "combined_result",
    "current_flow_run",
    "deliver_result",
    "ensure_concurrency_limit",
    "generate_result",
    "generation_cache_key",
    "hook_logger",
    "load_batch_items",
    "located_error",
    "log_admission",
    "money",
    "open_archive",
    "persist_result",
    "produce_result",
    "read_back_costs",
    "readable_key",
    "remember_plan",
    "remembered_plan",
    "retry_if_delivery_may_recover",
    "retry_if_item_may_recover",
    "retry_if_storage_may_recover",
    "retry_if_transient",
    "retry_if_transient_or_download",
    "run_batch_item",
    "run_item",
    "run_state_for",
    "server_keeps_data_in_sqlite",
    "shared_async_client",
    "shot_key",
    "shot_requests",
    "started_run",
    "still_billed_advice",
    "stitched_report",
    "stitched_video",
    "video_path",
    "watching_items",
]
