"""LAION-CLAP's audio encoder (HTS-AT + projection) as HEAR embeddings, any clip length, deterministic.

LAION-CLAP (Wu, Chen et al., ICASSP 2023) is a text-audio contrastive model. Its audio branch is
HTS-AT, a Swin transformer over a 10 s log-mel image, followed by ``audio_projection`` into the
512-d space shared with text. This module wraps that audio branch and projection only (29 M
parameters for HTSAT-tiny instead of 158 M for the whole CLAP): no text branch, no tokenizer
download, no torchvision, no torchaudio, and not the ``laion_clap`` package, whose pins (numpy < 2)
would clash with the rest of an evaluation environment. The network is ours, with the official key
names (`hear_wrappers.nets.htsat`, front ends in `hear_wrappers.nets.clap_frontend`); the reference
tests check, with random weights, that every output equals laion_clap 1.1.7's own
``HTSAT_Swin_Transformer`` and projection.

Variants: the seven official checkpoints (`VARIANTS`), registered as ``clap-<checkpoint>`` (e.g.
``clap-630k-audioset-fusion-best``, the default): HTSAT-tiny with or without the fusion path, and
HTSAT-base (music). ``load_model(variant=...)`` chooses one (``checkpoint=`` is the older name); a
local file given alone loads as the architecture it holds.

Input: 48 kHz mono, quantised through int16 as laion_clap does (``quantize=True``). The network
sees exactly 10 s (480 000 samples) at a time:

* **a clip of at most 10 s** is *repeat-padded* to 10 s as laion_clap does (the clip repeated
  ``floor(480000 / n)`` times, then zeros), so its clip embedding equals laion_clap's
  ``get_audio_embedding_from_data``.
* **a longer clip** gets a *deterministic* treatment where laion_clap's is random:

  - fusion checkpoints (``*-fusion-*``, ``long_clips="fusion"``): the whole clip's log-mel shrunk to
    10 s plus three 10 s crops, each at the *middle* of the front, middle and back third of the
    possible start positions (laion_clap draws each at random: the same clip embedded differently
    on every call);
  - otherwise (``long_clips="windows"``): the clip in consecutive 10 s windows (the last one
    repeat-padded), each embedded as above and averaged with weights proportional to the audio each
    holds, then L2-normalised (laion_clap embeds one random 10 s crop).

Timestamp embeddings: HTS-AT gives **32 distinct frames** per 10 s window (laion_clap's
``fine_grained_embedding`` repeats each 32 times to fill 1024 rows; we return the distinct ones),
``frames="raw"`` (768-d for tiny, 1024-d for base), or those frames passed through
``audio_projection`` and L2-normalised (``frames="projected"``, 512-d, the space of CLAP's clip and
text embeddings). Long clips are covered by the same consecutive 10 s windows. Frame ``j`` covers
a 312.5 ms slice, so timestamps are ``(j + 0.5) * 312.5`` ms; the true centres (the mel image is
1001 frames of 10 ms stretched to 1024 columns before patching) lie within 4.7 ms of these.

Scene embeddings: ``pooling="native"`` (default) is CLAP's own L2-normalised 512-d clip embedding,
as described above; any strategy of `hear_wrappers.core.pooling` pools the frames instead.

Weights: the official files of the Hugging Face repository ``lukewys/laion_clap`` at a pinned commit,
fetched into the hub's cache with ``huggingface_hub`` and checked against the sha256 the hub
publishes, or a local file (``model_file_path``). They are training checkpoints (``{"epoch", "name",
"state_dict", "optimizer", ...}``, keys prefixed ``module.``); they are read with
``torch.load(weights_only=True, mmap=True)`` and only the audio branch and projection are copied. The
LAION-CLAP code is released under CC0-1.0 (the LICENSE of LAION-AI/CLAP and of laion_clap 1.1.7, whose
package classifier says Apache-2.0); the checkpoints are published by the authors on the hub without a
licence of their own that we could find. See ``docs/clap.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hear_wrappers.core.checkpoints import (
    Checkpoint,
    CheckpointMismatchError,
    load_matching_weights,
    load_state_dict,
)
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.model import FrameEncoder, get_scene_embeddings, get_timestamp_embeddings
from hear_wrappers.core.registry import ModelFamily, ModelSpec
from hear_wrappers.nets.clap_frontend import HOP, N_MELS, SAMPLE_RATE, HtkLogMel
from hear_wrappers.nets.htsat import DERIVED_BUFFERS, SIZES, ClapAudioBranch, classifier_head

__all__ = [
    "FAMILY",
    "SAMPLE_RATE",
    "SPECS",
    "VARIANTS",
    "ClapEncoder",
    "ClapVariant",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
]

WINDOW_SAMPLES = 480_000  # the 10 s the network sees
MEL_FRAMES = WINDOW_SAMPLES // HOP + 1  # 1001 STFT frames per 10 s (centred frames)
JOINT_SIZE = 512  # CLAP's shared text-audio space
FRAMES_PER_WINDOW = 32
FRAME_HOP = WINDOW_SAMPLES // FRAMES_PER_WINDOW  # 15 000 samples, 312.5 ms

FrameKind = Literal["raw", "projected"]
LongClips = Literal["fusion", "windows"]

_HUB_REPO = "lukewys/laion_clap"
# The commit that public projects pin for these files (found in two independent code bases); it
# holds all seven checkpoints.
_HUB_REVISION = "b3708341862f581175dba5c356a4ebf74a9b6651"
_LICENSE = "CC0-1.0 (LAION-AI/CLAP code); no separate licence published for the checkpoints"


@dataclass(frozen=True)
class ClapVariant:
    """An official LAION-CLAP checkpoint.

    Attributes:
        size: the HTS-AT size, a key of `hear_wrappers.nets.htsat.SIZES` (``"tiny"`` or ``"base"``).
        fusion: whether the model has the feature-fusion path for clips over 10 s.
        trained_on: the training data, as the authors describe it.
        checkpoint: the file, ``<name>.pt`` in the hub repository at the pinned commit.
    """

    size: str
    fusion: bool
    trained_on: str
    checkpoint: Checkpoint

    @property
    def architecture(self) -> str:
        """``"HTSAT-<size> fusion"`` or ``"HTSAT-<size> non-fusion"``, for messages."""
        return f"HTSAT-{self.size} {'fusion' if self.fusion else 'non-fusion'}"


def _variant(name: str, size: str, fusion: bool, trained_on: str) -> tuple[str, ClapVariant]:
    weights = Checkpoint(
        name=f"LAION-CLAP {name}",
        license=_LICENSE,
        hub_repo=_HUB_REPO,
        hub_revision=_HUB_REVISION,
        filename=f"{name}.pt",
    )
    return name, ClapVariant(size, fusion, trained_on, weights)


#: Every official checkpoint, by name. Within an architecture the preferred one comes first (the name
#: a local file of that architecture loads as); the default is laion_clap's own for fusion models.
VARIANTS: dict[str, ClapVariant] = dict(
    (
        _variant("630k-audioset-fusion-best", "tiny", True, "LAION-Audio-630K + AudioSet"),
        _variant("630k-fusion-best", "tiny", True, "LAION-Audio-630K"),
        _variant("630k-audioset-best", "tiny", False, "LAION-Audio-630K + AudioSet"),
        _variant("630k-best", "tiny", False, "LAION-Audio-630K"),
        _variant("music_audioset_epoch_15_esc_90.14", "base", False, "music + AudioSet + LAION-Audio-630K"),
        _variant("music_speech_epoch_15_esc_89.25", "base", False, "music + speech + LAION-Audio-630K"),
        _variant(
            "music_speech_audioset_epoch_15_esc_89.98",
            "base",
            False,
            "music + speech + AudioSet + LAION-Audio-630K",
        ),
    )
)

#: The official checkpoints, one registry entry each (``clap-<checkpoint>``).
SPECS = tuple(
    ModelSpec(
        family="clap",
        variant=name,
        description=f"LAION-CLAP audio encoder ({config.architecture}), trained on {config.trained_on}",
        sample_rate=SAMPLE_RATE,
        frame_hop_ms=1000 * FRAME_HOP / SAMPLE_RATE,
        frame_size=SIZES[config.size].num_features,
        default_pooling="native",
        weights=config.checkpoint,
        extra="clap",
        native_clip_size=JOINT_SIZE,
    )
    for name, config in VARIANTS.items()
)


def audio_projection(in_features: int) -> nn.Sequential:
    """CLAP's ``audio_projection``: Linear, ReLU, Linear into the 512-d joint space (not normalised)."""
    return nn.Sequential(nn.Linear(in_features, JOINT_SIZE), nn.ReLU(), nn.Linear(JOINT_SIZE, JOINT_SIZE))


def quantize_int16(audio: torch.Tensor) -> torch.Tensor:
    """laion_clap's int16 round trip: clip to [-1, 1], scale by 32767, truncate, scale back.

    Done in float32 in one new tensor; equal to laion_clap's int16 -> float64 -> float32 path, because
    ``k / 32767`` rounded to float32 is never a double-rounding case (its binary expansion repeats
    ``k``'s 15 bits, so it cannot sit on a float32 rounding boundary).
    """
    return audio.clamp(-1.0, 1.0).mul_(32767.0).trunc_().div_(32767.0)


def repeat_pad(audio: torch.Tensor, length: int = WINDOW_SAMPLES) -> torch.Tensor:
    """laion_clap's ``repeatpad``: ``[B, n]`` (n <= length) repeated ``floor(length / n)`` times,
    then zero-padded to ``[B, length]``."""
    n = audio.shape[-1]
    return F.pad(audio.repeat(1, length // n), (0, length - (length // n) * n))


def fusion_crop_starts(total_frames: int, crop_frames: int = MEL_FRAMES) -> tuple[int, int, int]:
    """Start frames of the front, middle and back crops of a long clip's log-mel.

    laion_clap splits the possible starts ``0 .. total - crop`` into three near-equal ranges
    (``numpy.array_split``) and draws one start from each at random; we take the middle element
    of each range, the draws' expected value. An empty range (a clip barely over 10 s) starts at 0.
    """
    ranges = np.array_split(np.arange(total_frames - crop_frames + 1), 3)
    starts = tuple(int(r[len(r) // 2]) if len(r) else 0 for r in ranges)
    return starts[0], starts[1], starts[2]


def check_encoder_options(*, fusion: bool, frames: str, long_clips: str, windows_per_batch: int) -> None:
    """Refuse bad `ClapEncoder` options with a `ValueError` that names the fix.

    The family's `ClapFamily.check_options` calls it before fetching any weights (a typo should not
    cost a download), the encoder again when built directly.
    """
    if frames not in get_args(FrameKind):
        raise ValueError(f"frames must be one of {get_args(FrameKind)}, got {frames!r}.")
    if long_clips not in get_args(LongClips):
        raise ValueError(f"long_clips must be one of {get_args(LongClips)}, got {long_clips!r}.")
    if long_clips == "fusion" and not fusion:
        raise ValueError(
            "long_clips='fusion' needs a fusion checkpoint (630k-fusion-best or 630k-audioset-fusion-best); "
            "this model has no fusion path: use long_clips='windows'."
        )
    if windows_per_batch < 1:
        raise ValueError(f"windows_per_batch must be >= 1, got {windows_per_batch}.")


class ClapEncoder(FrameEncoder):
    """LAION-CLAP audio embeddings for 48 kHz audio ``[B, N]`` of any length (see module docs).

    Args:
        branch: the HTS-AT audio branch.
        projection: CLAP's ``audio_projection``.
        frames: ``"raw"`` HTS-AT frames or ``"projected"`` (512-d, L2-normalised) frames.
        long_clips: how clip embeddings treat clips over 10 s: ``"fusion"`` (fusion checkpoints
            only) or ``"windows"``.
        quantize: apply laion_clap's int16 round trip to the input.
        windows_per_batch: 10 s windows per forward pass (bounds memory; any value gives the same
            result up to float rounding).
    """

    def __init__(
        self,
        branch: ClapAudioBranch,
        projection: nn.Module,
        *,
        frames: FrameKind = "raw",
        long_clips: LongClips = "fusion",
        quantize: bool = True,
        windows_per_batch: int = 2,
    ) -> None:
        super().__init__()
        check_encoder_options(
            fusion=branch.fusion, frames=frames, long_clips=long_clips, windows_per_batch=windows_per_batch
        )
        self.branch = branch
        self.projection = projection
        self.frame_kind = frames
        self.long_clips = long_clips
        self.quantize = quantize
        self.windows_per_batch = windows_per_batch
        self.timing = FrameTiming(SAMPLE_RATE, float(FRAME_HOP), FRAME_HOP / 2)
        self.embedding_size = JOINT_SIZE if frames == "projected" else branch.size.num_features
        self.clip_embedding_size = JOINT_SIZE
        # Any clip is repeat-padded to 10 s, but a frame stands for the 312.5 ms around its centre: a
        # clip must reach the first centre (156.25 ms) for its one frame's timestamp to lie inside it.
        self.min_samples = math.ceil(self.timing.first_centre_samples)
        # the fusion models were trained on torchaudio's HTK log-mel, computed outside the network
        self.htk_log_mel = HtkLogMel() if branch.fusion else None

    def num_frames(self, n_samples: int) -> int:
        return FRAMES_PER_WINDOW * math.ceil(n_samples / WINDOW_SAMPLES)

    def _window_features(self, windows: torch.Tensor) -> torch.Tensor:
        """Log-mel images ``[W, 1, 1001, 64]`` of 10 s windows ``[W, 480000]``."""
        if self.htk_log_mel is not None:
            return self.htk_log_mel(windows)[:, None]
        return self.branch.slaney_log_mel(windows)[:, None]

    def _windows(self, audio: torch.Tensor) -> Iterator[torch.Tensor]:
        """Consecutive 10 s windows of every clip, ``windows_per_batch`` at a time, clip-major,
        quantised: ``[<= windows_per_batch, 480000]``; a last, shorter window is repeat-padded.
        Full windows are views of the input, so nothing is copied but each batch's quantised input."""
        n_clips, n = audio.shape
        full = n // WINDOW_SAMPLES
        rows = audio[:, : full * WINDOW_SAMPLES].reshape(n_clips, full, WINDOW_SAMPLES)
        n_windows = math.ceil(n / WINDOW_SAMPLES)
        order = [(clip, k) for clip in range(n_clips) for k in range(n_windows)]
        for first in range(0, len(order), self.windows_per_batch):
            batch = order[first : first + self.windows_per_batch]
            if full == n_windows:  # no partial window: consecutive rows of one view
                windows = rows.reshape(-1, WINDOW_SAMPLES)[first : first + len(batch)]
            else:
                windows = torch.stack(
                    [
                        rows[c, k] if k < full else repeat_pad(audio[c : c + 1, k * WINDOW_SAMPLES :])[0]
                        for c, k in batch
                    ]
                )
            yield quantize_int16(windows) if self.quantize else windows

    def _window_frames(self, audio: torch.Tensor) -> torch.Tensor:
        """Raw frames ``[B, n_windows, 32, D]`` of every 10 s window."""
        frames = [self.branch.frames(self._window_features(w)) for w in self._windows(audio)]
        n_windows = math.ceil(audio.shape[-1] / WINDOW_SAMPLES)
        return torch.cat(frames).view(audio.shape[0], n_windows, FRAMES_PER_WINDOW, -1)

    def _project(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(embeddings), dim=-1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        frames = self._window_frames(audio).flatten(1, 2)
        return self._project(frames) if self.frame_kind == "projected" else frames

    def embed_clips(self, audio: torch.Tensor) -> torch.Tensor:
        """CLAP's clip embeddings ``[B, 512]``, L2-normalised (see the module docs for long clips)."""
        n = audio.shape[-1]
        if n > WINDOW_SAMPLES and self.long_clips == "fusion":
            return self._fused_embeddings(audio)
        per_window = self._project(self._window_frames(audio).mean(dim=2))  # [B, n_windows, 512]
        if per_window.shape[1] == 1:
            return per_window[:, 0]
        held = torch.full((per_window.shape[1],), float(WINDOW_SAMPLES), device=audio.device)
        held[-1] = n - WINDOW_SAMPLES * (per_window.shape[1] - 1)
        return F.normalize((per_window * held[:, None]).sum(dim=1), dim=-1)

    def _fused_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """Fusion checkpoints, clips over 10 s: whole-clip mel shrunk to 10 s + 3 fixed crops."""
        if self.htk_log_mel is None:  # check_encoder_options refuses this combination
            raise RuntimeError("long_clips='fusion' on a model without the fusion path.")
        embeddings = []
        for first in range(0, audio.shape[0], self.windows_per_batch):
            clips = audio[first : first + self.windows_per_batch]
            mel = self.htk_log_mel(clips, prepare=quantize_int16 if self.quantize else None)
            if mel.shape[1] == MEL_FRAMES:  # under 10.01 s: the whole clip fits (laion_clap's corner case)
                features, longer = mel[:, None], None
            else:
                shrunk = F.interpolate(
                    mel[:, None], (MEL_FRAMES, N_MELS), mode="bilinear", align_corners=False
                )
                crops = [mel[:, s : s + MEL_FRAMES, None] for s in fusion_crop_starts(mel.shape[1])]
                features = torch.cat([shrunk.transpose(1, 2), *crops], dim=2).transpose(1, 2)
                longer = torch.ones(clips.shape[0], dtype=torch.bool, device=audio.device)
            embeddings.append(self._project(self.branch.frames(features, longer).mean(dim=1)))
        return torch.cat(embeddings)

    def extra_repr(self) -> str:
        size = "tiny" if self.branch.size == SIZES["tiny"] else "base"
        return (
            f"htsat={size}, fusion={self.branch.fusion}, frames={self.frame_kind!r}, "
            f"long_clips={self.long_clips!r}, quantize={self.quantize}"
        )


_KEPT = ("audio_branch.", "audio_projection.")
_UNUSED = ("audio_branch.tscam_conv.", "audio_branch.head.")


def audio_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The audio branch's and projection's tensors of a CLAP state dict, ``module.`` prefix removed;
    the text branch, the classifier head and derived buffers are left out."""
    tensors = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.startswith(_KEPT) and not key.startswith(_UNUSED) and not key.endswith(DERIVED_BUFFERS):
            tensors[key] = value
    return tensors


def checkpoint_kind(state: Mapping[str, torch.Tensor]) -> tuple[str, bool] | None:
    """``(size, fusion)`` of a CLAP audio state dict, or None if it is not one."""
    patch = state.get("audio_branch.patch_embed.proj.weight")
    if patch is None:
        return None
    sizes = [name for name, size in SIZES.items() if size.embed_dim == patch.shape[0]]
    if not sizes:
        return None
    return sizes[0], "audio_branch.patch_embed.mel_conv2d.weight" in state


# Tensors of an official file that CLAP's audio embeddings never read, in the shapes the files hold
# them (the text branch's shrunk): written by `ClapFamily.write_random_weights` so that the test
# files have the official layout, skipped on loading.
_OTHER_TENSORS: dict[str, tuple[int, ...]] = {
    "text_branch.embeddings.word_embeddings.weight": (16, 768),  # 50265 rows in the official files
    "text_branch.encoder.layer.0.attention.self.query.weight": (768, 768),
    "text_branch.pooler.dense.weight": (768, 768),
    "text_transform.sequential.0.weight": (512, 512),
    "text_projection.0.weight": (512, 768),
    "text_projection.2.weight": (512, 512),
    "audio_transform.sequential.0.weight": (512, 512),
    "audio_transform.sequential.0.bias": (512,),
}


def _randomize(*modules: nn.Module) -> None:
    """Random values of a trained model's scale for every learnt tensor (not the fixed STFT/mel ones):
    layer and batch norms away from the identity, batch-norm statistics, relative position biases."""
    with torch.no_grad():
        for root in modules:
            for module in root.modules():
                if isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
                    module.weight.normal_(1.0, 0.1)
                    module.bias.normal_(0.0, 0.1)
                elif isinstance(module, (nn.Linear, nn.Conv2d)):  # not the Conv1d STFT kernels
                    module.weight.normal_(0.0, module.weight[0].numel() ** -0.5)
                    if module.bias is not None:
                        module.bias.normal_(0.0, 0.05)
            for name, tensor in [*root.named_buffers(), *root.named_parameters()]:
                kind = name.rsplit(".", 1)[-1]
                if name == "bn0.running_mean":  # bn0 normalises each band of a dB image
                    tensor.uniform_(-20.0, 20.0)
                elif name == "bn0.running_var":
                    tensor.uniform_(50.0, 200.0)
                elif kind == "running_mean":
                    tensor.normal_(0.0, 0.1)
                elif kind == "running_var":
                    tensor.uniform_(0.5, 2.0)
                elif kind == "num_batches_tracked":
                    tensor.fill_(123456)
                elif kind == "relative_position_bias_table":
                    tensor.normal_(0.0, 0.5)


class ClapFamily(ModelFamily):
    """The seven official LAION-CLAP checkpoints: three architectures (HTSAT-tiny with and without the
    fusion path, HTSAT-base), in laion_clap's training-checkpoint files."""

    name = "clap"
    title = "LAION-CLAP"
    extra = "clap"
    default_variant = "630k-audioset-fusion-best"
    variant_aliases = ("checkpoint",)

    def check_options(self, spec: ModelSpec, options: dict[str, Any]) -> None:
        """Fill ``long_clips`` (``"fusion"`` for fusion checkpoints, else ``"windows"``) and refuse bad
        values of the `ClapEncoder` options."""
        fusion = VARIANTS[spec.variant].fusion
        if options.get("long_clips") is None:
            options["long_clips"] = "fusion" if fusion else "windows"
        check_encoder_options(
            fusion=fusion,
            frames=options.get("frames", "raw"),
            long_clips=options["long_clips"],
            windows_per_batch=options.get("windows_per_batch", 2),
        )

    def read(self, spec: ModelSpec, path: Path) -> dict[str, torch.Tensor]:
        """The audio branch's and projection's tensors of a CLAP file (see `audio_state`), memory-mapped."""
        state = audio_state(load_state_dict(path, what=f"LAION-CLAP {spec.variant}", mmap=True))
        if checkpoint_kind(state) is None:
            raise CheckpointMismatchError(
                f"{path} is not a LAION-CLAP checkpoint (no audio_branch.patch_embed.proj.weight, with or "
                f"without a 'module.' prefix). Pass an official file from https://huggingface.co/{_HUB_REPO}."
            )
        return state

    def identify(self, weights: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
        """Every checkpoint of the file's architecture (HTS-AT size, fusion path or not), preferred first."""
        kind = checkpoint_kind(weights)
        return tuple(name for name, config in VARIANTS.items() if (config.size, config.fusion) == kind)

    def build(
        self, spec: ModelSpec, weights: Mapping[str, torch.Tensor], options: dict[str, Any]
    ) -> ClapEncoder:
        config = VARIANTS[spec.variant]
        branch = ClapAudioBranch(SIZES[config.size], fusion=config.fusion)
        projection = audio_projection(branch.size.num_features)
        load_matching_weights(
            nn.ModuleDict({"audio_branch": branch, "audio_projection": projection}),
            weights,
            what=f"LAION-CLAP {spec.variant}",
            hint=f"Pass an official {config.architecture} checkpoint such as {spec.weights.filename}.",
        )
        return ClapEncoder(branch, projection, **options)

    def write_random_weights(self, spec: ModelSpec, folder: Path) -> Path:
        """laion_clap's training save: ``{"epoch", "name", "state_dict", "optimizer"}``, the state dict
        under DDP's ``module.``: the audio branch (with the derived buffers and the classifier head that
        HTS-AT saves), the projection, and stand-ins for the text branch and CLAP's other tensors."""
        config = VARIANTS[spec.variant]
        branch = ClapAudioBranch(SIZES[config.size], fusion=config.fusion)
        projection = audio_projection(branch.size.num_features)
        _randomize(branch, projection)
        audio = dict(branch.state_dict())
        audio.update(
            {name: buffer for name, buffer in branch.named_buffers() if name.endswith(DERIVED_BUFFERS)}
        )
        audio.update(classifier_head(branch.size))
        state = {f"audio_branch.{key}": value for key, value in audio.items()}
        state.update({f"audio_projection.{key}": value for key, value in projection.state_dict().items()})
        state.update({key: torch.randn(shape) * 0.02 for key, shape in _OTHER_TENSORS.items()})
        state["text_branch.embeddings.position_ids"] = torch.arange(514)[None]
        state["logit_scale_a"] = state["logit_scale_t"] = torch.tensor(math.log(1 / 0.07))
        adam = {"step": torch.tensor(1000.0), "exp_avg": torch.zeros(8), "exp_avg_sq": torch.zeros(8)}
        optimizer = {"state": {0: adam}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.99), "params": [0]}]}
        checkpoint = {
            "epoch": 45,
            "name": "2022_12_27-lr_0.0001-b_96-j_6-p_fp32",
            "state_dict": {f"module.{key}": value for key, value in state.items()},
            "optimizer": optimizer,
        }
        return self.save_weights(spec, folder, checkpoint)


FAMILY = ClapFamily(SPECS)


@FAMILY.hear_load_model
def load_model(
    *,
    frames: FrameKind = "raw",
    long_clips: LongClips | None = None,
    quantize: bool = True,
    windows_per_batch: int = 2,
) -> None:
    """Load LAION-CLAP's audio encoder for HEAR (48 kHz).

    Args:
        model_file_path: a CLAP checkpoint file (the official ``.pt``, or any state dict with the
            same ``audio_branch.*`` / ``audio_projection.*`` keys, with or without ``module.``), or a
            folder holding the official file; empty for the official file of ``variant``, downloaded
            from the hub on first use and cached.
        variant: which official checkpoint (a key of `VARIANTS`); None for
            ``"630k-audioset-fusion-best"``, or, with ``model_file_path``, for the checkpoint of the
            file's architecture (e.g. ``"630k-audioset-best"`` for an HTSAT-tiny non-fusion file). A
            file of another architecture than ``variant``'s is refused with the right name.
        checkpoint: the older name of ``variant``.
        frames: ``"raw"`` (default; 768-d for HTSAT-tiny, 1024-d for base) or ``"projected"``
            (512-d, CLAP's joint space, L2-normalised) timestamp embeddings.
        long_clips: clip embeddings of clips over 10 s: ``"fusion"`` (default for fusion
            checkpoints) or ``"windows"`` (the only choice, and default, for the others).
        quantize: the int16 round trip laion_clap applies to its input.
        windows_per_batch: 10 s windows per forward pass (bounds memory; results do not change).

    Raises:
        ValueError: unknown variant or option, or ``variant`` and ``checkpoint`` that disagree.
        CheckpointMismatchError: the file is not a CLAP checkpoint, or not of ``variant``'s architecture.
        CheckpointUnavailableError: not cached and not downloadable (the message says what to do).
    """
