"""hear_wrappers.xares: every registered model through X-ARES's own loader, checker, pooling and run.

Needs X-ARES (``nox -s suites``, or ``pip install 'hear-wrappers[xares]'``). Weights: random, in each
model's official format (`write_random_weights`), except CREPE's real ones for the scored run.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import installed

if not installed("xares", "webdataset", "ignite"):
    pytest.skip(
        "needs X-ARES: pip install 'hear-wrappers[xares]' (or run nox -s suites)", allow_module_level=True
    )

from xares.audio_encoder_checker import check_audio_encoder
from xares.trainer import masked_mean
from xares.utils import attr_from_py_path

from hear_wrappers.core.registry import create_model, get_spec, list_models, write_random_weights
from hear_wrappers.xares import (
    ENV_MODEL_FILE,
    ENV_OPTIONS,
    ENV_PADDING,
    class_name,
    encoder_class,
    list_modules,
    module_name,
    real_lengths,
    registry_name,
)
from hear_wrappers.xares.torchaudio_stand_in import load, resample

MODELS = list_models()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """Random-weight files of every registered model, written on first use."""
    folder = tmp_path_factory.mktemp("xares-weights")
    cache: dict[str, Path] = {}

    class Lazy(dict):
        def __missing__(self, name: str) -> Path:
            cache[name] = write_random_weights(name, folder / module_name(name))
            return cache[name]

    return Lazy()


def xares_encoder(name: str, weights_file: Path | str, monkeypatch, **env: str):
    """The model's encoder exactly as ``python -m xares.run`` builds it: module path, no arguments."""
    monkeypatch.setenv(ENV_MODEL_FILE, str(weights_file))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return attr_from_py_path(f"hear_wrappers/xares/{module_name(name)}.py", endswith="Encoder")()


def test_one_module_and_one_encoder_class_per_registered_model():
    modules = list_modules()
    assert sorted(modules.values()) == MODELS
    assert len({class_name(name) for name in MODELS}) == len(MODELS)  # X-ARES's folders are per class
    for path, name in modules.items():
        module = __import__(path, fromlist=["_"])
        found = [attr for attr in dir(module) if attr.endswith("Encoder")]  # X-ARES's own rule
        assert found == [class_name(name)]
        assert getattr(module, found[0]) is encoder_class(name)
        assert registry_name(path) == registry_name(path.replace(".", "/") + ".py") == name


def test_unknown_module_names_the_choices():
    with pytest.raises(ImportError):
        __import__("hear_wrappers.xares.no_such_model")
    with pytest.raises(ValueError, match="--list"):
        registry_name("no-such-model")


@pytest.mark.parametrize("name", MODELS)
def test_xares_checker_passes_and_the_hop_is_the_true_one(name, weights, monkeypatch):
    encoder = xares_encoder(name, weights[name], monkeypatch)
    spec = get_spec(name)
    assert check_audio_encoder(encoder)  # X-ARES's own: randn(2, 50000) on CPU
    assert encoder.sampling_rate == spec.sample_rate
    assert encoder.output_dim == spec.frame_size
    assert isinstance(encoder.hop_size_in_ms, float)
    assert encoder.hop_size_in_ms == pytest.approx(spec.frame_hop_ms, rel=1e-12)
    # as many frames as the HEAR functions give for the same audio (centres within the clip)
    frames = encoder(torch.randn(2, 50000))
    assert frames.shape[1] == encoder.model.encoder.timing.frames_within(50000)


@pytest.fixture(scope="module")
def encodec_file(weights) -> Path:
    return weights["encodec-24khz"]


def xares_clip_vector(stored: torch.Tensor) -> torch.Tensor:
    """What X-ARES's clip tasks train on: `masked_mean` of the stored [T, D] frames (all of them)."""
    x = stored.transpose(0, 1).unsqueeze(0)  # [1, D, T], as create_embedding_webdataset gives it
    return masked_mean(x, x_length=torch.tensor([stored.shape[0]]), dim=-1)[0]


def test_padding_does_not_reach_the_clip_embedding(encodec_file, monkeypatch):
    """X-ARES zero-pads a 1 s clip to its 9 s batch mate and averages every stored frame. With the
    default padding="mean", the clip's X-ARES vector is its own mean frame whoever its batch mates are;
    with X-ARES's own behaviour (padding="zeros") 8/9 of it is the model's frames of silence."""
    encoder = xares_encoder("encodec-24khz", encodec_file, monkeypatch)
    rate = encoder.sampling_rate
    generator = torch.Generator().manual_seed(0)
    short = torch.rand(rate, generator=generator) - 0.5
    long = torch.rand(9 * rate, generator=generator) - 0.5
    batch = torch.zeros(2, 9 * rate)
    batch[0, :rate], batch[1] = short, long

    own = encoder.model.frames(short.unsqueeze(0))[0]  # the clip alone, as HEAR embeds it
    stored = encoder(batch)
    # the frames up to the clip's end are the clip alone, exactly
    torch.testing.assert_close(stored[0, : own.shape[0]], own, rtol=0, atol=0)
    # X-ARES's mean over all 675 stored frames = the clip's own mean over its 75 frames; float32 sums
    # of <= 675 terms of size <= max|frame| round within 675 * 2**-24 * max|frame| ~ 4e-5 * max|frame|
    tolerance = 1e-4 * own.abs().max().item()
    torch.testing.assert_close(xares_clip_vector(stored[0]), own.mean(dim=0), rtol=0, atol=tolerance)
    # ... whatever the batch mate: the same clip beside a 3 s clip
    other = torch.zeros(2, 3 * rate)
    other[0, :rate], other[1] = short, long[: 3 * rate]
    torch.testing.assert_close(xares_clip_vector(encoder(other)[0]), own.mean(dim=0), rtol=0, atol=tolerance)

    monkeypatch.setenv(ENV_PADDING, "zeros")
    as_xares = xares_encoder("encodec-24khz", encodec_file, monkeypatch)(batch)
    silence = encoder.model.frames(torch.zeros(1, 9 * rate))[0].mean(dim=0)
    padded_vector = xares_clip_vector(as_xares[0])
    # far beyond rounding from the clip's own mean, and near 1/9 clip + 8/9 silence
    assert (padded_vector - own.mean(dim=0)).abs().max() > 10 * tolerance
    expected = (own.mean(dim=0) + 8 * silence) / 9
    assert (padded_vector - expected).norm() < (padded_vector - own.mean(dim=0)).norm() / 2


def test_real_lengths_and_tiny_clips(encodec_file, monkeypatch):
    audio = torch.zeros(3, 1000)
    audio[0, :10] = 0.1
    audio[1, 500] = -0.2  # inner zeros are part of the clip
    assert real_lengths(audio).tolist() == [10, 501, 0]
    encoder = xares_encoder("encodec-24khz", encodec_file, monkeypatch)
    frames = encoder(audio)  # all-zero and 10-sample clips are padded to the model's shortest input
    assert frames.shape == (3, encoder.model.encoder.timing.frames_within(1000), 128)
    assert torch.isfinite(frames).all()
    one = encoder(audio[0])  # one clip [N], as X-ARES's examples allow
    torch.testing.assert_close(one[0], frames[0])


def test_options_and_padding_from_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_OPTIONS, json.dumps({"hop_ms": 10}))
    encoder = xares_encoder("crepe-tiny", "", monkeypatch)  # CREPE's real weights (the wheel's)
    assert encoder.hop_size_in_ms == 10.0
    assert encoder.model.encoder.timing.hop_ms == 10.0
    monkeypatch.setenv(ENV_OPTIONS, "{hop_ms: 10}")
    with pytest.raises(ValueError, match="JSON object"):
        encoder_class("crepe-tiny")()
    monkeypatch.delenv(ENV_OPTIONS)
    monkeypatch.setenv(ENV_PADDING, "edge")
    with pytest.raises(ValueError, match="padding must be one of"):
        encoder_class("crepe-tiny")()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_input_returns_on_its_device(weights, monkeypatch):
    for name in MODELS:
        encoder = xares_encoder(name, weights[name], monkeypatch).to("cuda")  # as XaresTask does
        audio = torch.rand(2, encoder.sampling_rate, device="cuda") - 0.5
        frames = encoder(audio)
        assert frames.device.type == "cuda"
        torch.testing.assert_close(frames.cpu(), encoder.cpu()(audio.cpu()), rtol=1e-3, atol=1e-3)


def test_torchaudio_stand_in(tmp_path):
    import soundfile

    rate = 16000
    t = np.arange(rate) / rate
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 440 * t)], axis=1)
    soundfile.write(tmp_path / "a.wav", stereo.astype(np.float32), rate, subtype="FLOAT")
    waveform, sample_rate = load(str(tmp_path / "a.wav"))
    assert sample_rate == rate and waveform.shape == (2, rate) and waveform.dtype == torch.float32
    up = resample(waveform, rate, 48000)
    assert up.shape == (2, 3 * rate)
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * rate) / 48000)
    # away from the edges a band-limited sine comes through within the filter's ripple (< 1e-3)
    np.testing.assert_allclose(up[0, 1000:-1000].numpy(), expected[1000:-1000], atol=1e-3)


# --- X-ARES's own run, end to end, on a local task ------------------------------------------------

TASK = textwrap.dedent(
    """
    import os

    from xares.task import TaskConfig


    def tiny_config(encoder) -> TaskConfig:
        return TaskConfig(
            name="tiny",
            formal_name="Tiny",
            env_root=os.environ["TINY_XARES_ENV"],
            encoder=encoder,
            label_processor=lambda x: x["label"],
            output_dim=2,
            epochs=5,
            batch_size_train=4,
            batch_size_encode=4,
            eval_weight=8,
            torch_num_threads=1,
        )
    """
)


def write_task(root: Path, sample_rate: int = 16000) -> None:
    """X-ARES's on-disk layout of a two-class task (a low and a high tone in noise, 0.5-1.5 s clips):
    ``<root>/tiny/{train,valid,test}-000000.tar`` webdataset shards of ``<key>.wav`` + ``<key>.json``,
    and the ``.audio_tar_ready`` flag that stops X-ARES from downloading."""
    import soundfile

    folder = root / "tiny"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", 16), ("valid", 4), ("test", 8)):
        with tarfile.open(folder / f"{split}-000000.tar", "w") as tar:
            for i in range(count):
                label = i % 2
                n = int(sample_rate * rng.uniform(0.5, 1.5))
                t = np.arange(n) / sample_rate
                tone = 0.3 * np.sin(2 * np.pi * (220 if label else 1760) * t)
                clip = (tone + 0.02 * rng.standard_normal(n)).astype(np.float32)
                wav = io.BytesIO()
                soundfile.write(wav, clip, sample_rate, format="WAV", subtype="FLOAT")
                key = f"{split}_{i:03d}"
                for member, data in (
                    (f"{key}.wav", wav.getvalue()),
                    (f"{key}.json", json.dumps({"label": label}).encode()),
                ):
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    (folder / ".audio_tar_ready").touch()


@pytest.mark.slow
def test_xares_run_end_to_end_on_a_local_task(tmp_path):
    """``python -m hear_wrappers.xares.run crepe-tiny tiny_task.py``: X-ARES encodes the local shards
    (zero-padded batches of 4), trains its MLP, runs its kNN and reports; CREPE's real weights tell a
    220 Hz from a 1760 Hz tone, so kNN is perfect. The stored embeddings' X-ARES average is each clip's
    own mean frame (no padding in it)."""
    write_task(tmp_path / "env")
    (tmp_path / "tiny_task.py").write_text(TASK)
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "TINY_XARES_ENV": str(tmp_path / "env"), "PYTHONPATH": path}
    env.pop(ENV_MODEL_FILE, None)
    result = subprocess.run(
        [sys.executable, "-m", "hear_wrappers.xares.run", "crepe-tiny", "tiny_task.py", "--max-jobs", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Weighted Average KNN Score for All Datasets: 1.0" in result.stdout
    scores = tmp_path / "env" / "tiny" / "checkpoints" / "CrepeTinyEncoder"
    mlp, size = (scores / "mlp_score.txt").read_text().split()
    assert 0.0 <= float(mlp) <= 1.0 and int(size) == 8
    assert float((scores / "knn_score.txt").read_text().split()[0]) == 1.0

    model = create_model("crepe-tiny")
    (shard,) = (tmp_path / "env" / "tiny" / "embeddings" / "CrepeTinyEncoder").glob("wds-encoded-test*.tar")
    with tarfile.open(shard) as tar:
        stored = {
            Path(m.name).stem: np.load(io.BytesIO(tar.extractfile(m).read()))
            for m in tar.getmembers()
            if m.name.endswith(".npy")
        }
    assert len(stored) == 8
    with tarfile.open(tmp_path / "env" / "tiny" / "test-000000.tar") as tar:
        clips = {
            Path(m.name).stem: load_wav(tar.extractfile(m).read())
            for m in tar.getmembers()
            if m.name.endswith(".wav")
        }
    padded = 0
    for key, frames in stored.items():
        clip_key = key[: len("test_000")]  # X-ARES appends the batch number to the key
        own = model.frames(torch.from_numpy(clips[clip_key]).unsqueeze(0))[0]
        padded += frames.shape[0] > own.shape[0]
        vector = xares_clip_vector(torch.from_numpy(frames))
        torch.testing.assert_close(vector, own.mean(dim=0), rtol=0, atol=1e-4 * own.abs().max().item())
    assert padded >= 4  # the batches did hold clips of several lengths


def load_wav(data: bytes) -> np.ndarray:
    import soundfile

    samples, _ = soundfile.read(io.BytesIO(data), dtype="float32")
    return samples
