"""Speed and memory of `hear_wrappers.encodec` against EnCodec's bare encoder forward.

Run ``python benchmarks/bench_encodec.py [--quick] [--out DIR]`` (see ``benchmarks/README.md``).
Random-weight checkpoints with the official layout are built in a temporary folder, so no network
and no real weights are needed; speed and memory do not depend on the weights' values.

For each variant and case (``n`` clips of ``s`` seconds of noise at 48 kHz) three methods are measured:

* ``bare``: the model alone, as EnCodec runs it, under ``torch.no_grad``. 24 kHz: julius' 48 -> 24 kHz
  resampler, then ``SEANetEncoder`` over the whole clip in one pass. 48 kHz: EnCodec's ``encode()``
  loop: one 1 s segment of the whole batch at a time, divided by its RMS (+1e-8), duplicated to two
  channels, through the encoder (without EnCodec's 1 % overlap, as the wrapper).
* ``timestamp``: ``encodec.get_timestamp_embeddings(audio, model)``.
* ``scene``: ``encodec.get_scene_embeddings(audio, model)``.
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

from hear_wrappers import encodec
from hear_wrappers.core.model import HearModel

SAMPLE_RATE = encodec.SAMPLE_RATE
VARIANT_NAMES = ("24khz", "48khz")
METHODS = ("bare", "timestamp", "scene")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
WRAPPER_TARGET = 1.05  # wrapper time / bare time
MEMORY_TARGET = 1.3  # peak RSS of 1 x long clip / 1 x 10 s


class Case(NoiseCase):
    """A batch of ``n_clips`` clips of ``seconds`` seconds of noise at 48 kHz."""

    sample_rate = SAMPLE_RATE


def build_checkpoints(folder: Path) -> dict[str, Path]:
    """Random-weight checkpoints with the official keys, one per variant, saved in ``folder``."""
    torch.manual_seed(0)
    paths = {}
    for variant in VARIANT_NAMES:
        paths[variant] = folder / f"encodec_{variant}-random.th"
        torch.save(encodec.build_encodec_modules(variant, with_decoder=True).state_dict(), paths[variant])
    return paths


def bare_forward(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """EnCodec's own encoder pass on ``audio`` [B, N] at 48 kHz -> latent ``[B, 128, T]``."""
    encoder: encodec.EncodecEncoder = model.encoder  # type: ignore[assignment]
    seanet = encoder.encoder
    spec = encoder.variant
    with torch.no_grad():
        if spec.segment_seconds is None:
            import julius

            native = julius.resample_frac(audio, SAMPLE_RATE, spec.native_rate)
            return seanet(native.unsqueeze(1))
        segment = round(spec.segment_seconds * spec.native_rate)
        latents = []
        for offset in range(0, audio.shape[-1], segment):
            frame = audio[:, offset : offset + segment].unsqueeze(1).expand(-1, spec.channels, -1)
            scale = frame.mean(dim=1, keepdim=True).pow(2).mean(dim=2, keepdim=True).sqrt() + 1e-8
            latents.append(seanet(frame / scale))
        return torch.cat(latents, dim=-1)


def method_fn(method: str) -> Callable[[torch.Tensor, HearModel], object]:
    """The function measured for ``method`` (one of `METHODS`)."""
    return {
        "bare": bare_forward,
        "timestamp": encodec.get_timestamp_embeddings,
        "scene": encodec.get_scene_embeddings,
    }[method]


def load(checkpoint: Path, variant: str) -> HearModel:
    """The HEAR model from a checkpoint, with the module's defaults."""
    return encodec.load_model(str(checkpoint), variant=variant, progress=False)


# ----------------------------------------------------------------------------------------------------
# The memory child: one fresh process per (variant, case, method).


def memory_child(spec: str, checkpoint: Path, threads: int) -> None:
    """Measure one case in this (fresh) process and print the result for the parent."""
    torch.set_num_threads(threads)
    variant, method, n_clips, seconds = spec.split(":")
    model = load(checkpoint, variant)
    audio = Case(int(n_clips), float(seconds)).audio()
    fn = method_fn(method)
    emit_memory(probe_memory(lambda: fn(audio, model)))


def measure_memory(checkpoint: Path, variant: str, case: Case, method: str, threads: int) -> MemoryPeak:
    """`memory_child` for one case, run in a fresh Python process."""
    spec = f"{variant}:{method}:{case.n_clips}:{case.seconds:g}"
    args = [__file__, "--memory-child", spec, "--checkpoint", str(checkpoint), "--threads", str(threads)]
    return measure_in_subprocess(args)


# ----------------------------------------------------------------------------------------------------
# The benchmark.


@dataclass
class Row:
    """One measured (variant, case, method)."""

    variant: str
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
    """Measure every variant, case and method; print progress; return all figures."""
    threads = args.threads
    torch.set_num_threads(threads)
    long = Case(1, args.long_seconds)
    cases = (Case(4, 10.0), Case(1, 10.0), long)
    info = machine_info(threads)
    print("# EnCodec benchmark")
    for key, value in info.items():
        print(f"  {key}: {value}")
    print(f"  quick: {args.quick}, repeats: {args.repeats} (short), {args.long_repeats} (long)", flush=True)

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench_encodec_") as tmp:
        checkpoints = build_checkpoints(Path(tmp))
        for variant in VARIANT_NAMES:
            model = load(checkpoints[variant], variant)
            for case in cases:
                if args.quick and variant == "48khz" and case is long:
                    print(f"[{variant}] {case.name}: skipped (--quick)", flush=True)
                    continue
                is_long = case is long
                audio = case.audio()
                case_rows = []
                for method in METHODS:
                    row = Row(variant, case.name, case.n_clips, case.seconds, method)
                    fn = method_fn(method)
                    # Long clip: no warm-up call, the kernels are warm from the short cases.
                    row.timing = time_call(
                        functools.partial(fn, audio, model),
                        warmup=0 if is_long else 1,
                        repeats=args.long_repeats if is_long else args.repeats,
                    )
                    row.memory = measure_memory(checkpoints[variant], variant, case, method, threads)
                    case_rows.append(row)
                    print(_progress(row), flush=True)
                bare = case_rows[0].timing
                for row in case_rows[1:]:
                    if row.timing is not None and bare is not None:
                        row.ratio_to_bare = row.timing.median / bare.median
                rows += case_rows
                del audio
            del model
    info["load_average_after"] = load_average()
    return {"machine": info, "settings": _settings(args), "rows": rows, "long_case": long.name}


def _progress(row: Row) -> str:
    timing = row.timing
    memory = row.memory
    parts = [f"[{row.variant}] {row.case:>11} {row.method:>9}:"]
    if timing is not None:
        parts.append(
            f"median {timing.median:8.3f} s ({', '.join(f'{t:.2f}' for t in timing.seconds)}),"
            f" {row.audio_per_second:7.1f} audio-s/s"
        )
    if memory is not None:
        parts.append(
            f"peak RSS {memory.peak_rss_mib:7.0f} MiB, +{memory.peak_increase_mib:.0f} MiB over "
            f"{memory.rss_before_mib:.0f} MiB"
        )
    return " ".join(parts)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "quick": args.quick,
        "threads": args.threads,
        "repeats_short": args.repeats,
        "repeats_long": args.long_repeats,
        "long_seconds": args.long_seconds,
        "audio": "torch.randn * 0.1 at 48 kHz, seed 0",
        "chunk_seconds": 20.0,
        "pooling": "mean+std",
    }


def memory_ratios(rows: list[Row], long_case: str) -> list[dict[str, Any]]:
    """Peak memory of ``1 x long`` over ``1 x 10 s`` per variant and method, both definitions."""
    by_key = {(row.variant, row.case, row.method): row for row in rows}
    ratios = []
    for variant in VARIANT_NAMES:
        for method in METHODS:
            short, long = by_key.get((variant, "1 x 10 s", method)), by_key.get((variant, long_case, method))
            if short is None or long is None or short.memory is None or long.memory is None:
                continue
            ratios.append(
                {
                    "variant": variant,
                    "method": method,
                    "peak_rss_ratio": long.memory.peak_rss_mib / short.memory.peak_rss_mib,
                    "peak_increase_ratio": long.memory.peak_increase_mib
                    / max(short.memory.peak_increase_mib, 1e-9),
                }
            )
    return ratios


def report(results: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The markdown report and the JSON document for ``results`` from `run`."""
    info, rows, long_case = results["machine"], results["rows"], results["long_case"]
    ratios = memory_ratios(rows, long_case)
    header = [
        "# EnCodec benchmark (`hear_wrappers.encodec`, random weights)",
        "",
        f"Machine: {info['cpu']}, {info['cpu_count']} CPUs ({info['usable_cpus']} usable), "
        f"{info['ram_gib']} GiB RAM; Python {info['python']}, torch {info['torch']}, "
        f"{info['torch_threads']} intra-op threads, CUDA: {info['cuda']}. Load average (1, 5, 15 min) "
        f"before: {info['load_average']}, after: {info['load_average_after']}; a load above the CPU "
        "count means other processes competed for the CPUs and the timings are inflated.",
        "",
        "Input: Gaussian noise x 0.1 at 48 kHz. `bare` = EnCodec's encoder alone (24khz: julius resample + "
        "one SEANet pass; 48khz: EnCodec's 1 s segment loop with RMS scaling); `timestamp` / `scene` = "
        "the wrapper's `get_timestamp_embeddings` / `get_scene_embeddings` "
        "(load_model defaults: chunk_seconds=5, mean+std).",
        "",
        "Columns:",
        "",
        "* **median s** / **min s**: median / fastest wall time of the repeats (in-process; short cases "
        "after 1 warm-up call, the long case without one, its kernels being warm from the short cases); "
        "**n** = repeats.",
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
                row.variant,
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
            "variant",
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
        ["variant", "method", "peak RSS ratio", "call +MiB ratio"],
        [
            [r["variant"], r["method"], rounded(r["peak_rss_ratio"], 2), rounded(r["peak_increase_ratio"], 1)]
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
        "settings": results["settings"],
        "definitions": {
            "median_seconds": "median wall time of the repeats, in-process",
            "audio_seconds_per_second": "n_clips * clip_seconds / median_seconds",
            "ratio_to_bare": "wrapper median / bare median, same variant and case",
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
    parser.add_argument("--quick", action="store_true", help="2 repeats; skip the 48khz long clip")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results folder ({DEFAULT_OUT})")
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
        memory_child(args.memory_child, args.checkpoint, args.threads)
        return
    start = time.perf_counter()
    results = run(args)
    markdown, data = report(results)
    data["total_seconds"] = time.perf_counter() - start
    md_path, json_path = write_results(args.out, "encodec", markdown, data)
    print()
    print(markdown)
    print(f"\nWrote {md_path} and {json_path} in {data['total_seconds']:.0f} s.")


if __name__ == "__main__":
    main()
