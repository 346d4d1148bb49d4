"""Named pooling strategies: frame embeddings ``[n, frames, dim]`` -> clip embeddings ``[n, dim']``.

A clip embedding made by averaging fine-grained frames keeps the average spectrum-like content and
throws away how it changes over time, which is most of what long-clip tasks need. Pooling is therefore
a named, pluggable choice, made at ``load_model(..., pooling="mean+std")`` (and so from heareval with
``--model-options '{"pooling": "mean+std"}'``).

Built in:

========== ============ ==============================================================
name       output dim   what it keeps
========== ============ ==============================================================
mean       dim          the average frame
max        dim          the strongest activation of each feature anywhere in the clip
mean+max   2 * dim      both, concatenated
mean+std   2 * dim      statistics pooling: average and spread over time
========== ============ ==============================================================

Register your own with `register_pooling`::

    from hear_wrappers.core.pooling import register_pooling

    @register_pooling("mean+last", output_size=lambda dim: 2 * dim)
    def mean_and_last(frames):  # [n, frames, dim] -> [n, 2 * dim]
        return torch.cat([frames.mean(dim=1), frames[:, -1]], dim=1)

    model = encodec.load_model(pooling="mean+last")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["Pooling", "available_poolings", "get_pooling", "register_pooling"]

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
