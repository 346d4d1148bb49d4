"""The small core every model module stands on.

* `checks` - validation of HEAR audio batches, with errors that say the fix;
* `framing` - frame timing and timestamps in milliseconds, without drift;
* `pooling` - named strategies from frames to clip embeddings, and `register_pooling`;
* `checkpoints` - official URL + sha256 + cache, or a local file; safe loading;
* `imports` - model libraries without their import-time baggage, clear missing-extra errors;
* `chunking` - long clips in bounded memory;
* `model` - `FrameEncoder`, `HearModel` and the HEAR functions every module re-exports.
"""

from hear_wrappers.core.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointMismatchError,
    CheckpointUnavailableError,
)
from hear_wrappers.core.checks import check_audio
from hear_wrappers.core.framing import FrameTiming, frame_timestamps_ms
from hear_wrappers.core.imports import MissingExtraError
from hear_wrappers.core.model import (
    FrameEncoder,
    HearModel,
    get_scene_embeddings,
    get_timestamp_embeddings,
)
from hear_wrappers.core.pooling import available_poolings, get_pooling, register_pooling

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointMismatchError",
    "CheckpointUnavailableError",
    "FrameEncoder",
    "FrameTiming",
    "HearModel",
    "MissingExtraError",
    "available_poolings",
    "check_audio",
    "frame_timestamps_ms",
    "get_pooling",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "register_pooling",
]
