"""The emulator's model catalogue: request schemas, pricing and the two published views of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

MediaType = Literal["video", "image", "text"]

ASPECT_RATIOS = ["16:9", "9:16", "1:1"]
#: Fields every generation route accepts whatever the model (they are not model parameters).
ROUTING_FIELDS = ("model", "response_format", "target_namespace", "num_generations")
_CREATED = 1_767_225_600  # 2026-01-01, fixed so catalogue responses never change.


@dataclass(frozen=True)
class DurationRule:
    """Which whole-second durations a model offers: an explicit list or an inclusive range."""

    default: int
    choices: tuple[int, ...] = ()
    minimum: int = 1
    maximum: int = 15

    def allows(self, value: int) -> bool:
        """Whether `value` seconds is a duration this model renders."""
        if self.choices:
            return value in self.choices
        return self.minimum <= value <= self.maximum

    def schema(self) -> dict[str, Any]:
        """The JSON-Schema fragment describing this rule."""
        if self.choices:
            return {"type": "integer", "enum": list(self.choices), "default": self.default}
        return {
            "type": "integer",
            "minimum": self.minimum,
            "maximum": self.maximum,
            "default": self.default,
        }


@dataclass(frozen=True)
class ShotRule:
    """Limits of a multi-shot (multi_prompt) request."""

    prompt_max_length: int = 512
    shot_minimum: int = 1
    shot_maximum: int = 15
    shot_default: int = 5
    total_minimum: int = 3
    total_maximum: int = 15


@dataclass(frozen=True)
class Model:
    """One catalogue entry; `pricing` and `request_schema` follow the hosted model object."""

    id: str
    display_name: str
    developer: str
    action: str
    media_type: MediaType
    endpoint: str
    summary: str
    pricing: dict[str, Any]
    inputs: tuple[str, ...]
    duration: DurationRule | None = None
    shots: ShotRule | None = None
    requires_input_image: bool = False
    extra_properties: dict[str, Any] = field(default_factory=dict)

    @property
    def supports_multi_prompt(self) -> bool:
        """Whether the model accepts `multi_prompt`."""
        return self.shots is not None

    def request_schema(self) -> dict[str, Any]:
        """JSON Schema of the model's parameters (unknown extra fields are allowed)."""
        props: dict[str, Any] = {
            "model": {"type": "string"},
            "prompt": {"type": "string", "minLength": 1, "maxLength": 2500},
            "seed": {"type": ["integer", "null"]},
            "target_namespace": {"type": "string"},
            "response_format": {"type": "string", "enum": ["url", "b64_json"], "default": "url"},
            "aspect_ratio": {
                "type": "string",
                "enum": ASPECT_RATIOS,
                "default": "1:1" if self.media_type == "image" else "16:9",
            },
        }
        required: list[str] = ["model"]
        if self.media_type == "video":
            assert self.duration is not None
            props["duration"] = self.duration.schema()
            props["generate_audio"] = {"type": "boolean", "default": False}
            props["negative_prompt"] = {"type": "string", "maxLength": 2500}
            props["input_image"] = {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            }
            props["input_video"] = {"type": "string"}
        if self.shots is not None:
            rule = self.shots
            props["multi_prompt"] = {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "prompt": {"type": "string", "maxLength": rule.prompt_max_length},
                        "duration": {
                            "type": "integer",
                            "minimum": rule.shot_minimum,
                            "maximum": rule.shot_maximum,
                            "default": rule.shot_default,
                        },
                    },
                    "required": ["prompt"],
                },
                "description": f"Shots rendered back to back; total duration "
                f"{rule.total_minimum}-{rule.total_maximum} s.",
            }
        if self.requires_input_image:
            required.append("input_image")
        if self.media_type == "text":
            props = {
                "model": {"type": "string"},
                "messages": {"type": "array", "items": {"type": "object"}},
            }
            required = ["model", "messages"]
        props.update(self.extra_properties)
        return {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": True,
        }

    def unit_cost(self, generate_audio: bool) -> Decimal:
        """Price of one second of video (or of one image), as an exact decimal."""
        if self.pricing["method"] == "per_image":
            return Decimal(str(self.pricing["cost_per_image"]))
        if self.pricing["method"] != "per_video_output_second":
            return Decimal(0)
        key = "cost_per_second_with_audio" if generate_audio else "cost_per_second"
        # The audio rate replaces the base rate; it is not a surcharge.
        return Decimal(str(self.pricing[key]))

    def as_model_object(self) -> dict[str, Any]:
        """The hosted `/api/ai/models` representation."""
        outputs = {"video": ["video"], "image": ["image"], "text": ["text"]}[self.media_type]
        return {
            "id": self.id,
            "object": "model",
            "owned_by": self.developer.lower().replace(" ", "-"),
            "display_name": self.display_name,
            "description": self.summary,
            "summary": self.summary,
            "created": _CREATED,
            "released_at": "2026-01-01T00:00:00Z",
            "developer": {"name": self.developer, "logo": None},
            "model_type": "base",
            "action": self.action,
            "endpoint": self.endpoint,
            "deployment_status": "live",
            "capabilities": {"input": list(self.inputs), "output": outputs},
            "pricing": dict(self.pricing),
            "request_schema": self.request_schema(),
        }

    def as_evaluation_model(self) -> dict[str, Any]:
        """The older `/api/evaluations/models` representation (keyed by `name`)."""
        return {
            "name": self.id,
            "display_name": self.display_name,
            "summary": self.summary,
            "model_type": "base",
            "developer": self.developer,
            "endpoint": self.endpoint,
            "can_run_inference": True,
            "deprecated": False,
            "pricing": dict(self.pricing),
            "json_request_schema": self.request_schema(),
        }


def _video_pricing(per_second: str, with_audio: str) -> dict[str, Any]:
    """A per-output-second pricing block, as the hub's model list shows it."""
    return {
        "method": "per_video_output_second",
        "cost_per_second": float(per_second),
        "cost_per_second_with_audio": float(with_audio),
    }


_IMAGE_INPUT = {
    "start_image_url": {"type": "string"},
    "tail_image_url": {"type": "string"},
    "elements": {"type": "array", "items": {"type": "object"}},
}

CATALOGUE: tuple[Model, ...] = (
    Model(
        id="kling-video-v2-6-pro-text-to-video",
        display_name="Kling v2.6 Pro (text to video)",
        developer="Kling",
        action="text-to-video",
        media_type="video",
        endpoint="/videos/generate",
        summary="Kling v2.6 Pro: 5 or 10 second clips from a text prompt, optional audio.",
        pricing=_video_pricing("0.070", "0.140"),
        inputs=("text",),
        duration=DurationRule(default=5, choices=(5, 10)),
    ),
    Model(
        id="kling-video-v2-6-pro-image-to-video",
        display_name="Kling v2.6 Pro (image to video)",
        developer="Kling",
        action="image-to-video",
        media_type="video",
        endpoint="/videos/generate",
        summary="Kling v2.6 Pro: animates the input_image for 5 or 10 seconds.",
        pricing=_video_pricing("0.070", "0.140"),
        inputs=("text", "image"),
        duration=DurationRule(default=5, choices=(5, 10)),
        requires_input_image=True,
    ),
    Model(
        id="kling-video-o3-pro-reference-to-video",
        display_name="Kling O3 Pro (reference to video)",
        developer="Kling",
        action="reference-to-video",
        media_type="video",
        endpoint="/videos/generate",
        summary="Kling O3 Pro: 3-15 s video from a prompt or multi-shot prompt and references.",
        pricing=_video_pricing("0.224", "0.280"),
        inputs=("text", "image"),
        duration=DurationRule(default=5, minimum=3, maximum=15),
        shots=ShotRule(),
        extra_properties=_IMAGE_INPUT,
    ),
    Model(
        id="oxen-emu-fast-video",
        display_name="Oxen emulator fast video",
        developer="Oxen",
        action="text-to-video",
        media_type="video",
        endpoint="/videos/generate",
        summary="Cheap 1-10 s test model served by the emulator for demos and tests.",
        pricing=_video_pricing("0.010", "0.015"),
        inputs=("text",),
        duration=DurationRule(default=5, minimum=1, maximum=10),
    ),
    Model(
        id="flux-2-pro",
        display_name="FLUX.2 [pro]",
        developer="Black Forest Labs",
        action="text-to-image",
        media_type="image",
        endpoint="/images/generate",
        summary="FLUX.2 pro text to image.",
        pricing={"method": "per_image", "cost_per_image": 0.03},
        inputs=("text",),
        extra_properties={"num_inference_steps": {"type": "integer", "minimum": 1, "maximum": 50}},
    ),
    Model(
        id="oxen-emu-chat",
        display_name="Oxen emulator chat",
        developer="Oxen",
        action="chat",
        media_type="text",
        endpoint="/chat/completions",
        summary="Text-only model; the queue rejects it (unsupported_media_type).",
        pricing={
            "method": "token",
            "input_cost_per_token": 0.0000005,
            "output_cost_per_token": 0.0000015,
        },
        inputs=("text",),
    ),
)

_BY_ID = {model.id: model for model in CATALOGUE}


def find_model(model_id: str) -> Model | None:
    """The catalogue entry called `model_id`, or None."""
    return _BY_ID.get(model_id)
