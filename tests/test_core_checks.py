"""Bad input gets a clear error naming the problem and the fix; good input passes untouched."""

import numpy as np
import pytest
import torch

from hear_wrappers.core.checks import check_audio


def test_valid_audio_is_returned_unchanged():
    audio = torch.zeros(3, 100)
    assert check_audio(audio, sample_rate=16000) is audio


@pytest.mark.parametrize(
    ("audio", "error", "words"),
    [
        (torch.zeros(100), ValueError, ["2-D", "unsqueeze(0)"]),
        (torch.zeros(2, 2, 100), ValueError, ["2-D", "mean(dim=1)"]),
        (torch.zeros(2, 100, dtype=torch.float64), TypeError, ["float32", "audio.float()"]),
        (torch.zeros(2, 100, dtype=torch.int16), TypeError, ["float32", "32768"]),
        (torch.zeros(2, 100, dtype=torch.int32), TypeError, ["float32"]),
        (torch.zeros(0, 100), ValueError, ["empty"]),
        (torch.zeros(2, 0), ValueError, ["empty"]),
        (np.zeros((2, 100), dtype=np.float32), TypeError, ["torch.from_numpy"]),
        ([[0.0] * 100], TypeError, ["torch.Tensor"]),
    ],
)
def test_bad_audio_is_refused_with_the_fix(audio, error, words):
    with pytest.raises(error) as caught:
        check_audio(audio, sample_rate=16000)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_samples_name_the_clip(bad):
    audio = torch.zeros(4, 100)
    audio[2, 17] = bad
    with pytest.raises(ValueError, match=r"NaN or Inf in clip\(s\) 2:"):
        check_audio(audio, sample_rate=16000)


def test_too_short_names_the_minimum_and_the_padding():
    with pytest.raises(ValueError) as caught:
        check_audio(torch.zeros(1, 10), sample_rate=16000, min_samples=400)
    message = str(caught.value)
    assert "10 samples" in message and "400 samples" in message and "25.0 ms" in message
    assert "pad(audio, (0, 390))" in message
