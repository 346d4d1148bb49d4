"""hear_wrappers.encodec on checkpoints built from the real architecture with random weights."""

import dataclasses
import hashlib
import json
import math
import subprocess
import sys

import pytest
import torch
from helpers import installed, noise

if not installed("encodec", "julius", "einops"):
    pytest.skip("needs the 'encodec' extra: pip install 'hear-wrappers[encodec]'", allow_module_level=True)
import julius

from hear_wrappers import encodec
from hear_wrappers.core.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointMismatchError,
)
from hear_wrappers.core.imports import MissingExtraError


def bare_24khz(model, audio):
    """The official path: resample to 24 kHz, run EnCodec's SEANet encoder in one pass."""
    with torch.no_grad():
        native = julius.resample_frac(audio, 48000, 24000)
        return model.encoder.encoder(native.unsqueeze(1)).transpose(1, 2)


def test_hear_attributes(encodec_24khz, encodec_48khz):
    for model in (encodec_24khz, encodec_48khz):
        assert model.sample_rate == 48000
        assert model.timestamp_embedding_size == 128
        assert model.scene_embedding_size == 256  # mean+std by default


@pytest.mark.parametrize(("pooling", "size"), [("mean", 128), ("max", 128), ("mean+max", 256)])
def test_pooling_is_chosen_at_load_time_like_heareval_model_options(encodec_checkpoints, pooling, size):
    options = json.loads(json.dumps({"pooling": pooling}))  # as --model-options passes them
    model = encodec.load_model(str(encodec_checkpoints["24khz"]), **options)
    assert model.scene_embedding_size == size
    assert encodec.get_scene_embeddings(noise(2, 0.5), model).shape == (2, size)


@pytest.mark.parametrize(("fixture", "hop_ms"), [("encodec_24khz", 40 / 3), ("encodec_48khz", 20 / 3)])
def test_shapes_dtypes_and_timestamps(request, fixture, hop_ms):
    model = request.getfixturevalue(fixture)
    audio = noise(3, 1.5)
    embeddings, timestamps = encodec.get_timestamp_embeddings(audio, model)
    n_frames = math.ceil(1500 / hop_ms)
    assert embeddings.shape == (3, n_frames, 128) and embeddings.dtype == torch.float32
    assert timestamps.shape == (3, n_frames) and timestamps.dtype == torch.float32
    torch.testing.assert_close(timestamps[:, 0], torch.full((3,), hop_ms / 2))
    torch.testing.assert_close(
        timestamps.diff(dim=1), torch.full((3, n_frames - 1), hop_ms), atol=1e-3, rtol=0
    )
    # The frames' spans [centre - hop/2, centre + hop/2) tile the clip from 0 ms to its end.
    assert timestamps[0, -1] - hop_ms / 2 < 1500 <= timestamps[0, -1] + hop_ms / 2
    scene = encodec.get_scene_embeddings(audio, model)
    assert scene.shape == (3, 256) and scene.dtype == torch.float32
    torch.testing.assert_close(scene[:, :128], embeddings.mean(dim=1))


@pytest.mark.parametrize("seconds", [1.07, 1.98, 4.0, 2.74])  # hearvalidator's lengths
def test_timestamps_stay_within_the_clip(encodec_24khz, seconds):
    audio = noise(1, seconds)
    embeddings, timestamps = encodec.get_timestamp_embeddings(audio, encodec_24khz)
    assert timestamps.max() <= 1000 * seconds
    assert timestamps.max() > 1000 * seconds - 40 / 3  # and reach its end
    assert embeddings.shape[1] == timestamps.shape[1]


def test_24khz_frames_are_the_encoders_own(encodec_24khz):
    audio = noise(2, 2.005, seed=1)  # 150.4 frames: the last one is mostly padding
    embeddings, _ = encodec.get_timestamp_embeddings(audio, encodec_24khz)
    bare = bare_24khz(encodec_24khz, audio)
    assert bare.shape[1] == embeddings.shape[1] + 1  # the last, mostly padded, frame is dropped
    torch.testing.assert_close(embeddings, bare[:, :-1])


def test_48khz_frames_are_unit_rms_stereo_segments(encodec_48khz):
    audio = noise(1, 2.5, seed=2) * 0.1
    embeddings, _ = encodec.get_timestamp_embeddings(audio, encodec_48khz)
    expected = []
    with torch.no_grad():
        for segment in audio.split(48000, dim=1):  # 1 s, 1 s, 0.5 s
            scaled = segment / (segment.pow(2).mean().sqrt() + 1e-8)
            stereo = torch.stack([scaled, scaled], dim=1)
            expected.append(encodec_48khz.encoder.encoder(stereo).transpose(1, 2))
    torch.testing.assert_close(embeddings, torch.cat(expected, dim=1))
    assert embeddings.shape[1] == 150 + 150 + 75


def test_long_clips_in_chunks_equal_the_one_pass_encoder(encodec_checkpoints):
    model = encodec.load_model(str(encodec_checkpoints["24khz"]), chunk_seconds=1.0)
    audio = noise(1, 6.3, seed=3)
    embeddings, _ = encodec.get_timestamp_embeddings(audio, model)
    bare = bare_24khz(model, audio)[:, : embeddings.shape[1]]
    torch.testing.assert_close(embeddings, bare, atol=1e-5, rtol=1e-4)
    # The context is what makes it exact: without it, frames next to each cut go wrong.
    model.encoder.context_frames = 0
    cut, _ = encodec.get_timestamp_embeddings(audio, model)
    assert (cut - embeddings).abs().max() > 1e-3


@pytest.mark.parametrize("fixture", ["encodec_24khz", "encodec_48khz"])
def test_batch_invariance(request, fixture):
    """A clip's embedding is the same alone, among other clips, and in a slice of the batch."""
    model = request.getfixturevalue(fixture)
    batch = noise(4, 1.2, seed=4)
    batch[2] = 0.0  # silent batch-mate
    together, _ = encodec.get_timestamp_embeddings(batch, model)
    alone, _ = encodec.get_timestamp_embeddings(batch[1:2], model)
    sliced, _ = encodec.get_timestamp_embeddings(batch[1:3], model)
    torch.testing.assert_close(alone[0], together[1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(sliced[0], together[1], atol=1e-5, rtol=1e-4)
    scene_together = encodec.get_scene_embeddings(batch, model)
    scene_alone = encodec.get_scene_embeddings(batch[3:], model)
    torch.testing.assert_close(scene_alone[0], scene_together[3], atol=1e-5, rtol=1e-4)


def test_determinism(encodec_24khz):
    audio = noise(2, 1.0, seed=5)
    first = encodec.get_scene_embeddings(audio, encodec_24khz)
    second = encodec.get_scene_embeddings(audio.clone(), encodec_24khz)
    assert torch.equal(first, second)


@pytest.mark.parametrize("fixture", ["encodec_24khz", "encodec_48khz"])
def test_silence_and_full_scale_clipping_are_finite(request, fixture):
    model = request.getfixturevalue(fixture)
    square = torch.sign(torch.sin(torch.linspace(0, 200 * math.pi, 48000)))
    audio = torch.stack([torch.zeros(48000), square, -torch.ones(48000)])
    embeddings, _ = encodec.get_timestamp_embeddings(audio, model)
    assert torch.isfinite(embeddings).all()
    assert torch.isfinite(encodec.get_scene_embeddings(audio, model)).all()


@pytest.mark.parametrize(
    ("audio", "error", "match"),
    [
        (torch.zeros(48000), ValueError, "unsqueeze"),
        (torch.zeros(1, 2, 48000), ValueError, "mono"),
        (torch.zeros(1, 48000, dtype=torch.float64), TypeError, "float32"),
        (torch.zeros(1, 48000, dtype=torch.int16), TypeError, "32768"),
        (torch.full((1, 48000), float("nan")), ValueError, "NaN"),
        (torch.zeros(1, 0), ValueError, "empty"),
        (torch.zeros(1, 100), ValueError, "minimum of 640 samples"),
    ],
)
def test_bad_input_gets_a_clear_error(encodec_24khz, audio, error, match):
    for function in (encodec.get_timestamp_embeddings, encodec.get_scene_embeddings):
        with pytest.raises(error, match=match):
            function(audio, encodec_24khz)


def test_shortest_clip_embeds(encodec_24khz, encodec_48khz):
    embeddings, _ = encodec.get_timestamp_embeddings(torch.zeros(1, 640), encodec_24khz)
    assert embeddings.shape == (1, 1, 128)
    embeddings, _ = encodec.get_timestamp_embeddings(torch.zeros(1, 320), encodec_48khz)
    assert embeddings.shape == (1, 1, 128)


def test_model_must_come_from_load_model():
    with pytest.raises(TypeError, match="load_model"):
        encodec.get_scene_embeddings(torch.zeros(1, 48000), torch.nn.Linear(1, 1))


def test_bad_options():
    with pytest.raises(ValueError, match="variant"):
        encodec.load_model("x.th", variant="32khz")
    with pytest.raises(ValueError, match="bandwidths"):
        encodec.load_model("x.th", embedding="quantized", bandwidth=5.0)
    with pytest.raises(ValueError, match="unknown pooling"):
        encodec.load_model("x.th", pooling="median")


def test_quantized_codebook_vectors(encodec_checkpoints):
    path = str(encodec_checkpoints["24khz"])
    audio = noise(2, 1.0, seed=6)
    latent_model = encodec.load_model(path)
    latent, _ = encodec.get_timestamp_embeddings(audio, latent_model)
    by_bandwidth = {}
    for bandwidth in (1.5, 24.0):
        model = encodec.load_model(path, embedding="quantized", bandwidth=bandwidth)
        quantized, _ = encodec.get_timestamp_embeddings(audio, model)
        assert quantized.shape == latent.shape and torch.isfinite(quantized).all()
        quantizer = model.encoder.quantizer
        with torch.no_grad():
            codes = quantizer.encode(latent.transpose(1, 2), 75, bandwidth)
            assert codes.shape[0] == int(bandwidth / 0.75)  # 750 bit/s per codebook
            torch.testing.assert_close(quantized, quantizer.decode(codes).transpose(1, 2))
        by_bandwidth[bandwidth] = quantized
    assert not torch.allclose(by_bandwidth[1.5], by_bandwidth[24.0])


def test_a_file_loads_as_its_variant_and_a_wrong_explicit_variant_names_the_right_one(encodec_checkpoints):
    model = encodec.load_model(str(encodec_checkpoints["48khz"]))  # no variant: the file's own
    assert model.encoder.variant is encodec.VARIANTS["48khz"] and model.encoder.timing.hop_samples == 320
    with pytest.raises(CheckpointMismatchError, match=r"variant='24khz'"):
        encodec.load_model(str(encodec_checkpoints["24khz"]), variant="48khz")


def test_file_of_another_model_is_refused(tmp_path):
    path = tmp_path / "other.th"
    torch.save(torch.nn.Conv1d(1, 8, 3).state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match=r"do not fit EnCodec 24khz.*missing"):
        encodec.load_model(str(path))
    garbage = tmp_path / "garbage.th"
    garbage.write_bytes(b"\x00" * 1000)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        encodec.load_model(str(garbage))


def official_from(path, monkeypatch, sha256=None):
    """Point the 24 kHz entry at a local copy served by URL, as the official file would be."""
    variant = encodec.VARIANTS["24khz"]
    digest = sha256 or hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    checkpoint = Checkpoint(
        name="encodec_24khz", url=path.as_uri(), sha256=digest, license="test", filename=path.name
    )
    monkeypatch.setitem(encodec.VARIANTS, "24khz", dataclasses.replace(variant, checkpoint=checkpoint))
    spec = encodec.FAMILY.specs["24khz"]
    monkeypatch.setitem(encodec.FAMILY.specs, "24khz", dataclasses.replace(spec, weights=checkpoint))


def test_default_load_downloads_verifies_and_caches(encodec_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("HEAR_WRAPPERS_CACHE", str(tmp_path / "cache"))
    official_from(encodec_checkpoints["24khz"], monkeypatch)
    model = encodec.load_model(progress=False)
    assert (tmp_path / "cache" / encodec_checkpoints["24khz"].name).is_file()
    reference = encodec.load_model(str(encodec_checkpoints["24khz"]))
    audio = noise(1, 0.5)
    assert torch.equal(
        encodec.get_scene_embeddings(audio, model), encodec.get_scene_embeddings(audio, reference)
    )


def test_default_load_refuses_a_wrong_checksum(encodec_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("HEAR_WRAPPERS_CACHE", str(tmp_path / "cache"))
    official_from(encodec_checkpoints["24khz"], monkeypatch, sha256="d7cc33bc")
    with pytest.raises(CheckpointError, match="expected d7cc33bc"):
        encodec.load_model(progress=False)


def test_official_table():
    assert encodec.VARIANTS["24khz"].checkpoint.url.endswith("encodec_24khz-d7cc33bc.th")
    assert encodec.VARIANTS["48khz"].checkpoint.url.endswith("encodec_48khz-7e698e3e.th")
    assert encodec.VARIANTS["24khz"].n_codebooks == 32 and encodec.VARIANTS["48khz"].n_codebooks == 16


def test_no_torchaudio_and_no_encodec_init_at_import_or_load(encodec_checkpoints):
    code = (
        "import sys, torch\n"
        "from hear_wrappers import encodec\n"
        f"model = encodec.load_model({str(encodec_checkpoints['24khz'])!r})\n"
        "encodec.get_scene_embeddings(torch.zeros(1, 4800), model)\n"
        "assert 'torchaudio' not in sys.modules, 'torchaudio was imported'\n"
        "assert 'encodec' not in sys.modules, 'encodec/__init__ ran'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_extra_names_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "encodec" else real(name, *a)
    )
    with pytest.raises(MissingExtraError, match=r"pip install 'hear-wrappers\[encodec\]'"):
        encodec.load_model("x.th")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu(encodec_checkpoints):
    cpu = encodec.load_model(str(encodec_checkpoints["24khz"]))
    gpu = encodec.load_model(str(encodec_checkpoints["24khz"])).to("cuda")
    audio = noise(2, 2.0)
    embeddings, timestamps = encodec.get_timestamp_embeddings(audio.cuda(), gpu)
    assert embeddings.device.type == "cuda" and timestamps.device.type == "cuda"
    reference, _ = encodec.get_timestamp_embeddings(audio, cpu)
    torch.testing.assert_close(embeddings.cpu(), reference, atol=1e-3, rtol=1e-3)


@pytest.mark.slow
def test_ten_minute_clip_at_batch_size_one(encodec_24khz):
    audio = noise(1, 600.0, seed=7) * 0.1
    embeddings, timestamps = encodec.get_timestamp_embeddings(audio, encodec_24khz)
    assert embeddings.shape == (1, 45000, 128) and torch.isfinite(embeddings).all()
    assert timestamps[0, -1] == pytest.approx(600000 - 20 / 3, abs=0.1)
    # The chunk cuts (every 5 s = 375 frames) leave no seams: frame-to-frame steps across a cut
    # are no larger than the usual steps after the LSTM's warm-up.
    steps = embeddings[0].diff(dim=0).norm(dim=1)
    across_cuts = steps[374::375]
    assert across_cuts.max() < 3 * steps[100:].quantile(0.99)
