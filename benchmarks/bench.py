"""Speed and memory of any registered model's HEAR wrapper against the model's bare forward pass.

Run ``python benchmarks/bench.py --model NAME [--model NAME ...] [--quick] [--threads N]`` (see
``benchmarks/README.md``); NAME is a registered name or a pattern (``"crepe-*"``), none for the default
set. Each model's figures go to ``<out>/<name>.md`` and ``<out>/<name>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness/ and families/ sit next to this script

import torch
from harness.profile import Settings
from harness.report import report, write_results
from harness.runner import memory_child, run

from hear_wrappers.core.checkpoints import CheckpointUnavailableError
from hear_wrappers.core.memory import steady_heap
from hear_wrappers.core.registry import get_spec, list_models

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
#: Measured when no --model is given: the checkpoints the figures in docs/ come from.
DEFAULT_MODELS = (
    "encodec-24khz",
    "encodec-48khz",
    "crepe-tiny",
    "crepe-full",
    "clap-630k-audioset-fusion-best",
    "clap-630k-audioset-best",
    "soundstream-lyra-v1.3.2",
    "archisound-dmae1d-ATC64-v1",
)


def model_names(patterns: list[str]) -> list[str]:
    """The registered names matching ``patterns`` in order (default: `DEFAULT_MODELS` that are registered).

    Raises:
        SystemExit: a pattern matches no registered name (the message lists them).
    """
    if not patterns:
        registered = set(list_models())
        return [name for name in DEFAULT_MODELS if name in registered]
    names: list[str] = []
    for pattern in patterns:
        matched = list_models(pattern)
        if not matched:
            get_spec(pattern)  # a ValueError naming the closest names
        names += [name for name in matched if name not in names]
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="registered name or pattern, repeatable; none: " + ", ".join(DEFAULT_MODELS),
    )
    parser.add_argument("--quick", action="store_true", help="fewer cases and rounds (per family)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results folder ({DEFAULT_OUT})")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per short case")
    parser.add_argument("--long-repeats", type=int, default=None, help="timed rounds of the long clip")
    parser.add_argument("--long-seconds", type=float, default=600.0, help="length of the long clip")
    parser.add_argument(
        "--weights", type=Path, default=None, help="a weights file for the (one) model instead of the default"
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    steady_heap()  # as our command-line tools do: a long clip's memory stays at a chunk's (core/memory.py)
    if args.memory_child:
        memory_child(args.memory_child)
        return
    torch.set_num_threads(args.threads)
    names = model_names(args.model)
    if args.weights is not None and len(names) != 1:
        raise SystemExit(f"--weights is one model's file, but {len(names)} models are chosen: {names}.")
    settings = Settings(**{field.name: getattr(args, field.name) for field in fields(Settings)})
    for name in names:
        start = time.perf_counter()
        try:
            results = run(get_spec(name), settings)
        except CheckpointUnavailableError as error:  # real weights that are neither installed nor cached
            print(f"{name} benchmark skipped: {error}", flush=True)
            continue
        results.total_seconds = time.perf_counter() - start
        markdown, data = report(results)
        md_path, json_path = write_results(args.out, name, markdown, data)
        print()
        print(markdown)
        print(f"\nWrote {md_path} and {json_path} in {results.total_seconds:.0f} s.", flush=True)


if __name__ == "__main__":
    main()
