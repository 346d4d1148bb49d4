"""EnCodec: the encoder as EnCodec itself runs it (24 kHz: one pass; 48 kHz: its 1 s segment loop)."""

from __future__ import annotations

import torch
from harness.profile import Bench, Call, Profile, Settings, Step

from hear_wrappers import encodec


class EncodecProfile(Profile):
    """Random weights in the official file format; ``--quick`` drops the 48 kHz model's long clip."""

    def bare(self, bench: Bench) -> Call:
        """EnCodec's own encoder pass on ``audio`` [B, N] at 48 kHz -> latent ``[B, 128, T]``, under
        ``torch.no_grad``. 24khz: julius' 48 -> 24 kHz resampler, then ``SEANetEncoder`` over the whole
        clip in one pass. 48khz: EnCodec's ``encode()`` loop: one 1 s segment of the whole batch at a
        time, divided by its RMS (+1e-8), on two channels (no 1 % overlap, like the wrapper)."""
        encoder: encodec.EncodecEncoder = bench.model().encoder  # type: ignore[assignment]
        seanet, variant = encoder.encoder, encoder.variant

        def forward(audio: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                if variant.segment_seconds is None:
                    import julius

                    native = julius.resample_frac(audio, encodec.SAMPLE_RATE, variant.native_rate)
                    return seanet(native.unsqueeze(1))
                segment = round(variant.segment_seconds * variant.native_rate)
                latents = []
                for offset in range(0, audio.shape[-1], segment):
                    frame = audio[:, offset : offset + segment].unsqueeze(1).expand(-1, variant.channels, -1)
                    scale = frame.mean(dim=1, keepdim=True).pow(2).mean(dim=2, keepdim=True).sqrt() + 1e-8
                    latents.append(seanet(frame / scale))
                return torch.cat(latents, dim=-1)

        return forward

    def plan(self, settings: Settings) -> list[Step]:
        steps = super().plan(settings)
        if settings.quick and self.spec.variant == "48khz":
            return steps[:-1]
        return steps

    def describe(self, bench: Bench) -> list[str]:
        return [
            "`bare` = EnCodec's encoder as EnCodec runs it, under `torch.no_grad` (24khz: julius resample "
            "+ one SEANet pass over the whole clip; 48khz: EnCodec's 1 s segment loop with RMS scaling); "
            "`timestamp` / `scene` = the wrapper's `get_timestamp_embeddings` / `get_scene_embeddings` "
            "(load_model defaults: chunk_seconds=5, mean+std pooling)."
        ]


PROFILE = EncodecProfile
