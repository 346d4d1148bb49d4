"""hear_wrappers.encodec on checkpoints built from the real architecture with random weights."""

import dataclasses
import hashlib
import math
import subprocess
import sys

import pytest
import torch
from helpers import cuda_in_float32, installed, network_shape, noise, reordering_tolerance

if not installed("encodec", "julius", "einops"):
    pytest.skip("needs the 'encodec' extra: pip install 'hear-wrappers[encodec]'", allow_module_level=True)
import julius

from hear_wrappers import encodec
from hear_wrappers.core.checkpoints import (
    Checkpoint,
    CheckpointError,
)
from hear_wrappers.core.imports import MissingExtraError


def bare_24khz(model, audio):
    """The official path: resample to 24 kHz, run EnCodec's SEANet encoder in one pass."""
    with torch.no_grad():
        native = julius.resample_frac(audio, 48000, 24000)
        return model.encoder.encoder(native.unsqueeze(1)).transpose(1, 2)


def close(actual: torch.Tensor, expected: torch.Tensor, model) -> None:
    """Equal within float32 rounding of a computation in another order (see `reordering_tolerance`)."""
    depth, fan_in = network_shape(model.encoder)
    atol = reordering_tolerance(expected, depth=depth, fan_in=fan_in)
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0)


@pytest.mark.parametrize(("fixture", "hop_ms"), [("encodec_24khz", 40 / 3), ("encodec_48khz", 20 / 3)])
def test_frames_are_centred_on_the_spans_they_summarise(request, fixture, hop_ms):
    """Frame k summarises the input samples [k hop, (k + 1) hop): its timestamp is that span's centre,
    and the spans tile the clip (the last one ends within a hop after it)."""
    model = request.getfixturevalue(fixture)
    embeddings, timestamps = encodec.get_timestamp_embeddings(noise(2, 0.3), model)
    n_frames = math.ceil(300 / hop_ms)
    assert embeddings.shape == (2, n_frames, 128)
    centres = (torch.arange(n_frames, dtype=torch.float64) + 0.5) * hop_ms
    torch.testing.assert_close(timestamps, centres.float().expand(2, -1))
    assert timestamps[0, -1] - hop_ms / 2 < 300 <= timestamps[0, -1] + hop_ms / 2


def test_24khz_frames_are_the_encoders_own(encodec_24khz):
    audio = noise(2, 2.005, seed=1)  # 150.4 frames: the last one is mostly padding
    embeddings, _ = encodec.get_timestamp_embeddings(audio, encodec_24khz)
    bare = bare_24khz(encodec_24khz, audio)
    assert bare.shape[1] == embeddings.shape[1] + 1  # the last, mostly padded, frame is dropped
    close(embeddings, bare[:, :-1], encodec_24khz)


def test_48khz_frames_are_unit_rms_stereo_segments(encodec_48khz):
    audio = noise(1, 2.5, seed=2) * 0.1
    embeddings, _ = encodec.get_timestamp_embeddings(audio, encodec_48khz)
    expected = []
    with torch.no_grad():
        for segment in audio.split(48000, dim=1):  # 1 s, 1 s, 0.5 s
            scaled = segment / (segment.pow(2).mean().sqrt() + 1e-8)
            stereo = torch.stack([scaled, scaled], dim=1)
            expected.append(encodec_48khz.encoder.encoder(stereo).transpose(1, 2))
    close(embeddings, torch.cat(expected, dim=1), encodec_48khz)
    assert embeddings.shape[1] == 150 + 150 + 75


def test_long_clips_in_chunks_equal_the_one_pass_encoder(encodec_checkpoints):
    model = encodec.load_model(str(encodec_checkpoints["24khz"]), chunk_seconds=1.0)
    audio = noise(1, 6.3, seed=3)
    embeddings, _ = encodec.get_timestamp_embeddings(audio, model)
    bare = bare_24khz(model, audio)[:, : embeddings.shape[1]]
    close(embeddings, bare, model)
    # The context is what makes it exact: without it, frames next to each cut move beyond rounding
    # (the tolerance above bounds it).
    model.encoder.context_frames = 0
    cut, _ = encodec.get_timestamp_embeddings(audio, model)
    depth, fan_in = network_shape(model.encoder)
    assert (cut - embeddings).abs().max() > reordering_tolerance(bare, depth=depth, fan_in=fan_in)


def test_bad_options():
    with pytest.raises(ValueError, match="variant"):
        encodec.load_model("x.th", variant="32khz")
    with pytest.raises(ValueError, match="bandwidths"):
        encodec.load_model("x.th", embedding="quantized", bandwidth=5.0)
    with pytest.raises(ValueError, match="embedding must be 'latent' or 'quantized'"):
        encodec.load_model("x.th", embedding="codes")
    with pytest.raises(ValueError, match=r"chunk_seconds must be at least 1\.0"):
        encodec.load_model("x.th", chunk_seconds=0.5)


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
    with cuda_in_float32():
        embeddings, timestamps = encodec.get_timestamp_embeddings(audio.cuda(), gpu)
    assert embeddings.device.type == "cuda" and timestamps.device.type == "cuda"
    reference, _ = encodec.get_timestamp_embeddings(audio, cpu)
    close(embeddings.cpu(), reference, cpu)


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
