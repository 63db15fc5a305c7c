"""The Oxen.ai video API client: plain httpx, no Prefect.

from prefect_oxen.client import OxenClient, AsyncOxenClient, VideoRequest
"""

from prefect_oxen.client._async_client import AsyncOxenClient
from prefect_oxen.client._download import DownloadResult
from prefect_oxen.client._errors import (
    APIError,
    AuthenticationError,
    DeadlineExceeded,
    DownloadError,
    EmptyResult,
    GenerationCancelled,
    GenerationError,
    GenerationFailed,
    GenerationLost,
    GenerationNotFound,
    InsufficientCredits,
    ModelNotFound,
    NotFound,
    OutcomeUnknown,
    OxenError,
    PermissionDenied,
    RateLimited,
    RequestValidationError,
    ResultExpired,
    ServerError,
    TransportError,
    UnexpectedResponse,
)
from prefect_oxen.client._models import (
    CompletionEvent,
    Generation,
    GenerationStatus,
    ModelInfo,
    Pricing,
    Shot,
    VideoOutput,
    VideoRequest,
    VideoResponse,
)
from prefect_oxen.client._redaction import redact_text, redact_url
from prefect_oxen.client._settings import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    ApiPaths,
    ClientTimeouts,
    PollPolicy,
    RetryPolicy,
)
from prefect_oxen.client._sync_client import OxenClient
from prefect_oxen.client._sync_generation import SyncGenerationResult
from prefect_oxen.client._validation import validate_request

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "APIError",
    "ApiPaths",
    "AsyncOxenClient",
    "AuthenticationError",
    "ClientTimeouts",
    "CompletionEvent",
    "DeadlineExceeded",
    "DownloadError",
    "DownloadResult",
    "EmptyResult",
    "Generation",
    "GenerationCancelled",
    "GenerationError",
    "GenerationFailed",
    "GenerationLost",
    "GenerationNotFound",
    "GenerationStatus",
    "InsufficientCredits",
    "ModelInfo",
    "ModelNotFound",
    "NotFound",
    "OutcomeUnknown",
    "OxenClient",
    "OxenError",
    "PermissionDenied",
    "PollPolicy",
    "Pricing",
    "RateLimited",
    "RequestValidationError",
    "ResultExpired",
    "RetryPolicy",
    "ServerError",
    "Shot",
    "SyncGenerationResult",
    "TransportError",
    "UnexpectedResponse",
    "VideoOutput",
    "VideoRequest",
    "VideoResponse",
    "redact_text",
    "redact_url",
    "validate_request",
]
