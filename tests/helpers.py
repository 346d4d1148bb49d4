"""Small helpers shared by the tests."""

from __future__ import annotations

import importlib.util

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
