"""Request validation with the hub's documented messages, from each model's request schema."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from prefect_oxen.emulator._catalogue import Model
from prefect_oxen.emulator._render import ImageSpec, Shot, VideoSpec

_WRAP_PREFIX = "Getting model response error: 422 - Value error, "


class InvalidRequest(Exception):
    """A request the emulator refuses; carries the HTTP status, error type and message."""

    def __init__(self, message: str, *, status: int = 422, kind: str = "invalid_params") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind


def wrap(message: str, enabled: bool) -> str:
    """The message as the hub shows it since 2026-04 when `enabled`, else bare."""
    return f"{_WRAP_PREFIX}{message}" if enabled else message


def _location(error: ValidationError) -> str:
    """The dotted path of the failing field ("multi_prompt.0.prompt")."""
    return ".".join(str(part) for part in error.absolute_path)


def _describe(error: ValidationError) -> str:
    """A schema error in the wording the hub's pydantic validation uses."""
    where = _location(error)
    if error.validator == "required":
        # Name the missing field the way pydantic does ("multi_prompt.0.prompt: Field required").
        instance = error.instance if isinstance(error.instance, dict) else {}
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = next(name for name in required if name not in instance)
        where = f"{where}.{missing}" if where else missing
        return f"{where}: Field required"
    if error.validator == "maxLength":
        return f"{where}: String should have at most {error.validator_value} characters"
    if error.validator == "minLength":
        return f"{where}: String should have at least {error.validator_value} characters"
    return f"{where}: {error.message}" if where else error.message


def _check_schema(model: Model, params: dict[str, Any], wrapped: bool) -> None:
    """Validate `params` against `model`'s request schema; InvalidRequest if not."""
    validator = Draft202012Validator(model.request_schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise InvalidRequest(wrap(_describe(errors[0]), wrapped))


def _present(params: dict[str, Any], name: str) -> bool:
    """True when `name` is given (an empty multi_prompt counts as absent)."""
    value = params.get(name)
    if name == "multi_prompt":
        return bool(value)  # an empty list counts as absent
    return value is not None


def video_spec(model: Model, params: dict[str, Any], wrapped: bool) -> VideoSpec:
    """Validate a video request for `model` and return what to render; raises InvalidRequest."""
    if model.media_type != "video":
        raise InvalidRequest(f"Model {model.id} does not generate videos.")
    has_prompt, has_shots = _present(params, "prompt"), _present(params, "multi_prompt")
    if has_prompt and has_shots:
        raise InvalidRequest(wrap("Cannot provide both 'prompt' and 'multi_prompt'.", wrapped))
    if not has_prompt and not has_shots:
        raise InvalidRequest(wrap("Either 'prompt' or 'multi_prompt' must be provided.", wrapped))
    if has_shots and not model.supports_multi_prompt:
        raise InvalidRequest(wrap(f"Model {model.id} does not support 'multi_prompt'.", wrapped))
    rule = model.duration
    assert rule is not None
    duration = params.get("duration", rule.default)
    if isinstance(duration, int) and not isinstance(duration, bool) and not rule.allows(duration):
        raise InvalidRequest(
            wrap(
                f"duration value '{duration}' is invalid. "
                f"Try using duration='{rule.default}' instead...",
                wrapped,
            )
        )
    checked = {
        k: v for k, v in params.items() if not (k in ("prompt", "multi_prompt") and v is None)
    }
    if not has_shots:
        checked.pop("multi_prompt", None)  # `[]` counts as absent, not as an invalid value
    _check_schema(model, checked, wrapped)
    if has_shots:
        shot_rule = model.shots
        assert shot_rule is not None
        shots = tuple(
            Shot(item["prompt"], item.get("duration", shot_rule.shot_default))
            for item in params["multi_prompt"]
        )
        total = sum(shot.duration for shot in shots)
        if total > shot_rule.total_maximum:
            raise InvalidRequest(
                wrap(
                    f"Total shot duration ({total}s) exceeds maximum allowed "
                    f"({shot_rule.total_maximum}s).",
                    wrapped,
                )
            )
        if total < shot_rule.total_minimum:
            raise InvalidRequest(
                wrap(
                    f"Total shot duration ({total}s) is below minimum allowed "
                    f"({shot_rule.total_minimum}s).",
                    wrapped,
                )
            )
    else:
        shots = (Shot(params["prompt"], duration),)
    return VideoSpec(
        model=model.id,
        shots=shots,
        aspect_ratio=params.get("aspect_ratio") or "16:9",
        seed=params.get("seed"),
        generate_audio=bool(params.get("generate_audio", False)),
    )


def image_spec(model: Model, params: dict[str, Any], wrapped: bool) -> ImageSpec:
    """Validate an image request for `model` and return what to render; raises InvalidRequest."""
    if model.media_type != "image":
        raise InvalidRequest(f"Model {model.id} does not generate images.")
    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("Prompt cannot be empty")
    _check_schema(model, params, wrapped)
    return ImageSpec(
        model=model.id,
        prompt=prompt,
        aspect_ratio=params.get("aspect_ratio") or "1:1",
        seed=params.get("seed"),
    )
