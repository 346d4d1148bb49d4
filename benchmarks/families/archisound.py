"""archisound: the autoencoder's own one-pass ``encode`` as the bare forward; ``--quick`` measures the long
clip for ``timestamp`` only."""

from __future__ import annotations

from typing import Any

import torch
from harness.profile import Bench, Call, Profile, Settings, Step

from hear_wrappers import archisound


class ArchisoundProfile(Profile):
    """Random weights in the hub file's layout (encoder and decoder)."""

    def bare(self, bench: Bench) -> Call:
        """The autoencoder's own ``encode`` as audio-diffusion-pytorch 0.0.92's ``DiffusionMAE1d`` runs it,
        under ``torch.no_grad``, over the whole clip in one pass: the mono clip on both channels,
        ``STFT.encode`` (magnitude and phase of each channel), channels stacked along frequency,
        ``Encoder1d``, tanh -> ``[B, 32, T]``."""
        parts: Any = bench.model().encoder.parts  # audio-encoders-pytorch modules (untyped)

        def forward(audio: torch.Tensor) -> torch.Tensor:
            stereo = audio.unsqueeze(1).expand(-1, 2, -1)
            with torch.no_grad():
                if "encoder_stft" in parts:
                    magnitude, _ = parts["encoder_stft"].encode(stereo)
                    features = magnitude.flatten(1, 2)  # "b c f t -> b (c f) t"
                else:
                    features = torch.nn.functional.pad(stereo, (0, -audio.shape[-1] % 4))
                return torch.tanh(parts["encoder"](features))

        return forward

    def plan(self, settings: Settings) -> list[Step]:
        steps = super().plan(settings)
        if settings.quick:
            steps[-1] = self.long_step(("timestamp",), ("timestamp",), settings)
        return steps

    def describe(self, bench: Bench) -> list[str]:
        model = bench.model()
        encoder: archisound.ArchisoundEncoder = model.encoder  # type: ignore[assignment]
        return [
            "`bare` = the autoencoder's own one-pass `encode` of the clip on both channels (STFT magnitude "
            "and phase of each channel, `Encoder1d`, tanh); `timestamp` / `scene` = the wrapper's "
            "`get_timestamp_embeddings` / `get_scene_embeddings` (load_model defaults: "
            f"chunk_seconds={encoder.chunk_seconds:g}, i.e. {encoder.chunk_frames} frames kept per pass with "
            f"{encoder.context_frames} frames of context on each side; {model.clip_embedding.name} pooling)."
        ]


PROFILE = ArchisoundProfile
