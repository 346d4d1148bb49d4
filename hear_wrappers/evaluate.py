"""The HEAR evaluation, end to end: tasks -> embeddings -> predictions -> report.

One call (or one command) evaluates any set of models — HEAR modules with their checkpoint and
``load_model`` options, or registered names (`hear_wrappers.list_models`) — on HEAR-format tasks: the
generated ones of `hear_wrappers.tasks` by default, or a folder of real HEAR tasks.

* Embeddings: `hear_wrappers.embed`, heareval's embeddings runner drop-in (the same folders and files):
  every configuration of one model that differs only in its pooling comes from **one** encoder pass,
  in this process, on a local Ray cluster (``workers``) or on an existing one (``address``).
* Predictions: the official predictions runner, unchanged (``python -m hear_wrappers.heareval
  predictions``, which only adds the run-time fixes its 2021 pins need), once per (task x embedding
  folder), as parallel jobs: subprocesses in a local pool sized to the cores, or Ray tasks on the
  cluster at ``address`` (each ships its folder to a node and brings the scores back, so the nodes need
  no shared filesystem). Their output goes to ``<out>/console/``.
* Report: `hear_wrappers.report`'s table and figure, with combinations next to their members.

``embeddings_runner="heareval", parallel=False`` runs the previous path instead (heareval's own
embeddings runner once per configuration, then its predictions runner once per configuration, one
after the other), for comparisons.

Layout of ``<out>``::

    tasks/<task>/...                     generated tasks (unless --tasks-dir is given)
    embeddings/<module>[-<options>]/<task>/   heareval's embeddings, predictions, scores and
                                         Lightning's logs (given absolute paths, heareval logs there)
    console/*.log                        what each official runner printed
    results.md  results.png  results.json   the report
    timings.json                         wall seconds of each step

Command line (``python -m hear_wrappers.evaluate --help``)::

    python -m hear_wrappers.evaluate                   # the demo: CREPE tiny, mean vs mean+std pooling
    python -m hear_wrappers.evaluate crepe-tiny encodec-24khz --poolings mean,mean+std,max
    python -m hear_wrappers.evaluate hear_wrappers.encodec --model encodec_24khz-d7cc33bc.th \\
        --options '{"pooling": "mean"}' --options '{"pooling": "mean+std"}'
    python -m hear_wrappers.evaluate crepe-full --tasks-dir ~/hear-2021/tasks --address HEAD:6379

Scoring embeddings that already exist (from ``hear_wrappers.embed`` or heareval's runner), as parallel
jobs, with the report (`predict`)::

    python -m hear_wrappers.evaluate predictions embeddings/ --jobs 4 --out scores/
    python -m hear_wrappers.evaluate predictions embeddings/hear_wrappers.crepe-variant=tiny-pooling=*/ \
        --address HEAD:6379
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

__all__ = [
    "DEMO_CANDIDATES",
    "Candidate",
    "EvaluationResult",
    "PredictionJob",
    "PredictionsResult",
    "StepFailed",
    "evaluate",
    "find_embedded_tasks",
    "main",
    "predict",
    "predictions_main",
    "run_predictions",
]

#: heareval's marks: embeddings complete (its embeddings runner, and hear_wrappers.embed) and the
#: predictions runner's test scores.
DONE_EMBEDDINGS = ".done.embeddings"
SCORES_FILE = "test.predicted-scores.json"


@dataclass(frozen=True)
class Candidate:
    """One model configuration to evaluate.

    Attributes:
        module: import name of a HEAR module (``"hear_wrappers.crepe"``, or any module with the API).
        options: keyword arguments for its ``load_model`` (heareval's ``--model-options``).
        model_file: weights file passed to ``load_model`` (heareval's ``--model``); empty for the
            module's default weights.
    """

    module: str
    options: dict[str, Any] = field(default_factory=dict)
    model_file: str = ""

    def __hash__(self) -> int:
        return hash((self.module, json.dumps(self.options, sort_keys=True), self.model_file))

    @classmethod
    def named(cls, name: str, options: Mapping[str, Any] | None = None, model_file: str = "") -> Candidate:
        """A candidate from a registered model name (``"crepe-tiny"``) or a HEAR module's import name.

        A registered name becomes its module with ``variant`` set first (``create_model("crepe-tiny",
        pooling="mean")`` is ``hear_wrappers.crepe`` with ``{"variant": "tiny", "pooling": "mean"}``),
        so its folder is the one heareval writes for that module and those options.

        Raises:
            ValueError: an unknown name that is not a module path either (the message lists the
                closest registered names).
            TypeError: options that choose the variant of a registered name.
        """
        options = dict(options or {})
        if "." in name:  # a module path (registered names hold no dots)
            return cls(name, options, model_file)
        from hear_wrappers.core.registry import get_family, get_spec

        spec = get_spec(name)
        chosen = sorted({"variant", *get_family(spec.family).variant_aliases} & set(options))
        if chosen:
            raise TypeError(
                f"{name} already chooses the variant: drop option(s) {chosen}, or name the module."
            )
        return cls(spec.module, {"variant": spec.variant, **options}, model_file)

    @property
    def folder_name(self) -> str:
        """The folder heareval's embeddings runner writes this candidate to (module + option slugs)."""
        from hear_wrappers.embed.plan import options_slug

        return self.module + options_slug(self.options)

    @property
    def model_key(self) -> str:
        """What decides the model (module, file, options but the pooling): equal keys share one pass."""
        options = {k: v for k, v in self.options.items() if k != "pooling"}
        return json.dumps([self.module, self.model_file, options], sort_keys=True)

    def load(self) -> Any:
        """The model, loaded in this process (to learn its sample rate)."""
        module = importlib.import_module(self.module)
        if self.model_file:
            return module.load_model(self.model_file, **self.options)
        return module.load_model(**self.options)


#: The main job: CREPE's small model on its real weights, with two scene pooling strategies.
#: The generated tasks evaluated by default: one analogue each of a HEAR pitch, scene (k-fold) and event
#: task. The long-clip kinds (``sparse_event``, ``note_order``) are for the pooling study: pass them
#: with ``--task``.
DEFAULT_TASK_KINDS: tuple[str, ...] = ("synth_pitch", "sound_vs_noise", "synth_onsets")

DEMO_CANDIDATES = (
    Candidate("hear_wrappers.crepe", {"variant": "tiny", "pooling": "mean"}),
    Candidate("hear_wrappers.crepe", {"variant": "tiny", "pooling": "mean+std"}),
)


@dataclass
class EvaluationResult:
    """What `evaluate` produced.

    Attributes:
        out_dir: the output folder (layout in the module docs).
        task_dirs: the HEAR task folders evaluated.
        score_dirs: ``{candidate folder name: [embedding task folders holding the scores]}``.
        report: paths of the report files (``markdown``, ``png``, ``json``).
        timings: wall seconds of each step (``pipeline``: embeddings + predictions + report).
    """

    out_dir: Path
    task_dirs: list[Path]
    score_dirs: dict[str, list[Path]]
    report: Any
    timings: dict[str, float]


class StepFailed(RuntimeError):
    """An official runner exited with an error; the message holds the end of its output."""


def _heareval_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "hear_wrappers.heareval", *args]


def _run_step(
    name: str, args: Sequence[str], *, cwd: Path, console: Path, env: Mapping[str, str] | None = None
) -> float:
    """Run ``python -m hear_wrappers.heareval <args>`` in ``cwd``, output to ``console/<name>.log``."""
    console.mkdir(parents=True, exist_ok=True)
    log = console / f"{name}.log"
    command = _heareval_command(args)
    start = time.perf_counter()
    with log.open("w") as handle:
        handle.write("$ " + " ".join(command) + "\n")
        handle.flush()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        completed = subprocess.run(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, env=full_env)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise StepFailed(f"{name} failed (exit {completed.returncode}); full output in {log}:\n{tail}")
    return seconds


@dataclass(frozen=True)
class PredictionJob:
    """The official predictions runner on one embedded task folder.

    Attributes:
        folder: ``<embeddings>/<candidate folder>/<task>/`` (heareval's files, ``.done.embeddings``).
        grid_points: heareval's ``--grid-points``.
    """

    folder: Path
    grid_points: int = 1

    @property
    def name(self) -> str:
        """``predictions-<candidate folder>-<task>``: the job's console log name."""
        return f"predictions-{self.folder.parent.name}-{self.folder.name}"


def _thread_env(threads: int) -> dict[str, str]:
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def _local_predictions(
    jobs: Sequence[PredictionJob],
    *,
    cwd: Path,
    console: Path,
    workers: int,
    threads: int,
    done: Callable[[str], object],
) -> dict[str, float]:
    """Each job in its own subprocess, ``workers`` at a time, with ``threads`` threads each."""
    seconds: dict[str, float] = {}
    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(
                _run_step,
                job.name,
                ["predictions", str(job.folder), "--grid-points", str(job.grid_points)],
                cwd=cwd,
                console=console,
                env=_thread_env(threads),
            ): job
            for job in jobs
        }
        for future in as_completed(futures):
            job = futures[future]
            try:
                seconds[job.name] = future.result()
            except StepFailed as error:
                failures.append(str(error))
            done(job.name)
    if failures:
        raise StepFailed(f"{len(failures)} of {len(jobs)} prediction jobs failed:\n" + "\n\n".join(failures))
    return seconds


def _pack(folder: Path, *, newer_than: float | None = None) -> bytes:
    """``folder`` (its files modified after ``newer_than``, when given) as an uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and (newer_than is None or path.stat().st_mtime > newer_than):
                tar.add(path, arcname=str(path.relative_to(folder)))
    return buffer.getvalue()


def _predict_on_node(task_name: str, packed: bytes, grid_points: int, threads: int) -> tuple[int, bytes, str]:
    """A Ray task: unpack an embedded task folder, run the official predictions runner on it, and
    return ``(exit status, the files it wrote as a tar, its output)``."""
    with tempfile.TemporaryDirectory(prefix="hear-predictions-") as temp:
        folder = Path(temp) / task_name
        folder.mkdir()
        with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
            tar.extractall(folder, filter="data")
        started = time.time()
        time.sleep(0.01)  # files written from now on have a later modification time
        command = _heareval_command(["predictions", str(folder), "--grid-points", str(grid_points)])
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **_thread_env(threads)}
        completed = subprocess.run(command, cwd=temp, capture_output=True, text=True, env=env)
        output = "$ " + " ".join(command) + "\n" + completed.stdout + completed.stderr
        return completed.returncode, _pack(folder, newer_than=started), output


def _ray_predictions(
    jobs: Sequence[PredictionJob], *, console: Path, address: str, threads: int, done: Callable[[str], object]
) -> dict[str, float]:
    """Each job as a Ray task (one CPU) on the cluster at ``address``; its files come back here."""
    from hear_wrappers.core.imports import require
    from hear_wrappers.embed.distributed import connect

    ray = require("ray", extra="distributed")
    joined = not ray.is_initialized()
    connect(address)  # an address on loopback stays on loopback
    try:
        remote = ray.remote(num_cpus=threads, max_retries=1)(_predict_on_node)
        started = time.perf_counter()
        refs = {
            remote.remote(job.folder.name, _pack(job.folder), job.grid_points, threads): job for job in jobs
        }
        seconds: dict[str, float] = {}
        failures: list[str] = []
        console.mkdir(parents=True, exist_ok=True)
        pending = list(refs)
        while pending:
            (ref,), pending = ray.wait(pending, num_returns=1)
            job = refs[ref]
            status, files, output = ray.get(ref)
            log = console / f"{job.name}.log"
            log.write_text(output)
            with tarfile.open(fileobj=io.BytesIO(files)) as tar:
                tar.extractall(job.folder, filter="data")
            seconds[job.name] = time.perf_counter() - started
            if status != 0:
                tail = "\n".join(output.splitlines()[-40:])
                failures.append(f"{job.name} failed (exit {status}); full output in {log}:\n{tail}")
            done(job.name)
    finally:
        if joined:
            ray.shutdown()  # leaves the cluster (it is not stopped)
    if failures:
        raise StepFailed(f"{len(failures)} of {len(jobs)} prediction jobs failed:\n" + "\n\n".join(failures))
    return seconds


def run_predictions(
    jobs: Sequence[PredictionJob],
    *,
    cwd: Path,
    console: Path,
    workers: int | None = None,
    address: str | None = None,
    threads: int | None = None,
    done: Callable[[str], object] = lambda name: None,
) -> dict[str, float]:
    """The official predictions runner on every job's folder, as parallel jobs.

    Args:
        jobs: the folders to score.
        cwd: working folder of the local subprocesses.
        console: where each job's output goes (``<job.name>.log``).
        workers: local jobs at once (default: one per core); ignored on a cluster.
        address: a Ray cluster: each job runs there as a task of ``threads`` CPUs (its folder is
            sent to the node and the files the runner writes come back), as many at once as the
            cluster holds.
        threads: CPU threads per job (default: the cores shared out between the local jobs; 1 per
            Ray task).
        done: called with each job's name when it ends.

    Returns:
        ``{job name: wall seconds}`` (on a cluster: from submission to the result's return).

    Raises:
        StepFailed: after every job has ended, if any failed (the message holds each one's output).
    """
    if not jobs:
        return {}
    if address:
        return _ray_predictions(jobs, console=console, address=address, threads=threads or 1, done=done)
    workers = max(1, min(len(jobs), workers or os.cpu_count() or 1))
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    return _local_predictions(jobs, cwd=cwd, console=console, workers=workers, threads=threads, done=done)


def find_embedded_tasks(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The embedded task folders (heareval's ``.done.embeddings`` in them) that ``paths`` name.

    Each path is a task folder (``<embeddings>/<configuration>/<task>/``), a configuration folder
    (``<embeddings>/<module><options>/``) or an embeddings root (``--embeddings-dir``). Folders are
    absolute, without duplicates, in the order given (sorted within each path).

    Raises:
        ValueError: a path that does not exist, or holds no finished embeddings (the message says what
            was found instead: task folders not finished, or nothing).
    """
    found: dict[Path, None] = {}
    for given in paths:
        path = Path(given).expanduser().resolve()
        if not path.is_dir():
            raise ValueError(
                f"{given} is not a folder: give embedding folders written by hear_wrappers.embed."
            )
        for pattern in (DONE_EMBEDDINGS, f"*/{DONE_EMBEDDINGS}", f"*/*/{DONE_EMBEDDINGS}"):
            marks = sorted(path.glob(pattern))
            if marks:
                found.update((mark.parent, None) for mark in marks)
                break
        else:
            unfinished = sorted(
                m.parent for p in ("", "*/", "*/*/") for m in path.glob(p + "task_metadata.json")
            )
            detail = (
                f"{len(unfinished)} task folder(s) without {DONE_EMBEDDINGS} (unfinished: run the "
                f"embeddings again to complete them), e.g. {unfinished[0]}"
                if unfinished
                else "no task folders"
            )
            raise ValueError(
                f"no finished embeddings in {given}: {detail}. Give an embeddings root, a "
                f"<module><options> folder in it, or a task folder."
            )
    return list(found)


@dataclass
class PredictionsResult:
    """What `predict` did.

    Attributes:
        folders: the embedded task folders scored (or already scored, with ``skip_scored``).
        ran: the folders whose predictions ran in this call.
        report: paths of the report files (``markdown``, ``png``, ``json``).
        timings: wall seconds: each job's, ``predictions`` (all jobs) and ``report``.
    """

    folders: list[Path]
    ran: list[Path]
    report: Any
    timings: dict[str, float]


def predict(
    paths: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str] = "hear-results",
    *,
    jobs: int | None = None,
    address: str | None = None,
    threads: int | None = None,
    grid_points: int = 1,
    skip_scored: bool = False,
    title: str = "",
    options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = True,
) -> PredictionsResult:
    """heareval's predictions runner on existing embeddings, as parallel jobs, and the report.

    The official runner, unchanged (``python -m hear_wrappers.heareval predictions``, which adds only
    the run-time fixes its 2021 pins need), runs once per embedded task folder: in a local pool of
    subprocesses, or as Ray tasks on the cluster at ``address`` (see `run_predictions`). It writes
    its predictions and ``test.predicted-scores.json`` into each folder, as it does run by hand.

    Args:
        paths: embeddings roots, configuration folders or task folders (see `find_embedded_tasks`).
        out_dir: where the report (``results.md``, ``results.png``, ``results.json``),
            ``timings.json`` and each job's output (``console/predictions-<configuration>-<task>.log``)
            go.
        jobs: local jobs at once (default: one per core); ignored with ``address``.
        address: a Ray cluster to run the jobs on.
        threads: CPU threads per job (default: the cores shared out locally; 1 per Ray task).
        grid_points: heareval's ``--grid-points``.
        skip_scored: leave folders that already hold heareval's scores as they are (their scores
            still go into the report).
        title: the report's title.
        options: ``{configuration folder: load_model options}`` for the report (see
            `hear_wrappers.report.write_report`).
        progress: a progress bar over the jobs.

    Raises:
        ValueError: paths without finished embeddings.
        StepFailed: after every job has ended, if any failed (the message holds each one's output).
    """
    from hear_wrappers import report

    folders = find_embedded_tasks(paths)
    todo = [f for f in folders if not (skip_scored and (f / SCORES_FILE).is_file())]
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    bar = tqdm(total=len(todo), desc="predictions", unit="job", disable=not progress, dynamic_ncols=True)
    try:
        timings.update(
            run_predictions(
                [PredictionJob(folder, grid_points) for folder in todo],
                cwd=out,
                console=out / "console",
                workers=jobs,
                address=address,
                threads=threads,
                done=lambda name: bar.update(1),
            )
        )
    finally:
        bar.close()
    timings["predictions"] = time.perf_counter() - start
    start = time.perf_counter()
    scores = report.collect_scores(folders)
    files = report.write_report(
        scores, out, title=title or "HEAR evaluation (hear-wrappers)", options=options
    )
    timings["report"] = time.perf_counter() - start
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    return PredictionsResult(folders, todo, files, timings)


def evaluate(
    candidates: Iterable[Candidate] = DEMO_CANDIDATES,
    out_dir: str | os.PathLike[str] = "hear-results",
    *,
    tasks_dir: str | os.PathLike[str] | None = None,
    task_kinds: Sequence[str] | None = None,
    size: str = "demo",
    seed: int = 0,
    grid_points: int = 1,
    title: str = "",
    resume: bool = False,
    progress: bool = True,
    workers: int | None = 0,
    address: str | None = None,
    jobs: int | None = None,
    embeddings_runner: str = "hear-wrappers",
    parallel: bool = True,
) -> EvaluationResult:
    """Evaluate ``candidates`` on HEAR tasks and write the report (see the module docs).

    Args:
        candidates: model configurations (see `Candidate`, `Candidate.named`); their sample rates
            decide which rates the generated tasks are written at.
        out_dir: output folder (layout in the module docs).
        tasks_dir: a folder of existing HEAR tasks (each sub-folder one task, with audio at every
            candidate's sample rate); None to generate `hear_wrappers.tasks` tasks into ``out/tasks``.
        task_kinds: which generated tasks (default: `DEFAULT_TASK_KINDS`, the HEAR-like kinds; the
            long-clip kinds for choosing a pooling, ``sparse_event`` and ``note_order``, on request).
        size: size preset of the generated tasks (``"tiny"`` or ``"demo"``).
        seed: seed of the generated tasks.
        grid_points: heareval's ``--grid-points`` (hyper-parameter settings tried per task).
        title: title of the figure.
        resume: keep what an earlier run left in ``out_dir`` (finished clips and steps are kept);
            otherwise tasks, embeddings and logs there are started afresh.
        progress: show progress bars.
        workers: encoder replicas for the embeddings (`hear_wrappers.embed.embed`): 0 (default)
            in this process, N on Ray (a local cluster unless ``address``), None: Ray's default.
        address: a Ray cluster for the embeddings and the prediction jobs.
        jobs: local prediction jobs at once (default: one per core).
        embeddings_runner: ``"hear-wrappers"`` (`hear_wrappers.embed`, one pass per model) or
            ``"heareval"`` (the official runner, once per candidate; the previous path).
        parallel: one prediction job per (task x candidate), in parallel; False runs the official
            predictions runner once per candidate over all tasks, one after the other.

    Returns:
        an `EvaluationResult`.

    Raises:
        ValueError: no candidates, a task folder that does not exist, or an unknown runner.
        StepFailed: an official runner failed (its output's end is in the message).
    """
    from hear_wrappers import report, tasks

    candidates = list(dict.fromkeys(candidates))
    if not candidates:
        raise ValueError("no candidates to evaluate: give at least one module (e.g. hear_wrappers.crepe).")
    if embeddings_runner not in ("hear-wrappers", "heareval"):
        raise ValueError(
            f"embeddings_runner must be 'hear-wrappers' or 'heareval', got {embeddings_runner!r}."
        )
    out = Path(out_dir).expanduser().resolve()
    embeddings_root, console = out / "embeddings", out / "console"
    if not resume:
        for stale in (out / "tasks", embeddings_root, console):
            shutil.rmtree(stale, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    # 1. tasks, at every rate the candidates take (one model loaded per model key)
    start = time.perf_counter()
    rate_of_key: dict[str, int] = {}
    for candidate in candidates:
        if candidate.model_key not in rate_of_key:
            rate_of_key[candidate.model_key] = int(candidate.load().sample_rate)
    rates = sorted(set(rate_of_key.values()))
    if tasks_dir is None:
        task_root = out / "tasks"
        kinds = DEFAULT_TASK_KINDS if task_kinds is None else task_kinds
        task_dirs = tasks.build_tasks(task_root, kinds, sample_rates=rates, seed=seed, size=size)
    else:
        task_root = Path(tasks_dir).expanduser().resolve()
        if not task_root.is_dir():
            raise ValueError(f"tasks_dir {str(task_root)!r} is not a folder of HEAR tasks.")
        task_dirs = sorted(path for path in task_root.iterdir() if path.is_dir())
    timings["tasks"] = time.perf_counter() - start
    pipeline_start = time.perf_counter()

    # 2. embeddings: one pass per model (hear_wrappers.embed), or the official runner per candidate
    if embeddings_runner == "hear-wrappers":
        from hear_wrappers.embed import embed

        groups: dict[tuple[str, str, int], list[Candidate]] = {}
        for candidate in candidates:
            key = (candidate.module, candidate.model_file, rate_of_key[candidate.model_key])
            groups.setdefault(key, []).append(candidate)
        for number, ((module, model_file, _rate), members) in enumerate(groups.items(), start=1):
            start = time.perf_counter()
            embed(
                module,
                model_file=str(Path(model_file).expanduser().resolve()) if model_file else None,
                tasks_dir=task_root,
                task=[path.name for path in task_dirs],
                embeddings_dir=str(embeddings_root),
                model_options=[member.options for member in members],
                workers=workers,
                address=address,
                progress=progress,
                progress_label=f"embeddings {number}/{len(groups)}: {module}",
            )
            names = ", ".join(member.folder_name for member in members)
            timings[f"embeddings {names}"] = time.perf_counter() - start
    else:
        for candidate in candidates:
            args = ["embeddings", candidate.module, "--tasks-dir", str(task_root)]
            args += ["--embeddings-dir", str(embeddings_root)]
            if candidate.options:
                args += ["--model-options", json.dumps(candidate.options)]
            if candidate.model_file:
                args += ["--model", str(Path(candidate.model_file).expanduser().resolve())]
            name = candidate.folder_name
            timings[f"embeddings {name}"] = _run_step(f"embeddings-{name}", args, cwd=out, console=console)

    # 3. predictions: the official runner per (task x candidate) in parallel, or per candidate
    score_dirs = {
        c.folder_name: [embeddings_root / c.folder_name / t.name for t in task_dirs] for c in candidates
    }
    start = time.perf_counter()
    if parallel:
        prediction_jobs = [PredictionJob(f, grid_points) for folders in score_dirs.values() for f in folders]
        bar = tqdm(total=len(prediction_jobs), desc="predictions", unit="job", disable=not progress)
        seconds = run_predictions(
            prediction_jobs,
            cwd=out,
            console=console,
            workers=jobs,
            address=address,
            done=lambda name: bar.update(1),
        )
        bar.close()
        timings.update(seconds)
    else:
        for name, folders in score_dirs.items():
            args = ["predictions", *map(str, folders), "--grid-points", str(grid_points)]
            timings[f"predictions {name}"] = _run_step(f"predictions-{name}", args, cwd=out, console=console)
    timings["predictions"] = time.perf_counter() - start

    # 4. report, with each configuration's options (combinations shown next to their members)
    start = time.perf_counter()
    scores = report.collect_scores(path for paths in score_dirs.values() for path in paths)
    files = report.write_report(
        scores,
        out,
        title=title or "HEAR evaluation (hear-wrappers)",
        options={candidate.folder_name: candidate.options for candidate in candidates},
    )
    timings["report"] = time.perf_counter() - start
    timings["pipeline"] = time.perf_counter() - pipeline_start
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    return EvaluationResult(out, list(task_dirs), score_dirs, files, timings)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hear_wrappers.evaluate",
        description="Evaluate HEAR models: embeddings with hear_wrappers.embed (one pass per model for "
        "every pooling), the official heareval predictions runner in parallel, and the report. "
        "Without a model: the demo (CREPE tiny on its real weights, mean vs mean+std pooling, on "
        "generated tasks).",
        epilog="python -m hear_wrappers.evaluate predictions --help: score existing embeddings only.",
    )
    parser.add_argument(
        "models",
        nargs="*",
        help="registered model names (hear_wrappers.list_models(), e.g. crepe-tiny) or HEAR modules "
        "(e.g. hear_wrappers.encodec)",
    )
    parser.add_argument("--model", default="", help="weights file for load_model (one model only)")
    parser.add_argument(
        "--options",
        action="append",
        default=[],
        metavar="JSON",
        help="load_model options as a JSON dict, for every model; repeat to compare configurations",
    )
    parser.add_argument(
        "--poolings", default=None, help="comma-separated poolings, each a configuration (one pass for all)"
    )
    parser.add_argument("--out", default="hear-results", help="output folder (default: hear-results)")
    parser.add_argument("--tasks-dir", default=None, help="existing HEAR tasks instead of generated ones")
    parser.add_argument(
        "--task",
        action="append",
        default=None,
        help=f"generated task kind (repeatable; default: {', '.join(DEFAULT_TASK_KINDS)})",
    )
    parser.add_argument("--size", default="demo", help="generated task size: tiny or demo (default: demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated tasks")
    parser.add_argument("--grid-points", type=int, default=1, help="heareval's --grid-points (default 1)")
    parser.add_argument("--resume", action="store_true", help="keep finished work of an earlier run")
    parser.add_argument(
        "--workers", type=int, default=0, help="encoder replicas on Ray (default 0: in this process)"
    )
    parser.add_argument(
        "--address", default=None, help="Ray cluster for embeddings and prediction jobs (default: none)"
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="local prediction jobs at once (default: cores)"
    )
    parser.add_argument(
        "--official",
        action="store_true",
        help="the previous path, for comparison: heareval's embeddings runner once per configuration, "
        "then its predictions runner once per configuration, one after the other",
    )
    return parser.parse_args(argv)


def candidates_from_args(
    models: Sequence[str], options: Sequence[str], poolings: str | None, model_file: str
) -> list[Candidate]:
    """The candidates a command line asks for: every model x ``--options`` x ``--poolings``.

    Raises:
        SystemExit: malformed options, or ``--model`` with several models.
    """
    try:
        parsed = [json.loads(text) for text in options] or [{}]
    except json.JSONDecodeError as error:
        raise SystemExit(f"--options must be a JSON dict: {error}") from error
    if not all(isinstance(option, dict) for option in parsed):
        raise SystemExit('--options must be a JSON dict, e.g. \'{"pooling": "mean"}\'')
    if model_file and len(models) != 1:
        raise SystemExit("--model gives the weights of one model: name exactly one model with it.")
    names = [name.strip() for name in poolings.split(",") if name.strip()] if poolings else [None]
    candidates = []
    for model in models:
        for option in parsed:
            for pooling in names:
                full = {**option, **({"pooling": pooling} if pooling else {})}
                try:
                    candidates.append(Candidate.named(model, full, model_file))
                except (ValueError, TypeError) as error:
                    raise SystemExit(str(error)) from None
    return candidates


def _predictions_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hear_wrappers.evaluate predictions",
        description="Score existing embeddings (hear_wrappers.embed's or heareval's folders) with "
        "heareval's predictions runner, unchanged, one job per (configuration x task) in parallel "
        "(a local pool, or Ray tasks on --address), and write the report.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="FOLDER",
        help="an embeddings root (--embeddings-dir), a <module><options> folder in it, or a task folder",
    )
    parser.add_argument("--out", default="hear-results", help="report and job logs (default: hear-results)")
    parser.add_argument("--jobs", type=int, default=None, help="local jobs at once (default: cores)")
    parser.add_argument(
        "--address", default=None, help="Ray cluster to run the jobs on (default: a local pool)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads per job (default: cores / jobs; 1 on Ray)"
    )
    parser.add_argument("--grid-points", type=int, default=1, help="heareval's --grid-points (default 1)")
    parser.add_argument(
        "--skip-scored", action="store_true", help="keep the scores of folders already scored"
    )
    parser.add_argument("--title", default="", help="title of the report")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def predictions_main(argv: Sequence[str] | None = None) -> int:
    """``python -m hear_wrappers.evaluate predictions ...`` (and ``hear-wrappers predictions ...``)."""
    args = _predictions_parser().parse_args(argv)
    for name in ("jobs", "threads", "grid_points"):
        value = getattr(args, name)
        if value is not None and value < 1:
            print(f"--{name.replace('_', '-')} must be >= 1, got {value}.", file=sys.stderr)
            return 2
    try:
        result = predict(
            args.paths,
            args.out,
            jobs=args.jobs,
            address=args.address,
            threads=args.threads,
            grid_points=args.grid_points,
            skip_scored=args.skip_scored,
            title=args.title,
            progress=not args.no_progress,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except StepFailed as error:
        print(error, file=sys.stderr)
        return 1
    print(Path(result.report.markdown).read_text())
    print(f"Report: {result.report.markdown}, {result.report.png}")
    print(
        f"{len(result.ran)} prediction job(s) in {result.timings['predictions']:.0f} s "
        f"({len(result.folders) - len(result.ran)} folder(s) already scored kept)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints where the report went and its table.

    ``predictions ...`` as the first argument scores existing embeddings instead (`predictions_main`).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["predictions"]:
        return predictions_main(arguments[1:])
    args = _parse(arguments)
    if not args.models:
        if args.model or args.options or args.poolings:
            raise SystemExit(
                "--model/--options/--poolings need a model, e.g. crepe-tiny or hear_wrappers.crepe"
            )
        candidates: list[Candidate] = list(DEMO_CANDIDATES)
    else:
        candidates = candidates_from_args(args.models, args.options, args.poolings, args.model)
    start = time.perf_counter()
    try:
        result = evaluate(
            candidates,
            args.out,
            tasks_dir=args.tasks_dir,
            task_kinds=args.task,
            size=args.size,
            seed=args.seed,
            grid_points=args.grid_points,
            resume=args.resume,
            workers=args.workers,
            address=args.address,
            jobs=args.jobs,
            embeddings_runner="heareval" if args.official else "hear-wrappers",
            parallel=not args.official,
        )
    except StepFailed as error:
        print(error, file=sys.stderr)
        return 1
    print(Path(result.report.markdown).read_text())
    print(f"Report: {result.report.markdown}, {result.report.png}")
    print(
        f"Wall time: {time.perf_counter() - start:.0f} s, pipeline (embeddings + predictions + report) "
        f"{result.timings['pipeline']:.0f} s (steps in {result.out_dir / 'timings.json'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
