"""hear_wrappers.logmel: the log-mel / MFCC reference, as a HEAR module."""

import json
import math
import subprocess
import sys

import pytest
import torch
from helpers import installed

from hear_wrappers import logmel
from hear_wrappers.core.pooling import get_pooling


@pytest.mark.parametrize(
    ("rate", "win", "hop", "n_fft"),
    [(16000, 400, 160, 512), (22050, 551, 220, 1024), (32000, 800, 320, 1024), (48000, 1200, 480, 2048)],
)
def test_frames_and_timestamps_at_every_hear_rate(rate, win, hop, n_fft):
    model = logmel.load_model(sample_rate=rate)
    assert (model.sample_rate, model.win, model.hop, model.n_fft) == (rate, win, hop, n_fft)
    assert model.timestamp_embedding_size == model.scene_embedding_size == 64
    samples = round(1.234 * rate)
    audio = torch.randn(3, samples, generator=torch.Generator().manual_seed(0)) * 0.1
    frames, timestamps = logmel.get_timestamp_embeddings(audio, model)
    count = samples // hop + 1
    assert frames.shape == (3, count, 64) and frames.dtype == torch.float32
    assert timestamps.shape == (3, count) and torch.isfinite(frames).all()
    # Timestamps in ms, from the hop in whole samples (22050 Hz: 220 samples = 9.977 ms, no drift).
    expected = torch.arange(count, dtype=torch.float64) * hop / rate * 1000
    torch.testing.assert_close(timestamps[1].double(), expected, rtol=0, atol=1e-3)
    assert logmel.get_scene_embeddings(audio, model).shape == (3, 64)


def test_a_sine_lands_in_its_mel_band_with_the_documented_level():
    model = logmel.load_model()
    t = torch.arange(16000) / 16000
    frames = model.frames((0.5 * torch.sin(2 * math.pi * 1000 * t))[None])
    middle = frames[0, 20:80]  # away from the zero-padded ends
    band = int(middle.mean(0).argmax())
    centres = logmel.mel_to_hz(torch.linspace(0, logmel.hz_to_mel(8000.0).item(), 66))[1:-1]
    assert abs(centres[band] - 1000) < (centres[band + 1] - centres[band - 1]) / 2
    # Power spectrum / window sum^2: a sine of amplitude A has its peak bin at A^2/4; the band sums
    # the peak and its Hann leakage (the two neighbours hold A^2/16 each), weighted by the triangle.
    level = middle[:, band].exp().mean()
    assert 0.5**2 / 4 * 0.5 < level < 0.5**2 / 4 * 1.6
    # 1 kHz repeats every 16 samples, so every 160-sample hop sees the same signal: within 30 dB of
    # the peak band, frames agree to float32 rounding (far bands hold only the float32 sine's error).
    loud = middle.mean(0) > middle.mean(0).max() - math.log(1e3)
    assert loud.sum() >= 3 and (middle[:, loud].std(0) < 1e-4).all()


def test_frame_k_is_centred_on_sample_k_hop():
    model = logmel.load_model()
    audio = torch.zeros(1, 16000)
    audio[0, 8000] = 1.0  # a click at 500 ms
    frames, timestamps = logmel.get_timestamp_embeddings(audio, model)
    energy = frames[0].exp().sum(1)
    assert timestamps[0, energy.argmax()] == 500.0
    # Symmetric around it: the window is centred on the frame's sample.
    torch.testing.assert_close(energy[50 - 2 : 50], energy[51:53].flip(0), rtol=1e-4, atol=0)


def test_mfcc_is_the_orthonormal_dct_of_logmel():
    audio = torch.randn(2, 8000, generator=torch.Generator().manual_seed(1)) * 0.1
    mel = logmel.load_model().frames(audio)
    mfcc = logmel.load_model(features="mfcc", n_mfcc=13).frames(audio)
    assert mfcc.shape == (2, 51, 13)
    torch.testing.assert_close(mfcc[..., 0], mel.sum(-1) / math.sqrt(64), rtol=1e-5, atol=1e-4)
    full = logmel.dct_matrix(64, 64)
    torch.testing.assert_close(full.T @ full, torch.eye(64, dtype=torch.float64), rtol=0, atol=1e-12)


def test_silence_gives_the_log_floor_and_quiet_bands_never_go_below():
    frames = logmel.load_model().frames(torch.zeros(1, 1600))
    torch.testing.assert_close(frames, torch.full_like(frames, math.log(logmel.LOG_FLOOR)))


@pytest.mark.parametrize("pooling", ["mean", "topk10", "pyramid2", "mean+q10+q90"])
def test_scene_embedding_is_the_chosen_pooling_of_the_frames(pooling):
    model = logmel.load_model(**json.loads(json.dumps({"pooling": pooling})))  # as --model-options
    audio = torch.randn(2, 12345, generator=torch.Generator().manual_seed(2)) * 0.1
    scene = logmel.get_scene_embeddings(audio, model)
    assert model.scene_embedding_size == get_pooling(pooling).output_size(64) == scene.shape[1]
    torch.testing.assert_close(scene, get_pooling(pooling)(logmel.get_timestamp_embeddings(audio, model)[0]))


def test_each_clip_alone_whatever_its_batch_and_pass(monkeypatch):
    model = logmel.load_model()
    audio = torch.randn(5, 4000, generator=torch.Generator().manual_seed(3)) * 0.1
    together = model.frames(audio)
    monkeypatch.setattr(logmel, "SAMPLES_PER_PASS", 8000)  # 2 clips a pass
    torch.testing.assert_close(model.frames(audio), together, rtol=0, atol=0)
    torch.testing.assert_close(model.frames(audio[3:4])[0], together[3], rtol=1e-6, atol=1e-5)


def test_short_clips_still_give_a_frame():
    model = logmel.load_model()
    frames, timestamps = logmel.get_timestamp_embeddings(torch.full((2, 1), 0.1), model)
    assert frames.shape == (2, 1, 64) and timestamps.tolist() == [[0.0], [0.0]]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sample_rate": 24000}, "sample_rate must be one of HEAR's"),
        ({"features": "cqt"}, "features must be one of"),
        ({"n_mels": 0}, "n_mels must be an integer >= 1"),
        ({"features": "mfcc", "n_mfcc": 80}, r"n_mfcc \(80\) cannot exceed n_mels \(64\)"),
        ({"fmax_hz": 12000}, r"fmax_hz <= 8000.0 Hz"),
        ({"win_ms": 0.5}, "too short"),
        ({"n_mels": 256}, "fall between the FFT bins"),
        ({"pooling": "median"}, "unknown pooling 'median'"),
    ],
)
def test_bad_options_say_what_to_do(options, message):
    with pytest.raises(ValueError, match=message):
        logmel.load_model(**options)


def test_bad_calls_are_refused():
    with pytest.raises(ValueError, match="has no weights"):
        logmel.load_model("weights.pt")
    with pytest.raises(ValueError, match=r"float tensor \[n_sounds, n_samples\]"):
        logmel.get_scene_embeddings(torch.zeros(16000), logmel.load_model())
    with pytest.raises(TypeError, match=r"hear_wrappers\.logmel\.load_model"):
        logmel.get_scene_embeddings(torch.zeros(1, 16000), object())


@pytest.mark.skipif(not installed("hearvalidator"), reason="needs the 'eval' extra and hearvalidator")
def test_hearvalidator_accepts_it():
    result = subprocess.run(
        [sys.executable, "-m", "hear_wrappers.heareval", "validate", "hear_wrappers.logmel"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Looks good!" in result.stdout


@pytest.mark.skipif(not installed("heareval", "tensorflow"), reason="needs the 'eval' extra and heareval")
def test_heareval_embeddings_runner_embeds_scene_and_event_tasks(tmp_path):
    """The official runner, plain, as users quote it: one row per clip (scene), per 10 ms (event)."""
    import numpy as np
    from helpers import build_small_tasks

    tasks = build_small_tasks(tmp_path / "tasks", 16000, event_seconds=1.0)
    options = {"features": "mfcc", "pooling": "pyramid2"}
    command = [sys.executable, "-m", "heareval.embeddings.runner", "hear_wrappers.logmel"]
    command += ["--tasks-dir", str(tmp_path / "tasks"), "--embeddings-dir", str(tmp_path / "embeddings")]
    done = subprocess.run(
        [*command, "--model-options", json.dumps(options)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    module_dir = tmp_path / "embeddings" / "hear_wrappers.logmel-features=mfcc-pooling=pyramid2"
    for kind, (name, splits) in tasks.items():
        for split, wavs in splits.items():
            n_items, dim = json.loads((module_dir / name / f"{split}.embedding-dimensions.json").read_text())[
                :2
            ]
            if kind == "scene":
                assert (n_items, dim) == (len(wavs), 3 * 20)
            else:  # 1 s clips: 16000 // 160 + 1 frames each
                assert (n_items, dim) == (101 * len(wavs), 20)
            values = np.fromfile(module_dir / name / f"{split}.embeddings.npy", dtype=np.float32)
            assert values.size == n_items * dim and np.isfinite(values).all()
