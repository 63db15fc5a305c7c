"""Model ids of the emulator's catalogue that the tests use."""

#: Renders in well under a second: the model of choice when a test is about the pipeline.
FAST = "oxen-emu-fast-video"
KLING = "kling-video-v2-6-pro-text-to-video"
O3 = "kling-video-o3-pro-reference-to-video"
I2V = "kling-video-v2-6-pro-image-to-video"
IMAGE = "flux-2-pro"
CHAT = "oxen-emu-chat"
