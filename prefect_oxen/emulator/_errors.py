"""The hub's two documented error body shapes, as Starlette responses."""

from __future__ import annotations

from starlette.responses import JSONResponse

_TITLES = {
    "unauthenticated": "Unauthenticated",
    "invalid_params": "Invalid parameters",
    "resource_not_found": "The requested resource could not be found",
    "unknown_error": "Unknown error",
    "rate_limited": "Too many requests",
    "forbidden": "Forbidden",
    "insufficient_credits": "Insufficient credits",
    "unsupported_media_type": "Unsupported media type",
}


def error_response(
    status: int,
    kind: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """`{"error": {"type", "title", "detail"}, "status": "error", "status_message": kind}`."""
    error: dict[str, str] = {"type": kind, "title": _TITLES.get(kind, kind)}
    if detail is not None:
        error["detail"] = detail
    body = {"error": error, "status": "error", "status_message": kind}
    return JSONResponse(body, status_code=status, headers=headers)


def not_found_response() -> JSONResponse:
    """The documented 404 for an unknown generation or route (no detail)."""
    return error_response(404, "resource_not_found")


def model_not_found_response(model: str) -> JSONResponse:
    """The other documented shape: `{"error": {"message": "Model not found: <name>"}}`."""
    return JSONResponse({"error": {"message": f"Model not found: {model}"}}, status_code=404)
