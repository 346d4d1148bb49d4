"""What a batch's embedding returns, kept free of torch so that a Ray driver never imports it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EventOutput"]


@dataclass(frozen=True)
class EventOutput:
    """Frame-level output of one batch: ``embeddings [B, T, D]`` float32, ``timestamps [B, T]`` ms float32."""

    embeddings: np.ndarray
    timestamps: np.ndarray
