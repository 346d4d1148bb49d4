"""HTS-AT (Chen et al., ICASSP 2022) as LAION-CLAP's audio branch, with its official key names.

HTS-AT is a Swin transformer over a log-mel image: the 1001 log-mel frames of a 10 s window (64 bands)
are normalised per band (``bn0``), stretched to 1024 columns, folded into a 256 x 256 image of four
2.56 s segments stacked along frequency, cut into 4 x 4 patches (`PatchEmbed`) and passed through four
Swin stages (`SwinStage`: windowed self-attention over 8 x 8 tokens, every other block on a cyclically
shifted grid, then 2 x 2 patch merging). The last stage holds an 8 x 8 grid of tokens: 4 segments x
2 frequency bands, by 8 time steps; `ClapAudioBranch.frames` returns the mean over the two bands of
each (segment, step), **32 frames per 10 s** in time order, whose mean is CLAP's pre-projection clip
embedding (laion_clap's ``fine_grained_embedding`` repeats each of them 32 times).

LAION-CLAP's fusion models add attentional feature fusion (Dai et al., WACV 2021) to the patch
embedding: for a clip over 10 s, channel 0 is the whole clip's log-mel shrunk to 10 s and channels
1-3 are three 10 s crops, patched side by side by ``mel_conv2d`` and fused into the whole clip's
patches (`AttentionalFusion`).

The modules carry the parameter names of laion_clap 1.1.7's ``HTSAT_Swin_Transformer`` (so the
``audio_branch.*`` tensors of the official checkpoints load as they are), except what CLAP's
embeddings never use: the AudioSet classifier head (``tscam_conv``, ``head``) is not built, and the
buffers derived from the architecture (`DERIVED_BUFFERS`) are rebuilt, not loaded. Attention uses
``scaled_dot_product_attention`` (laion_clap: an explicit softmax; equal to float rounding).
tests/test_clap.py checks every output against laion_clap's own module with random weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hear_wrappers.nets.clap_frontend import N_MELS, ConvSpectrogram, SlaneyLogMel

__all__ = [
    "DERIVED_BUFFERS",
    "SIZES",
    "AttentionalFusion",
    "ClapAudioBranch",
    "HtsatSize",
    "PatchEmbed",
    "SwinStage",
    "classifier_head",
]

SPEC_SIZE = 256  # the Swin input is a 256 x 256 image ...
FREQ_RATIO = SPEC_SIZE // N_MELS  # ... of 4 time segments of 256 columns, 64 mel rows each
PATCH = 4
SWIN_WINDOW = 8
AUDIOSET_CLASSES = 527
#: Buffers that laion_clap's HTS-AT saves but that follow from the architecture: rebuilt, never loaded.
DERIVED_BUFFERS = ("relative_position_index", "attn_mask")


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


class AttentionalFusion(nn.Module):
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


class PatchEmbed(nn.Module):
    """4 x 4 patches of the 256 x 256 image, projected to ``dim`` and layer-normalised; for fusion
    models, the three local crops' patches (``mel_conv2d``) fused into the whole clip's."""

    def __init__(self, dim: int, fusion: bool) -> None:
        super().__init__()
        self.fusion = fusion
        self.proj = nn.Conv2d(1, dim, PATCH, stride=PATCH)
        self.norm = nn.LayerNorm(dim)
        if fusion:
            # the three local crops side by side in one patch row: 3x wider kernel and stride
            self.mel_conv2d = nn.Conv2d(1, dim, (PATCH, 3 * PATCH), stride=(PATCH, 3 * PATCH))
            self.fusion_model = AttentionalFusion(dim)

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
    relative_position_index: torch.Tensor

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
    attn_mask: torch.Tensor | None

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


class SwinStage(nn.Module):
    """``depth`` Swin blocks on a ``resolution`` grid of ``dim``-wide tokens (odd blocks on the shifted
    grid), then 2 x 2 patch merging unless ``last``: ``[B, H * W, dim]`` -> ``[B, H * W / 4, 2 dim]``."""

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
    The non-fusion models' front end (`slaney_log_mel`) is part of the network, as in laion_clap; the
    fusion models' (`hear_wrappers.nets.clap_frontend.HtkLogMel`) is not.

    Args:
        size: the HTS-AT size.
        fusion: build the feature-fusion patch embedding of the fusion checkpoints.
    """

    def __init__(self, size: HtsatSize, *, fusion: bool) -> None:
        super().__init__()
        self.size = size
        self.fusion = fusion
        self.spectrogram_extractor = ConvSpectrogram()
        self.logmel_extractor = SlaneyLogMel()
        self.bn0 = nn.BatchNorm2d(N_MELS)
        self.patch_embed = PatchEmbed(size.embed_dim, fusion)
        grid = SPEC_SIZE // PATCH
        self.layers = nn.ModuleList(
            SwinStage(
                size.embed_dim * 2**i,
                (grid // 2**i, grid // 2**i),
                depth,
                heads,
                last=i == len(size.depths) - 1,
            )
            for i, (depth, heads) in enumerate(zip(size.depths, size.heads, strict=True))
        )
        self.norm = nn.LayerNorm(size.num_features)

    def slaney_log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Non-fusion features: log-mel ``[B, N // 480 + 1, 64]`` of ``[B, N]`` audio."""
        return self.logmel_extractor(self.spectrogram_extractor(audio))

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


def classifier_head(size: HtsatSize) -> dict[str, torch.Tensor]:
    """Random tensors of HTS-AT's AudioSet classifier head (``tscam_conv``, ``head``), which the official
    files hold and `ClapAudioBranch` does not build, by key (without ``audio_branch.``)."""
    rows = SPEC_SIZE // PATCH // 2 ** (len(size.depths) - 1) // FREQ_RATIO  # 2 frequency bands
    scale = 0.01
    return {
        "tscam_conv.weight": torch.randn(AUDIOSET_CLASSES, size.num_features, rows, 3) * scale,
        "tscam_conv.bias": torch.randn(AUDIOSET_CLASSES) * scale,
        "head.weight": torch.randn(AUDIOSET_CLASSES, AUDIOSET_CLASSES) * scale,
        "head.bias": torch.randn(AUDIOSET_CLASSES) * scale,
    }
