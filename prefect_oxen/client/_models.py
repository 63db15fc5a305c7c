"""Typed requests and responses of the Oxen video API.

`VideoRequest` is the single request type for both the synchronous endpoint and the queue. Its
checks are the API's own: where the hosted service answers with a pydantic message such as
``Value error, Cannot provide both 'prompt' and 'multi_prompt'.``, constructing the request here
fails with the same words, before any money is spent. Fields the API documents as model-specific
(``negative_prompt``, ``elements``...) pass through untouched and are checked later against the
model's own request schema (see `prefect_oxen.client._validation`).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from prefect_oxen.client._errors import RequestValidationError

__all__ = [
    "DEFAULT_DURATION",
    "CompletionEvent",
    "Generation",
    "GenerationStatus",
    "ModelInfo",
    "Pricing",
    "Shot",
    "VideoOutput",
    "VideoRequest",
    "VideoResponse",
]

#: The API's default clip length when `duration` is omitted.
DEFAULT_DURATION = 5

BOTH_PROMPTS = "Cannot provide both 'prompt' and 'multi_prompt'."
NEITHER_PROMPT = "Either 'prompt' or 'multi_prompt' must be provided."

_ASPECT_RATIO = re.compile(r"^[1-9][0-9]{0,3}:[1-9][0-9]{0,3}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def sentence(text: str) -> str:
    """`text` ending with exactly one full stop, for joining messages into prose.

    Args:
        text: A message.

    Returns:
        `text`, with a full stop added unless it ends a sentence already.
    """
    return text if text.endswith((".", "?", "!")) else f"{text}."


def _field_named_in(message: str) -> str:
    """The field a whole-request rule is about: the prompt fields for both/neither, else the
    parameter the message names."""
    if "'prompt'" in message:
        return "prompt"
    named = re.search(
        r"(?:parameter |^Value error, |^)'?([A-Za-z_][A-Za-z0-9_]*)'? (?:is|must)", message
    )
    return named.group(1) if named else "request"


def _errors_from_pydantic(exc: ValidationError) -> RequestValidationError:
    """Turn pydantic's error list into one `RequestValidationError` naming each field."""
    for err in exc.errors(include_url=False, include_input=False):
        # pydantic runs our own __init__ inside model_validate and wraps what it raised.
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, RequestValidationError):
            return inner
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in err["loc"]) or _field_named_in(err["msg"])
        message = err["msg"]
        if err["type"] == "value_error" and not message.startswith("Value error, "):
            message = f"Value error, {message}"
        problems.append((field, message))
    text = "; ".join(
        msg
        if msg.startswith("Value error, ") and field in ("prompt", "request")
        else f"{field}: {msg}"
        for field, msg in problems
    )
    return RequestValidationError(
        f"Invalid video request: {sentence(text)} Fix the request; nothing was sent or billed.",
        field=problems[0][0] if problems else None,
        errors=problems,
        detail=text,
    )


class _RaisesRequestValidationError(BaseModel):
    """Makes construction raise `RequestValidationError` (a ValueError) instead of pydantic's."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _errors_from_pydantic(exc) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate `obj`, raising `RequestValidationError` with the API's words."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise _errors_from_pydantic(exc) from None


class Shot(BaseModel):
    """One shot of a multi-shot (``multi_prompt``) video.

    A plain pydantic model: inside a `VideoRequest` its errors surface as the request's
    `RequestValidationError` (pydantic would nest a custom error raised here).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: StrictStr = Field(min_length=1, description="What happens in this shot.")
    duration: StrictInt = Field(default=DEFAULT_DURATION, gt=0, description="Seconds.")


class VideoRequest(_RaisesRequestValidationError):
    """A video generation request, as sent to ``/api/ai/videos/generate`` or ``/api/ai/queue``.

    Example:
        >>> VideoRequest(model="kling-video-v2-6-pro-text-to-video", prompt="a red fox", duration=5)
        VideoRequest(model='kling-video-v2-6-pro-text-to-video', prompt='a red fox', ...)
    """

    # Unknown fields are model-specific parameters: kept and sent, then checked against the
    # model's request schema, where a misspelt known field is caught with a "did you mean".
    model_config = ConfigDict(extra="allow", frozen=True)

    model: StrictStr = Field(
        min_length=1, description="Model id, e.g. kling-video-v2-6-pro-text-to-video."
    )
    prompt: StrictStr | None = Field(
        default=None, description="Text prompt; exclusive with multi_prompt."
    )
    multi_prompt: list[Shot] | None = Field(
        default=None, description="Shots, for models that support it."
    )
    duration: Annotated[StrictInt, Field(gt=0)] | None = Field(
        default=None, description="Seconds (with prompt); the API's default is 5."
    )
    aspect_ratio: StrictStr | None = Field(
        default=None, description='"W:H", e.g. "16:9" (API default).'
    )
    input_image: StrictStr | list[StrictStr] | None = Field(
        default=None, description="Reference image URL(s) for image/reference-to-video models."
    )
    input_video: StrictStr | None = Field(
        default=None, description="Reference video URL (http or https)."
    )
    generate_audio: StrictBool | None = Field(
        default=None, description="Add an audio track (own rate)."
    )
    response_format: Literal["url", "b64_json"] | None = Field(
        default=None,
        description='"url" (temporary hosted URL, API default) or "b64_json" (inline).',
    )
    target_namespace: StrictStr | None = Field(
        default=None, description="User or organisation that stores the result and is billed."
    )
    seed: StrictInt | None = Field(default=None, description="Seed for reproducibility.")

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str | None) -> str | None:
        """A blank prompt counts as no prompt."""
        # A blank prompt is no prompt: the API then answers "Either 'prompt' or ... provided".
        if value is not None and not value.strip():
            return None
        return value

    @field_validator("aspect_ratio")
    @classmethod
    def _aspect_ratio_shape(cls, value: str | None) -> str | None:
        """An aspect ratio is ``W:H``."""
        if value is not None and not _ASPECT_RATIO.match(value):
            raise ValueError(f"aspect_ratio must look like 'W:H' (e.g. '16:9'), got {value!r}")
        return value

    @field_validator("input_video")
    @classmethod
    def _input_video_url(cls, value: str | None) -> str | None:
        """An input video is an http(s) URL (or an s3:// / oxen:// reference the prefect-oxen
        engine resolves to one before sending)."""
        if value is not None and not re.match(r"^(https?|s3|oxen)://[^\s/]+\S*$", value):
            raise ValueError("input_video must be an http(s) URL (or s3:// or oxen://)")
        return value

    @field_validator("input_image")
    @classmethod
    def _input_image_present(cls, value: str | list[str] | None) -> str | list[str] | None:
        """An input image, when given, is not empty."""
        images = [value] if isinstance(value, str) else (value or [])
        if value is not None and (not images or any(not image.strip() for image in images)):
            raise ValueError("input_image must be a non-empty URL or a non-empty list of URLs")
        return value

    @field_validator("target_namespace")
    @classmethod
    def _namespace_shape(cls, value: str | None) -> str | None:
        """A billing namespace has the shape of an Oxen namespace."""
        if value is not None and not _NAMESPACE.match(value):
            raise ValueError(
                "target_namespace must be a user or organisation name (letters, digits, _ . -)"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one_prompt(self) -> VideoRequest:
        """Exactly one of `prompt` and `multi_prompt`."""
        # The API's own rule and words; an empty multi_prompt list counts as none.
        has_prompt = self.prompt is not None
        has_shots = bool(self.multi_prompt)
        if has_prompt and has_shots:
            raise ValueError(BOTH_PROMPTS)
        if not has_prompt and not has_shots:
            raise ValueError(NEITHER_PROMPT)
        return self

    @model_validator(mode="after")
    def _extras_are_json(self) -> VideoRequest:
        """Model-specific extra fields have parameter names and JSON values."""
        for name, value in (self.model_extra or {}).items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", name):
                raise ValueError(f"{name!r} is not a valid parameter name")
            if name == "num_generations":
                raise ValueError(
                    "num_generations is an option of the queue call, not of the request: "
                    "use enqueue(request, num_generations=N)"
                )
            try:
                json.dumps(value, allow_nan=False)  # NaN and Infinity are not JSON
            except (TypeError, ValueError):
                raise ValueError(f"parameter {name!r} is not JSON-serialisable") from None
        return self

    @property
    def total_duration(self) -> int:
        """Seconds of video this request asks for.

        Returns:
            The sum of the shots' durations, else `duration`, else the API's default.
        """
        if self.multi_prompt:
            return sum(shot.duration for shot in self.multi_prompt)
        return self.duration if self.duration is not None else DEFAULT_DURATION

    def to_payload(self) -> dict[str, Any]:
        """The JSON body to send.

        Returns:
            The request as JSON, unset fields omitted so the API applies its own defaults.
        """
        return self.model_dump(mode="json", exclude_none=True)

    def fingerprint(self) -> str:
        """A stable sha256 of the request body: the identity used for caching and journals.

        Returns:
            The hex digest of the canonical JSON payload.
        """
        canonical = json.dumps(self.to_payload(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# --- responses -------------------------------------------------------------------------------


class VideoOutput(BaseModel):
    """One generated video: a temporary `url` or the inline `b64_json` mp4, as the API sent it."""

    model_config = ConfigDict(extra="allow")

    url: str | None = None
    b64_json: str | None = Field(default=None, repr=False)

    def __repr__(self) -> str:
        # Never print a signed URL's token or megabytes of base64 in a repr.
        from prefect_oxen.client._redaction import redact_url

        if self.url:
            return f"VideoOutput(url={redact_url(self.url)!r})"
        size = len(self.b64_json or "")
        return f"VideoOutput(b64_json=<{size} base64 chars>)"

    __str__ = __repr__


class VideoResponse(BaseModel):
    """The synchronous endpoint's answer: ``{"model", "created", "videos": [...]}``."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    created: int | None = None
    videos: list[VideoOutput] = Field(default_factory=list)


class GenerationStatus(str, enum.Enum):
    """States of a queued generation; the last three are terminal."""

    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the status is final (succeeded, failed or cancelled)."""
        return self in (
            GenerationStatus.SUCCEEDED,
            GenerationStatus.FAILED,
            GenerationStatus.CANCELLED,
        )


class Generation(BaseModel):
    """A row of the async queue (``GET /api/ai/queue/:id``); request parameters are echoed."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    generation_id: str
    status: GenerationStatus
    model_name: str | None = None
    media_type: str | None = None
    prompt: str | None = None
    result_url: str | None = None
    error_message: str | None = None
    enqueued_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    cost: float | str | None = None
    retried_from_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the generation has finished, one way or another."""
        return self.status.is_terminal

    def __repr__(self) -> str:
        from prefect_oxen.client._redaction import redact_url

        url = redact_url(self.result_url) if self.result_url else None
        return (
            f"Generation(generation_id={self.generation_id!r}, status={self.status.value!r}, "
            f"model_name={self.model_name!r}, result_url={url!r}, "
            f"error_message={self.error_message!r})"
        )

    __str__ = __repr__


class CompletionEvent(BaseModel):
    """A ``media_generation_completed`` server-sent event."""

    model_config = ConfigDict(extra="allow")

    generation_id: str
    status: GenerationStatus
    media_type: str | None = None
    model: str | None = None
    url: str | None = None
    error: str | None = None


class Pricing(BaseModel):
    """A model's price list. Video cost = seconds x (audio rate if audio else base rate)."""

    model_config = ConfigDict(extra="allow")

    method: str | None = None
    cost_per_second: float | None = None
    cost_per_second_with_audio: float | None = None
    cost_per_second_high_res: float | None = None
    cost_per_image: float | None = None
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None

    def video_cost(self, seconds: float, *, with_audio: bool = False) -> float | None:
        """Price of `seconds` of video.

        Args:
            seconds: Length of the video.
            with_audio: Price with generated audio.

        Returns:
            USD, or None when the model has no per-second price.
        """
        rate = self.cost_per_second_with_audio if with_audio else self.cost_per_second
        if rate is None and with_audio:
            rate = self.cost_per_second
        return None if rate is None else round(seconds * rate, 6)


class ModelInfo(BaseModel):
    """A catalogue entry, read from either documented shape (``id``/``request_schema`` or the
    older ``name``/``json_request_schema``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str
    display_name: str | None = None
    description: str | None = None
    summary: str | None = None
    model_type: str | None = None
    endpoint: str | None = None
    capabilities: dict[str, Any] | None = None
    pricing: Pricing = Field(default_factory=Pricing)
    request_schema: dict[str, Any] | None = None
    deprecated: bool | None = None
    can_run_inference: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _accept_older_shape(cls, data: Any) -> Any:
        """Read the older catalogue shape as well as the current one."""
        if isinstance(data, dict):
            data = dict(data)
            if "id" not in data and "name" in data:
                data["id"] = data["name"]
            if data.get("request_schema") is None and "json_request_schema" in data:
                data["request_schema"] = data["json_request_schema"]
            if data.get("pricing") is None:
                data["pricing"] = {}
        return data

    @property
    def output_media(self) -> str | None:
        """``"video"``, ``"image"``, ``"text"``... from capabilities or the endpoint, if stated."""
        outputs = (self.capabilities or {}).get("output") or []
        if isinstance(outputs, list) and outputs:
            return str(outputs[0])
        if self.endpoint:
            for media in ("video", "image"):
                if media in self.endpoint:
                    return media
        return None

    @property
    def schema_properties(self) -> dict[str, Any]:
        """The properties of the model's request schema ({} when it has none)."""
        return dict((self.request_schema or {}).get("properties") or {})

    @property
    def supports_multi_prompt(self) -> bool:
        """True when the request schema declares ``multi_prompt``."""
        return "multi_prompt" in self.schema_properties

    def estimate_cost(self, request: VideoRequest) -> float | None:
        """Price of `request` from this model's pricing.

        Args:
            request: The request to price.

        Returns:
            USD, or None when the model has no video rate.
        """
        return self.pricing.video_cost(
            request.total_duration, with_audio=bool(request.generate_audio)
        )
