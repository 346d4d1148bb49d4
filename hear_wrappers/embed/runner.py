"""The driver: plan the work, send batches to an engine, write what comes back, assemble each task.

An engine turns `BatchJob` s (the clips of one heareval batch and the variants that still need them)
into `BatchResult` s; `InProcessEngine` does it in this process, `hear_wrappers.embed.distributed`'s
``RayEngine`` on a Ray cluster. Whatever the engine, results come back to this process, which alone
writes ``--embeddings-dir`` (so workers need no shared filesystem), one batch at a time.

This module does not import torch (nor does `hear_wrappers.embed.distributed`): a Ray driver, and the
Ray workers that only decode audio, start without it; the models are imported where they run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from hear_wrappers.embed.audio import decode_batch
from hear_wrappers.embed.outputs import EventOutput
from hear_wrappers.embed.plan import TaskPlan, Variant, find_tasks, make_variants, read_task
from hear_wrappers.embed.writer import TaskWriter, event_labels

if TYPE_CHECKING:
    from hear_wrappers.embed.models import Embedder

__all__ = [
    "BatchJob",
    "BatchResult",
    "EmbedError",
    "EmbedReport",
    "Engine",
    "InProcessEngine",
    "TaskSummary",
    "embed",
    "embed_batch",
]


class EmbedError(RuntimeError):
    """A batch could not be embedded on the cluster (its workers kept dying); the message names the clips."""


@dataclass(frozen=True)
class BatchJob:
    """One heareval batch of one split, for the variants that still miss some of its clips.

    Attributes:
        task: the task's name.
        split: the split's name.
        embedding_type: ``"scene"`` or ``"event"``.
        files: the clips' names in the split json (``<task>/<rate>/<split>/<file>``).
        paths: the clips' audio files on the driver's machine.
        sample_rate: the rate the model takes, in Hz.
        folders: the variant folders to compute.
        audio_seconds: the batch's seconds of audio, as planned (for the progress bar): the task's
            ``sample_duration`` per clip, or else each file's length from its header.
    """

    task: str
    split: str
    embedding_type: str
    files: tuple[str, ...]
    paths: tuple[str, ...]
    sample_rate: int
    folders: tuple[str, ...]
    audio_seconds: float = 0.0

    def names(self) -> list[str]:
        """The clips as ``<task>/<rate>/<split>/<file>``, for messages."""
        return [f"{self.task}/{self.sample_rate}/{self.split}/{file}" for file in self.files]


@dataclass(frozen=True)
class BatchResult:
    """What an engine returns for a `BatchJob`.

    Attributes:
        outputs: ``{folder: [B, D] array}`` for scene tasks, ``{folder: EventOutput}`` for event tasks.
        n_samples: samples per clip in the batch.
        encode_seconds: time spent in the model(s).
    """

    outputs: Mapping[str, np.ndarray | EventOutput]
    n_samples: int
    encode_seconds: float


class Engine(Protocol):
    """Runs batches through the model; results may come back in any order."""

    name: str
    sample_rate: int
    where: str  # where the models run, for the summary (e.g. "2 encoder replicas on 127.0.0.1")

    def run(self, jobs: Iterable[BatchJob]) -> Iterator[tuple[BatchJob, BatchResult]]:
        """Each job with its result."""

    def close(self) -> None:
        """Release the workers (and a cluster this engine started)."""


def embed_batch(
    embedder: Embedder, job: BatchJob, sources: Sequence[str | bytes] | None = None
) -> BatchResult:
    """Decode a batch's clips (from ``sources``, their bytes, or else ``job.paths``) and embed them."""
    sources = job.paths if sources is None else sources
    audio = decode_batch(sources, job.names(), task=job.task, sample_rate=job.sample_rate)
    n_samples = int(audio.shape[1])
    outputs, seconds = embedder.embed(audio, job.embedding_type, job.folders)
    return BatchResult(outputs, n_samples, seconds)


class InProcessEngine:
    """Everything in this process, batch after batch (``--workers 0``, or Ray not installed)."""

    name = "in-process"
    where = "this process"

    def __init__(
        self, module: str, model_file: str | None, variants: Sequence[Variant], device: str | None = None
    ) -> None:
        from hear_wrappers.embed.models import Embedder

        self.embedder = Embedder(module, model_file, variants, device)
        self.sample_rate = self.embedder.sample_rate

    def run(self, jobs: Iterable[BatchJob]) -> Iterator[tuple[BatchJob, BatchResult]]:
        for job in jobs:
            yield job, embed_batch(self.embedder, job)

    def close(self) -> None:
        pass


@dataclass
class TaskSummary:
    """What one task took.

    Attributes:
        task: the task's name.
        clips: clips embedded in this run.
        reused: clips whose results an earlier run had left (resumption).
        audio_seconds: seconds of audio embedded in this run.
        encode_seconds: time spent in the model(s), summed over workers.
        wall_seconds: from the task's first batch sent to its folders assembled.
        folders: the variant folders written (empty when all were already done).
    """

    task: str
    clips: int = 0
    reused: int = 0
    audio_seconds: float = 0.0
    encode_seconds: float = 0.0
    wall_seconds: float = 0.0
    folders: list[str] = field(default_factory=list)


@dataclass
class EmbedReport:
    """What `embed` did: the variant folders, a summary per task, the engine, where the models ran and
    the wall time."""

    folders: list[Path]
    tasks: list[TaskSummary]
    engine: str
    wall_seconds: float
    where: str = ""

    def table(self) -> str:
        """The per-task summary as a plain-text table."""
        rows = [("task", "clips", "reused", "audio s", "model s", "wall s", "audio s/s", "folders")]
        for s in self.tasks:
            speed = s.audio_seconds / s.wall_seconds if s.wall_seconds > 0 else 0.0
            audio_text, model, wall = (
                f"{s.audio_seconds:.1f}",
                f"{s.encode_seconds:.1f}",
                f"{s.wall_seconds:.1f}",
            )
            rows.append(
                (
                    s.task,
                    str(s.clips),
                    str(s.reused),
                    audio_text,
                    model,
                    wall,
                    f"{speed:.1f}",
                    str(len(s.folders)),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
        ]
        audio = sum(s.audio_seconds for s in self.tasks)
        lines.append(
            f"{sum(s.clips for s in self.tasks)} clips, {audio:.1f} s of audio in {self.wall_seconds:.1f} s "
            f"({audio / max(self.wall_seconds, 1e-9):.1f} s of audio per s) with the {self.engine} engine"
            + (f" ({self.where})" if self.where else "")
        )
        return "\n".join(lines)


@dataclass
class _TaskState:
    plan: TaskPlan
    writers: dict[str, TaskWriter]  # folders still to finish
    missing: dict[tuple[str, str], set[str]]  # (folder, split) -> files
    pending: int = 0
    started: float | None = None
    summary: TaskSummary = field(default_factory=lambda: TaskSummary(""))


def make_engine(
    module: str,
    model_file: str | None,
    variants: Sequence[Variant],
    *,
    workers: int | None,
    address: str | None,
    device: str | None,
    **ray_options: Any,
) -> Engine:
    """`InProcessEngine` for ``workers == 0`` (or ``None`` without Ray installed and no address),
    else ``RayEngine`` with ``workers`` encoder replicas (``None``: one per GPU, else one)."""
    import importlib.util

    address = address or os.environ.get("RAY_ADDRESS") or None
    has_ray = importlib.util.find_spec("ray") is not None
    if workers == 0 or (workers is None and not has_ray and address is None):
        if address:
            raise ValueError("--workers 0 runs in this process; it cannot use the cluster at --address.")
        return InProcessEngine(module, model_file, variants, device)
    from hear_wrappers.embed.distributed import RayEngine

    return RayEngine(
        module, model_file, variants, workers=workers, address=address, device=device, **ray_options
    )


def embed(
    module: str,
    *,
    model_file: str | None = None,
    tasks_dir: str | os.PathLike[str] = "tasks",
    task: str | Sequence[str] = "all",
    embeddings_dir: str | os.PathLike[str] = "embeddings",
    model_options: Sequence[Mapping[str, Any]] = ({},),
    poolings: Sequence[str] | None = None,
    workers: int | None = None,
    address: str | None = None,
    device: str | None = None,
    progress: bool = True,
    engine: Engine | None = None,
    progress_label: str = "",
    **ray_options: Any,
) -> EmbedReport:
    """Write heareval's embedding folders for every (options x pooling) of ``module``, in one pass.

    Args:
        module: a HEAR module's import name, e.g. ``"hear_wrappers.crepe"``.
        model_file: weights file for ``load_model`` (heareval's ``--model``).
        tasks_dir: folder of HEAR tasks (heareval's ``--tasks-dir``).
        task: ``"all"`` or task folder name(s) (heareval's ``--task``).
        embeddings_dir: output root (heareval's ``--embeddings-dir``); used as given, not resolved,
            like heareval (it ends up in ``filename-timestamps.json``).
        model_options: ``load_model`` option dicts, one output folder (set) each.
        poolings: pooling names; each makes one more folder per options dict, all from one forward.
        workers: encoder replicas; 0 runs in this process; None: Ray when installed (one replica per
            GPU, else one), else in this process.
        address: a Ray cluster to use (default ``$RAY_ADDRESS``; none: a local cluster for this run).
        device: torch device for the models (default: CUDA when available, as heareval).
        progress: show the progress bar (one over every task of the run, in seconds of audio, with
            clips and tasks done) and print the summary table (one row per task).
        engine: an engine to use instead of making one (it is not closed here).
        progress_label: the bar's label (default ``"embeddings <module>"``).
        ray_options: more `RayEngine` arguments (``max_retries``, ``cpus_per_worker``, ...).

    Returns:
        an `EmbedReport`.

    Raises:
        ValueError: bad tasks, options or poolings; `hear_wrappers.embed.audio.AudioError` (a
            ValueError) for audio that cannot be embedded, naming the file and task.
    """
    start = time.perf_counter()
    variants = make_variants(module, list(model_options), poolings)
    task_paths = find_tasks(tasks_dir, task)
    own_engine = engine is None
    if engine is None:
        engine = make_engine(
            module, model_file, variants, workers=workers, address=address, device=device, **ray_options
        )
    try:
        states, jobs = _plan(engine.sample_rate, task_paths, variants, embeddings_dir)
        _drive(engine, states, jobs, progress, progress_label or f"embeddings {module}")
    finally:
        if own_engine:
            engine.close()
    report = EmbedReport(
        [Path(embeddings_dir) / v.folder_name for v in variants],
        [state.summary for state in states.values()],
        engine.name,
        time.perf_counter() - start,
        engine.where,
    )
    if progress:
        print(report.table(), file=sys.stderr)
    return report


def _plan(
    sample_rate: int, task_paths: Sequence[Path], variants: Sequence[Variant], embeddings_dir: Any
) -> tuple[dict[str, _TaskState], list[BatchJob]]:
    states: dict[str, _TaskState] = {}
    jobs: list[BatchJob] = []
    for path in task_paths:
        plan = read_task(path, sample_rate)
        writers = {v.folder_name: TaskWriter(embeddings_dir, v.folder_name, plan) for v in variants}
        writers = {folder: writer for folder, writer in writers.items() if not writer.done}
        state = _TaskState(plan, writers, {}, summary=TaskSummary(plan.name))
        states[plan.name] = state
        for split in plan.splits:
            for folder, writer in writers.items():
                state.missing[folder, split.name] = writer.missing(split)
            for batch in split.batches():
                need = tuple(f for f in writers if not state.missing[f, split.name].isdisjoint(batch))
                if need:
                    paths = tuple(str(split.audio_dir / file) for file in batch)
                    seconds = _planned_seconds(plan, paths)
                    kind = plan.embedding_type
                    jobs.append(
                        BatchJob(plan.name, split.name, kind, batch, paths, sample_rate, need, seconds)
                    )
                    state.pending += 1
                else:
                    state.summary.reused += len(batch) if writers else 0
    return states, jobs


def _planned_seconds(plan: TaskPlan, paths: Sequence[str]) -> float:
    """Seconds of audio in a batch: ``sample_duration`` per clip (HEAR pads or trims every clip to it),
    or each file's length from its header (0 for a file that cannot be read: decoding reports it)."""
    duration = plan.metadata.get("sample_duration")
    if duration is not None:
        return float(duration) * len(paths)
    import soundfile as sf

    total = 0.0
    for path in paths:
        with contextlib.suppress(sf.LibsndfileError, RuntimeError, OSError):
            total += float(sf.info(path).duration)
    return total


#: The bar counts seconds of audio, so its rate is seconds of audio per second of wall time.
_BAR_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio "
    "[{elapsed}<{remaining}, {rate_fmt}]{postfix}"
)


def _drive(
    engine: Engine, states: dict[str, _TaskState], jobs: list[BatchJob], progress: bool, desc: str
) -> None:
    """Run the jobs, writing results as they come; one progress bar over every task of the run."""
    for state in states.values():
        if state.pending == 0:
            _finish(state)
    total_clips = sum(len(job.files) for job in jobs)
    tasks_total = sum(1 for state in states.values() if state.pending)
    bar = tqdm(
        total=max(sum(job.audio_seconds for job in jobs), 1e-9),
        unit="s",
        desc=desc,
        bar_format=_BAR_FORMAT,
        disable=not progress,
        dynamic_ncols=True,
    )
    clips, tasks_done = 0, 0

    def submitted() -> Iterator[BatchJob]:
        for job in jobs:
            state = states[job.task]
            if state.started is None:
                state.started = time.perf_counter()
            yield job

    try:
        for job, result in engine.run(submitted()):
            state = states[job.task]
            _write(state, job, result)
            seconds = len(job.files) * result.n_samples / job.sample_rate
            state.summary.clips += len(job.files)
            state.summary.audio_seconds += seconds
            state.summary.encode_seconds += result.encode_seconds
            state.pending -= 1
            if state.pending == 0:
                _finish(state)
                tasks_done += 1
            clips += len(job.files)
            bar.set_postfix_str(
                f"clips {clips}/{total_clips}, tasks {tasks_done}/{tasks_total} ({job.task})", refresh=False
            )
            bar.update(job.audio_seconds)
    finally:
        bar.close()


def _write(state: _TaskState, job: BatchJob, result: BatchResult) -> None:
    split = next(split for split in state.plan.splits if split.name == job.split)
    labels_cache: dict[tuple[int, int], list[list[str]]] = {}
    for folder in job.folders:
        writer, missing = state.writers[folder], state.missing[folder, job.split]
        output = result.outputs[folder]
        for index, file in enumerate(job.files):
            if file not in missing:
                continue
            if isinstance(output, EventOutput):
                key = (id(output), index)
                if key not in labels_cache:
                    labels_cache[key] = event_labels(split.labels[file], output.timestamps[index])
                writer.write_event(
                    job.split, file, output.embeddings[index], output.timestamps[index], labels_cache[key]
                )
            else:
                writer.write_scene(job.split, file, output[index], split.labels[file])
            missing.discard(file)


def _finish(state: _TaskState) -> None:
    if not state.writers:
        return
    elapsed = time.perf_counter() - state.started if state.started is not None else 0.0
    for folder, writer in state.writers.items():
        profile = {
            "time_elapsed": elapsed,
            "gpu_max_mem": None,
            "gpu_device_name": None,
            "hear_wrappers_embed": {
                "clips": state.summary.clips,
                "reused": state.summary.reused,
                "audio_seconds": state.summary.audio_seconds,
                "encode_seconds": state.summary.encode_seconds,
                "variants_in_pass": len(state.writers),
            },
        }
        writer.assemble(profile)
        state.summary.folders.append(folder)
    state.summary.wall_seconds = time.perf_counter() - state.started if state.started is not None else 0.0
