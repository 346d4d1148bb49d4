"""Named pooling strategies: frame embeddings ``[n, frames, dim]`` -> clip embeddings ``[n, dim']``.

A clip embedding made by averaging fine-grained frames keeps the average spectrum-like content and
throws away how it changes over time, which is most of what long-clip tasks need. Pooling is therefore
a named, pluggable choice, made at ``load_model(..., pooling="mean+std")`` (and so from heareval with
``--model-options '{"pooling": "mean+std"}'``).

Built in (``dim``: the frame size; "length-robust": the same for a clip and that clip repeated):

=============== ============ ================================================================================
name            output dim   what it keeps
=============== ============ ================================================================================
mean            dim          the average frame
max             dim          the strongest activation of each feature anywhere in the clip
mean+max        2 * dim      both, concatenated
mean+std        2 * dim      statistics pooling: average and spread over time
mean+max+std    3 * dim      the average, the peak and the spread
q90             dim          the level each feature exceeds in 10% of the frames: a max that a few outlier
                             frames cannot move
mean+q10+q90    3 * dim      the average and the low and high ends of each feature's range over time
topk10          dim          the mean of each feature's top 10% frames: the length-robust max (what a sound
                             filling >= 10% of the clip does at its strongest, whatever the clip length)
gem3            dim          generalised (power) mean with p = 3 on the clip's min-shifted values: between
                             the mean and the max, weighting the loud frames
pyramid2        3 * dim      temporal pyramid: the mean, then the means of the first and second half (order)
pyramid3        7 * dim      the mean, the halves' means, the quarters' means (order, finer)
=============== ============ ================================================================================

Definitions, for ``n`` frames of one feature ``x_1 ... x_n`` of one clip:

* ``qP`` (``q10``, ``q90``): the P-th percentile with linear interpolation between order statistics
  (``torch.quantile``'s and numpy's default); for ``n = 1`` every quantile is the frame.
* ``topkP``: the mean of the ``k = ceil(P/100 * n)`` largest values (at least 1: for a clip of fewer
  than ``100 / P`` frames it is the max).
* ``gemP``: ``m + r * mean(((x - m) / r) ** P) ** (1 / P)`` with ``m = min x``, ``r = max x - min x``
  (``m`` when ``r = 0``). The classic GeM, ``mean(x ** P) ** (1 / P)``, needs ``x >= 0`` (post-ReLU
  features); shifting by the clip's own minimum makes it defined for any sign (log-mel frames, codec
  latents) and shift- and scale-equivariant (``gem(a x + b) = a gem(x) + b`` for ``a > 0``). It lies
  between the mean and the max (the power-mean inequality), and equals the classic GeM only when the
  minimum is 0.
* ``pyramidL``: levels ``0 ... L-1``; level ``l`` splits the clip's time span into ``2 ** l`` equal
  segments and gives each segment's mean. A frame stands for ``1 / n`` of the span and counts in a
  segment by the share of it that lies there, so the output size never depends on ``n``: with ``n``
  divisible by the segments these are plain means of ``n / segments`` frames, and a clip with fewer
  frames than segments gives each segment the frame(s) it overlaps (a 1-frame clip: that frame
  everywhere). Blocks come level by level, segments in time order: ``[mean, half 1, half 2, quarter
  1, ...]``.

Register your own with `register_pooling`::

    from hear_wrappers.core.pooling import register_pooling

    @register_pooling("mean+last", output_size=lambda dim: 2 * dim)
    def mean_and_last(frames):  # [n, frames, dim] -> [n, 2 * dim]
        return torch.cat([frames.mean(dim=1), frames[:, -1]], dim=1)

    model = encodec.load_model(pooling="mean+last")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

__all__ = [
    "Pooling",
    "available_poolings",
    "generalized_mean",
    "get_pooling",
    "quantiles",
    "register_pooling",
    "segment_weights",
    "temporal_pyramid",
    "top_k_mean",
]

PoolingFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Pooling:
    """A named pooling strategy.

    Attributes:
        name: the registry name, as passed to ``load_model(pooling=...)``.
        fn: maps frames ``[n_sounds, n_frames, dim]`` to ``[n_sounds, output_size(dim)]``.
        output_size: the pooled size for a frame size ``dim``.
    """

    name: str
    fn: PoolingFn
    output_size: Callable[[int], int]

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """Pool ``[n_sounds, n_frames, dim]`` frames into ``[n_sounds, output_size(dim)]``."""
        if frames.dim() != 3 or frames.shape[1] == 0:
            raise ValueError(
                f"pooling {self.name!r} needs frames [n_sounds, n_frames >= 1, dim], got shape "
                f"{tuple(frames.shape)}."
            )
        pooled = self.fn(frames)
        expected = (frames.shape[0], self.output_size(frames.shape[2]))
        if tuple(pooled.shape) != expected:
            raise ValueError(
                f"pooling {self.name!r} returned shape {tuple(pooled.shape)}, expected {expected}: "
                f"fix its function or its output_size."
            )
        return pooled


_REGISTRY: dict[str, Pooling] = {}


def register_pooling(
    name: str, *, output_size: Callable[[int], int] = lambda dim: dim, overwrite: bool = False
) -> Callable[[PoolingFn], PoolingFn]:
    """Decorator that registers ``fn(frames[n, frames, dim]) -> [n, output_size(dim)]`` as ``name``.

    Args:
        name: the name users pass as ``pooling=``.
        output_size: pooled size as a function of the frame size (identity by default).
        overwrite: allow replacing an existing strategy of the same name.
    """

    def decorator(fn: PoolingFn) -> PoolingFn:
        if name in _REGISTRY and not overwrite:
            raise ValueError(
                f"a pooling named {name!r} is already registered: choose another name or pass overwrite=True."
            )
        _REGISTRY[name] = Pooling(name=name, fn=fn, output_size=output_size)
        return fn

    return decorator


def available_poolings() -> list[str]:
    """Names of all registered pooling strategies, sorted."""
    return sorted(_REGISTRY)


def get_pooling(pooling: str | Pooling) -> Pooling:
    """Look a strategy up by name (a `Pooling` passes through)."""
    if isinstance(pooling, Pooling):
        return pooling
    if not isinstance(pooling, str):
        raise TypeError(
            f"pooling must be a name such as 'mean+std' or a Pooling, got {type(pooling).__name__}."
        )
    try:
        return _REGISTRY[pooling]
    except KeyError:
        raise ValueError(
            f"unknown pooling {pooling!r}: choose one of {available_poolings()} or register your "
            f"own with hear_wrappers.core.pooling.register_pooling."
        ) from None


def _double(dim: int) -> int:
    return 2 * dim


@register_pooling("mean")
def _mean(frames: torch.Tensor) -> torch.Tensor:
    return frames.mean(dim=1)


@register_pooling("max")
def _max(frames: torch.Tensor) -> torch.Tensor:
    return frames.amax(dim=1)


@register_pooling("mean+max", output_size=_double)
def _mean_max(frames: torch.Tensor) -> torch.Tensor:
    return torch.cat([frames.mean(dim=1), frames.amax(dim=1)], dim=1)


@register_pooling("mean+std", output_size=_double)
def _mean_std(frames: torch.Tensor) -> torch.Tensor:
    # Population std (correction=0): defined, and zero, for a single frame.
    std, mean = torch.std_mean(frames, dim=1, correction=0)
    return torch.cat([mean, std], dim=1)


def _triple(dim: int) -> int:
    return 3 * dim


@register_pooling("mean+max+std", output_size=_triple)
def _mean_max_std(frames: torch.Tensor) -> torch.Tensor:
    std, mean = torch.std_mean(frames, dim=1, correction=0)
    return torch.cat([mean, frames.amax(dim=1), std], dim=1)


def quantiles(frames: torch.Tensor, levels: Sequence[float]) -> list[torch.Tensor]:
    """Per-feature quantiles over time: ``[n, frames, dim]`` -> one ``[n, dim]`` per level in [0, 1].

    Linear interpolation between order statistics, as ``torch.quantile`` (which refuses inputs over
    2**24 values, a few long clips of a large model) and numpy's default; one sort serves every level.
    """
    count = frames.shape[1]
    ordered = frames.sort(dim=1).values
    out = []
    for level in levels:
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"quantile levels must lie in [0, 1], got {level}.")
        position = level * (count - 1)
        lower = min(math.floor(position), count - 1)
        upper = min(lower + 1, count - 1)
        out.append(torch.lerp(ordered[:, lower], ordered[:, upper], position - lower))
    return out


def top_k_mean(frames: torch.Tensor, percent: int) -> torch.Tensor:
    """Mean of each feature's ``ceil(percent / 100 * frames)`` largest values (at least one): ``[n, dim]``."""
    count = frames.shape[1]
    k = max(1, -(-count * percent // 100))
    return frames.topk(k, dim=1).values.mean(dim=1)


def generalized_mean(frames: torch.Tensor, power: float) -> torch.Tensor:
    """GeM on min-shifted values (see the module docstring): ``[n, frames, dim]`` -> ``[n, dim]``.

    Computed on ``(x - min) / (max - min)`` in [0, 1], so no power overflows whatever the scale.
    """
    low = frames.amin(dim=1, keepdim=True)
    span = frames.amax(dim=1, keepdim=True) - low
    unit = (frames - low) / span.clamp_min(torch.finfo(frames.dtype).tiny)
    return (low + span * unit.pow(power).mean(dim=1, keepdim=True).pow(1.0 / power)).squeeze(1)


def segment_weights(count: int, segments: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[segments, count]`` weights, rows summing to 1: each frame's share of each equal time segment.

    Frame ``j`` spans ``[j / count, (j + 1) / count)`` of the clip and segment ``i`` spans
    ``[i / segments, (i + 1) / segments)``; the weight is their overlap over the segment's length,
    computed exactly in integers (units of ``1 / (count * segments)``).
    """
    j = torch.arange(count, device=device)
    i = torch.arange(segments, device=device)[:, None]
    start = torch.maximum(j * segments, i * count)
    end = torch.minimum((j + 1) * segments, (i + 1) * count)
    return (end - start).clamp_min(0).to(dtype) / count


def temporal_pyramid(frames: torch.Tensor, levels: int) -> torch.Tensor:
    """Means over ``1, 2, 4, ... 2 ** (levels - 1)`` equal time segments, level by level, concatenated.

    ``[n, frames, dim]`` -> ``[n, (2 ** levels - 1) * dim]``; see `segment_weights` for clips with
    fewer frames than segments.
    """
    blocks = [frames.mean(dim=1)]
    for level in range(1, levels):
        weights = segment_weights(frames.shape[1], 2**level, dtype=frames.dtype, device=frames.device)
        blocks.append(torch.einsum("sf,nfd->nsd", weights, frames).flatten(1))
    return torch.cat(blocks, dim=1)


@register_pooling("q90")
def _q90(frames: torch.Tensor) -> torch.Tensor:
    return quantiles(frames, (0.9,))[0]


@register_pooling("mean+q10+q90", output_size=_triple)
def _mean_q10_q90(frames: torch.Tensor) -> torch.Tensor:
    return torch.cat([frames.mean(dim=1), *quantiles(frames, (0.1, 0.9))], dim=1)


@register_pooling("topk10")
def _topk10(frames: torch.Tensor) -> torch.Tensor:
    return top_k_mean(frames, 10)


@register_pooling("gem3")
def _gem3(frames: torch.Tensor) -> torch.Tensor:
    return generalized_mean(frames, 3.0)


@register_pooling("pyramid2", output_size=_triple)
def _pyramid2(frames: torch.Tensor) -> torch.Tensor:
    return temporal_pyramid(frames, 2)


@register_pooling("pyramid3", output_size=lambda dim: 7 * dim)
def _pyramid3(frames: torch.Tensor) -> torch.Tensor:
    return temporal_pyramid(frames, 3)
