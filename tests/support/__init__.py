"""Support code every test package shares: model ids, the emulator's control handle, waiting.

One place, so a constant or a helper is never copied into a test module again.
"""

from tests.support.emulator_control import DEFAULT_KNOBS, EmulatorControl
from tests.support.models import CHAT, FAST, I2V, IMAGE, KLING, O3
from tests.support.waiting import wait_for

__all__ = [
    "CHAT",
    "DEFAULT_KNOBS",
    "FAST",
    "I2V",
    "IMAGE",
    "KLING",
    "O3",
    "EmulatorControl",
    "wait_for",
]
