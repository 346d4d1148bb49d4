"""``python -m hear_wrappers.embed MODULE --tasks-dir tasks/ --poolings mean,max [--workers N]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hear_wrappers.embed",
        description="heareval's embeddings runner, drop-in: the same folders and files, one forward per "
        "clip for every pooling, resumable, in this process or on a Ray cluster.",
    )
    parser.add_argument("module", help="HEAR module, e.g. hear_wrappers.crepe")
    parser.add_argument("--model", default=None, help="weights file passed to load_model")
    parser.add_argument("--tasks-dir", default="tasks", help="folder of HEAR tasks (default: tasks)")
    parser.add_argument(
        "--task", action="append", default=None, help="task folder name (repeatable; default: all)"
    )
    parser.add_argument("--embeddings-dir", default="embeddings", help="output folder (default: embeddings)")
    parser.add_argument(
        "--model-options",
        action="append",
        default=None,
        metavar="JSON",
        help="load_model options as a JSON dict, as heareval's; repeat for more configurations",
    )
    parser.add_argument(
        "--poolings",
        default=None,
        help="comma-separated pooling names, one output folder each from one forward, e.g. mean,max,mean+std",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="encoder replicas on Ray; 0 runs in this process (default: one per GPU, else one; in "
        "this process when Ray is not installed)",
    )
    parser.add_argument(
        "--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else local)"
    )
    parser.add_argument(
        "--device", default=None, help="torch device (default: cuda when available, else cpu)"
    )
    parser.add_argument("--cpus-per-worker", type=float, default=None, help="CPUs per encoder replica (Ray)")
    parser.add_argument("--gpus-per-worker", type=float, default=None, help="GPUs per encoder replica (Ray)")
    parser.add_argument(
        "--max-retries", type=int, default=2, help="retries of a batch whose worker died (Ray; default 2)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar and summary")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 on success, 1 on an error it explains)."""
    args = _parser().parse_args(argv)
    try:
        options = [json.loads(text) for text in args.model_options or ["{}"]]
    except json.JSONDecodeError as error:
        print(f"--model-options must be a JSON dict: {error}", file=sys.stderr)
        return 2
    if not all(isinstance(option, dict) for option in options):
        print('--model-options should be a JSON dict, e.g. \'{"variant": "tiny"}\'', file=sys.stderr)
        return 2
    poolings = [name.strip() for name in args.poolings.split(",") if name.strip()] if args.poolings else None
    ray_options = {
        key: value
        for key, value in (
            ("cpus_per_worker", args.cpus_per_worker),
            ("gpus_per_worker", args.gpus_per_worker),
            ("max_retries", args.max_retries),
        )
        if value is not None
    }
    from hear_wrappers.embed.runner import EmbedError, embed

    # glibc's heap is fixed for long clips at their first batch (embed.models.LONG_BATCH_SAMPLES)

    try:
        report = embed(
            args.module,
            model_file=args.model,
            tasks_dir=args.tasks_dir,
            task=args.task or "all",
            embeddings_dir=args.embeddings_dir,
            model_options=options,
            poolings=poolings,
            workers=args.workers,
            address=args.address,
            device=args.device,
            progress=not args.no_progress,
            **ray_options,
        )
    except (EmbedError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for folder in report.folders:
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
