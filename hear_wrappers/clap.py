"""LAION-CLAP's audio encoder (HTS-AT + projection) as HEAR embeddings, any clip length, deterministic.

LAION-CLAP (Wu, Chen et al., ICASSP 2023) is a text-audio contrastive model. Its audio branch is
HTS-AT, a Swin transformer over a 10 s log-mel image, followed by ``audio_projection`` into the
512-d space shared with text. This module builds that audio branch and projection only (32 M
parameters for HTSAT-tiny instead of 158 M for the whole CLAP): no text branch, no tokenizer
download, no torchvision, no torchaudio, and not the ``laion_clap`` package, whose pins (numpy < 2)
would clash with the rest of an evaluation environment. Key names equal the official checkpoints'
so their files load as they are; the reference tests check, with random weights, that every output
equals laion_clap 1.1.7's own ``HTSAT_Swin_Transformer`` and projection.

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

Timestamp embeddings: HTS-AT's last stage has 8 x 8 tokens, 4 time segments x 2 frequency bands by
8 time steps, so a 10 s window has **32 distinct frames** (laion_clap's ``fine_grained_embedding``
repeats each 32 times to fill 1024 rows; we return the distinct ones). Frames are the mean over the
frequency tokens (``frames="raw"``, 768-d for tiny, 1024-d for base), or those frames passed through
``audio_projection`` and L2-normalised (``frames="projected"``, 512-d, the space of CLAP's clip and
text embeddings). Long clips are covered by the same consecutive 10 s windows. Frame ``j`` covers
a 312.5 ms slice, so timestamps are ``(j + 0.5) * 312.5`` ms; the true centres (the mel image is
1001 frames of 10 ms stretched to 1024 columns before patching) lie within 4.7 ms of these.

Scene embeddings: ``pooling="native"`` (default) is CLAP's own L2-normalised 512-d clip embedding,
as described above; any strategy of `hear_wrappers.core.pooling` pools the frames instead.

Weights: the official checkpoints of the Hugging Face repository ``lukewys/laion_clap`` (listed in
`CHECKPOINTS`), fetched at a pinned commit into the hub's cache with ``huggingface_hub`` and checked
against the sha256 the hub publishes, or a local file (``model_file_path``). They are training
checkpoints (``{"epoch", "name", "state_dict", "optimizer", ...}``, keys prefixed ``module.``); they
are read with ``torch.load(weights_only=True, mmap=True)`` and only the audio branch and projection
are copied. The LAION-CLAP code is released under CC0-1.0 (the LICENSE of LAION-AI/CLAP and of
laion_clap 1.1.7, whose package classifier says Apache-2.0); the checkpoints are published by the
authors on the hub without a licence of their own that we could find. See ``docs/clap.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hear_wrappers.core.checkpoints import (
    CheckpointMismatchError,
    load_matching_weights,
    load_state_dict,
)
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.hub import HubFile, resolve_hub_file
from hear_wrappers.core.model import (
    NATIVE_POOLING,
    FrameEncoder,
    HearModel,
    get_scene_embeddings,
    get_timestamp_embeddings,
)
from hear_wrappers.core.pooling import Pooling, get_pooling

__all__ = [
    "CHECKPOINTS",
    "SIZES",
    "ClapAudioBranch",
    "ClapCheckpoint",
    "ClapEncoder",
    "HtsatSize",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
]

_EXTRA = "clap"

SAMPLE_RATE = 48000
WINDOW_SAMPLES = 480_000  # the 10 s the network sees
N_FFT = 1024
HOP = 480  # 10 ms
N_MELS = 64
F_MIN, F_MAX = 50.0, 14000.0
MEL_FRAMES = WINDOW_SAMPLES // HOP + 1  # 1001 STFT frames per 10 s (centred frames)
SPEC_SIZE = 256  # the Swin input is a 256 x 256 image ...
FREQ_RATIO = SPEC_SIZE // N_MELS  # ... of 4 time segments of 256 columns, 64 mel rows each
PATCH = 4
SWIN_WINDOW = 8
JOINT_SIZE = 512  # CLAP's shared text-audio space
FRAMES_PER_WINDOW = 32
FRAME_HOP = WINDOW_SAMPLES // FRAMES_PER_WINDOW  # 15 000 samples, 312.5 ms

FrameKind = Literal["raw", "projected"]
LongClips = Literal["fusion", "windows"]


@dataclass(frozen=True)
class HtsatSize:
    """HTS-AT's size: patch embedding width and Swin stage depths (heads are 4, 8, 16, 32)."""

    embed_dim: int
    depths: tuple[int, ...]
    heads: tuple[int, ...] = (4, 8, 16, 32)

    @property
    def num_features(self) -> int:
        """Width of the last stage: the size of raw frames and of the pre-projection embedding."""
        return self.embed_dim * 2 ** (len(self.depths) - 1)


SIZES: dict[str, HtsatSize] = {
    "tiny": HtsatSize(96, (2, 2, 6, 2)),
    "base": HtsatSize(128, (2, 2, 12, 2)),
}


@dataclass(frozen=True)
class ClapCheckpoint:
    """An official LAION-CLAP checkpoint.

    Attributes:
        name: the file name without ``.pt``, as ``load_model(checkpoint=...)`` takes it.
        size: the HTS-AT size, a key of `SIZES`.
        fusion: whether the model has the feature-fusion path for clips over 10 s.
        hub: where the file is published.
        trained_on: the training data, as the authors describe it.
    """

    name: str
    size: str
    fusion: bool
    hub: HubFile
    trained_on: str


_HUB_REPO = "lukewys/laion_clap"
# The commit that public projects pin for these files (found in two independent code bases); it
# holds all seven checkpoints.
_HUB_REVISION = "b3708341862f581175dba5c356a4ebf74a9b6651"
_LICENSE = "CC0-1.0 (LAION-AI/CLAP code); no separate licence published for the checkpoints"


def _checkpoint(name: str, size: str, fusion: bool, trained_on: str) -> ClapCheckpoint:
    hub = HubFile(_HUB_REPO, _HUB_REVISION, f"{name}.pt", _LICENSE)
    return ClapCheckpoint(name, size, fusion, hub, trained_on)


#: Every official checkpoint, by name. The default is the one laion_clap loads for fusion models.
CHECKPOINTS: dict[str, ClapCheckpoint] = {
    c.name: c
    for c in (
        _checkpoint("630k-best", "tiny", False, "LAION-Audio-630K"),
        _checkpoint("630k-audioset-best", "tiny", False, "LAION-Audio-630K + AudioSet"),
        _checkpoint("630k-fusion-best", "tiny", True, "LAION-Audio-630K"),
        _checkpoint("630k-audioset-fusion-best", "tiny", True, "LAION-Audio-630K + AudioSet"),
        _checkpoint(
            "music_audioset_epoch_15_esc_90.14", "base", False, "music + AudioSet + LAION-Audio-630K"
        ),
        _checkpoint("music_speech_epoch_15_esc_89.25", "base", False, "music + speech + LAION-Audio-630K"),
        _checkpoint(
            "music_speech_audioset_epoch_15_esc_89.98",
            "base",
            False,
            "music + speech + AudioSet + LAION-Audio-630K",
        ),
    )
}
DEFAULT_CHECKPOINT = "630k-audioset-fusion-best"


# --------------------------------------------------------------------------------------------
# Front ends: the non-fusion models read a slaney-mel power spectrogram computed by convolution
# (torchlibrosa's, whose fixed weights are in the checkpoints); the fusion models' inputs were made
# with torchaudio's HTK-mel spectrogram outside the network. Both end in 10 * log10(max(x, 1e-10)).
# --------------------------------------------------------------------------------------------


def _dft_kernels(n_fft: int = N_FFT) -> tuple[torch.Tensor, torch.Tensor]:
    """Windowed DFT rows as conv1d weights ``[n_fft // 2 + 1, 1, n_fft]`` (real, imaginary parts)."""
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    phase = 2 * math.pi * k[:, None] * n[None, :] / n_fft
    real = (torch.cos(phase) * window).float()[:, None, :]
    imag = (-torch.sin(phase) * window).float()[:, None, :]
    return real, imag


def _slaney_hz_to_mel(hz: np.ndarray) -> np.ndarray:
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


def _triangles(fft_hz: np.ndarray, edges_hz: np.ndarray) -> np.ndarray:
    """Triangular filters ``[n_freqs, n_mels]`` with corners at consecutive ``edges_hz``."""
    rising = (fft_hz[:, None] - edges_hz[None, :-2]) / (edges_hz[1:-1] - edges_hz[:-2])
    falling = (edges_hz[None, 2:] - fft_hz[:, None]) / (edges_hz[2:] - edges_hz[1:-1])
    return np.maximum(0.0, np.minimum(rising, falling))


def slaney_mel_filterbank() -> torch.Tensor:
    """Slaney-scale, area-normalised mel filters ``[513, 64]`` (librosa's default ``filters.mel``)."""
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mels = np.linspace(_slaney_hz_to_mel(np.array(F_MIN)), _slaney_hz_to_mel(np.array(F_MAX)), N_MELS + 2)
    edges = _slaney_mel_to_hz(mels)
    weights = _triangles(fft_hz, edges) * (2.0 / (edges[2:] - edges[:-2]))[None, :]
    return torch.from_numpy(weights).float()


def htk_mel_filterbank() -> torch.Tensor:
    """HTK-scale mel filters ``[513, 64]`` without normalisation (torchaudio's ``melscale_fbanks``)."""
    fft_hz = torch.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)  # float32 grid, as torchaudio's
    low, high = (2595.0 * math.log10(1.0 + f / 700.0) for f in (F_MIN, F_MAX))
    edges = 700.0 * (10 ** (torch.linspace(low, high, N_MELS + 2) / 2595.0) - 1.0)
    return torch.from_numpy(_triangles(fft_hz.numpy(), edges.numpy())).float()


def _power_to_db(power: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(power.clamp(min=1e-10))


class _ConvStft(nn.Module):
    """STFT magnitude by convolution with fixed windowed-DFT kernels (the checkpoints hold them)."""

    def __init__(self) -> None:
        super().__init__()
        real, imag = _dft_kernels()
        self.conv_real = nn.Conv1d(1, N_FFT // 2 + 1, N_FFT, stride=HOP, bias=False)
        self.conv_imag = nn.Conv1d(1, N_FFT // 2 + 1, N_FFT, stride=HOP, bias=False)
        with torch.no_grad():
            self.conv_real.weight.copy_(real)
            self.conv_imag.weight.copy_(imag)


class _Spectrogram(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stft = _ConvStft()

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Power spectrogram ``[B, T, 513]`` of ``[B, N]`` audio, frames centred on ``k * 480``."""
        padded = F.pad(audio[:, None], (N_FFT // 2, N_FFT // 2), mode="reflect")
        real, imag = self.stft.conv_real(padded), self.stft.conv_imag(padded)
        return (real.square() + imag.square()).transpose(1, 2)


class _LogMel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.melW = nn.Parameter(slaney_mel_filterbank(), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return _power_to_db(power @ self.melW)


# --------------------------------------------------------------------------------------------
# HTS-AT: patch embedding (with attentional feature fusion), Swin stages, token-semantic layout.
# --------------------------------------------------------------------------------------------


class _AttentionalFusion(nn.Module):
    """Attentional feature fusion (Dai et al., 2021) of the whole-clip and the local-crop patches."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        inner = channels // reduction

        def branch(*head: nn.Module) -> nn.Sequential:
            return nn.Sequential(
                *head,
                nn.Conv2d(channels, inner, 1),
                nn.BatchNorm2d(inner),
                nn.ReLU(),
                nn.Conv2d(inner, channels, 1),
                nn.BatchNorm2d(channels),
            )

        self.local_att = branch()
        self.global_att = branch(nn.AdaptiveAvgPool2d(1))

    def forward(self, whole: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        mixed = whole + local
        weight = torch.sigmoid(self.local_att(mixed) + self.global_att(mixed))
        return 2 * whole * weight + 2 * local * (1 - weight)


class _PatchEmbed(nn.Module):
    def __init__(self, dim: int, fusion: bool) -> None:
        super().__init__()
        self.fusion = fusion
        self.proj = nn.Conv2d(1, dim, PATCH, stride=PATCH)
        self.norm = nn.LayerNorm(dim)
        if fusion:
            # the three local crops side by side in one patch row: 3x wider kernel and stride
            self.mel_conv2d = nn.Conv2d(1, dim, (PATCH, 3 * PATCH), stride=(PATCH, 3 * PATCH))
            self.fusion_model = _AttentionalFusion(dim)

    def forward(self, image: torch.Tensor, longer: torch.Tensor | None) -> torch.Tensor:
        """Tokens ``[B, 64 * 64, dim]`` of images ``[B, C, 256, 256]`` (channel 0: whole clip;
        channels 1-3: local crops, used where ``longer`` is True)."""
        patches = self.proj(image[:, :1])
        if self.fusion and longer is not None and bool(longer.any()):
            rows = longer.nonzero()[:, 0]
            crops = image[rows, 1:]
            n, k, height, width = crops.shape
            local = self.mel_conv2d(crops.reshape(n * k, 1, height, width))
            local = local.view(n, k, *local.shape[1:]).permute(0, 2, 3, 1, 4).flatten(3)
            width_out = patches.shape[-1]
            local = F.pad(local, (0, max(0, width_out - local.shape[-1])))[..., :width_out]
            patches = patches.clone()
            patches[rows] = self.fusion_model(patches[rows], local)
        return self.norm(patches.flatten(2).transpose(1, 2))


def _relative_position_index(window: int) -> torch.Tensor:
    """Index into the ``(2w-1)^2`` bias table for each pair of positions in a ``w x w`` window."""
    rows, cols = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    d_row = rows[:, None] - rows[None, :] + window - 1
    d_col = cols[:, None] - cols[None, :] + window - 1
    return d_row * (2 * window - 1) + d_col


def _shifted_window_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """Additive mask ``[n_windows, w*w, w*w]``: -100 between tokens that the cyclic shift brought
    together from different regions of the image, 0 elsewhere."""
    labels = torch.zeros(height, width)
    bounds = ((0, -window), (-window, -shift), (-shift, None))
    for i, (r0, r1) in enumerate(bounds):
        for j, (c0, c1) in enumerate(bounds):
            labels[slice(r0, r1), slice(c0, c1)] = 3 * i + j
    windows = _to_windows(labels[None, :, :, None], window)[0, :, :, 0]  # [n_windows, w*w]
    differs = windows[:, :, None] != windows[:, None, :]
    return torch.zeros(differs.shape).masked_fill(differs, -100.0)


def _to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """``[B, H, W, C]`` -> ``[B, n_windows, window * window, C]``, windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // window) * (w // window), window * window, c)


def _from_windows(x: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    b, _, _, c = x.shape
    x = x.view(b, height // window, width // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, height, width, c)


class _WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", _relative_position_index(window), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, windows: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Self-attention within each window: ``[B, n_windows, N, C]`` -> same shape."""
        b, n_windows, n, c = windows.shape
        qkv = self.qkv(windows).view(b * n_windows, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B * n_windows, heads, N, head_dim]
        bias = self.relative_position_bias_table[self.relative_position_index.flatten()]
        bias = bias.view(n, n, self.heads).permute(2, 0, 1)  # [heads, N, N]
        if mask is not None:
            bias = (bias[None] + mask[:, None]).repeat(b, 1, 1, 1)  # [B * n_windows, heads, N, N]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(b, n_windows, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _SwinBlock(nn.Module):
    def __init__(self, dim: int, resolution: tuple[int, int], heads: int, shift: bool) -> None:
        super().__init__()
        self.resolution = resolution
        self.window = min(SWIN_WINDOW, *resolution)
        # a window that covers the whole grid has nothing to shift
        self.shift = self.window // 2 if shift and min(resolution) > SWIN_WINDOW else 0
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, heads, self.window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, 4 * dim)
        mask = _shifted_window_mask(*resolution, self.window, self.shift) if self.shift else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, length, c = tokens.shape
        height, width = self.resolution
        x = self.norm1(tokens).view(b, height, width, c)
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        x = self.attn(_to_windows(x, self.window), self.attn_mask)
        x = _from_windows(x, self.window, height, width)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        tokens = tokens + x.reshape(b, length, c)
        return tokens + self.mlp(self.norm2(tokens))


class _PatchMerging(nn.Module):
    """Halves the token grid in both directions, concatenating each 2 x 2 group (dim -> 2 dim)."""

    def __init__(self, dim: int, resolution: tuple[int, int]) -> None:
        super().__init__()
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, _, c = tokens.shape
        x = tokens.view(b, *self.resolution, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class _SwinStage(nn.Module):
    def __init__(self, dim: int, resolution: tuple[int, int], depth: int, heads: int, last: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _SwinBlock(dim, resolution, heads, shift=i % 2 == 1) for i in range(depth)
        )
        self.downsample = None if last else _PatchMerging(dim, resolution)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            tokens = block(tokens)
        return tokens if self.downsample is None else self.downsample(tokens)


class ClapAudioBranch(nn.Module):
    """HTS-AT as LAION-CLAP uses it (its ``audio_branch``), up to the 32 frames of a 10 s window.

    The classification head (``tscam_conv``, ``head``) is not built: CLAP's embeddings never use it.

    Args:
        size: the HTS-AT size.
        fusion: build the feature-fusion patch embedding of the fusion checkpoints.
    """

    def __init__(self, size: HtsatSize, *, fusion: bool) -> None:
        super().__init__()
        self.size = size
        self.fusion = fusion
        self.spectrogram_extractor = _Spectrogram()
        self.logmel_extractor = _LogMel()
        self.bn0 = nn.BatchNorm2d(N_MELS)
        self.patch_embed = _PatchEmbed(size.embed_dim, fusion)
        grid = SPEC_SIZE // PATCH
        self.layers = nn.ModuleList(
            _SwinStage(
                size.embed_dim * 2**i,
                (grid // 2**i, grid // 2**i),
                depth,
                heads,
                last=i == len(size.depths) - 1,
            )
            for i, (depth, heads) in enumerate(zip(size.depths, size.heads, strict=True))
        )
        self.norm = nn.LayerNorm(size.num_features)
        self.register_buffer("htk_mel", htk_mel_filterbank(), persistent=False)
        self.register_buffer("hann", torch.hann_window(N_FFT), persistent=False)

    def slaney_log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Non-fusion features: log-mel ``[B, N // 480 + 1, 64]`` of ``[B, N]`` audio."""
        return self.logmel_extractor(self.spectrogram_extractor(audio))

    def htk_log_mel(
        self,
        audio: torch.Tensor,
        frames_per_block: int = 4096,
        prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Fusion features: log-mel ``[B, N // 480 + 1, 64]`` of ``[B, N]`` audio (N > 512), as
        torchaudio's ``MelSpectrogram`` + ``AmplitudeToDB`` (frames centred on ``k * 480``, reflect
        padding at the clip's ends). Computed in blocks of frames, each from its own slice of the
        input, so a long clip never holds a padded copy or its whole complex spectrogram;
        ``prepare`` (e.g. `quantize_int16`, elementwise) is applied to each slice."""
        n = audio.shape[-1]
        total = n // HOP + 1
        blocks = []
        for start in range(0, total, frames_per_block):
            stop = min(total, start + frames_per_block)
            low, high = start * HOP - N_FFT // 2, (stop - 1) * HOP + N_FFT // 2
            # read at least N_FFT samples, so that a one-frame block at either end can be reflected
            read_from, read_to = max(0, min(low, n - N_FFT)), min(n, max(high, N_FFT))
            segment = audio[:, read_from:read_to]
            segment = segment if prepare is None else prepare(segment)
            pad_left, pad_right = max(0, -low), max(0, high - n)
            if pad_left or pad_right:  # the clip's own ends: reflect, as a centred STFT does
                segment = F.pad(segment[:, None], (pad_left, pad_right), mode="reflect")[:, 0]
            skip = low - (read_from - pad_left)
            segment = segment[:, skip : skip + high - low]
            spectrum = torch.stft(segment, N_FFT, HOP, window=self.hann, center=False, return_complex=True)
            blocks.append(_power_to_db((spectrum.abs().square().transpose(1, 2)) @ self.htk_mel))
        return torch.cat(blocks, dim=1)

    def frames(self, features: torch.Tensor, longer: torch.Tensor | None = None) -> torch.Tensor:
        """The 32 frames ``[B, 32, num_features]`` of log-mel images ``[B, C, 1001, 64]``.

        Channel 0 is the 10 s log-mel; fusion models read channels 1-3 (three 10 s crops of a
        longer clip, channel 0 then being the whole clip shrunk to 10 s) where ``longer`` is True.
        The mean of the 32 frames is CLAP's pre-projection clip embedding.
        """
        x = self.bn0(features.transpose(1, 3)).transpose(1, 3)  # normalise each mel band
        x = F.interpolate(x, (SPEC_SIZE * FREQ_RATIO, N_MELS), mode="bicubic", align_corners=True)
        b, c = x.shape[:2]
        # [B, C, 1024, 64] -> 4 segments of 256 time steps stacked along frequency: [B, C, 256, 256]
        x = x.transpose(2, 3).reshape(b, c, N_MELS, FREQ_RATIO, SPEC_SIZE).transpose(2, 3)
        tokens = self.patch_embed(x.reshape(b, c, SPEC_SIZE, SPEC_SIZE), longer)
        for stage in self.layers:
            tokens = stage(tokens)
        tokens = self.norm(tokens)  # [B, 8 * 8, D]: rows = 4 segments x 2 bands, columns = 8 steps
        side = math.isqrt(tokens.shape[1])
        grid = tokens.transpose(1, 2).reshape(b, -1, FREQ_RATIO, side // FREQ_RATIO, side)
        return grid.mean(dim=3).flatten(2).transpose(1, 2)  # mean over bands; time = segment, step


def _projection(in_features: int) -> nn.Sequential:
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

    `load_model` calls it before fetching any weights (a typo should not cost a download), the encoder
    again when built directly.
    """
    if frames not in get_args(FrameKind):
        raise ValueError(f"frames must be one of {get_args(FrameKind)}, got {frames!r}.")
    if long_clips not in get_args(LongClips):
        raise ValueError(f"long_clips must be one of {get_args(LongClips)}, got {long_clips!r}.")
    if long_clips == "fusion" and not fusion:
        raise ValueError(
            "long_clips='fusion' needs a fusion checkpoint (630k-fusion-best or "
            "630k-audioset-fusion-best); this model has no fusion path: use long_clips='windows'."
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
        self.min_samples = 1

    def num_frames(self, n_samples: int) -> int:
        return FRAMES_PER_WINDOW * math.ceil(n_samples / WINDOW_SAMPLES)

    def _window_features(self, windows: torch.Tensor) -> torch.Tensor:
        """Log-mel images ``[W, 1, 1001, 64]`` of 10 s windows ``[W, 480000]``."""
        if self.branch.fusion:  # fusion models were trained on torchaudio's HTK mels
            return self.branch.htk_log_mel(windows)[:, None]
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
        embeddings = []
        for first in range(0, audio.shape[0], self.windows_per_batch):
            clips = audio[first : first + self.windows_per_batch]
            mel = self.branch.htk_log_mel(clips, prepare=quantize_int16 if self.quantize else None)
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
_DERIVED = ("relative_position_index", "attn_mask")  # buffers rebuilt from the architecture


def audio_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The audio branch's and projection's tensors of a CLAP state dict, ``module.`` prefix removed;
    the text branch, the classifier head and derived buffers are left out."""
    tensors = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.startswith(_KEPT) and not key.startswith(_UNUSED) and not key.endswith(_DERIVED):
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


def _describe(size: str, fusion: bool) -> str:
    names = [c.name for c in CHECKPOINTS.values() if c.size == size and c.fusion == fusion]
    return f"HTSAT-{size}, {'fusion' if fusion else 'non-fusion'} ({', '.join(names)})"


def load_model(
    model_file_path: str = "",
    *,
    checkpoint: str = DEFAULT_CHECKPOINT,
    frames: FrameKind = "raw",
    pooling: str | Pooling = NATIVE_POOLING,
    long_clips: LongClips | None = None,
    quantize: bool = True,
    windows_per_batch: int = 2,
    progress: bool = True,
) -> HearModel:
    """Load LAION-CLAP's audio encoder for HEAR (48 kHz).

    Args:
        model_file_path: a CLAP checkpoint file (the official ``.pt``, or any state dict with the
            same ``audio_branch.*`` / ``audio_projection.*`` keys, with or without ``module.``);
            empty for the official ``checkpoint``, downloaded from the hub on first use and cached.
        checkpoint: which official checkpoint (a key of `CHECKPOINTS`); with ``model_file_path`` it
            only names the expected architecture, and a file of another one is refused.
        frames: ``"raw"`` (default; 768-d for HTSAT-tiny, 1024-d for base) or ``"projected"``
            (512-d, CLAP's joint space, L2-normalised) timestamp embeddings.
        pooling: ``"native"`` (default) for CLAP's own 512-d clip embedding, or a pooling strategy
            of `hear_wrappers.core.pooling` applied to the frames.
        long_clips: clip embeddings of clips over 10 s: ``"fusion"`` (default for fusion
            checkpoints) or ``"windows"`` (the only choice, and default, for the others).
        quantize: the int16 round trip laion_clap applies to its input.
        windows_per_batch: 10 s windows per forward pass.
        progress: show the download progress bar.

    Raises:
        ValueError: unknown checkpoint or option.
        CheckpointMismatchError: the file is not a CLAP checkpoint of the named architecture.
        CheckpointUnavailableError: not cached and not downloadable (the message says what to do).
    """
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"unknown CLAP checkpoint {checkpoint!r}; choose one of {sorted(CHECKPOINTS)}.")
    spec = CHECKPOINTS[checkpoint]
    long_clips = long_clips or ("fusion" if spec.fusion else "windows")
    check_encoder_options(
        fusion=spec.fusion, frames=frames, long_clips=long_clips, windows_per_batch=windows_per_batch
    )
    if pooling != NATIVE_POOLING:
        get_pooling(pooling)  # unknown names: a ValueError naming the choices, before any download
    path = resolve_hub_file(
        spec.hub, model_file_path, what=f"LAION-CLAP {checkpoint}", extra=_EXTRA, progress=progress
    )
    state = audio_state(load_state_dict(path, what=f"LAION-CLAP {checkpoint}", mmap=True))
    found = checkpoint_kind(state)
    if found is None:
        raise CheckpointMismatchError(
            f"{path} is not a LAION-CLAP checkpoint (no audio_branch.patch_embed.proj.weight, with or "
            f"without a 'module.' prefix). Pass an official file from https://huggingface.co/{_HUB_REPO}."
        )
    if found != (spec.size, spec.fusion):
        raise CheckpointMismatchError(
            f"{path} holds a {_describe(*found)} model, but checkpoint={checkpoint!r} is "
            f"{_describe(spec.size, spec.fusion)}: pass checkpoint= one of the former."
        )
    branch = ClapAudioBranch(SIZES[spec.size], fusion=spec.fusion)
    projection = _projection(branch.size.num_features)
    model = nn.ModuleDict({"audio_branch": branch, "audio_projection": projection})
    load_matching_weights(model, state, what=f"LAION-CLAP {checkpoint}")
    encoder = ClapEncoder(
        branch,
        projection,
        frames=frames,
        long_clips=long_clips,
        quantize=quantize,
        windows_per_batch=windows_per_batch,
    )
    return HearModel(encoder, pooling=pooling)
