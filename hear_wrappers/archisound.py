"""archisound autoencoders (archinetai) as HEAR embeddings: ``dmae1d-ATC64-v1`` by default.

Timestamp embeddings are an autoencoder's latent frames (after its tanh bottleneck), timestamped at
their true centres; the scene embedding pools them with a strategy from the registry (``mean+std`` by
default). Only the encoder is built and kept in memory: the diffusion decoder (215 M of the 234 M
parameters of ``dmae1d-ATC64-v1``) is never loaded.

Variants (both take 48 kHz stereo; mono HEAR audio is fed as **the same signal on both channels**):

======================= ===================================== =============== =====================
variant                 encoder input                         frames          receptive field
======================= ===================================== =============== =====================
``dmae1d-ATC64-v1``     STFT magnitude (1023-point, hop 256)  46.875 Hz, 32-d +-37 frames (0.79 s)
``autoencoder1d-AT-v1`` waveform, in patches of 4 samples     1500 Hz, 32-d   +-72 frames (48 ms)
======================= ===================================== =============== =====================

Timing (``dmae1d-ATC64-v1``): STFT frame ``k`` is centred on sample ``256 k`` (``torch.stft`` with
``center=True``), and each strided convolution of the encoder is centred (kernel ``2 f + 1``, stride
``f``, padding ``f``), so latent frame ``j`` is centred on sample ``1024 j``: timestamps are
``j * 21.333 ms`` from 0. A clip of ``N`` samples gives ``ceil((1 + (N - 1) // 256) / 4)`` frames (256
for the model card's ``2**18`` samples), the last one always centred within the clip.
``autoencoder1d-AT-v1``: 4-sample patches, then three stride-2 stages: frame ``j`` is centred on sample
``32 j + 1.5``; clips are zero-padded at the end to a whole number of patches, and a frame centred past
the clip's end is dropped.

Long clips: the encoders are convolutional, but every convolution block starts with a GroupNorm whose
statistics span the whole input, so no frame is independent of the rest of the clip and no chunking can
equal one pass over a 600 s clip (which would also hold gigabytes of activations). We encode clips of
up to ``chunk_seconds`` plus twice the context in one pass (exactly the official ``encode``), and longer
clips in chunks of ``chunk_seconds`` fed with ``context_frames`` of real audio on each side, keeping each
chunk's middle frames. The context (receptive field + 1 frame: 38 frames, 0.81 s, for ``dmae1d-ATC64-v1``)
covers the convolutions' receptive field, so at the cuts the frames see exactly the audio they see in one
pass; what differs is only that GroupNorm statistics come from the chunk and its context (a window of
``chunk_seconds`` + 1.6 s) instead of the whole clip. Memory is then that of one chunk whatever the
clip's length. The placement of the strided stages is read from the weights (see `load_model`).

Weights: the official ``pytorch_model.bin`` of the Hugging Face hub repository
``archinetai/<variant>`` at the commit that the ``archisound`` package pins (a `Checkpoint` with
``hub_repo``/``hub_revision``), downloaded once with ``huggingface_hub`` into its cache
(``$HEAR_WRAPPERS_CACHE/huggingface`` when that is set), or a local file or snapshot folder given as
``model_file_path``. A local file given without a variant loads as the variant it is (recognised from
the encoder's first convolution). It is read with ``torch.load(weights_only=True, mmap=True)``, so only
the encoder's tensors are read into memory. The model code is audio-diffusion-pytorch 0.0.92's ``STFT``
and audio-encoders-pytorch's ``Encoder1d``, loaded without their packages' ``__init__`` and without
torchaudio (see `hear_wrappers.core.imports.import_isolated`). See ``docs/archisound.md`` for which parts
of the configuration are confirmed by published sources. Registry names: ``archisound-dmae1d-ATC64-v1``
and ``archisound-autoencoder1d-AT-v1``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from hear_wrappers.core.checkpoints import Checkpoint, load_matching_weights
from hear_wrappers.core.chunking import encode_in_chunks
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.imports import import_isolated
from hear_wrappers.core.model import (
    FrameEncoder,
    get_scene_embeddings,
    get_timestamp_embeddings,
)
from hear_wrappers.core.registry import ModelFamily, ModelSpec

__all__ = [
    "FAMILY",
    "SAMPLE_RATE",
    "VARIANTS",
    "ArchisoundEncoder",
    "ArchisoundVariant",
    "build_encoder_modules",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
]

SAMPLE_RATE = 48000
_EXTRA = "archisound"


@dataclass(frozen=True)
class ArchisoundVariant:
    """One archisound autoencoder: where its weights are and how its encoder is configured.

    Attributes:
        name: the archisound name, e.g. ``"dmae1d-ATC64-v1"``.
        checkpoint: the official weights file (a hub file at a pinned commit).
        prefix: key prefix, in the hub file, of the module that holds ``encoder`` (and ``encoder_stft``).
        stft: whether the encoder reads a 1023-point STFT magnitude (hop 256) rather than the waveform.
        encoder: keyword arguments of audio-encoders-pytorch's ``Encoder1d``.
        hop: latent frame hop in samples at 48 kHz.
        first_centre: centre of latent frame 0, in samples.
        parameters: the whole autoencoder's parameter count as published (model card), in millions.
        min_samples: the shortest clip the encoder takes, in samples.
    """

    name: str
    checkpoint: Checkpoint
    prefix: str
    stft: bool
    encoder: Mapping[str, object]
    hop: int
    first_centre: float
    parameters: float
    min_samples: int = 512

    @property
    def parts(self) -> tuple[str, ...]:
        """Submodules of the hub model that the embeddings need."""
        return ("encoder_stft", "encoder") if self.stft else ("encoder",)

    @property
    def factors(self) -> tuple[int, ...]:
        """The encoder's downsampling factors, as configured."""
        return tuple(cast("Sequence[int]", self.encoder["factors"]))

    @property
    def patch_size(self) -> int:
        return int(self.encoder.get("patch_size", 1))  # type: ignore[call-overload]


_NOT_STATED = "not stated in the model card or the archisound sources (archisound's code is MIT)"

STFT_NUM_FFT = 1023
STFT_HOP = 256

VARIANTS: dict[str, ArchisoundVariant] = {
    "dmae1d-ATC64-v1": ArchisoundVariant(
        name="dmae1d-ATC64-v1",
        checkpoint=Checkpoint(
            name="archisound dmae1d-ATC64-v1",
            license=_NOT_STATED,
            hub_repo="archinetai/dmae1d-ATC64-v1",
            hub_revision="07885065867977af43b460bb9c1422bdc90c29a0",
            filename="pytorch_model.bin",
        ),
        prefix="model.",
        stft=True,
        encoder={
            "in_channels": 2 * (STFT_NUM_FFT // 2 + 1),  # both channels' 512 magnitude bins
            "channels": 32,
            "multipliers": (32, 16, 8, 8, 4, 2, 1),
            "factors": (1, 1, 2, 2, 1, 1),
            "num_blocks": (4, 4, 4, 4, 4, 4),
            "patch_size": 1,
        },
        hop=STFT_HOP * 4,
        first_centre=0.0,
        parameters=234.2,
        min_samples=STFT_NUM_FFT // 2 + 1,  # torch.stft's reflect padding needs more than 511 samples
    ),
    "autoencoder1d-AT-v1": ArchisoundVariant(
        name="autoencoder1d-AT-v1",
        checkpoint=Checkpoint(
            name="archisound autoencoder1d-AT-v1",
            license=_NOT_STATED,
            hub_repo="archinetai/autoencoder1d-AT-v1",
            hub_revision="57b6cde1969208d10fdd3e813708c1abe49f25c1",
            filename="pytorch_model.bin",
        ),
        prefix="autoencoder.",
        stft=False,
        encoder={
            "in_channels": 2,
            "channels": 32,
            "multipliers": (1, 2, 4, 8, 8, 8, 1),
            "factors": (2, 2, 2, 1, 1, 1),
            "num_blocks": (2, 2, 8, 8, 8, 8),
            "patch_size": 4,
        },
        hop=32,
        first_centre=1.5,  # 4-sample patch 0 is centred on sample 1.5; strided stages are centred
        parameters=20.7,
        min_samples=32,
    ),
}


def _variant(variant: str) -> ArchisoundVariant:
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(
            f"unknown archisound variant {variant!r}: choose one of {sorted(VARIANTS)}."
        ) from None


def _modules() -> tuple[object, object]:
    """audio-encoders-pytorch's and audio-diffusion-pytorch's ``modules`` files, loaded in isolation."""
    encoders = import_isolated("audio_encoders_pytorch", "modules", extra=_EXTRA, stand_ins=("torchaudio",))
    diffusion = import_isolated("audio_diffusion_pytorch", "modules", extra=_EXTRA)
    return encoders, diffusion


def build_encoder_modules(variant: str, *, factors: tuple[int, ...] | None = None) -> nn.ModuleDict:
    """The variant's encoder with random weights, laid out as in the hub model.

    Returns a ``ModuleDict`` with ``encoder`` (audio-encoders-pytorch ``Encoder1d``) and, for
    ``dmae1d-*``, ``encoder_stft`` (audio-diffusion-pytorch 0.0.92 ``STFT``), so that its
    ``state_dict()`` keys are those of the hub file's with ``variant.prefix`` removed.

    Args:
        variant: a name from `VARIANTS`.
        factors: the encoder's downsampling factors, if not the variant's (see `load_model`).
    """
    spec = _variant(variant)
    encoders, diffusion = _modules()
    kwargs = dict(spec.encoder)
    if factors is not None:
        kwargs["factors"] = tuple(factors)
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    parts: dict[str, nn.Module] = {"encoder": encoders.Encoder1d(**kwargs)}  # type: ignore[attr-defined]
    if spec.stft:
        parts = {
            "encoder_stft": diffusion.STFT(num_fft=STFT_NUM_FFT, hop_length=STFT_HOP),  # type: ignore[attr-defined]
            **parts,
        }
    return nn.ModuleDict(parts)


def check_options(*, chunk_seconds: float) -> None:
    """Refuse bad `ArchisoundEncoder` options with a `ValueError` that names the fix."""
    if (
        isinstance(chunk_seconds, bool)
        or not isinstance(chunk_seconds, int | float)
        or not chunk_seconds >= 1.0
    ):
        raise ValueError(f"chunk_seconds must be a number of seconds >= 1.0, got {chunk_seconds!r}.")


class ArchisoundEncoder(FrameEncoder):
    """An archisound encoder on mono 48 kHz audio ``[B, N]`` -> tanh latent frames ``[B, T, 32]``.

    Args:
        variant: a name from `VARIANTS`.
        chunk_seconds: audio whose frames are kept per encoder pass on long clips; clips up to
            ``chunk_seconds`` plus twice the context are encoded in one pass. Bounds memory.
        factors: the encoder's downsampling factors, if not the variant's.
    """

    def __init__(
        self,
        variant: str = "dmae1d-ATC64-v1",
        *,
        chunk_seconds: float = 10.0,
        factors: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.variant = _variant(variant)
        check_options(chunk_seconds=chunk_seconds)
        factors = tuple(factors or self.variant.factors)
        if math.prod(factors) != math.prod(self.variant.factors):
            raise ValueError(
                f"encoder factors {factors} do not give {self.variant.name}'s hop of {self.variant.hop} "
                f"samples: their product must be {math.prod(self.variant.factors)}."
            )
        self.factors = factors
        self.chunk_seconds = float(chunk_seconds)
        self.parts = build_encoder_modules(variant, factors=factors)
        self.context_frames = self.receptive_field_frames() + 1
        self.timing = FrameTiming(
            SAMPLE_RATE, hop_samples=self.variant.hop, first_centre_samples=self.variant.first_centre
        )
        self.embedding_size = 32
        self.min_samples = self.variant.min_samples

    @property
    def chunk_frames(self) -> int:
        """Frames kept per encoder pass on long clips."""
        return max(1, round(self.chunk_seconds * SAMPLE_RATE / self.variant.hop))

    def receptive_field_frames(self) -> int:
        """How many latent frames on each side of its own a frame's convolutions can see, rounded up.

        Summed over the encoder's convolutions in order (half a kernel each, in input units, times the
        stride so far), plus the 1023-point STFT window's half (``dmae1d-*``) or half a patch. The
        GroupNorms are not counted: their statistics span the whole input (see the module docs).
        """
        encoder: Any = self.parts["encoder"]  # audio-encoders-pytorch's Encoder1d (untyped)
        half, stride = 0.0, 1

        def walk(module: nn.Module) -> None:
            nonlocal half, stride
            for conv in module.modules():
                if isinstance(conv, nn.Conv1d):
                    half += (conv.kernel_size[0] - 1) // 2 * conv.dilation[0] * stride
                    stride *= conv.stride[0]

        walk(encoder.to_in)
        half += (self.variant.patch_size - 1) / 2
        stride *= self.variant.patch_size
        walk(encoder.downsamples)
        walk(encoder.to_out)
        unit = STFT_HOP if self.variant.stft else 1  # samples per input step
        if self.variant.stft:
            half += (STFT_NUM_FFT // 2) / STFT_HOP
        return math.ceil(half * unit / self.variant.hop)

    def num_frames(self, n_samples: int) -> int:
        if self.variant.stft:
            frames = 1 + (n_samples - 1) // STFT_HOP  # torch.stft, center=True, 1023-point window
        else:
            frames = math.ceil(n_samples / self.variant.patch_size)
        for factor in self.factors:  # kernel 2f + 1, stride f, padding f
            frames = math.ceil(frames / factor)
        return frames

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        latent = encode_in_chunks(
            self.encode,
            audio,
            hop_samples=self.variant.hop,
            n_frames=self.num_frames(audio.shape[-1]),
            chunk_frames=self.chunk_frames,
            context_frames=self.context_frames,
        )
        return latent.transpose(1, 2)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Latent ``[B, 32, T]`` of mono audio ``[B, n]`` in one pass, as the autoencoder's ``encode``
        computes it for the same signal on both channels."""
        if self.variant.stft:
            # DiffusionMAE1d.encode: magnitude of the STFT of each channel, channels stacked along the
            # frequency axis ("b c f t -> b (c f) t"). Both channels are the same signal, so the STFT is
            # computed once and repeated (the phase, which it discards, is not computed at all).
            stft: Any = self.parts["encoder_stft"]  # audio-diffusion-pytorch's STFT (untyped)
            magnitude = torch.stft(
                audio,
                n_fft=stft.num_fft,
                hop_length=stft.hop_length,
                win_length=stft.window_length,
                window=stft.window,
                normalized=True,
                return_complex=True,
            ).abs()
            features = magnitude.repeat(1, 2, 1)
        else:
            pad = -audio.shape[-1] % self.variant.patch_size
            features = F.pad(audio, (0, pad)).unsqueeze(1).expand(-1, 2, -1)
        return torch.tanh(self.parts["encoder"](features))


_ANCHOR = "encoder.to_in.block.block1.project.weight"  # the encoder's first convolution


def _encoder_state(state: Mapping[str, torch.Tensor], spec: ArchisoundVariant) -> dict[str, torch.Tensor]:
    """The encoder parts' tensors, keys relative to the autoencoder (the wrapper's prefix removed).

    The prefix is the one the hub wrapper uses (``spec.prefix``), none (a bare autoencoder's state
    dict), or whatever precedes the encoder's first convolution in the file, in that order.
    """
    found = [key[: -len(_ANCHOR)] for key in state if key.endswith(_ANCHOR)]
    prefixes = [spec.prefix, "", *sorted((p for p in found if p == "" or p.endswith(".")), key=len)]
    for prefix in prefixes:
        heads = tuple(f"{prefix}{part}." for part in spec.parts)
        tensors = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(heads)}
        if prefix + _ANCHOR in state:
            return tensors
    return {}


def _factors_in(tensors: Mapping[str, torch.Tensor], n_stages: int) -> tuple[int, ...] | None:
    """Downsampling factors read from the file: stage ``i``'s convolution has kernel ``2 f + 1``."""
    factors = []
    for index in range(n_stages):
        weight = tensors.get(f"encoder.downsamples.{index}.downsample.weight")
        if weight is None or weight.dim() != 3 or weight.shape[-1] % 2 == 0:
            return None
        factors.append((weight.shape[-1] - 1) // 2)
    return tuple(factors)


#: The supported autoencoders, one registry entry each.
SPECS = tuple(
    ModelSpec(
        family="archisound",
        variant=name,
        description=f"archisound {name} encoder ({kind}) tanh latents, {SAMPLE_RATE / config.hop:g} Hz",
        sample_rate=SAMPLE_RATE,
        frame_hop_ms=1000 * config.hop / SAMPLE_RATE,
        frame_size=32,
        default_pooling="mean+std",
        weights=config.checkpoint,
        extra=_EXTRA,
    )
    for (name, config), kind in zip(
        VARIANTS.items(), ("diffusion autoencoder, STFT input", "autoencoder, waveform input"), strict=True
    )
)


class ArchisoundFamily(ModelFamily):
    """archisound's autoencoders; only their encoders are built and loaded."""

    name = "archisound"
    title = "archisound"
    extra = _EXTRA
    requires = ("audio_encoders_pytorch", "audio_diffusion_pytorch", "einops", "einops_exts")
    default_variant = "dmae1d-ATC64-v1"

    def check_options(self, spec: ModelSpec, options: dict[str, Any]) -> None:
        check_options(**options)

    def identify(self, weights: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
        """The variants whose encoder's first convolution takes the file's number of input channels
        (both channels' 512 STFT bins, 1024, for ``dmae1d-*``; the 2 waveform channels for
        ``autoencoder1d-*``)."""
        fits = []
        for name, config in VARIANTS.items():
            weight = _encoder_state(weights, config).get(_ANCHOR)
            if weight is not None and weight.dim() == 3 and weight.shape[1] == config.encoder["in_channels"]:
                fits.append(name)
        return tuple(fits)

    def build(
        self, spec: ModelSpec, weights: Mapping[str, torch.Tensor], options: dict[str, Any]
    ) -> ArchisoundEncoder:
        """The encoder with the file's own placement of strided stages (read from its kernel sizes:
        ``2 * factor + 1``) when they give the variant's hop, else the variant's configuration."""
        config = VARIANTS[spec.variant]
        tensors = _encoder_state(weights, config)
        default = config.factors
        factors = _factors_in(tensors, len(default))
        if factors is None or math.prod(factors) != math.prod(default):
            factors = default
        encoder = ArchisoundEncoder(spec.variant, factors=factors, **options)
        hint = f"Pass the {spec.name} weights ({spec.weights.url})."
        load_matching_weights(encoder.parts, tensors, what=f"archisound {spec.variant}", hint=hint)
        return encoder

    def write_random_weights(self, spec: ModelSpec, folder: Path) -> Path:
        """The encoder parts (``encoder``, and ``encoder_stft`` for ``dmae1d-*``) with random weights,
        under the hub file's key prefix (``model.`` or ``autoencoder.``), saved as ``pytorch_model.bin``.
        The decoder, which the wrapper never reads, is left out."""
        config = VARIANTS[spec.variant]
        parts = build_encoder_modules(spec.variant)
        for module in parts.modules():  # trained GroupNorms are not the identity
            if isinstance(module, nn.GroupNorm) and module.affine:
                nn.init.normal_(module.weight, 1.0, 0.1)
                nn.init.normal_(module.bias, 0.0, 0.1)
        state = {config.prefix + key: value for key, value in parts.state_dict().items()}
        return self.save_weights(spec, folder, state)


FAMILY = ArchisoundFamily(SPECS)


@FAMILY.hear_load_model
def load_model(*, chunk_seconds: float = 10.0) -> None:
    """Load an archisound autoencoder's encoder for HEAR.

    Args:
        model_file_path: the hub's ``pytorch_model.bin`` of the variant (or a snapshot folder holding
            it, or a state dict of the bare ``DiffusionMAE1d`` / ``Encoder1d`` parent module); empty to
            use the official file, downloaded from the Hugging Face hub on first use and cached.
        variant: ``"dmae1d-ATC64-v1"`` (the default) or ``"autoencoder1d-AT-v1"``; with
            ``model_file_path`` and no variant, the file's own variant (recognised from the encoder's
            first convolution).
        chunk_seconds: seconds of frames kept per encoder pass on long clips (bounds memory; clips up
            to about this long are encoded in one pass).

    The placement of the encoder's strided stages is read from the file (each stage's convolution has
    kernel ``2 * factor + 1``), so the architecture follows the weights even where it differs from the
    configuration inferred in `VARIANTS` (see ``docs/archisound.md``).
    """
