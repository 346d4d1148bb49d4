"""Small helpers shared by the tests."""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Iterator

import torch


def installed(*modules: str) -> bool:
    """Whether all ``modules`` are installed, found without importing them (importing ``encodec``
    itself fails here: its ``__init__`` imports a torchaudio that cannot load)."""
    return all(importlib.util.find_spec(name) is not None for name in modules)


def noise(n_sounds: int, seconds: float, sample_rate: int = 48000, seed: int = 0) -> torch.Tensor:
    """Deterministic test audio ``[n_sounds, samples]`` float32 in [-0.5, 0.5]."""
    generator = torch.Generator().manual_seed(seed)
    n = round(seconds * sample_rate)
    return (torch.rand(n_sounds, n, generator=generator) - 0.5).float()


def build_small_tasks(root, sample_rate: int, *, event_seconds: float) -> dict[str, tuple[str, dict]]:
    """Two small HEAR tasks from `hear_wrappers.tasks` in ``root``, for runner tests of one model.

    A scene task (``sound_vs_noise``: 3 folds x 2 clips of 1 s) and an event task (``synth_onsets``:
    3 splits x 2 clips of ``event_seconds``), at ``sample_rate`` only.

    Returns:
        ``{"scene" | "event": (task folder name, {split: [wav file names]})}``.
    """
    import json

    from hear_wrappers.tasks import build_task

    def layout(folder) -> dict[str, list[str]]:
        splits = json.loads((folder / "task_metadata.json").read_text())["splits"]
        return {split: sorted(json.loads((folder / f"{split}.json").read_text())) for split in splits}

    rates = (sample_rate,)
    scene = build_task("sound_vs_noise", root, sample_rates=rates, clips=1, clip_seconds=1.0)
    event = build_task("synth_onsets", root, sample_rates=rates, clips=2, clip_seconds=event_seconds)
    return {"scene": (scene.name, layout(scene)), "event": (event.name, layout(event))}


#: Spacing of float32 numbers just above 1 (2**-23): a float32 result is exact within eps32 / 2 of its value.
EPS32 = torch.finfo(torch.float32).eps


def network_shape(network: torch.nn.Module) -> tuple[int, int]:
    """``(depth, fan_in)`` of a network: its weight layers and the largest number of inputs one of
    their outputs sums (``in_channels * kernel``); (0, 0) for a model without torch layers.

    Every module holding a weight of two or more dimensions is a layer (parallel branches and
    shortcuts count too, which only overestimates the depth); a recurrent module counts once per
    stacked layer.
    """
    depth, fan_in = 0, 0
    for module in network.modules():
        weights = [p for p in module.parameters(recurse=False) if p.dim() >= 2]
        if not weights:
            continue
        depth += getattr(module, "num_layers", 1) if isinstance(module, torch.nn.RNNBase) else 1
        fan_in = max(fan_in, *(p[0].numel() for p in weights))
    return depth, fan_in


def reordering_tolerance(
    reference: torch.Tensor, *, depth: int, fan_in: int, safety: float = 8.0, ceiling: float = 0.01
) -> float:
    """Absolute tolerance between two float32 computations of ``reference`` that differ only in the
    order of their floating-point operations (a clip alone or in a batch, in chunks or in one pass:
    the kernels block and vectorise their sums differently).

    Why: a layer output sums ``fan_in`` products; another summation order rounds different partial
    sums, and those roundings add up like a random walk, about ``sqrt(fan_in) * eps32`` of the
    output's magnitude. Each of the ``depth`` layers passes the earlier layers' error on with a gain
    of about one (normalised or default-initialised networks) and adds its own, so the differences
    stay below ``depth * sqrt(fan_in) * eps32`` of the values' scale, ``max |reference|``.
    ``safety`` covers intermediate values larger than the output and non-linearities steeper than
    one. The result must stay a small part of the scale (``ceiling``): a tolerance that large would
    no longer tell a rounding difference from a bug (those move values by a sizeable part of it).

    Returns:
        ``safety * depth * sqrt(fan_in) * eps32 * max |reference|``.
    """
    scale = float(reference.abs().max()) if reference.numel() else 0.0
    relative = safety * max(depth, 1) * math.sqrt(max(fan_in, 1)) * EPS32
    if relative > ceiling:
        raise ValueError(
            f"a network of depth {depth} and fan-in {fan_in} gives a tolerance of {relative:.1e} of the "
            f"values' scale, above {ceiling}: such a comparison would not catch bugs."
        )
    return relative * scale


@contextlib.contextmanager
def cuda_in_float32() -> Iterator[None]:
    """Run CUDA convolutions and matrix products in full float32 (no TF32, whose 10-bit mantissa
    would dwarf float32 rounding), so CPU and GPU results differ only by their order of operations
    and compare within `reordering_tolerance`."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
