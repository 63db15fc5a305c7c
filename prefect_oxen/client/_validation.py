"""Per-model validation: check a `VideoRequest` against the model's own request schema.

`VideoRequest` already enforces what holds for every model (one of prompt/multi_prompt, types,
ranges). What a given model accepts (allowed durations, aspect ratios, multi-shot limits, required
reference images) lives in the JSON Schema the catalogue publishes for it, so that is checked here
with `jsonschema`, and failures are phrased the way the API phrases them.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import (
    ValidationError as SchemaError,
)
from jsonschema.validators import validator_for

from prefect_oxen.client._errors import RequestValidationError
from prefect_oxen.client._models import ModelInfo, VideoRequest, sentence

__all__ = ["validate_request"]

# A cache of compiled validators keyed by schema text (models have a handful of schemas).
_VALIDATORS: dict[str, Any] = {}

# Request fields the API handles itself rather than the model: never checked against the schema
# unless the schema declares them.
_API_FIELDS = {"model", "target_namespace", "response_format", "num_generations"}


def validate_request(request: VideoRequest, model_info: ModelInfo) -> VideoRequest:
    """Check `request` against `model_info` (media type, multi-shot support, request schema).

    Nothing is sent: this is the last gate before money is spent.

    Args:
        request: The request to check.
        model_info: The details of the model it is for.

    Returns:
        The request unchanged, when it is valid.

    Raises:
        RequestValidationError: Naming every offending field.
    """
    problems: list[tuple[str, str]] = []
    if request.model != model_info.id:
        problems.append(
            (
                "model",
                f"request is for {request.model!r} but the model details are for {model_info.id!r}",
            )
        )
    media = model_info.output_media
    if media is not None and media != "video":
        problems.append(("model", f"Model {model_info.id!r} generates {media}, not video"))
    if model_info.can_run_inference is False or model_info.deprecated is True:
        problems.append(("model", f"Model {model_info.id!r} is deprecated or cannot run inference"))
    schema = model_info.request_schema
    if schema:
        properties = model_info.schema_properties
        if request.multi_prompt and properties and "multi_prompt" not in properties:
            problems.append(
                (
                    "multi_prompt",
                    f"Model {model_info.id!r} does not support multi_prompt; use prompt",
                )
            )
        problems.extend(_unknown_fields(request, schema))
        problems.extend(_schema_problems(request, schema))
        if request.multi_prompt and "multi_prompt" in properties:
            problems.extend(_total_shot_duration(request, properties))
    if problems:
        text = "; ".join(f"{field}: {message}" if field else message for field, message in problems)
        raise RequestValidationError(
            f"Invalid request for model {model_info.id!r}: {sentence(text)} Fix the request; "
            "nothing was sent or billed.",
            field=problems[0][0] or None,
            errors=problems,
            detail=text,
        )
    return request


def _instance(request: VideoRequest, schema: dict[str, Any]) -> dict[str, Any]:
    """The request as the JSON instance its model's schema describes."""
    declared = set((schema.get("properties") or {}).keys())
    return {k: v for k, v in request.to_payload().items() if k not in _API_FIELDS or k in declared}


def _unknown_fields(request: VideoRequest, schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Extra fields the schema does not know: an error with a suggestion when it looks misspelt."""
    declared = set((schema.get("properties") or {}).keys())
    if not declared:
        return []
    known = declared | set(VideoRequest.model_fields)
    problems = []
    for name in request.model_extra or {}:
        if name in declared:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        if close:
            problems.append((name, f"unknown parameter {name!r}; did you mean {close[0]!r}?"))
        elif schema.get("additionalProperties") is False:
            problems.append((name, f"unknown parameter {name!r} for this model"))
    return problems


def _validator(schema: dict[str, Any]) -> Any:
    """A compiled validator per schema: building one costs more than validating with it."""
    key = json.dumps(schema, sort_keys=True, default=str)
    validator = _VALIDATORS.get(key)
    if validator is None:
        validator_cls = validator_for(schema, default=Draft202012Validator)
        validator = _VALIDATORS[key] = validator_cls(schema)
    return validator


def _schema_problems(request: VideoRequest, schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (field, problem) the model's schema finds in the request."""
    validator = _validator(schema)
    instance = _instance(request, schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [_phrase(error) for error in errors]


def _phrase(error: SchemaError) -> tuple[str, str]:
    """Word a schema error as the API does (``duration value '2' is invalid. Try using ...``)."""
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        field = f"{path}.{missing}" if path else missing
        return field, "Field required"
    if (
        error.validator == "enum"
        and isinstance(error.validator_value, list)
        and error.validator_value
    ):
        suggestion = _nearest(error.instance, error.validator_value)
        name = path.rsplit(".", 1)[-1] if path else "value"
        return (
            path,
            f"{name} value '{error.instance}' is invalid. "
            f"Try using {name}='{suggestion}' instead...",
        )
    if error.validator in (
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    ):
        return (
            path,
            f"{error.instance!r} is out of range ({error.validator} {error.validator_value})",
        )
    if error.validator == "maxLength":
        length = len(error.instance) if isinstance(error.instance, str) else "?"
        return path, f"too long: {length} characters (at most {error.validator_value})"
    if error.validator == "additionalProperties":
        return path or "request", error.message
    return path or "request", error.message


def _nearest(value: Any, allowed: list[Any]) -> Any:
    """For a hint: the allowed number nearest a numeric `value`, else the first allowed value."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        numeric = [a for a in allowed if isinstance(a, (int, float)) and not isinstance(a, bool)]
        if numeric:
            return min(numeric, key=lambda a: (abs(a - value), a))
    return allowed[0]


def _total_shot_duration(
    request: VideoRequest, properties: dict[str, Any]
) -> list[tuple[str, str]]:
    """Multi-shot totals must fit the model's duration range (Kling O3: 3-15 s)."""
    limits = properties.get("duration") or {}
    total = request.total_duration
    maximum = limits.get("maximum")
    minimum = limits.get("minimum")
    if isinstance(maximum, int) and total > maximum:
        return [
            (
                "multi_prompt",
                f"Total shot duration ({total}s) exceeds maximum allowed ({maximum}s).",
            )
        ]
    if isinstance(minimum, int) and total < minimum:
        return [
            (
                "multi_prompt",
                f"Total shot duration ({total}s) is below minimum allowed ({minimum}s).",
            )
        ]
    return []
