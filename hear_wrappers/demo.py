"""The main job, for now: EnCodec on a generated clip (``python -m hear_wrappers.demo``).

Builds a 6 s test clip (a rising tone, clicks, then noise), embeds it with the official EnCodec 24 kHz
weights and prints what came out: frame rate, shapes, timestamps, throughput, and each pooling's clip
embedding size. Where the official weights cannot be downloaded (an offline machine), it says so and
uses the real architecture with random weights, so the run still shows the plumbing end to end.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch

from hear_wrappers import encodec
from hear_wrappers.core.checkpoints import CheckpointUnavailableError
from hear_wrappers.core.model import HearModel, get_scene_embeddings
from hear_wrappers.core.pooling import available_poolings


def demo_clip(sample_rate: int = 48000, seconds: float = 6.0) -> torch.Tensor:
    """``[1, seconds * sample_rate]``: 2 s rising tone, 2 s of clicks, 2 s of noise, float32."""
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    third = t.numel() // 3
    tone = 0.3 * torch.sin(2 * math.pi * (200 * t + 400 * t**2))
    clicks = torch.zeros_like(t)
    clicks[:: sample_rate // 8] = 0.9
    noise = 0.1 * torch.randn(t.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    clip = torch.cat([tone[:third], clicks[third : 2 * third], noise[2 * third :]])
    return clip.float().unsqueeze(0)


def load(model_file_path: str) -> tuple[HearModel, str]:
    try:
        return encodec.load_model(model_file_path), "official EnCodec 24 kHz weights"
    except CheckpointUnavailableError as error:
        print(f"! {error}\n! Falling back to random weights: the numbers below show shapes and speed only.\n")
    path = Path(tempfile.mkdtemp()) / "encodec_24khz-random.th"
    torch.save(encodec.build_encodec_modules("24khz", with_decoder=True).state_dict(), path)
    return encodec.load_model(str(path)), "random weights (official architecture)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-file-path", default="", help="local EnCodec 24 kHz weights file")
    args = parser.parse_args(argv)

    model, weights = load(args.model_file_path)
    audio = demo_clip(model.sample_rate)
    seconds = audio.shape[1] / model.sample_rate
    start = time.perf_counter()
    embeddings, timestamps = encodec.get_timestamp_embeddings(audio, model)
    elapsed = time.perf_counter() - start

    print(f"hear_wrappers.encodec with {weights}")
    print(f"  input            {tuple(audio.shape)} at {model.sample_rate} Hz ({seconds:.1f} s)")
    print(f"  frames           {tuple(embeddings.shape)}, every {model.encoder.timing.hop_ms:.3f} ms")
    first = ", ".join(f"{t:.2f}" for t in timestamps[0, :3].tolist())
    print(f"  timestamps (ms)  {first}, ... {timestamps[0, -1].item():.2f}")
    threads = torch.get_num_threads()
    print(f"  speed            {seconds / elapsed:.1f} s of audio per second ({threads} threads)")
    third = embeddings.shape[1] // 3
    for name, part in zip(("tone", "clicks", "noise"), embeddings[0].split(third), strict=False):
        print(f"  {name:<7} frames: mean |x| {part.abs().mean():.4f}, std over time {part.std(0).mean():.4f}")
    print("  clip embeddings by pooling:")
    for pooling in available_poolings():
        scene = get_scene_embeddings(audio, HearModel(model.encoder, pooling=pooling))
        print(f"    {pooling:<9} -> {tuple(scene.shape)}")


if __name__ == "__main__":
    main()
