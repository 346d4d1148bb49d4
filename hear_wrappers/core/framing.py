"""Frame timing: where each embedding frame sits in the clip, in milliseconds.

Every frame-based encoder is described by two numbers in *input* samples (at the rate the model
declares to HEAR): the hop between frames, which may be fractional (1102.5 samples is 25 ms at
44.1 kHz), and the centre of the first frame. Timestamps are computed from the frame index in float64
(``centre_k = first_centre + k * hop``), never by adding hops up, so there is no cumulative rounding
drift however long the clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["FrameTiming", "frame_timestamps_ms"]


@dataclass(frozen=True)
class FrameTiming:
    """Timing of an encoder's output frames.

    Attributes:
        sample_rate: rate of the audio the frames come from, in Hz (the model's HEAR ``sample_rate``).
        hop_samples: distance between consecutive frame centres, in samples at ``sample_rate``; may
            be fractional.
        first_centre_samples: centre of frame 0, in samples at ``sample_rate`` (for a frame that
            summarises samples ``[0, hop)`` this is ``hop / 2``).
    """

    sample_rate: int
    hop_samples: float
    first_centre_samples: float

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.hop_samples <= 0:
            raise ValueError(
                f"sample_rate and hop_samples must be positive, got {self.sample_rate} and "
                f"{self.hop_samples}."
            )

    @property
    def hop_ms(self) -> float:
        """Frame hop in milliseconds."""
        return 1000.0 * self.hop_samples / self.sample_rate

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_samples

    def frames_within(self, n_samples: int) -> int:
        """How many frames have their centre inside a clip of ``n_samples`` (at least one).

        Encoders pad the end of a clip to complete their last frame; a frame whose centre lies past
        the end describes mostly padding, and HEAR's validator refuses timestamps beyond the clip,
        so such frames are dropped.
        """
        return max(1, math.floor((n_samples - self.first_centre_samples) / self.hop_samples) + 1)

    def timestamps_ms(
        self, n_sounds: int, n_frames: int, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """Frame centres in ms, float32, shape ``[n_sounds, n_frames]``; see `frame_timestamps_ms`."""
        return frame_timestamps_ms(
            n_sounds,
            n_frames,
            hop_samples=self.hop_samples,
            first_centre_samples=self.first_centre_samples,
            sample_rate=self.sample_rate,
            device=device,
        )


def frame_timestamps_ms(
    n_sounds: int,
    n_frames: int,
    *,
    hop_samples: float,
    first_centre_samples: float,
    sample_rate: int,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Centres of ``n_frames`` evenly spaced frames, in milliseconds.

    Args:
        n_sounds: number of clips (rows of the result; all clips share the same timing).
        n_frames: number of frames per clip.
        hop_samples: hop between frame centres, in samples at ``sample_rate`` (may be fractional).
        first_centre_samples: centre of the first frame, in samples at ``sample_rate``.
        sample_rate: in Hz.
        device: where to put the result.

    Returns:
        float32 tensor ``[n_sounds, n_frames]``: ``1000 * (first_centre + k * hop) / sample_rate``,
        computed in float64 from the index ``k`` so that no rounding error accumulates.
    """
    index = torch.arange(n_frames, dtype=torch.float64, device=device)
    centres_ms = (first_centre_samples + index * hop_samples) * (1000.0 / sample_rate)
    return centres_ms.to(torch.float32).unsqueeze(0).expand(n_sounds, n_frames).contiguous()
