"""Timestamps are frame centres in ms, float32, evenly spaced, with no drift."""

import numpy as np
import pytest
import torch

from hear_wrappers.core.framing import FrameTiming, frame_timestamps_ms


def test_shape_dtype_and_values():
    timing = FrameTiming(48000, hop_samples=640, first_centre_samples=320)
    stamps = timing.timestamps_ms(3, 5)
    assert stamps.shape == (3, 5) and stamps.dtype == torch.float32
    expected = torch.tensor([20 / 3, 20, 100 / 3, 140 / 3, 60])
    torch.testing.assert_close(stamps[1], expected)
    assert timing.hop_ms == pytest.approx(40 / 3) and timing.frame_rate == pytest.approx(75)


def test_fractional_hop_is_exact_over_ten_minutes():
    # 25 ms at 44.1 kHz is 1102.5 samples; 600 s is 24000 frames.
    n_frames = 24000
    stamps = frame_timestamps_ms(
        1, n_frames, hop_samples=1102.5, first_centre_samples=551.25, sample_rate=44100
    )[0].double()
    exact = 12.5 + 25.0 * torch.arange(n_frames, dtype=torch.float64)
    assert (stamps - exact).abs().max() < 0.04  # float32 resolution near 600 000 ms is ~0.06 ms
    spacing = stamps.diff()
    assert spacing.min() > 24.9 and spacing.max() < 25.1


def test_no_cumulative_drift_for_a_hop_that_float32_cannot_hold():
    # 640 samples at 48 kHz = 13.333... ms, 45000 frames in 600 s.
    n_frames = 45000
    stamps = frame_timestamps_ms(1, n_frames, hop_samples=640, first_centre_samples=320, sample_rate=48000)[
        0
    ].double()
    exact = (320 + 640 * torch.arange(n_frames, dtype=torch.float64)) / 48.0
    ours = (stamps - exact).abs().max().item()
    # Adding the hop up in float32 (a running timestamp) drifts by minutes' worth of frames.
    running = np.cumsum(np.full(n_frames, 40 / 3, dtype=np.float32), dtype=np.float32) - 20 / 3
    assert ours < 0.04
    assert np.abs(running - exact.numpy()).max() > 1000 * ours


@pytest.mark.parametrize(
    ("n_samples", "expected"), [(640, 1), (959, 1), (960, 2), (1280, 2), (51360, 80), (10, 1)]
)
def test_frames_within_keeps_centres_inside_the_clip(n_samples, expected):
    timing = FrameTiming(48000, hop_samples=640, first_centre_samples=320)
    assert timing.frames_within(n_samples) == expected
    if n_samples >= 320:
        last_centre = timing.timestamps_ms(1, expected)[0, -1]
        assert last_centre <= 1000 * n_samples / 48000


def test_rejects_nonsense_timing():
    with pytest.raises(ValueError):
        FrameTiming(16000, hop_samples=0, first_centre_samples=0)
