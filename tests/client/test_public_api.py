"""The client package's surface: `__all__` pinned, and only private modules behind it."""

from __future__ import annotations

import pkgutil
import types

import prefect_oxen.client as package

# Pinned: a name leaves (or joins) the public surface only by changing this list.
PUBLIC = [
    "API_KEY_ENV",
    "APIError",
    "ApiPaths",
    "AsyncOxenClient",
    "AuthenticationError",
    "BASE_URL_ENV",
    "ClientTimeouts",
    "CompletionEvent",
    "DEFAULT_BASE_URL",
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


def test_all_is_pinned() -> None:
    assert sorted(package.__all__) == sorted(PUBLIC)


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public -= {"annotations"}  # from __future__ import annotations
    assert sorted(package.__all__) == sorted(public)
    assert all(getattr(package, name, None) is not None for name in package.__all__)


def test_implementation_modules_are_private() -> None:
    modules = [info.name for info in pkgutil.iter_modules(package.__path__)]
    assert modules
    assert [name for name in modules if not name.startswith("_")] == []
