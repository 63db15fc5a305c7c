"""One exception hierarchy for everything the Oxen client can raise.

Every error carries the context a caller needs to decide what to do next (status code, API error
type, generation id, whether a retry is safe) and a message that says it in words. None of them
ever carries the API key or a signed URL's query string: messages are built from redacted parts.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "BranchExists",
    "BranchMoved",
    "BranchNotFound",
    "DeadlineExceeded",
    "DownloadError",
    "EmptyResult",
    "GenerationCancelled",
    "GenerationError",
    "GenerationFailed",
    "GenerationLost",
    "GenerationNotFound",
    "InsufficientCredits",
    "InvalidRepoUri",
    "ModelNotFound",
    "NotFound",
    "NothingToCommit",
    "OutcomeUnknown",
    "OxenError",
    "PermissionDenied",
    "RateLimited",
    "RepositoryExists",
    "RepositoryNotFound",
    "RepositoryPathNotFound",
    "RequestValidationError",
    "ResultExpired",
    "ServerError",
    "TransportError",
    "UnexpectedResponse",
    "WorkspaceNotFound",
]


class OxenError(Exception):
    """Base class of every error raised by prefect-oxen's client."""

    #: Whether repeating the same call could succeed without paying twice.
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- transport ------------------------------------------------------------------------------


class TransportError(OxenError):
    """The HTTP exchange itself failed (connect, read, protocol); nothing usable came back."""

    def __init__(self, message: str, *, method: str = "", url: str = "", sent: bool = True) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        #: False when the request never left this machine (connect failures): always safe to repeat.
        self.sent = sent
        self.retryable = True


class OutcomeUnknown(TransportError):
    """A paid request was sent but its answer was lost: it may have been accepted and billed.

    Raised when the connection broke after sending, and when the API answered a paid POST with
    a server error that does not say whether the work was accepted (500, 502, 504): then
    `status_code` and `detail` hold the API's answer. The client never re-sends such a request
    blindly. For an enqueue it reconciles with the queue first; for a synchronous generation it
    raises this so the caller can check before paying again.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        status_code: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url, sent=True)
        self.retryable = False
        self.status_code = status_code
        self.detail = detail


# --- API answered with an error --------------------------------------------------------------


class APIError(OxenError):
    """The API answered with an error status; `status_code`, `error_type` and `detail` say which."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        detail: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        #: The human message exactly as the API sent it (without our advice appended).
        self.detail = detail if detail is not None else message
        self.body = body


class AuthenticationError(APIError):
    """The API key is missing, wrong or revoked (401)."""


class PermissionDenied(APIError):
    """The key is valid but may not do this (403)."""


class InsufficientCredits(APIError):
    """The account (or `target_namespace`) has no credits left.

    The API says so with a 402, or with a 403 whose message reads "Insufficient credits".
    """


class NotFound(APIError):
    """The route or resource does not exist (404)."""


class ModelNotFound(NotFound):
    """The model id is not in the catalogue (`Model not found: <name>`)."""

    def __init__(self, message: str, *, model: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.model = model


class GenerationNotFound(NotFound):
    """No generation with this id is known to the API (404)."""

    def __init__(self, message: str, *, generation_id: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.generation_id = generation_id


class RequestValidationError(APIError, ValueError):
    """The request is invalid; raised locally before any money is spent, or by the API (400/422).

    `field` names the offending field (dotted path, e.g. ``multi_prompt.0.prompt``) when known;
    `errors` lists every problem found as ``(field, message)`` pairs.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: list[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.field = field
        self.errors = errors if errors is not None else [(field or "", message)]


class RateLimited(APIError):
    """Too many requests (429); `retry_after` is the server's requested pause in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.retryable = True


#: Server errors worth another attempt of a call that is safe to repeat.
_TRANSIENT_SERVER_STATUSES = frozenset({500, 502, 503, 504})


class ServerError(APIError):
    """The API failed on its side (5xx); 500/502/503/504 are transient.

    Reads and cancels are repeated on any of them. A paid POST never gets this for 500, 502 or
    504 (whether the work was accepted is unknown: `OutcomeUnknown` instead), only for 503,
    which says the request was not taken on, so repeating it cannot bill twice.
    """

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retryable = self.status_code in _TRANSIENT_SERVER_STATUSES


class UnexpectedResponse(APIError):
    """The API answered with something this client does not understand.

    An unknown status, a body that is not JSON, or JSON of an unknown shape.
    """


# --- generations -----------------------------------------------------------------------------


class GenerationError(OxenError):
    """A queued generation did not produce a usable video."""

    def __init__(self, message: str, *, generation_id: str) -> None:
        super().__init__(message)
        self.generation_id = generation_id


class GenerationFailed(GenerationError):
    """The API reports the generation `failed`; `error_message` is the API's reason."""

    def __init__(self, message: str, *, generation_id: str, error_message: str | None) -> None:
        super().__init__(message, generation_id=generation_id)
        self.error_message = error_message


class GenerationCancelled(GenerationError):
    """The generation was cancelled (by this client, another client or the service)."""


class EmptyResult(GenerationError):
    """The generation succeeded but returned no video (filtered or empty output)."""


class GenerationLost(GenerationError):
    """The API no longer knows a generation this client enqueued: its outcome is unknown."""


class DeadlineExceeded(GenerationError):
    """A generation did not start or finish before its deadline; it may still be running remotely.

    `stage` is ``"start"`` or ``"finish"``. The generation id is kept so the caller can cancel it
    or collect it later instead of paying again.
    """

    def __init__(self, message: str, *, generation_id: str, stage: str, waited: float) -> None:
        super().__init__(message, generation_id=generation_id)
        self.stage = stage
        self.waited = waited


# --- results ---------------------------------------------------------------------------------


class DownloadError(OxenError):
    """Downloading a result failed after the allowed attempts (cut body, size mismatch...)."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.retryable = True


class ResultExpired(DownloadError):
    """The signed result URL expired and there is no generation id to fetch a fresh one."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message, url=url)
        self.retryable = False


# --- repositories ----------------------------------------------------------------------------


class RepositoryNotFound(NotFound):
    """No repository `namespace/name` (or the key may not see it)."""

    def __init__(self, message: str, *, namespace: str, name: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.namespace = namespace
        self.name = name


class BranchNotFound(NotFound):
    """The repository has no branch (or revision) `branch`."""

    def __init__(
        self, message: str, *, namespace: str, name: str, branch: str, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.namespace = namespace
        self.name = name
        self.branch = branch


class WorkspaceNotFound(NotFound):
    """The workspace is gone: never created, deleted, or ended by its commit."""

    def __init__(self, message: str, *, workspace_id: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.workspace_id = workspace_id


class RepositoryPathNotFound(NotFound):
    """No file or directory at `path` in `revision` of the repository."""

    def __init__(self, message: str, *, revision: str, path: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.revision = revision
        self.path = path


class RepositoryExists(APIError):
    """Creating a repository that already exists (409)."""

    def __init__(self, message: str, *, namespace: str, name: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.namespace = namespace
        self.name = name


class BranchExists(APIError):
    """Creating a branch that already exists (409)."""

    def __init__(self, message: str, *, branch: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.branch = branch


class BranchMoved(APIError):
    """A workspace commit was refused: the branch moved since the workspace opened and changed
    a file the workspace also staged ("workspace is behind").

    Nothing was committed and the workspace keeps what it staged. `workspace_commit_id` is the
    commit the workspace started from and `branch_commit_id` the branch's head when refused (when
    the API said so). Open a fresh workspace on the branch, stage the merged files again, commit.
    """

    def __init__(
        self,
        message: str,
        *,
        namespace: str,
        name: str,
        branch: str,
        workspace_id: str,
        workspace_commit_id: str | None = None,
        branch_commit_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.namespace = namespace
        self.name = name
        self.branch = branch
        self.workspace_id = workspace_id
        self.workspace_commit_id = workspace_commit_id
        self.branch_commit_id = branch_commit_id


class NothingToCommit(APIError):
    """A workspace commit with nothing staged."""

    def __init__(self, message: str, *, workspace_id: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.workspace_id = workspace_id


class InvalidRepoUri(OxenError, ValueError):
    """A string that is not ``oxen://NAMESPACE/REPO[@BRANCH][/PATH]``; `reason` says why."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(f"Not an Oxen repository URI ({reason}): {uri!r}")
        self.uri = uri
        self.reason = reason
