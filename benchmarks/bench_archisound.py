"""Speed and memory of `hear_wrappers.archisound` against the autoencoder's bare encoder forward.

Run ``python benchmarks/bench_archisound.py [--quick] [--out DIR]`` (see ``benchmarks/README.md``).
A random-weight checkpoint in the hub's layout (encoder tensors under ``model.``, plus a stand-in
decoder tensor) is written to a temporary folder, so no network and no real weights are needed; speed
and memory do not depend on the weights' values.

For each case (``n`` clips of ``s`` seconds of noise at 48 kHz) three methods are measured:

* ``bare``: the autoencoder's own ``encode`` as audio-diffusion-pytorch 0.0.92's ``DiffusionMAE1d``
  runs it, under ``torch.no_grad``, over the whole clip in one pass: the mono clip on both channels,
  ``STFT.encode`` (magnitude and phase of each channel), channels stacked along frequency,
  ``Encoder1d``, tanh.
* ``timestamp``: ``archisound.get_timestamp_embeddings(audio, model)``.
* ``scene``: ``archisound.get_scene_embeddings(audio, model)``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import (  # the helper sits next to this script, not in a package
    MemoryPeak,
    NoiseCase,
    Timing,
    emit_memory,
    load_average,
    machine_info,
    markdown_table,
    measure_in_subprocess,
    probe_memory,
    rounded,
    time_call,
    write_results,
)

from hear_wrappers import archisound
from hear_wrappers.core.model import HearModel

SAMPLE_RATE = archisound.SAMPLE_RATE
METHODS = ("bare", "timestamp", "scene")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
WRAPPER_TARGET = 1.05  # wrapper time / bare time
MEMORY_TARGET = 1.3  # peak RSS of 1 x long clip / 1 x 10 s


class Case(NoiseCase):
    """A batch of ``n_clips`` clips of ``seconds`` seconds of noise at 48 kHz."""

    sample_rate = SAMPLE_RATE


def build_checkpoint(folder: Path, variant: str) -> Path:
    """A random-weight ``pytorch_model.bin`` with the hub's keys for the encoder, in ``folder``."""
    torch.manual_seed(0)
    spec = archisound.VARIANTS[variant]
    state = {spec.prefix + k: v for k, v in archisound.build_encoder_modules(variant).state_dict().items()}
    state[spec.prefix + "decoder_stand_in.weight"] = torch.randn(1024, 1024)  # skipped by the loader
    path = folder / "pytorch_model.bin"
    torch.save(state, path)
    return path


def bare_forward(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """The autoencoder's own one-pass ``encode`` of ``audio`` [B, N] on both channels -> [B, 32, T]."""
    parts = model.encoder.parts
    stereo = audio.unsqueeze(1).expand(-1, 2, -1)
    with torch.no_grad():
        if "encoder_stft" in parts:
            magnitude, _ = parts["encoder_stft"].encode(stereo)
            features = magnitude.flatten(1, 2)  # "b c f t -> b (c f) t"
        else:
            features = torch.nn.functional.pad(stereo, (0, -audio.shape[-1] % 4))
        return torch.tanh(parts["encoder"](features))


def method_fn(method: str) -> Callable[[torch.Tensor, HearModel], object]:
    """The function measured for ``method`` (one of `METHODS`)."""
    return {
        "bare": bare_forward,
        "timestamp": archisound.get_timestamp_embeddings,
        "scene": archisound.get_scene_embeddings,
    }[method]


def load(checkpoint: Path, variant: str) -> HearModel:
    """The HEAR model from a checkpoint, with the module's defaults."""
    return archisound.load_model(str(checkpoint), variant=variant, progress=False)


# ----------------------------------------------------------------------------------------------------
# The memory child: one fresh process per (case, method).


def memory_child(spec: str, checkpoint: Path, variant: str, threads: int) -> None:
    """Measure one case in this (fresh) process and print the result for the parent."""
    torch.set_num_threads(threads)
    method, n_clips, seconds = spec.split(":")
    model = load(checkpoint, variant)
    audio = Case(int(n_clips), float(seconds)).audio()
    fn = method_fn(method)
    emit_memory(probe_memory(lambda: fn(audio, model)))


def measure_memory(checkpoint: Path, variant: str, case: Case, method: str, threads: int) -> MemoryPeak:
    """`memory_child` for one case, run in a fresh Python process."""
    spec = f"{method}:{case.n_clips}:{case.seconds:g}"
    args = [__file__, "--memory-child", spec, "--checkpoint", str(checkpoint), "--variant", variant]
    return measure_in_subprocess([*args, "--threads", str(threads)], timeout=3600)


@dataclass
class Row:
    """One measured (case, method)."""

    case: str
    n_clips: int
    clip_seconds: float
    method: str
    timing: Timing | None = None
    memory: MemoryPeak | None = None
    ratio_to_bare: float | None = None

    @property
    def audio_per_second(self) -> float | None:
        """Seconds of audio embedded per second of wall time (median)."""
        return None if self.timing is None else self.n_clips * self.clip_seconds / self.timing.median

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["median_seconds"] = None if self.timing is None else self.timing.median
        data["audio_seconds_per_second"] = self.audio_per_second
        return data


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every case and method; print progress; return all figures."""
    threads = args.threads
    torch.set_num_threads(threads)
    long = Case(1, args.long_seconds)
    cases = (Case(4, 10.0), Case(1, 10.0), long)
    info = machine_info(threads)
    print(f"# archisound benchmark ({args.variant})")
    for key, value in info.items():
        print(f"  {key}: {value}")
    print(f"  quick: {args.quick}, repeats: {args.repeats} (short), {args.long_repeats} (long)", flush=True)

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench_archisound_") as tmp:
        checkpoint = build_checkpoint(Path(tmp), args.variant)
        model = load(checkpoint, args.variant)
        for case in cases:
            is_long = case is long
            audio = case.audio()
            skipped = {"bare", "scene"} if args.quick and is_long else set()
            for method in sorted(skipped):
                print(f"{case.name} {method}: skipped (--quick)", flush=True)
            timings = interleaved_timings(
                {m: functools.partial(method_fn(m), audio, model) for m in METHODS if m not in skipped},
                # Long clip: no warm-up call, the kernels are warm from the short cases.
                warmup=0 if is_long else 1,
                repeats=args.long_repeats if is_long else args.repeats,
            )
            case_rows = []
            for method in METHODS:
                row = Row(case.name, case.n_clips, case.seconds, method, timing=timings.get(method))
                if method not in skipped:
                    row.memory = measure_memory(checkpoint, args.variant, case, method, threads)
                    print(_progress(row), flush=True)
                case_rows.append(row)
            bare = case_rows[0].timing
            for row in case_rows[1:]:
                if row.timing is not None and bare is not None:
                    row.ratio_to_bare = row.timing.median / bare.median
            rows += case_rows
            del audio
        settings = _settings(args, model)
        del model
    info["load_average_after"] = load_average()
    return {"machine": info, "settings": settings, "rows": rows, "long_case": long.name}


def interleaved_timings(
    calls: dict[str, Callable[[], object]], *, warmup: int, repeats: int
) -> dict[str, Timing]:
    """Time each call ``warmup`` + ``repeats`` times, taking the methods in turn within each round.

    On a machine shared with other work the load drifts over minutes; interleaving exposes every
    method to the same drift, so that their ratio stays meaningful.
    """
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(warmup + repeats):
        for name, call in calls.items():
            seconds[name] += time_call(call, warmup=0, repeats=1).seconds
    return {
        name: Timing(seconds=times[warmup:], warmup_seconds=times[:warmup]) for name, times in seconds.items()
    }


def _progress(row: Row) -> str:
    parts = [f"{row.case:>11} {row.method:>9}:"]
    if row.timing is not None:
        parts.append(
            f"median {row.timing.median:8.3f} s ({', '.join(f'{t:.2f}' for t in row.timing.seconds)}),"
            f" {row.audio_per_second:7.1f} audio-s/s"
        )
    if row.memory is not None:
        parts.append(
            f"peak RSS {row.memory.peak_rss_mib:7.0f} MiB, +{row.memory.peak_increase_mib:.0f} MiB over "
            f"{row.memory.rss_before_mib:.0f} MiB"
        )
    return " ".join(parts)


def _settings(args: argparse.Namespace, model: HearModel) -> dict[str, Any]:
    encoder: archisound.ArchisoundEncoder = model.encoder  # type: ignore[assignment]
    return {
        "variant": args.variant,
        "quick": args.quick,
        "threads": args.threads,
        "repeats_short": args.repeats,
        "repeats_long": args.long_repeats,
        "long_seconds": args.long_seconds,
        "audio": "torch.randn * 0.1 at 48 kHz, seed 0",
        "chunk_seconds": encoder.chunk_seconds,
        "chunk_frames": encoder.chunk_frames,
        "context_frames": encoder.context_frames,
        "pooling": model.pooling.name,
    }


def memory_ratios(rows: list[Row], long_case: str) -> list[dict[str, Any]]:
    """Peak memory of ``1 x long`` over ``1 x 10 s`` per method, both definitions."""
    by_key = {(row.case, row.method): row for row in rows}
    ratios = []
    for method in METHODS:
        short, long = by_key.get(("1 x 10 s", method)), by_key.get((long_case, method))
        if short is None or long is None or short.memory is None or long.memory is None:
            continue
        ratios.append(
            {
                "method": method,
                "peak_rss_ratio": long.memory.peak_rss_mib / short.memory.peak_rss_mib,
                "peak_increase_ratio": long.memory.peak_increase_mib
                / max(short.memory.peak_increase_mib, 1e-9),
            }
        )
    return ratios


def report(results: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The markdown report and the JSON document for ``results`` from `run`."""
    info, rows, long_case, settings = (
        results["machine"],
        results["rows"],
        results["long_case"],
        results["settings"],
    )
    ratios = memory_ratios(rows, long_case)
    header = [
        f"# archisound benchmark (`hear_wrappers.archisound`, {settings['variant']}, random weights)",
        "",
        f"Machine: {info['cpu']}, {info['cpu_count']} CPUs ({info['usable_cpus']} usable), "
        f"{info['ram_gib']} GiB RAM; Python {info['python']}, torch {info['torch']}, "
        f"{info['torch_threads']} intra-op threads, CUDA: {info['cuda']}. Load average (1, 5, 15 min) "
        f"before: {info['load_average']}, after: {info['load_average_after']}; a load above the CPU "
        "count means other processes competed for the CPUs and the timings are inflated.",
        "",
        "Input: Gaussian noise x 0.1 at 48 kHz. `bare` = the autoencoder's own one-pass `encode` of the "
        "clip on both channels (STFT magnitude and phase of each channel, `Encoder1d`, tanh); "
        "`timestamp` / `scene` = the wrapper's `get_timestamp_embeddings` / `get_scene_embeddings` "
        f"(load_model defaults: chunk_seconds={settings['chunk_seconds']:g}, i.e. "
        f"{settings['chunk_frames']} frames kept per pass with {settings['context_frames']} frames of "
        f"context on each side; {settings['pooling']} pooling).",
        "",
        "Columns:",
        "",
        "* **median s** / **min s**: median / fastest wall time of the repeats (in-process; short cases "
        "after 1 warm-up call, the long case without one, its kernels being warm from the short cases); "
        "**n** = repeats. The three methods are timed in turn within each round (bare, timestamp, "
        "scene, bare, ...), so that a load that drifts affects them alike.",
        "* **audio s/s**: seconds of audio embedded per second of wall time (clips x seconds / median).",
        f"* **/ bare**: wrapper median / bare median for the same case (target <= {WRAPPER_TARGET}).",
        "* **peak RSS MiB**: peak resident set (Linux `VmHWM`; `ru_maxrss` elsewhere, see "
        "`benchmarks/_measure.py`) of a fresh process that builds the model and input and makes this "
        "one call: the whole process's peak (Python + torch + weights + input + call).",
        "* **call +MiB**: peak RSS during the call minus the RSS right before it (model and input "
        "already in memory), in the same fresh process: the call's own working memory.",
        "* **RSS before MiB**: the resident set right before the call in that process.",
    ]
    table_rows = []
    for row in rows:
        memory = row.memory
        table_rows.append(
            [
                row.case,
                row.method,
                rounded(row.timing.median if row.timing else None, 3),
                rounded(min(row.timing.seconds) if row.timing else None, 3),
                len(row.timing.seconds) if row.timing else None,
                rounded(row.audio_per_second, 1),
                rounded(row.ratio_to_bare, 3),
                rounded(memory.peak_rss_mib if memory else None, 0),
                rounded(memory.peak_increase_mib if memory else None, 0),
                rounded(memory.rss_before_mib if memory else None, 0),
            ]
        )
    table = markdown_table(
        [
            "case",
            "method",
            "median s",
            "min s",
            "n",
            "audio s/s",
            "/ bare",
            "peak RSS MiB",
            "call +MiB",
            "RSS before MiB",
        ],
        table_rows,
    )
    ratio_table = markdown_table(
        ["method", "peak RSS ratio", "call +MiB ratio"],
        [
            [r["method"], rounded(r["peak_rss_ratio"], 2), rounded(r["peak_increase_ratio"], 1)]
            for r in ratios
        ],
    )
    markdown = "\n".join(
        [
            *header,
            "",
            table,
            "",
            f"## Peak memory, 1 x {long_case.split(' x ')[1]} over 1 x 10 s",
            "",
            f"Same two definitions as above; target for the wrapper's peak RSS ratio <= {MEMORY_TARGET}.",
            "",
            ratio_table,
        ]
    )
    data = {
        "machine": info,
        "settings": settings,
        "definitions": {
            "median_seconds": "median wall time of the repeats, in-process",
            "audio_seconds_per_second": "n_clips * clip_seconds / median_seconds",
            "ratio_to_bare": "wrapper median / bare median, same case",
            "peak_rss_mib": "peak RSS (Linux VmHWM, else ru_maxrss) of a fresh process making this one call",
            "peak_increase_mib": "peak RSS during the call minus RSS right before it, same fresh process",
            "rss_before_mib": "RSS right before the call in that process",
        },
        "targets": {"ratio_to_bare": WRAPPER_TARGET, "peak_rss_ratio_long_over_10s": MEMORY_TARGET},
        "rows": [row.as_json() for row in rows],
        "memory_ratios": ratios,
    }
    return markdown, data


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 repeats; the long clip only for get_timestamp_embeddings"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results folder ({DEFAULT_OUT})")
    parser.add_argument("--variant", default="dmae1d-ATC64-v1", choices=sorted(archisound.VARIANTS))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per short case (3)")
    parser.add_argument("--long-repeats", type=int, default=1, help="timed calls for the long case")
    parser.add_argument("--long-seconds", type=float, default=600.0, help="length of the long clip")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 3
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args.checkpoint, args.variant, args.threads)
        return
    start = time.perf_counter()
    results = run(args)
    markdown, data = report(results)
    data["total_seconds"] = time.perf_counter() - start
    md_path, json_path = write_results(args.out, "archisound", markdown, data)
    print()
    print(markdown)
    print(f"\nWrote {md_path} and {json_path} in {data['total_seconds']:.0f} s.")


if __name__ == "__main__":
    main()
