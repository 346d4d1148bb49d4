"""hear_wrappers.archisound on checkpoints built from the real architecture with random weights.

The HEAR contract (attributes, bad inputs, determinism, batch invariance, timestamps, hearvalidator,
file recognition) is checked for ``archisound-dmae1d-ATC64-v1`` and ``archisound-autoencoder1d-AT-v1``
by tests/test_contract.py. Here, what is archisound's own: the frames equal the autoencoders' own
``encode()``, the chunking of long clips and its receptive field (GroupNorm), the strided stages read
from the file, the hub file's layout and cache, and the whole 234 M-parameter model (slow).

The hub files are ``pytorch_model.bin`` state dicts of a transformers ``PreTrainedModel`` wrapper: the
autoencoder's keys under ``model.`` (``dmae1d-ATC64-v1``) or ``autoencoder.`` (``autoencoder1d-AT-v1``),
encoder and decoder together. The fixtures write the real encoders' tensors in that layout, plus stand-in
decoder tensors that must be ignored; one slow test builds the whole 234 M-parameter model with
audio-diffusion-pytorch 0.0.92 and checks the wrapper against its own ``encode()``.

Tolerances: the wrapper and the official ``encode()`` differ only in the order of float32 operations
(one STFT for both channels, batch and chunk shapes), so they are compared within
`helpers.reordering_tolerance` for the encoder's depth and fan-in (about 3e-3 of the frames' scale).
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import installed, network_shape, noise, reordering_tolerance

if not installed("audio_diffusion_pytorch", "audio_encoders_pytorch", "einops", "einops_exts"):
    pytest.skip(
        "needs the 'archisound' extra: pip install 'hear-wrappers[archisound]'", allow_module_level=True
    )
from einops import rearrange

from hear_wrappers import archisound
from hear_wrappers.core.checkpoints import (
    CheckpointError,
    CheckpointMismatchError,
    CheckpointUnavailableError,
)
from hear_wrappers.core.imports import MissingExtraError, import_isolated

DMAE, AE = "dmae1d-ATC64-v1", "autoencoder1d-AT-v1"
SR = 48000
FAMILY = archisound.FAMILY


def assert_close_to(actual: torch.Tensor, expected: torch.Tensor, network: torch.nn.Module) -> None:
    """``actual`` equals ``expected`` within the float32 reordering tolerance of ``network``."""
    depth, fan_in = network_shape(network)
    tolerance = reordering_tolerance(expected, depth=depth, fan_in=fan_in)
    torch.testing.assert_close(actual, expected, atol=tolerance, rtol=0)


def hub_state(variant: str, *, seed: int = 0, factors=None) -> dict[str, torch.Tensor]:
    """A random-weight state dict laid out like the variant's hub ``pytorch_model.bin``."""
    spec = archisound.VARIANTS[variant]
    torch.manual_seed(seed)
    parts = archisound.build_encoder_modules(variant, factors=factors)
    state = {spec.prefix + key: value for key, value in parts.state_dict().items()}
    # The decoder's tensors (a U-Net for the diffusion model; a Decoder1d for the autoencoder).
    if variant == DMAE:
        state["model.unet.to_in.0.weight"] = torch.randn(512, 2048, 3)
        state["model.diffusion.net.to_in.0.weight"] = state["model.unet.to_in.0.weight"]
    else:
        state["autoencoder.decoder.to_out.block.block2.project.weight"] = torch.randn(2, 2, 3)
    return state


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """``{variant: path}`` of random-weight files, each in a snapshot-like folder of its own."""
    paths = {}
    for seed, variant in enumerate((DMAE, AE)):
        folder = tmp_path_factory.mktemp(variant)
        paths[variant] = folder / "pytorch_model.bin"
        torch.save(hub_state(variant, seed=seed), paths[variant])
    return paths


@pytest.fixture(scope="module")
def dmae(checkpoints):
    return archisound.load_model(str(checkpoints[DMAE]))


@pytest.fixture(scope="module")
def ae(checkpoints):
    return archisound.load_model(str(checkpoints[AE]), variant=AE)


def official_encode(model, audio: torch.Tensor) -> torch.Tensor:
    """The autoencoder's own ``encode`` of mono audio on both channels, one pass, as frames [B, T, 32].

    ``dmae1d-*`` is ``DiffusionMAE1d.encode`` of audio-diffusion-pytorch 0.0.92 (STFT magnitude of each
    channel with its ``STFT`` module, channels stacked along frequency, ``Encoder1d``, tanh bottleneck);
    ``autoencoder1d-*`` is ``Encoder1d`` with its tanh bottleneck on the waveform.
    """
    parts = model.encoder.parts
    stereo = torch.stack([audio, audio], dim=1)
    with torch.no_grad():
        if "encoder_stft" in parts:
            magnitude, _ = parts["encoder_stft"].encode(stereo)
            latent = parts["encoder"](rearrange(magnitude, "b c f t -> b (c f) t"))
        else:
            latent = parts["encoder"](torch.nn.functional.pad(stereo, (0, -audio.shape[-1] % 4)))
    return torch.tanh(latent).transpose(1, 2)


def test_only_the_encoder_is_kept(dmae):
    # 18.8 M parameters of the 234.2 M: the U-Net's tensors in the file are not loaded
    assert sum(p.numel() for p in dmae.parameters()) == 18_770_400
    assert not [name for name in dmae.state_dict() if "unet" in name or "diffusion" in name]


def test_frames_are_centred_every_1024_samples(dmae):
    audio = noise(3, 1.5)
    embeddings, timestamps = archisound.get_timestamp_embeddings(audio, dmae)
    n_frames = math.ceil((1 + (72000 - 1) // 256) / 4)  # 282 STFT frames -> 71 latent frames
    assert embeddings.shape == (3, n_frames, 32)
    # latent frame j is centred on sample 1024 j: 0, 21.33, 42.67 ... ms
    torch.testing.assert_close(timestamps[0], torch.arange(n_frames) * 1024 / 48.0)
    assert embeddings.abs().max() < 1  # the tanh bottleneck


def test_model_card_shape_and_autoencoder_timing(dmae, ae):
    # The model card: 2**18 samples -> latent [1, 32, 256].
    embeddings, _ = archisound.get_timestamp_embeddings(noise(1, 2**18 / SR), dmae)
    assert embeddings.shape == (1, 256, 32)
    # autoencoder1d-AT-v1: [1, 32, 8192] for 2**18; frames every 32 samples from sample 1.5
    embeddings, timestamps = archisound.get_timestamp_embeddings(noise(1, 0.25), ae)
    assert embeddings.shape == (1, 375, 32)
    torch.testing.assert_close(timestamps[0], (torch.arange(375) * 32 + 1.5) / 48.0)


# dmae: the last STFT frames always cover the clip's end, so no latent frame is centred past it;
# autoencoder: one sample into a new 32-sample frame puts that frame's centre (+1.5) past the end.
@pytest.mark.parametrize(("variant", "n_samples", "dropped"), [(DMAE, 144005, 0), (AE, 32 * 1000 + 1, 1)])
def test_frames_are_the_autoencoders_own_encode(dmae, ae, variant, n_samples, dropped):
    model = dmae if variant == DMAE else ae
    audio = noise(2, n_samples / SR, seed=1)
    embeddings, _ = archisound.get_timestamp_embeddings(audio, model)
    official = official_encode(model, audio)
    assert official.shape[1] == embeddings.shape[1] + dropped == model.encoder.num_frames(n_samples)
    assert_close_to(embeddings, official[:, : embeddings.shape[1]], model.encoder)


def test_long_clips_are_chunks_of_the_one_pass_encoder(checkpoints):
    """Each chunk is the official encode of its audio plus context, its middle frames kept in place."""
    model = archisound.load_model(str(checkpoints[DMAE]), chunk_seconds=1.0)
    chunk, context = model.encoder.chunk_frames, model.encoder.context_frames
    assert (chunk, context) == (47, 38)
    audio = noise(1, 4.0, seed=2)
    embeddings, _ = archisound.get_timestamp_embeddings(audio, model)
    assert embeddings.shape[1] == 188
    expected = []
    for start in range(0, 188, chunk):
        first = max(0, start - context)
        piece = official_encode(model, audio[:, first * 1024 : (start + chunk + context) * 1024])
        expected.append(piece[:, start - first : start - first + min(chunk, 188 - start)])
    assert_close_to(embeddings, torch.cat(expected, dim=1), model.encoder)
    # A clip within one chunk and its context is a single pass.
    short = noise(1, (chunk + 2 * context) * 1024 / SR, seed=3)
    assert_close_to(
        archisound.get_timestamp_embeddings(short, model)[0], official_encode(model, short), model.encoder
    )


class Scale(torch.nn.Module):
    """Stands in for a GroupNorm: a fixed scale, so that the encoder is purely convolutional."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


def without_group_norms(model, scale: float = 0.5):
    """``model`` with each GroupNorm replaced by a fixed scale (0.5 keeps float32 activations tame)."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.GroupNorm):
                setattr(module, name, Scale(scale))
    return model


@pytest.mark.parametrize(("variant", "seconds"), [(DMAE, 3.0), (AE, 0.3)])
def test_context_covers_the_receptive_field(checkpoints, variant, seconds):
    """Without its GroupNorms (whose statistics span the whole input) the encoder is convolutional;
    then the chunked frames equal the one-pass frames, and would not without the context."""
    chunked = without_group_norms(archisound.load_model(str(checkpoints[variant]), variant=variant))
    chunked.encoder.chunk_seconds = 1.0 if variant == DMAE else 0.05
    one_pass = without_group_norms(archisound.load_model(str(checkpoints[variant]), variant=variant))
    one_pass.encoder.chunk_seconds = 1000.0
    audio = noise(1, seconds, seed=4)
    expected, _ = archisound.get_timestamp_embeddings(audio, one_pass)
    assert expected.std() > 0.05  # frames that vary, not a saturated tanh
    embeddings, _ = archisound.get_timestamp_embeddings(audio, chunked)
    depth, fan_in = network_shape(one_pass.encoder)
    tolerance = reordering_tolerance(expected, depth=depth, fan_in=fan_in)
    torch.testing.assert_close(embeddings, expected, atol=tolerance, rtol=0)
    chunked.encoder.context_frames = 0
    cut, _ = archisound.get_timestamp_embeddings(audio, chunked)
    assert (cut - expected).abs().max() > 10 * tolerance


@pytest.mark.parametrize(("variant", "n_frames", "computed"), [(DMAE, 120, 37), (AE, 240, 72)])
def test_receptive_field_bounds_what_an_impulse_moves(variant, n_frames, computed):
    """The receptive field summed from the encoder's layers bounds the frames an impulse moves (in
    float64, GroupNorms removed, before the tanh, so that nothing rounds away), and the context covers it."""
    spec = archisound.VARIANTS[variant]
    torch.manual_seed(0)
    encoder = archisound.ArchisoundEncoder(variant)
    assert encoder.receptive_field_frames() == computed and encoder.context_frames == computed + 1
    network = without_group_norms(encoder.parts["encoder"], scale=1.0).double()
    audio = noise(1, n_frames * spec.hop / SR, seed=5).double()
    bumped = audio.clone()
    centre = n_frames // 2
    bumped[0, round(centre * spec.hop + spec.first_centre)] += 0.5

    def features(mono):
        if spec.stft:
            window = encoder.parts["encoder_stft"].window.double()
            stft = torch.stft(mono, 1023, 256, window=window, normalized=True, return_complex=True)
            return stft.abs().repeat(1, 2, 1)
        return torch.stack([mono, mono], dim=1)

    with torch.no_grad():
        moved = (network(features(bumped)) - network(features(audio))).abs().amax(dim=1)[0]
    reach = (torch.nonzero(moved > 0).flatten() - centre).abs().max()
    assert computed - 3 <= reach <= computed  # a tight bound: the impulse reaches nearly that far


def test_bad_options_are_refused_before_any_file_is_read():
    with pytest.raises(ValueError, match=r"chunk_seconds must be a number of seconds >= 1\.0"):
        archisound.load_model("x.bin", chunk_seconds=0.5)
    with pytest.raises(ValueError, match="product must be 4"):
        archisound.ArchisoundEncoder(DMAE, factors=(1, 1, 2, 1, 1, 1))


def test_file_of_another_model_is_refused(tmp_path):
    path = tmp_path / "other.bin"
    torch.save(torch.nn.Conv1d(1, 8, 3).state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match=r"do not fit archisound dmae1d-ATC64-v1.*missing"):
        archisound.load_model(str(path))
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00" * 1000)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        archisound.load_model(str(garbage))


@pytest.mark.parametrize("prefix", ["", "dmae.", "module.model."])
def test_other_wrapper_prefixes_load(checkpoints, tmp_path, dmae, prefix):
    """A bare autoencoder's state dict, or a wrapper that names it otherwise, loads all the same."""
    state = torch.load(checkpoints[DMAE], weights_only=True)
    path = tmp_path / "dmae_state.pt"
    torch.save({prefix + key.removeprefix("model."): value for key, value in state.items()}, path)
    audio = noise(1, 1.0, seed=8)
    assert torch.equal(
        archisound.get_scene_embeddings(audio, archisound.load_model(str(path))),
        archisound.get_scene_embeddings(audio, dmae),
    )


def test_strided_stages_follow_the_file(tmp_path):
    """The factors' placement was inferred (docs/archisound.md): a file whose strided stages sit
    elsewhere builds that architecture, read from its kernel sizes, and encodes as it does."""
    factors = (1, 1, 2, 1, 2, 1)  # same parameter count as the default to 0.1 M
    path = tmp_path / "pytorch_model.bin"
    torch.save(hub_state(DMAE, seed=3, factors=factors), path)
    model = archisound.load_model(str(path))
    assert model.encoder.factors == factors
    assert model.encoder.parts["encoder"].downsamples[4].downsample.stride == (2,)
    audio = noise(1, 2.0, seed=9)
    embeddings, _ = archisound.get_timestamp_embeddings(audio, model)
    assert_close_to(embeddings, official_encode(model, audio), model.encoder)


def test_the_encoder_is_built_once(tmp_path, monkeypatch):
    """The file is read once and the encoder built once, with the file's own strided stages."""
    path = tmp_path / "pytorch_model.bin"
    torch.save(hub_state(DMAE, seed=3, factors=(1, 1, 1, 4, 1, 1)), path)
    built = []
    real_build = archisound.build_encoder_modules
    monkeypatch.setattr(
        archisound,
        "build_encoder_modules",
        lambda *args, **kwargs: built.append(kwargs) or real_build(*args, **kwargs),
    )
    assert archisound.load_model(str(path)).encoder.factors == (1, 1, 1, 4, 1, 1)
    assert built == [{"factors": (1, 1, 1, 4, 1, 1)}]


def test_random_weights_are_the_official_layout(tmp_path):
    """``write_random_weights`` writes the encoder parts under the hub wrapper's prefix, as
    ``pytorch_model.bin``; trained-looking GroupNorms (not the identity)."""
    for variant, prefix in ((DMAE, "model."), (AE, "autoencoder.")):
        spec = FAMILY.specs[variant]
        (tmp_path / variant).mkdir()
        path = FAMILY.write_random_weights(spec, tmp_path / variant)
        assert path.name == "pytorch_model.bin" and spec.name == f"archisound-{variant}"
        state = torch.load(path, weights_only=True)
        keys = {prefix + key for key in archisound.build_encoder_modules(variant).state_dict()}
        assert set(state) == keys
        norms = [value for key, value in state.items() if key.endswith("groupnorm.weight")]
        assert norms and not all(torch.equal(norm, torch.ones_like(norm)) for norm in norms)
        assert FAMILY.identify(FAMILY.read(spec, path)) == (variant,)


def test_snapshot_folder(checkpoints, dmae, tmp_path):
    model = archisound.load_model(str(checkpoints[DMAE].parent))
    audio = noise(1, 0.5)
    assert torch.equal(
        archisound.get_scene_embeddings(audio, model), archisound.get_scene_embeddings(audio, dmae)
    )
    with pytest.raises(CheckpointUnavailableError, match=r"has no pytorch_model\.bin"):
        archisound.load_model(str(tmp_path))
    with pytest.raises(CheckpointUnavailableError, match="is not a file"):
        archisound.load_model(str(tmp_path / "missing.bin"))


def hub_cache(root: Path, variant: str, content: bytes, *, sha256: str | None = None) -> Path:
    """Lay a file out as huggingface_hub's cache does: snapshots/<commit>/<file> -> blobs/<sha256>."""
    checkpoint = archisound.VARIANTS[variant].checkpoint
    repo = root / f"models--{checkpoint.hub_repo.replace('/', '--')}"
    blob = repo / "blobs" / (sha256 or hashlib.sha256(content).hexdigest())
    blob.parent.mkdir(parents=True)
    blob.write_bytes(content)
    pointer = repo / "snapshots" / checkpoint.hub_revision / checkpoint.filename
    pointer.parent.mkdir(parents=True)
    pointer.symlink_to(Path("..") / ".." / "blobs" / blob.name)
    return blob


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """HEAR_WRAPPERS_CACHE in tmp_path and huggingface_hub in offline mode (no network in tests)."""
    hf_constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setenv("HEAR_WRAPPERS_CACHE", str(tmp_path))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "huggingface"


def test_default_load_takes_the_pinned_commit_from_the_hub_cache(checkpoints, dmae, offline_hub):
    hub_cache(offline_hub, DMAE, checkpoints[DMAE].read_bytes())
    model = archisound.load_model(progress=False)
    audio = noise(1, 0.5)
    assert torch.equal(
        archisound.get_scene_embeddings(audio, model), archisound.get_scene_embeddings(audio, dmae)
    )


def test_default_load_refuses_a_corrupt_cached_file(checkpoints, offline_hub):
    blob = hub_cache(offline_hub, DMAE, checkpoints[DMAE].read_bytes(), sha256="0" * 64)
    with pytest.raises(CheckpointError, match=f"should have {blob.name}: the file is corrupt"):
        archisound.load_model(progress=False)


def test_default_load_offline_says_what_to_download(offline_hub):
    url = archisound.VARIANTS[DMAE].checkpoint.url
    with pytest.raises(CheckpointUnavailableError, match=f"download {url}"):
        archisound.load_model(progress=False)
    assert url.endswith(
        "/archinetai/dmae1d-ATC64-v1/resolve/07885065867977af43b460bb9c1422bdc90c29a0/pytorch_model.bin"
    )


def test_missing_extras_name_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'hear-wrappers\[archisound\]'"):
        archisound.load_model()
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "audio_encoders_pytorch" else real(name, *a),
    )
    with pytest.raises(MissingExtraError, match=r"pip install 'hear-wrappers\[archisound\]'"):
        archisound.load_model("x.bin")


def test_no_torchaudio_and_no_package_inits_at_import_or_load(checkpoints):
    code = (
        "import sys, torch\n"
        "from hear_wrappers import archisound\n"
        f"model = archisound.load_model({str(checkpoints[DMAE])!r})\n"
        "archisound.get_scene_embeddings(torch.zeros(1, 4800), model)\n"
        "for name in ('torchaudio', 'audio_encoders_pytorch', 'audio_diffusion_pytorch', 'transformers'):\n"
        "    assert name not in sys.modules, name + ' was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_stand_ins_exist_only_during_the_isolated_import(tmp_path, monkeypatch):
    """The core's ``import_isolated(stand_ins=...)``, as used for audio-encoders-pytorch's torchaudio."""
    package = tmp_path / "standinpkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('the package __init__ must not run')\n")
    (package / "layers.py").write_text(
        "from heavylib import transforms\n\ndef mel():\n    return transforms.MelSpectrogram(80)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    layers = import_isolated("standinpkg", "layers", extra="archisound", stand_ins=("heavylib",))
    assert "heavylib" not in sys.modules and "standinpkg" not in sys.modules
    with pytest.raises(MissingExtraError, match=r"heavylib\.transforms is not available"):
        layers.mel()


def test_autoencoder_configuration_matches_the_model_card():
    """autoencoder1d-AT-v1's published size, 20.7 M parameters, from its encoder plus the mirrored decoder."""
    modules = import_isolated(
        "audio_encoders_pytorch", "modules", extra="archisound", stand_ins=("torchaudio",)
    )
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in archisound.VARIANTS[AE].encoder.items()}
    full = modules.AutoEncoder1d(**config)
    assert 20.7e6 <= sum(p.numel() for p in full.parameters()) < 20.8e6  # 20,770,642
    assert sum(p.numel() for p in full.encoder.parameters()) == sum(
        p.numel() for p in archisound.build_encoder_modules(AE).parameters()
    )


@pytest.mark.slow
def test_whole_dmae_model_from_audio_diffusion_pytorch(tmp_path):
    """audio-diffusion-pytorch 0.0.92's AudioDiffusionMAE with the configuration in docs/archisound.md:
    234.2 M parameters and [1, 32, 256] latents as the model card says; its full state dict, under
    ``model.`` as the hub wrapper saves it, loads, and the frames are its own ``encode()``."""
    script = textwrap.dedent(
        f"""
        import sys, types, torch
        from hear_wrappers.core.imports import import_isolated
        # audio-diffusion-pytorch's model file imports audio_encoders_pytorch, which imports torchaudio
        # (not loadable everywhere); nothing used here needs it.
        stand_in = types.ModuleType("torchaudio"); stand_in.transforms = None
        sys.modules["torchaudio"] = stand_in
        from audio_diffusion_pytorch.model import AudioDiffusionMAE
        from audio_encoders_pytorch import TanhBottleneck
        torch.manual_seed(0)
        model = AudioDiffusionMAE(
            in_channels=2, channels=512, multipliers=[3, 2, 1, 1, 1, 1, 1, 1], factors=[1, 2, 2, 2, 2, 2, 2],
            num_blocks=[1, 1, 1, 2, 2, 2, 2], attentions=[0] * 7, encoder_inject_depth=3, encoder_channels=32,
            encoder_factors=[1, 1, 2, 2, 1, 1], encoder_multipliers=[32, 16, 8, 8, 4, 2, 1],
            encoder_num_blocks=[4] * 6, bottleneck=TanhBottleneck(), stft_use_complex=True,
            stft_num_fft=1023, stft_hop_length=256,
        ).eval()
        print("parameters", sum(p.numel() for p in model.parameters()))
        state = {{"model." + k: v for k, v in model.state_dict().items()}}
        torch.save(state, {str(tmp_path / "pytorch_model.bin")!r})
        audio = (torch.rand(1, 2**18, generator=torch.Generator().manual_seed(1)) - 0.5)
        with torch.no_grad():
            latent = model.encode(torch.stack([audio, audio], dim=1))
        print("latent", list(latent.shape))
        torch.save({{"audio": audio, "latent": latent}}, {str(tmp_path / "reference.pt")!r})
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "parameters 234231584" in result.stdout  # 234.2 M
    assert "latent [1, 32, 256]" in result.stdout
    reference = torch.load(tmp_path / "reference.pt", weights_only=True)
    model = archisound.load_model(str(tmp_path / "pytorch_model.bin"))
    embeddings, _ = archisound.get_timestamp_embeddings(reference["audio"], model)
    assert_close_to(embeddings, reference["latent"].transpose(1, 2), model.encoder)


@pytest.mark.slow
def test_ten_minute_clip_at_batch_size_one(dmae):
    audio = noise(1, 600.0, seed=10) * 0.2
    embeddings, timestamps = archisound.get_timestamp_embeddings(audio, dmae)
    assert embeddings.shape == (1, 28125, 32) and torch.isfinite(embeddings).all()
    assert timestamps[0, -1] == pytest.approx(28124 * 1024 / 48, abs=0.1)
