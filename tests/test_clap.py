"""hear_wrappers.clap on checkpoints built from the real architecture with random weights.

Only what is particular to CLAP is tested here; what every registered model must do (HEAR attributes,
bad inputs, determinism, batch invariance, slicing, silence, shortest clips, timestamps, long clips,
hearvalidator, wrong-variant files) is in tests/test_contract.py.

The official LAION-CLAP files are training checkpoints: ``{"epoch", "name", "state_dict", "optimizer"}``
whose ``state_dict`` holds the whole CLAP model under ``module.`` (audio branch, audio projection,
text branch, text/audio transforms, logit scales), including HTS-AT's classifier head
(``tscam_conv``, ``head``) and its derived buffers (``relative_position_index``, ``attn_mask``). The
`Checkpoints` fixture writes random-weight files in that layout with the family's own
``write_random_weights``; where laion_clap 1.1.7 is installed, the reference tests load the same
tensors into laion_clap's own ``HTSAT_Swin_Transformer`` (see tests/clap_reference.py), compare every
output, and check that the files hold exactly the keys, shapes and derived buffers of laion_clap's model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import clap_reference as ref
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import build_small_tasks, installed, noise
from torch import nn

from hear_wrappers import clap
from hear_wrappers.core.checkpoints import (
    CheckpointError,
    CheckpointMismatchError,
    CheckpointUnavailableError,
    resolve_checkpoint,
)
from hear_wrappers.core.imports import MissingExtraError
from hear_wrappers.core.model import HearModel
from hear_wrappers.nets import clap_frontend as frontend
from hear_wrappers.nets.htsat import DERIVED_BUFFERS as DERIVED
from hear_wrappers.nets.htsat import SIZES, ClapAudioBranch

SR = 48000
WINDOW = 480_000  # 10 s
FUSION, TINY, BASE = "630k-audioset-fusion-best", "630k-audioset-best", "music_audioset_epoch_15_esc_90.14"
KINDS = {FUSION: ("tiny", True), TINY: ("tiny", False), BASE: ("base", False)}
PINNED = "b3708341862f581175dba5c356a4ebf74a9b6651"
AUDIO = ("audio_branch.", "audio_projection.")

LAION_REASON = (
    "needs laion_clap 1.1.7 and torchlibrosa 0.1.0 (pip install --no-deps laion_clap==1.1.7 "
    "torchlibrosa==0.1.0) and librosa, for the reference HTS-AT"
)
needs_librosa = pytest.mark.skipif(
    not installed("torchlibrosa", "librosa"), reason="needs torchlibrosa 0.1.0 and librosa"
)


# ----------------------------------------------------------------------------------------------------
# Official-format checkpoints with random weights


def read_training_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


class Checkpoints:
    """One random-weight official-format file per architecture (``write_random_weights``), named like
    the official file (so that the folder is also a snapshot folder), written on first use; models
    loaded from them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._states: dict[str, dict[str, torch.Tensor]] = {}
        self._models: dict[tuple, HearModel] = {}

    def state(self, name: str) -> dict[str, torch.Tensor]:
        """The file's ``audio_branch.*`` and ``audio_projection.*`` tensors (``module.`` removed),
        derived buffers and classifier head included."""
        if name not in self._states:
            with torch.random.fork_rng():
                torch.manual_seed(0)
                path = clap.FAMILY.write_random_weights(clap.FAMILY.spec(name), self.folder)
            assert path == self.folder / f"{name}.pt"
            saved = read_training_checkpoint(path)["state_dict"]
            self._states[name] = {
                k.removeprefix("module."): v
                for k, v in saved.items()
                if k.removeprefix("module.").startswith(AUDIO)
            }
        return self._states[name]

    def path(self, name: str) -> Path:
        self.state(name)
        return self.folder / f"{name}.pt"

    def model(self, name: str, **options) -> HearModel:
        key = (name, *sorted(options.items()))
        if key not in self._models:
            self._models[key] = clap.load_model(str(self.path(name)), variant=name, **options)
        return self._models[key]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> Checkpoints:
    return Checkpoints(tmp_path_factory.mktemp("clap"))


@pytest.fixture(scope="module")
def fusion_model(ckpts) -> HearModel:
    return ckpts.model(FUSION)


def project(state: dict[str, torch.Tensor], embeddings: torch.Tensor) -> torch.Tensor:
    """CLAP's ``audio_projection`` (Linear, ReLU, Linear) from the file's tensors, then L2-normalised
    (laion_clap's ``get_audio_embedding``, model.py lines 739-741)."""
    hidden = F.relu(
        F.linear(embeddings, state["audio_projection.0.weight"], state["audio_projection.0.bias"])
    )
    out = F.linear(hidden, state["audio_projection.2.weight"], state["audio_projection.2.bias"])
    return F.normalize(out, dim=-1)


def quantized(audio: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.stack([ref.quantize(clip) for clip in audio.numpy()]))


def close(actual: torch.Tensor, expected: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol)


def differ(a: torch.Tensor, b: torch.Tensor, by: float = 1e-3) -> bool:
    return bool((a - b).abs().max() > by)


# ----------------------------------------------------------------------------------------------------
# 1. laion_clap 1.1.7's own HTS-AT as the reference


@pytest.fixture(scope="module")
def htsat() -> types.ModuleType:
    if not installed("laion_clap", "torchlibrosa", "librosa"):
        pytest.skip(LAION_REASON)
    return ref.laion_htsat()


def fresh_laion_htsat(htsat: types.ModuleType, name: str) -> nn.Module:
    size, fusion = KINDS[name]
    config = types.SimpleNamespace(**ref.laion_model_config(size)["audio_cfg"])
    return htsat.create_htsat_model(config, enable_fusion=fusion, fusion_type="aff_2d" if fusion else "None")


FIXED = ("spectrogram_extractor.stft.conv_real.weight", "spectrogram_extractor.stft.conv_imag.weight")
FIXED += ("logmel_extractor.melW",)


class Laion:
    """laion_clap's HTS-AT per checkpoint name, built once: ``fresh[name]`` summarises its own state
    dict as built (shape and dtype of every tensor, values of the derived buffers and fixed kernels);
    ``model(name)`` then holds the file's ``audio_branch`` tensors, loaded strictly."""

    def __init__(self, htsat: types.ModuleType, ckpts: Checkpoints) -> None:
        self.htsat, self.ckpts = htsat, ckpts
        self.fresh: dict[str, dict[str, tuple]] = {}
        self._models: dict[str, nn.Module] = {}

    def model(self, name: str) -> nn.Module:
        if name not in self._models:
            model = fresh_laion_htsat(self.htsat, name)
            self.fresh[name] = {
                key: (value.shape, value.dtype, value.clone() if key.endswith(DERIVED + FIXED) else None)
                for key, value in model.state_dict().items()
            }
            state = self.ckpts.state(name)
            branch = {
                k.removeprefix("audio_branch."): v for k, v in state.items() if k.startswith("audio_branch.")
            }
            model.load_state_dict(branch, strict=True)
            self._models[name] = model.eval()
        return self._models[name]


@pytest.fixture(scope="module")
def laion(htsat, ckpts) -> Laion:
    return Laion(htsat, ckpts)


def test_reference_loader_leaves_sys_modules_clean(htsat):
    assert Path(htsat.__file__).parent.name == "clap_module"
    assert Path(htsat.__file__).parents[1].name == "laion_clap"
    assert callable(htsat.create_htsat_model) and htsat.HTSAT_Swin_Transformer
    for name in ("torchvision", "torchvision.ops", "torchvision.ops.misc", "h5py"):
        module = sys.modules.get(name)
        assert module is None or "clap_reference placeholder" not in (module.__doc__ or ""), name
    assert not [name for name in sys.modules if name.startswith("_clap_reference")]
    assert not [name for name in sys.modules if name == "laion_clap" or name.startswith("laion_clap.")]
    assert ref.laion_htsat() is htsat  # cached: loaded once


@pytest.mark.parametrize("name", [FUSION, TINY, BASE])
def test_files_hold_exactly_the_tensors_of_laion_claps_htsat(ckpts, laion, name):
    """The fixture's files are in the official layout: every key of laion_clap's HTS-AT with its
    shape and dtype (classifier head and derived buffers included), derived buffers and fixed
    STFT/mel kernels equal to laion_clap's own, and nothing else under ``audio_branch.``."""
    laion.model(name)
    theirs = laion.fresh[name]
    state = ckpts.state(name)
    ours = {k.removeprefix("audio_branch."): v for k, v in state.items() if k.startswith("audio_branch.")}
    assert sorted(ours) == sorted(theirs)
    for key, (shape, dtype, value) in theirs.items():
        assert (ours[key].shape, ours[key].dtype) == (shape, dtype), key
        if key.endswith(DERIVED):
            assert torch.equal(ours[key], value), key
    masks = [k for k in theirs if k.endswith("attn_mask")]
    assert masks and all(re.match(r"layers\.[012]\.blocks\.\d*[13579]\.attn_mask$", k) for k in masks)
    for key in FIXED[:2]:
        close(ours[key], theirs[key][2], atol=1e-6, rtol=0)
    close(ours[FIXED[2]], theirs[FIXED[2]][2], atol=1e-7, rtol=1e-5)
    assert SIZES[KINDS[name][0]].num_features == ref.laion_model_config(KINDS[name][0])["embed_dim"]


@pytest.mark.parametrize("name", [TINY, FUSION, BASE])
def test_frames_are_laion_claps_fine_grained_embedding(ckpts, laion, name):
    """``frames`` of a 10 s window: the distinct rows of laion_clap's ``fine_grained_embedding``
    (each repeated 32 times there: 32 frames per 10 s), whose mean is its ``embedding``."""
    encoder, theirs = ckpts.model(name).encoder, laion.model(name)
    ours = encoder.branch
    audio = noise(2 if name == FUSION else 1, 10.0, seed=11)
    with torch.no_grad():
        if KINDS[name][1]:
            mel = encoder.htk_log_mel(audio)
            stacked = mel[:, None].repeat(1, 4, 1, 1)
            out = theirs(
                {"mel_fusion": stacked, "longer": torch.zeros(len(audio), 1, dtype=torch.bool)}, device="cpu"
            )
            frames = ours.frames(mel[:, None])
        else:
            out = theirs({"waveform": audio}, device="cpu")
            frames = ours.frames(ours.slaney_log_mel(audio)[:, None])
    fine, width = out["fine_grained_embedding"], SIZES[KINDS[name][0]].num_features
    assert fine.shape == (len(audio), 1024, width) and frames.shape == (len(audio), 32, width)
    assert torch.equal(fine, fine[:, ::32].repeat_interleave(32, dim=1))
    assert differ(fine[:, ::32][:, 1:], fine[:, ::32][:, :-1], by=1e-2)  # 32 distinct frames
    close(frames, fine[:, ::32])
    close(frames.mean(dim=1), out["embedding"])


def test_fusion_path_is_laion_claps_for_a_mixed_batch(ckpts, laion):
    """Long clips' 4-channel inputs (whole clip + 3 crops) in a batch where some are ``longer``."""
    ours, theirs = ckpts.model(FUSION).encoder.branch, laion.model(FUSION)
    mel = torch.randn(3, 4, 1001, 64, generator=torch.Generator().manual_seed(12)) * 10 - 20
    longer = torch.tensor([True, False, True])
    with torch.no_grad():
        out = theirs({"mel_fusion": mel.clone(), "longer": longer[:, None]}, device="cpu")
        frames = ours.frames(mel, longer)
        alone = ours.frames(mel[:, :1])  # the whole-clip channel only
    close(frames, out["fine_grained_embedding"][:, ::32])
    close(frames.mean(dim=1), out["embedding"])
    close(frames[1], alone[1])  # not longer: channels 1-3 unused
    assert differ(frames[0], alone[0]) and differ(frames[2], alone[2])  # longer: the crops count


@needs_librosa
def test_front_ends_are_torchlibrosas_and_librosas():
    import librosa
    from torchlibrosa.stft import LogmelFilterBank, Spectrogram

    mel_args = {"sr": SR, "n_fft": 1024, "n_mels": 64, "fmin": 50, "fmax": 14000}
    np.testing.assert_allclose(
        frontend.slaney_mel_filterbank(), librosa.filters.mel(**mel_args).T, rtol=1e-5, atol=1e-8
    )
    htk = librosa.filters.mel(**mel_args, htk=True, norm=None, dtype=np.float64).T
    np.testing.assert_allclose(frontend.htk_mel_filterbank(), htk, rtol=0, atol=1e-5)  # a float32 grid
    assert frontend.htk_mel_filterbank().shape == frontend.slaney_mel_filterbank().shape == (513, 64)

    stft_args = {"n_fft": 1024, "hop_length": 480, "win_length": 1024, "window": "hann", "center": True}
    spectrogram = Spectrogram(**stft_args, pad_mode="reflect", freeze_parameters=True)
    logmel = LogmelFilterBank(**mel_args, ref=1.0, amin=1e-10, top_db=None, freeze_parameters=True)
    branch = ClapAudioBranch(SIZES["tiny"], fusion=False)  # its default kernels
    stft = branch.spectrogram_extractor.stft
    close(stft.conv_real.weight, spectrogram.stft.conv_real.weight, atol=1e-6, rtol=0)
    close(stft.conv_imag.weight, spectrogram.stft.conv_imag.weight, atol=1e-6, rtol=0)
    close(branch.logmel_extractor.melW, logmel.melW, atol=1e-7, rtol=1e-5)
    audio = noise(2, 0.5, seed=13)
    audio[1, 4000:20000] = 0.0  # silence: 10 log10(1e-10) = -100 dB
    with torch.no_grad():
        expected = logmel(spectrogram(audio))[:, 0]
        ours = branch.slaney_log_mel(audio)
    assert ours.shape == (2, 24000 // 480 + 1, 64) and (ours == -100).any()
    close(ours, expected, atol=1e-3, rtol=1e-5)


@needs_librosa
def test_htk_log_mel_is_torchaudios_mel_spectrogram_in_db():
    """The fusion models' features: data.py ``get_mel`` computed independently in numpy float64."""
    htk_log_mel = frontend.HtkLogMel()
    t = torch.arange(62_401) / SR
    audio = 0.3 * torch.sin(2 * math.pi * 440 * t)[None].repeat(2, 1) + 0.2 * noise(2, 62_401 / SR, seed=14)
    audio[1, 20_000:40_000] = 0.0
    ours = htk_log_mel(audio)
    expected = torch.from_numpy(np.stack([ref.htk_log_mel(clip) for clip in audio.numpy()])).float()
    assert ours.shape == expected.shape == (2, 62_401 // 480 + 1, 64)
    assert (expected[1] == -100).any() and expected.max() > 20  # silence and loud bands both covered
    close(ours, expected, atol=2e-3, rtol=0)
    close(htk_log_mel(audio, frames_per_block=7), ours, atol=1e-4, rtol=0)  # in blocks of frames


def laion_clip_embeddings(theirs: nn.Module, state, audio: torch.Tensor, fusion: bool) -> torch.Tensor:
    """``CLAP_Module.get_audio_embedding_from_data`` (hook.py lines 172-190): per clip, the int16
    round trip; then data.py ``get_audio_features`` (``repeatpad`` up to 10 s; for fusion models over
    10 s, the log-mel shrunk plus three crops, here at the middle of laion_clap's random ranges, or
    the whole mel in the 1001-frame corner case); then HTS-AT and ``audio_projection``."""
    embeddings = []
    for clip in audio.numpy():
        waveform = ref.quantize(clip)
        longer = False
        if len(waveform) <= WINDOW:
            waveform = ref.repeatpad(waveform)
        if fusion:
            mel = ref.htk_log_mel(waveform)
            if mel.shape[0] == ref.CHUNK_FRAMES:
                stacked = torch.from_numpy(np.stack([mel] * 4)).float()
            else:
                stacked, longer = ref.fusion_input(mel, ref.middle_starts(mel.shape[0])[1]), True
            inputs = {"mel_fusion": stacked[None], "longer": torch.tensor([[longer]])}
        else:
            inputs = {"waveform": torch.from_numpy(waveform)[None]}
        with torch.no_grad():
            embeddings.append(theirs(inputs, device="cpu")["embedding"])
    return project(state, torch.cat(embeddings))


@pytest.mark.parametrize(
    ("name", "n_samples", "n_clips"),
    [
        (TINY, 158_400, 2),  # 3.3 s: repeated 3 times, then zeros
        (TINY, WINDOW, 1),
        (FUSION, 336_000, 1),
        (FUSION, WINDOW + 192, 1),  # 1001 mel frames: the whole clip, not longer
        (FUSION, WINDOW + 528, 1),  # 1002 frames: crops at 0, 1, 0
        (FUSION, 35 * SR, 1),
        (BASE, 192_000, 1),
    ],
)
def test_clip_embeddings_are_laion_claps(ckpts, laion, name, n_samples, n_clips):
    audio = noise(n_clips, n_samples / SR, seed=15)
    audio[0, :50] = 1.7  # clipped by the int16 round trip
    audio[-1, 100:150] = -1.3
    expected = laion_clip_embeddings(laion.model(name), ckpts.state(name), audio, fusion=KINDS[name][1])
    scene = clap.get_scene_embeddings(audio, ckpts.model(name))
    assert scene.shape == (n_clips, 512)
    close(scene, expected, atol=1e-6, rtol=1e-5)  # measured: under 1e-7


# ----------------------------------------------------------------------------------------------------
# 2. Loading official-format files


def test_official_file_loads_only_the_audio_branch_and_projection(ckpts, fusion_model):
    state = ckpts.state(FUSION)
    kept = {
        k.replace("audio_branch.", "encoder.branch.", 1).replace(
            "audio_projection.", "encoder.projection.", 1
        ): v
        for k, v in state.items()
        if not k.startswith(("audio_branch.tscam_conv.", "audio_branch.head.")) and not k.endswith(DERIVED)
    }
    loaded = fusion_model.state_dict()
    assert sorted(loaded) == sorted(kept)
    assert all(torch.equal(loaded[k], v) for k, v in kept.items())
    assert "mel_conv2d" in " ".join(loaded) and fusion_model.encoder.branch.fusion
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    parameters = sum(v.numel() for k, v in kept.items() if not k.endswith(buffers))
    assert sum(p.numel() for p in fusion_model.parameters()) == parameters

    saved = read_training_checkpoint(ckpts.path(FUSION))  # laion_clap's training save, as published
    assert sorted(saved) == ["epoch", "name", "optimizer", "state_dict"]
    assert all(k.startswith("module.") for k in saved["state_dict"])
    assert any(k.startswith("module.text_branch.") for k in saved["state_dict"])


def rewrite(source: Path, path: Path, layout: str) -> Path:
    """The file at ``source`` saved again in another ``layout`` that must load to the same model."""
    saved = read_training_checkpoint(source)
    if layout == "no module. prefix":
        saved["state_dict"] = {k.removeprefix("module."): v for k, v in saved["state_dict"].items()}
    elif layout == "bare state dict":
        saved = saved["state_dict"]
    elif layout == "garbage head and derived buffers":
        spoiled = {k: v for k, v in saved["state_dict"].items()}
        for key, value in spoiled.items():
            if key.endswith(DERIVED) or ".head." in key or "tscam_conv" in key:
                spoiled[key] = torch.full_like(value, 7)
        saved["state_dict"] = spoiled
    else:
        assert layout == "legacy serialization"
    torch.save(saved, path, _use_new_zipfile_serialization=layout != "legacy serialization")
    return path


@pytest.mark.parametrize(
    "layout",
    ["no module. prefix", "bare state dict", "legacy serialization", "garbage head and derived buffers"],
)
def test_other_layouts_load_the_same_model(ckpts, fusion_model, tmp_path, layout):
    """Every parameter and buffer (the non-persistent derived ones included) equals the official
    layout's model: the same model, whatever the file's layout, and whatever its derived buffers and
    classifier head hold."""
    path = rewrite(ckpts.path(FUSION), tmp_path / "clap.pt", layout)
    model = clap.load_model(str(path))
    expected = {**dict(fusion_model.named_parameters()), **dict(fusion_model.named_buffers())}
    loaded = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    assert sorted(loaded) == sorted(expected)
    assert [k for k in loaded if k.endswith(DERIVED)]
    assert all(torch.equal(loaded[k], v) for k, v in expected.items())


def test_snapshot_folder_and_missing_files(ckpts, fusion_model, tmp_path):
    model = clap.load_model(str(ckpts.path(FUSION).parent))  # holds 630k-audioset-fusion-best.pt
    audio = noise(1, 1.0, seed=17)
    assert torch.equal(
        clap.get_scene_embeddings(audio, model), clap.get_scene_embeddings(audio, fusion_model)
    )
    assert model.encoder.branch.fusion
    tiny = clap.load_model(str(ckpts.path(TINY).parent), variant=TINY)  # the variant's file in the folder
    assert not tiny.encoder.branch.fusion
    with pytest.raises(CheckpointUnavailableError, match=r"has no 630k-audioset-fusion-best\.pt"):
        clap.load_model(str(tmp_path))
    with pytest.raises(CheckpointUnavailableError, match="is not a file"):
        clap.load_model(str(tmp_path / "missing.pt"))


def test_every_official_checkpoint_is_a_registered_pinned_hub_file():
    assert clap.FAMILY.default_variant == FUSION
    assert len(clap.VARIANTS) == 7
    assert [spec.variant for spec in clap.SPECS] == list(clap.VARIANTS) == list(clap.FAMILY.specs)
    for spec, (name, config) in zip(clap.SPECS, clap.VARIANTS.items(), strict=True):
        assert (spec.name, spec.family, spec.variant, spec.module) == (
            f"clap-{name}",
            "clap",
            name,
            "hear_wrappers.clap",
        )
        assert (spec.sample_rate, spec.frame_hop_ms, spec.default_pooling) == (SR, 312.5, "native")
        assert (spec.native_clip_size, spec.clip_embedding_size(), spec.extra) == (512, 512, "clap")
        assert spec.frame_size == (1024 if config.size == "base" else 768) == SIZES[config.size].num_features
        assert spec.weights is config.checkpoint
        weights = config.checkpoint
        assert (weights.hub_repo, weights.hub_revision, weights.filename) == (
            "lukewys/laion_clap",
            PINNED,
            f"{name}.pt",
        )
        assert weights.url == f"https://huggingface.co/lukewys/laion_clap/resolve/{PINNED}/{name}.pt"
        assert spec.license.startswith("CC0-1.0")
        assert config.fusion == ("fusion" in name)
        assert config.size == ("base" if name.startswith("music_") else "tiny")


@pytest.mark.skipif(not installed("laion_clap"), reason="needs laion_clap 1.1.7 (its hook.py's file list)")
def test_laion_claps_own_download_names_are_all_known():
    import importlib.util

    folder = Path(next(iter(importlib.util.find_spec("laion_clap").submodule_search_locations)))
    hook = (folder / "hook.py").read_text()
    listed = re.search(r"download_names = \[(.*?)\]", hook, re.S).group(1)
    names = re.findall(r"'([\w.-]+)\.pt'", listed)
    assert names == ["630k-best", "630k-audioset-best", "630k-fusion-best", "630k-audioset-fusion-best"]
    assert set(names) <= set(clap.VARIANTS)
    assert names[3] == clap.FAMILY.default_variant  # laion_clap's default for fusion models (id 3)


def link_or_copy(source: Path, target: Path) -> None:
    try:
        target.hardlink_to(source)  # the files are large: no copy where the file system allows
    except OSError:
        shutil.copyfile(source, target)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """HEAR_WRAPPERS_CACHE in tmp_path and huggingface_hub offline (no network in tests)."""
    hf_constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setenv("HEAR_WRAPPERS_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "huggingface"


def test_every_name_loads_from_the_hub_cache_at_the_pinned_commit(ckpts, fusion_model, offline_hub):
    """The hub cache's layout (snapshots/<commit>/<file> -> blobs/<sha256>), one file per architecture
    linked under every official name: each name resolves to its file (checked against its sha256);
    the default, one non-fusion and one HTSAT-base name build their architecture."""
    repo = offline_hub / "models--lukewys--laion_clap"
    (repo / "blobs").mkdir(parents=True)
    blobs = {}
    for kind in KINDS:
        digest = hashlib.sha256(ckpts.path(kind).read_bytes()).hexdigest()
        blobs[KINDS[kind]] = repo / "blobs" / digest
        link_or_copy(ckpts.path(kind), blobs[KINDS[kind]])
    snapshot = repo / "snapshots" / PINNED
    snapshot.mkdir(parents=True)
    for name, config in clap.VARIANTS.items():
        blob = blobs[config.size, config.fusion]
        (snapshot / f"{name}.pt").symlink_to(Path("..") / ".." / "blobs" / blob.name)
    audio = noise(1, 1.0, seed=18)
    default = clap.load_model(progress=False)
    assert torch.equal(
        clap.get_scene_embeddings(audio, default), clap.get_scene_embeddings(audio, fusion_model)
    )
    for name, config in clap.VARIANTS.items():
        path = resolve_checkpoint(config.checkpoint, extra="clap", progress=False)
        assert path.samefile(blobs[config.size, config.fusion]) and path.name == f"{name}.pt"
        assert PINNED in path.parts
    # the older option name, and the new one
    for model, name in [(clap.load_model(checkpoint=TINY, progress=False), TINY),
                        (clap.load_model(variant=BASE, progress=False), BASE)]:  # fmt: skip
        config = clap.VARIANTS[name]
        assert model.encoder.branch.fusion == config.fusion
        assert model.timestamp_embedding_size == SIZES[config.size].num_features
        weight = ckpts.state(name)["audio_branch.patch_embed.proj.weight"]
        assert torch.equal(model.encoder.branch.patch_embed.proj.weight, weight)


def test_corrupt_cached_file_is_refused(ckpts, offline_hub):
    repo = offline_hub / "models--lukewys--laion_clap"
    blob = repo / "blobs" / ("0" * 64)
    blob.parent.mkdir(parents=True)
    link_or_copy(ckpts.path(FUSION), blob)
    pointer = repo / "snapshots" / PINNED / f"{FUSION}.pt"
    pointer.parent.mkdir(parents=True)
    pointer.symlink_to(Path("..") / ".." / "blobs" / blob.name)
    with pytest.raises(CheckpointError, match="the file is corrupt"):
        clap.load_model(progress=False)


def test_offline_with_an_empty_cache_says_what_to_download(offline_hub):
    for name in (FUSION, BASE):
        url = clap.VARIANTS[name].checkpoint.url
        with pytest.raises(CheckpointUnavailableError, match=re.escape(f"download {url}")):
            clap.load_model(variant=name, progress=False)


def test_missing_huggingface_hub_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed
    with pytest.raises(MissingExtraError, match=re.escape("pip install 'hear-wrappers[clap]'")):
        clap.load_model()


@pytest.mark.parametrize(
    ("file", "names"),
    [
        (FUSION, (FUSION, "630k-fusion-best")),
        (TINY, (TINY, "630k-best")),
        (BASE, (BASE, "music_speech_epoch_15_esc_89.25", "music_speech_audioset_epoch_15_esc_89.98")),
    ],
)
def test_a_file_is_every_checkpoint_of_its_architecture_the_preferred_first(ckpts, file, names):
    """A CLAP file tells its architecture (HTS-AT width, fusion path), not which of its checkpoints
    it is: ``identify`` names them all, the one a file given alone loads as first."""
    assert (
        clap.FAMILY.identify(clap.audio_state(read_training_checkpoint(ckpts.path(file))["state_dict"]))
        == names
    )
    for name in names:  # any checkpoint of the architecture loads the file
        assert clap.load_model(str(ckpts.path(file)), variant=name).encoder.branch.fusion == KINDS[file][1]


def test_a_file_alone_loads_as_its_architecture_and_checkpoint_is_the_older_name_of_variant(ckpts, caplog):
    with caplog.at_level(logging.WARNING, logger="hear_wrappers"):
        model = clap.load_model(str(ckpts.path(TINY)))  # not the default's architecture
    assert f"loading it as clap-{TINY}" in caplog.text
    assert not model.encoder.branch.fusion and model.encoder.long_clips == "windows"  # the spec's default
    assert clap.load_model(str(ckpts.path(TINY)), checkpoint="630k-best").encoder.long_clips == "windows"
    architecture = f"a model of the clap-{TINY}/clap-630k-best architecture"
    wrong = f"holds {architecture}, not clap-{FUSION}: pass variant='{TINY}'"
    with pytest.raises(CheckpointMismatchError, match=re.escape(wrong)):
        clap.load_model(str(ckpts.path(TINY)), checkpoint=FUSION)
    with pytest.raises(ValueError, match="name different variants: pass only variant="):
        clap.load_model(str(ckpts.path(TINY)), checkpoint=TINY, variant="630k-best")


def test_files_that_are_not_clap_are_refused(ckpts, tmp_path):
    other = tmp_path / "other.pt"
    torch.save(nn.Conv1d(1, 8, 3).state_dict(), other)
    with pytest.raises(CheckpointMismatchError, match="is not a LAION-CLAP checkpoint"):
        clap.load_model(str(other))
    saved = read_training_checkpoint(ckpts.path(TINY))
    text_only = tmp_path / "text.pt"
    torch.save({k: v for k, v in saved["state_dict"].items() if "audio_" not in k}, text_only)
    with pytest.raises(CheckpointMismatchError, match="is not a LAION-CLAP checkpoint"):
        clap.load_model(str(text_only))
    # a CLAP file with a block missing and a projection of the wrong width
    state = {k: v for k, v in saved["state_dict"].items() if ".layers.3.blocks.1." not in k}
    state["module.audio_projection.0.weight"] = torch.zeros(512, 512)
    broken = tmp_path / "broken.pt"
    torch.save({**saved, "state_dict": state}, broken)
    expected = (
        r"do not fit LAION-CLAP 630k-audioset-best \(missing: audio_branch\.layers\.3\.blocks\.1\..*"
        r"wrong shape: audio_projection\.0\.weight: file \(512, 512\) vs model \(512, 768\)\)\. "
        r"Pass an official HTSAT-tiny non-fusion checkpoint such as 630k-audioset-best\.pt"
    )
    with pytest.raises(CheckpointMismatchError, match=expected):
        clap.load_model(str(broken), variant=TINY)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 1000)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        clap.load_model(str(garbage))


# ----------------------------------------------------------------------------------------------------
# 3. Frames, timestamps and CLAP's clip embedding


def test_options_set_the_frames_and_the_encoder_says_which(ckpts, fusion_model):
    projected = ckpts.model(TINY, frames="projected")
    assert (projected.timestamp_embedding_size, projected.scene_embedding_size) == (512, 512)
    base = ckpts.model(BASE)
    assert (base.timestamp_embedding_size, base.scene_embedding_size) == (1024, 512)
    assert fusion_model.clip_embedding.is_native and fusion_model.pooling is None
    assert "htsat=tiny, fusion=True, frames='raw', long_clips='fusion', quantize=True" in repr(fusion_model)
    assert "htsat=base, fusion=False, frames='raw', long_clips='windows'" in repr(base)
    assert fusion_model.encoder.num_frames(1) == 32 and fusion_model.encoder.num_frames(WINDOW + 1) == 64


@pytest.fixture(scope="module")
def clip35(fusion_model):
    """A 35 s clip, its scene embedding and its timestamp embeddings from the fusion model."""
    audio = noise(1, 35.0, seed=20)
    return (
        audio,
        clap.get_scene_embeddings(audio, fusion_model),
        clap.get_timestamp_embeddings(audio, fusion_model),
    )


def test_timestamps_are_frame_centres_inside_the_clip(clip35):
    _, scene, (frames, timestamps) = clip35
    # 4 windows of 32 frames; frame j is centred at (j + 0.5) * 312.5 ms; centres past 35 s dropped
    assert frames.shape == (1, 112, 768) and frames.dtype == torch.float32
    assert timestamps.shape == (1, 112) and timestamps.dtype == torch.float32
    torch.testing.assert_close(timestamps[0], (torch.arange(112) + 0.5) * 312.5, atol=1e-3, rtol=0)
    assert timestamps.max() <= 35_000
    torch.testing.assert_close(scene.norm(dim=1), torch.ones(1))  # CLAP's clip embedding: unit norm


def test_projected_frames_are_the_projection_of_raw_frames(ckpts):
    audio = noise(1, 3.0, seed=21)
    raw, stamps = clap.get_timestamp_embeddings(audio, ckpts.model(TINY))
    projected, projected_stamps = clap.get_timestamp_embeddings(audio, ckpts.model(TINY, frames="projected"))
    assert raw.shape == (1, 10, 768) and projected.shape == (1, 10, 512)
    assert torch.equal(stamps, projected_stamps)
    torch.testing.assert_close(projected.norm(dim=-1), torch.ones(1, 10))
    close(projected, project(ckpts.state(TINY), raw))


@pytest.mark.parametrize("name", [FUSION, TINY])
def test_clip_embedding_of_ten_seconds_is_the_projected_mean_frame(ckpts, name):
    audio = noise(1, 10.0, seed=22)
    frames, _ = clap.get_timestamp_embeddings(audio, ckpts.model(name))
    assert frames.shape[1] == 32  # all of the window's frames are inside the clip
    close(clap.get_scene_embeddings(audio, ckpts.model(name)), project(ckpts.state(name), frames.mean(dim=1)))


# ----------------------------------------------------------------------------------------------------
# 4. Long and short clips


def test_long_clip_fusion_input_is_the_shrunk_mel_and_three_middle_crops(ckpts, fusion_model, clip35):
    """Where laion_clap draws the three crops at random, they are fixed: the same clip embeds the same."""
    audio, scene, _ = clip35
    assert torch.equal(clap.get_scene_embeddings(audio.clone(), fusion_model), scene)
    branch = fusion_model.encoder.branch
    with torch.no_grad():
        mel = fusion_model.encoder.htk_log_mel(quantized(audio))[0]
        assert mel.shape == (3501, 64)
        starts = clap.fusion_crop_starts(mel.shape[0])
        assert starts == (417, 1251, 2084)
        features = ref.fusion_input(mel.numpy(), starts)[None]
        expected = project(ckpts.state(FUSION), branch.frames(features, torch.tensor([True])).mean(dim=1))
        front_only = ref.fusion_input(mel.numpy(), (0, 0, 0))[None]
        other = project(ckpts.state(FUSION), branch.frames(front_only, torch.tensor([True])).mean(dim=1))
    close(scene, expected)
    assert differ(scene, other, by=1e-4)  # the crops' positions matter


@pytest.mark.parametrize("total", [1001, 1002, 1003, 1004, 1005, 1010, 2002, 3501, 10_001])
def test_fusion_crop_starts_are_the_middles_of_laion_claps_ranges(total):
    ranges, middles = ref.middle_starts(total)
    split = [list(map(int, r)) or [0] for r in np.array_split(np.arange(total - 1001 + 1), 3)]
    assert ranges == split  # the reference's ranges are numpy's
    starts = clap.fusion_crop_starts(total)
    assert starts == middles
    assert all(start in choices for start, choices in zip(starts, ranges, strict=True))
    assert all(0 <= start <= total - 1001 for start in starts)


def test_fusion_crop_starts_examples():
    assert clap.fusion_crop_starts(1001) == (0, 0, 0)
    assert clap.fusion_crop_starts(1002) == (0, 1, 0)  # laion_clap: ranges [0], [1], [] -> [0]
    assert clap.fusion_crop_starts(1003) == (0, 1, 2)
    assert clap.fusion_crop_starts(1007) == (1, 4, 6)  # 7 starts: [0, 1, 2], [3, 4], [5, 6]
    assert clap.fusion_crop_starts(3501) == (417, 1251, 2084)


def test_long_clips_sharing_their_first_ten_seconds(ckpts, fusion_model):
    audio = noise(2, 35.0, seed=23)
    audio[1, :WINDOW] = audio[0, :WINDOW]
    audio[1, WINDOW:] = 0.4 * torch.sin(2 * math.pi * 1000 * torch.arange(25 * SR) / SR)  # then a tone
    frames, _ = clap.get_timestamp_embeddings(audio, fusion_model)
    close(frames[0, :32], frames[1, :32])
    assert differ(frames[0, 32:], frames[1, 32:])
    fused = clap.get_scene_embeddings(audio, fusion_model)
    windows = clap.get_scene_embeddings(audio, ckpts.model(FUSION, long_clips="windows"))
    assert differ(fused[0], fused[1]) and differ(windows[0], windows[1])
    assert differ(fused, windows)  # two different treatments of the same clips


def test_windows_mode_weights_windows_by_the_audio_they_hold(ckpts):
    model = ckpts.model(TINY)  # non-fusion: windows is the default
    assert model.encoder.long_clips == "windows"
    audio = noise(1, 20.0, seed=24)
    first = clap.get_scene_embeddings(audio[:, :WINDOW].contiguous(), model)
    second = clap.get_scene_embeddings(audio[:, WINDOW:].contiguous(), model)
    close(clap.get_scene_embeddings(audio, model), F.normalize(first + second, dim=-1))
    # 15 s: a full window and a 5 s one (repeat-padded as a 5 s clip alone would be), weighted 2:1
    short = clap.get_scene_embeddings(audio[:, WINDOW : WINDOW + WINDOW // 2].contiguous(), model)
    close(
        clap.get_scene_embeddings(audio[:, : WINDOW + WINDOW // 2], model),
        F.normalize(2 * first + short, dim=-1),
    )
    # the timestamp frames of a long clip are its windows' frames, in order
    frames, _ = clap.get_timestamp_embeddings(audio, model)
    halves = [audio[:, :WINDOW].contiguous(), audio[:, WINDOW:].contiguous()]
    expected = torch.cat([clap.get_timestamp_embeddings(half, model)[0] for half in halves], dim=1)
    close(frames, expected)


def test_short_clips_are_repeat_padded_to_ten_seconds(fusion_model):
    audio = noise(1, 1.0, seed=25)
    padded = torch.from_numpy(ref.repeatpad(audio[0].numpy()))[None]
    assert torch.equal(padded, audio.repeat(1, 10))  # 1 s divides 10 s: no zeros
    scene = clap.get_scene_embeddings(audio, fusion_model)
    frames, timestamps = clap.get_timestamp_embeddings(audio, fusion_model)
    assert scene.shape == (1, 512) and frames.shape == (1, 3, 768)
    assert timestamps[0].tolist() == [156.25, 468.75, 781.25]
    close(scene, clap.get_scene_embeddings(padded, fusion_model))
    close(frames, clap.get_timestamp_embeddings(padded, fusion_model)[0][:, :3])


def test_quantization_is_laion_claps_int16_round_trip(ckpts):
    values = torch.cat([torch.tensor([0.0, 1.0, -1.0, 1.5, -7.0, 0.8 / 32767, -0.8 / 32767, 1.2 / 32767]),
                        torch.arange(-32767, 32768, 7) / 32767.0, noise(1, 0.1, seed=26)[0]])  # fmt: skip
    assert torch.equal(clap.quantize_int16(values), torch.from_numpy(ref.quantize(values.numpy())))
    audio = noise(1, 2.0, seed=26) * 3  # beyond [-1, 1]: clipped
    exact = clap.get_scene_embeddings(quantized(audio), ckpts.model(TINY, quantize=False))
    close(clap.get_scene_embeddings(audio, ckpts.model(TINY)), exact, atol=1e-6, rtol=0)
    assert differ(clap.get_scene_embeddings(audio, ckpts.model(TINY, quantize=False)), exact, by=1e-3)
    # under one int16 step the int16 cast truncates to silence (rounding would not)
    faint = torch.sign(noise(1, 2.0, seed=26)) * 0.8 / 32767
    silence = clap.get_scene_embeddings(torch.zeros_like(faint), ckpts.model(TINY))
    assert torch.equal(clap.get_scene_embeddings(faint, ckpts.model(TINY)), silence)
    assert differ(clap.get_scene_embeddings(faint, ckpts.model(TINY, quantize=False)), silence, by=1e-4)


# ----------------------------------------------------------------------------------------------------
# 5. Options


@pytest.mark.parametrize("seconds", [3.0, 10.5])  # one window; a long clip (fusion, 2 windows)
def test_windows_per_batch_does_not_change_the_embeddings(ckpts, fusion_model, seconds):
    """Two clips in one pass (the default, 2 windows per batch) or one window at a time."""
    batch = noise(2, seconds, seed=27)
    one_at_a_time = ckpts.model(FUSION, windows_per_batch=1)
    close(
        clap.get_timestamp_embeddings(batch, one_at_a_time)[0],
        clap.get_timestamp_embeddings(batch, fusion_model)[0],
    )
    close(clap.get_scene_embeddings(batch, one_at_a_time), clap.get_scene_embeddings(batch, fusion_model))


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        (FUSION, {"frames": "x"}, r"frames must be one of \('raw', 'projected'\), got 'x'"),
        (FUSION, {"long_clips": "crop"}, r"long_clips must be one of \('fusion', 'windows'\)"),
        (TINY, {"long_clips": "fusion"}, "long_clips='fusion' needs a fusion checkpoint"),
        (FUSION, {"variant": "630k-best-ever"}, "unknown LAION-CLAP variant '630k-best-ever'"),
        (FUSION, {"checkpoint": "630k-best-ever"}, "unknown LAION-CLAP variant '630k-best-ever'"),
        (FUSION, {"windows_per_batch": 0}, "windows_per_batch must be >= 1, got 0"),
    ],
    ids=["frames", "long_clips", "fusion-without-fusion-path", "variant", "checkpoint", "windows_per_batch"],
)
def test_bad_options(ckpts, name, options, match):
    if "checkpoint" not in options:
        options = {"variant": name, **options}
    with pytest.raises(ValueError, match=match):
        clap.load_model(str(ckpts.path(name)), **options)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"frames": "x"}, "frames must be one of"),
        ({"windows_per_batch": 0}, "windows_per_batch"),
        ({"variant": "630k-best", "long_clips": "fusion"}, "no fusion path"),
        ({"checkpoint": "630k-best", "long_clips": "fusion"}, "no fusion path"),
    ],
)
def test_bad_options_are_refused_before_the_weights_are_fetched(tmp_path, options, match):
    """A typo must not cost a download: the file named here does not exist."""
    with pytest.raises(ValueError, match=match):
        clap.load_model(str(tmp_path / "not-downloaded-yet.pt"), **options)


def test_no_laion_clap_torchaudio_or_hub_at_import_or_load(ckpts):
    code = (
        "import sys, torch\n"
        "from hear_wrappers import clap\n"
        f"model = clap.load_model({str(ckpts.path(FUSION))!r})\n"
        "clap.get_scene_embeddings(torch.zeros(1, 9600), model)\n"
        "clap.get_timestamp_embeddings(torch.zeros(1, 9600), model)\n"
        "for name in ('laion_clap', 'torchaudio', 'torchvision', 'transformers', 'torchlibrosa', 'librosa',\n"
        "             'huggingface_hub'):\n"
        "    assert name not in sys.modules, name + ' was imported'\n"
        "print('clean')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "clean" in result.stdout, result.stderr[-3000:]


# ----------------------------------------------------------------------------------------------------
# 6. The official embeddings runner, unchanged

needs_tools = pytest.mark.skipif(
    not installed("heareval", "hearvalidator", "tensorflow"),
    reason="needs the HEAR tools: pip install 'hear-wrappers[eval]' "
    "&& python -m hear_wrappers.heareval install",
)


@needs_tools
def test_official_embeddings_runner_on_a_non_fusion_file_with_no_options(ckpts, tmp_path):
    """``python -m heareval.embeddings.runner hear_wrappers.clap --model <non-fusion file>``, unpatched,
    with no options: the file loads as its own architecture (not the default fusion one), with the
    long-clip treatment that architecture has."""
    import soundfile

    tasks = build_small_tasks(tmp_path / "tasks", SR, event_seconds=1.5)
    command = [sys.executable, "-m", "heareval.embeddings.runner", "hear_wrappers.clap"]
    command += ["--model", str(ckpts.path(TINY)), "--tasks-dir", "tasks", "--embeddings-dir", "embeddings"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert f"loading it as clap-{TINY}" in result.stderr
    model = ckpts.model(TINY)
    for kind, (task, splits) in tasks.items():
        out = tmp_path / "embeddings" / "hear_wrappers.clap" / task
        assert (out / ".done.embeddings").is_file()
        size = 512 if kind == "scene" else 768  # CLAP's clip embedding; raw HTSAT-tiny frames
        for split, files in splits.items():
            n_items, dim = json.loads((out / f"{split}.embedding-dimensions.json").read_text())[:2]
            assert dim == size and n_items == len(files) * (1 if kind == "scene" else 5)
            for i, file in enumerate(files):
                written = np.load(out / split / f"{file}.embedding.npy")
                assert written.shape == ((size,) if kind == "scene" else (5, size))  # 1.5 s: 5 frames
                if i:
                    continue  # the first file of each split is recomputed here
                audio, _ = soundfile.read(
                    str(tmp_path / "tasks" / task / str(SR) / split / file), dtype="float32"
                )
                clip = torch.from_numpy(audio)[None]
                if kind == "scene":
                    expected = clap.get_scene_embeddings(clip, model)[0]  # CLAP's own clip embedding
                    np.testing.assert_allclose(np.linalg.norm(written), 1.0, atol=1e-5)
                else:
                    expected, timestamps = clap.get_timestamp_embeddings(clip, model)
                    expected = expected[0]
                    stamps = json.loads((out / split / f"{file}.timestamps.json").read_text())
                    assert stamps == timestamps[0].tolist() == [156.25, 468.75, 781.25, 1093.75, 1406.25]
                np.testing.assert_allclose(written, expected.numpy(), atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------------------------------
# 7. The fusion front end on long clips


@pytest.mark.parametrize("n_samples", [480000, 4096 * 480, 4096 * 480 + 7, 1025])
@pytest.mark.parametrize("frames_per_block", [4096, 7, 2, 1])
def test_htk_log_mel_blocks_read_slices_of_the_clip(n_samples, frames_per_block):
    """Blocks at either end (down to one frame) reflect like one centred STFT over the whole clip,
    and ``prepare`` (the int16 round trip) applied per slice equals applying it to the whole clip."""
    htk_log_mel = frontend.HtkLogMel()
    audio = torch.randn(2, n_samples, generator=torch.Generator().manual_seed(n_samples)) * 0.5
    quantized = clap.quantize_int16(audio)
    padded = torch.nn.functional.pad(quantized[:, None], (512, 512), mode="reflect")[:, 0]
    window = torch.hann_window(1024)
    spectrum = torch.stft(padded, 1024, 480, window=window, center=False, return_complex=True)
    mel = frontend.htk_mel_filterbank()
    expected = 10 * torch.log10((spectrum.abs().square().transpose(1, 2) @ mel).clamp(min=1e-10))
    got = htk_log_mel(audio, frames_per_block=frames_per_block, prepare=clap.quantize_int16)
    assert got.shape == (2, n_samples // 480 + 1, 64)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
