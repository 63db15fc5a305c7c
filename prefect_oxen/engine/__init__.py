"""The per-item engine: plain async machinery the tasks and flows share.

Nothing here is a Prefect task or flow. It is what makes one video safe to pay for (the journal,
reattaching, the shared clients, retry conditions), the bodies of the steps the tasks run
(validate, generate, persist, archive, deliver, produce), the records they hand each other, how
flow parameters become settings, and what makes a batch fast and safe (admission, claims, budget,
progress, reports, stop hooks).
"""

from prefect_oxen.engine._admission import (
    LEASE_SECONDS,
    GenerationSlots,
    ItemPacing,
    current_pacing,
    pacing_scope,
)
from prefect_oxen.engine._archive import (
    ArchiveDestination,
    archive_key,
    archive_persisted,
    open_archive,
)
from prefect_oxen.engine._batch import (
    BatchPlan,
    database_is_sqlite,
    ensure_concurrency_limit,
    log_admission,
    read_back_costs,
    remember_plan,
    remembered_plan,
    run_batch_item,
    server_keeps_data_in_sqlite,
)
from prefect_oxen.engine._budget import SpendGuard
from prefect_oxen.engine._claims import ItemClaim, claim_item
from prefect_oxen.engine._clients import (
    close_shared_clients,
    shared_async_client,
    using_shared_clients,
)
from prefect_oxen.engine._delivery import deliver_result, produce_result
from prefect_oxen.engine._generation import (
    GenerationMode,
    current_flow_run_id,
    generate_result,
    generation_cache_key,
)
from prefect_oxen.engine._inputs import (
    BatchInput,
    BatchItem,
    InputProblem,
    load_batch_items,
    readable_key,
)
from prefect_oxen.engine._item import (
    ItemRun,
    Producer,
    already_archived,
    archived_entry,
    request_prompt,
    run_item,
)
from prefect_oxen.engine._journal import (
    GenerationJournal,
    JournalEntry,
    default_journal_path,
    journal_at,
)
from prefect_oxen.engine._multi_shot import (
    combined_result,
    shot_key,
    shot_requests,
    stitched_report,
    stitched_video,
)
from prefect_oxen.engine._persist import persist_result, persisted_video, video_path
from prefect_oxen.engine._progress import ItemFinished, announce_item, watching_items
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
    ItemReport,
    ItemStatus,
    located_error,
    money,
)
from prefect_oxen.engine._retry import (
    retry_if_delivery_may_recover,
    retry_if_item_may_recover,
    retry_if_storage_may_recover,
    retry_if_transient,
    retry_if_transient_or_download,
)
from prefect_oxen.engine._run_names import named_after
from prefect_oxen.engine._run_scope import started_run
from prefect_oxen.engine._run_state import (
    FileRunState,
    RunState,
    RunStateSettings,
    run_state_at,
    run_state_for,
    state_location_for,
)
from prefect_oxen.engine._s3_run_state import CLAIM_SECONDS, S3RunState
from prefect_oxen.engine._settings import (
    PipelineSettings,
    ResolvedRun,
    RunPlaces,
    aresolve_archive,
    aresolve_credentials,
    resolve_archive,
    resolve_credentials,
)
from prefect_oxen.engine._stop import (
    CancellationOutcome,
    GenerationCancel,
    cancel_remote_generations,
    cancel_unfinished,
    cancellation_outcome,
    cancellation_outcomes,
    remember_run,
    usable_api_key,
)
from prefect_oxen.engine._validation import check_batch, check_request, describe_error

__all__ = [
    "CLAIM_SECONDS",
    "LEASE_SECONDS",
    "ArchiveDestination",
    "BatchIncomplete",
    "BatchInput",
    "BatchItem",
    "BatchPlan",
    "BatchReport",
    "CancellationOutcome",
    "DeliveredVideo",
    "FileRunState",
    "GenerationCancel",
    "GenerationJournal",
    "GenerationMode",
    "GenerationResult",
    "GenerationSlots",
    "InputProblem",
    "ItemClaim",
    "ItemFinished",
    "ItemPacing",
    "ItemReport",
    "ItemRun",
    "ItemStatus",
    "JournalEntry",
    "PersistedVideo",
    "PipelineSettings",
    "ProducedVideo",
    "Producer",
    "ResolvedRun",
    "RunPlaces",
    "RunState",
    "RunStateSettings",
    "S3RunState",
    "SpendGuard",
    "ValidatedRequest",
    "already_archived",
    "announce_item",
    "archive_key",
    "archive_persisted",
    "archived_entry",
    "aresolve_archive",
    "aresolve_credentials",
    "cancel_remote_generations",
    "cancel_unfinished",
    "cancellation_outcome",
    "cancellation_outcomes",
    "check_batch",
    "check_request",
    "claim_item",
    "close_shared_clients",
    "combined_result",
    "current_flow_run_id",
    "current_pacing",
    "database_is_sqlite",
    "default_journal_path",
    "deliver_result",
    "describe_error",
    "ensure_concurrency_limit",
    "generate_result",
    "generation_cache_key",
    "journal_at",
    "load_batch_items",
    "located_error",
    "log_admission",
    "money",
    "named_after",
    "open_archive",
    "pacing_scope",
    "persist_result",
    "persisted_video",
    "produce_result",
    "read_back_costs",
    "readable_key",
    "remember_plan",
    "remember_run",
    "remembered_plan",
    "request_prompt",
    "resolve_archive",
    "resolve_credentials",
    "retry_if_delivery_may_recover",
    "retry_if_item_may_recover",
    "retry_if_storage_may_recover",
    "retry_if_transient",
    "retry_if_transient_or_download",
    "run_batch_item",
    "run_item",
    "run_state_at",
    "run_state_for",
    "server_keeps_data_in_sqlite",
    "shared_async_client",
    "shot_key",
    "shot_requests",
    "started_run",
    "state_location_for",
    "stitched_report",
    "stitched_video",
    "usable_api_key",
    "using_shared_clients",
    "video_path",
    "watching_items",
]
