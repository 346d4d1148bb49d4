"""Write generated tasks in HEAR's on-disk layout (what hear-preprocess produces, heareval reads)."""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from hear_wrappers.tasks.spec import MIN_FOLDS, TASKS, TRAINVALTEST, Clip, TaskSize, TaskSpec, fold_names
from hear_wrappers.tasks.synth import HEAR_SAMPLE_RATES, num_samples

__all__ = ["build_task", "build_tasks", "resolve_size", "scene_batch_size", "task_folder_name"]

CUSTOM = "custom"


def _spec(kind: str | TaskSpec) -> TaskSpec:
    if isinstance(kind, TaskSpec):
        return kind
    if kind not in TASKS:
        known = ", ".join(TASKS)
        raise ValueError(
            f"unknown task kind {kind!r}: known kinds are {known} (add one with "
            f"hear_wrappers.tasks.register_task)."
        )
    return TASKS[kind]


def _sample_rates(sample_rates: Iterable[int]) -> tuple[int, ...]:
    if isinstance(sample_rates, (int, str)):
        sample_rates = (sample_rates,)
    rates = []
    for rate in sample_rates:
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate not in HEAR_SAMPLE_RATES:
            raise ValueError(
                f"sample rate {rate!r} is not a HEAR rate: pick from "
                f"{', '.join(map(str, HEAR_SAMPLE_RATES))} Hz (heareval reads <task>/<rate>/<split>/*.wav "
                f"at the model's own rate)."
            )
        if int(rate) not in rates:
            rates.append(int(rate))
    if not rates:
        raise ValueError(f"sample_rates is empty: pass at least one of {HEAR_SAMPLE_RATES} Hz.")
    return tuple(sorted(rates))


def resolve_size(
    kind: str | TaskSpec,
    size: str | TaskSize = "tiny",
    *,
    clip_seconds: float | None = None,
    clips: int | Mapping[str, int] | None = None,
    folds: int | None = None,
) -> tuple[str, TaskSize]:
    """The size a task is built at: a preset (or a `TaskSize`) with overrides, and its label.

    Args:
        kind: the task kind (a name in `TASKS`, or a `TaskSpec`).
        size: a preset name (``"tiny"``, ``"demo"``, ...) or a `TaskSize`.
        clip_seconds: override the clip length, in s.
        clips: override the clips per class (scene tasks) or per split (event tasks): one number
            for every split/fold, or ``{split: count}`` for some of them.
        folds: k-fold tasks only: the number of folds (>= 3); new folds get the first fold's count.

    Returns:
        ``(label, size)``: the label is the preset's name, or ``"custom"`` when anything was
        overridden or ``size`` was a `TaskSize` (it names the task folder and HEAR's ``mode``).
    """
    spec = _spec(kind)
    if isinstance(size, TaskSize):
        label, base = CUSTOM, size
    elif isinstance(size, str) and size in spec.sizes:
        label, base = size, spec.sizes[size]
    else:
        raise ValueError(
            f"unknown size {size!r} for {spec.name}: use one of {', '.join(spec.sizes)} or a TaskSize "
            f"(override parts with clip_seconds=, clips= and, for k-fold tasks, folds=)."
        )
    counts = dict(base.clips)
    if folds is not None:
        if not spec.kfold:
            raise ValueError(
                f"folds= is for k-fold tasks; {spec.name} has fixed splits {list(TRAINVALTEST)}."
            )
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < MIN_FOLDS:
            raise ValueError(f"folds must be an integer >= {MIN_FOLDS} (heareval's k-fold), got {folds!r}.")
        first = next(iter(counts.values()))
        counts = {name: counts.get(name, first) for name in fold_names(folds)}
    if clips is not None:
        if isinstance(clips, Mapping):
            unknown = set(clips) - set(counts)
            if unknown:
                raise ValueError(
                    f"clips names unknown splits {sorted(unknown)}; {spec.name} has {list(counts)}."
                )
            counts.update(clips)
        else:
            counts = dict.fromkeys(counts, clips)
    seconds = base.clip_seconds if clip_seconds is None else float(clip_seconds)
    resolved = TaskSize(seconds, counts, base.options)
    if (clip_seconds, clips, folds) != (None, None, None):
        label = CUSTOM
    return label, spec.check_size(resolved)


def task_folder_name(spec: TaskSpec, label: str) -> str:
    """HEAR-style folder name ``<task_name>-<version>-<mode>``, e.g. ``synth_pitch-v1.0-tiny``."""
    return f"{spec.name}-{spec.version}-{label}"


def scene_batch_size(spec: TaskSpec, size: TaskSize, vocabulary: list[str]) -> int:
    """heareval training batch size for a scene task: a quarter of the train split, 32 to 256 clips.

    heareval's 1024 puts a small task's whole train split in one batch: one optimiser step and one
    BatchNorm update per epoch, which leaves a few-hundred-clip task (``demo``) barely trained when
    early stopping judges it. Each step costs heareval/Lightning tens of ms on a CPU, so tiny tasks
    keep one batch (32 clips or fewer). A last batch of one clip would stop BatchNorm (``Expected
    more than 1 value per channel``), so the size never leaves one.
    """
    if spec.kfold:  # heareval trains on every fold but the test fold and the next (valid) one
        folds = [size.clips[name] for name in sorted(size.clips)]
        trains = [sum(folds) - folds[i] - folds[(i + 1) % len(folds)] for i in range(len(folds))]
    else:
        trains = [size.clips["train"]]
    clips = [train * len(vocabulary) for train in trains]
    batch = max(32, min(256, -(-min(clips) // 4)))
    while any(count % batch == 1 for count in clips):
        batch += 1
    return batch


def _metadata(
    spec: TaskSpec, label: str, size: TaskSize, splits: list[str], seed: int, rates, vocabulary: list[str]
) -> dict:
    metadata: dict[str, Any] = {
        "task_name": spec.name,
        "version": spec.version,
        "embedding_type": spec.embedding_type,
        "prediction_type": spec.prediction_type,
        "split_mode": spec.split_mode,
        "sample_duration": size.clip_seconds,
        "evaluation": list(spec.evaluation),
        "splits": splits,
        "mode": label,
    }
    if spec.kfold:
        metadata["nfolds"] = len(splits)
    params: dict[str, Any] = {}
    grid = {k: list(v) for k, v in spec.param_grid.items()}
    if grid and spec.embedding_type == "scene" and "batch_size" not in grid:
        grid["batch_size"] = [scene_batch_size(spec, size, vocabulary)]
    if grid:
        params["task_specific_param_grid"] = grid
    if spec.postprocessing_grid is not None:
        params["event_postprocessing_grid"] = {k: list(v) for k, v in spec.postprocessing_grid.items()}
    if params:
        metadata["evaluation_params"] = params
    metadata["hear_wrappers"] = {
        "generator": spec.name,
        "seed": seed,
        "size": label,
        "leaderboard_analogue": spec.leaderboard_analogue,
        "sample_rates": list(rates),
        **size.to_json(),
    }
    return metadata


def _check_labels(spec: TaskSpec, clips: list[Clip], vocabulary: list[str], seconds: float) -> None:
    """Catch a generator's mistakes here rather than deep inside heareval."""
    known = set(vocabulary)
    names = [clip.name for clip in clips]
    if len(set(names)) != len(names):
        raise ValueError(f"{spec.name}: the generator made clips with the same file name.")
    for clip in clips:
        if spec.embedding_type == "scene":
            labels = clip.labels
            if spec.prediction_type == "multiclass" and len(labels) != 1:
                raise ValueError(f"{spec.name}: multiclass clip {clip.name} has labels {labels}, needs one.")
        else:
            labels = [event["label"] for event in clip.labels]
            for event in clip.labels:
                if not 0 <= event["start"] < event["end"] <= 1000 * seconds:
                    raise ValueError(
                        f"{spec.name}: event {event} of {clip.name} is not within 0-{1000 * seconds} ms."
                    )
        if not set(labels) <= known:
            raise ValueError(f"{spec.name}: clip {clip.name} has labels {labels} outside {vocabulary}.")


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM mono WAV, like hear-preprocess's ffmpeg output; the rounding is ours, so it is exact."""
    pcm = np.clip(np.round(audio * 32767), -32767, 32767).astype("<i2")
    sf.write(path, pcm, sample_rate, subtype="PCM_16", format="WAV")


def _json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1) + "\n")


def build_task(
    kind: str,
    out_dir: str | os.PathLike,
    *,
    sample_rates: Iterable[int] = (16000,),
    seed: int = 0,
    size: str | TaskSize = "tiny",
    clip_seconds: float | None = None,
    clips: int | Mapping[str, int] | None = None,
    folds: int | None = None,
    progress: bool = False,
) -> Path:
    """Generate one task in HEAR's layout under ``out_dir`` and return its folder.

    The folder, ``<out_dir>/<kind>-<version>-<size>``, holds ``task_metadata.json``,
    ``labelvocabulary.csv`` (``idx,label``), ``<split>.json`` (labels per file; event times in ms) and
    ``<rate>/<split>/*.wav`` (mono 16-bit PCM, every clip the same length) for each rate. An existing
    task folder of that name is replaced. The same arguments give byte-identical files.

    Args:
        kind: a task kind, see `TASKS` (``synth_pitch``, ``sound_vs_noise``, ``synth_onsets``, ...).
        out_dir: the tasks folder (heareval's ``--tasks-dir``); created if missing.
        sample_rates: rates in Hz to write, each one of HEAR's 16000, 22050, 32000, 44100, 48000;
            every rate is synthesised from the same parameters (nothing is resampled).
        seed: the random seed (an integer >= 0).
        size: a preset of the kind (``"tiny"``: for tests, seconds to build and evaluate;
            ``"demo"``: larger, still a couple of minutes to evaluate on 2 CPU cores) or a `TaskSize`.
        clip_seconds: override the clip length, in s.
        clips: override the clips per class (scene tasks) or per split (event tasks), for every
            split or as ``{split: count}``.
        folds: k-fold tasks only: override the number of folds (>= 3).
        progress: show a tqdm progress bar over the clips.

    Raises:
        ValueError: an unknown kind or size, a rate HEAR does not use, a bad override, or an
            ``out_dir/<folder>`` that exists but is not a task folder (it is never deleted).
    """
    spec = _spec(kind)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}.")
    seed = int(seed)
    rates = _sample_rates(sample_rates)
    label, resolved = resolve_size(spec, size, clip_seconds=clip_seconds, clips=clips, folds=folds)
    splits = sorted(resolved.splits) if spec.kfold else list(TRAINVALTEST)

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {out_dir} exists and is not a folder.")
    folder = out_dir / task_folder_name(spec, label)
    if folder.exists() and not (folder / "task_metadata.json").is_file():
        raise ValueError(
            f"{folder} exists and is not a generated task (no task_metadata.json): move it away or "
            f"choose another out_dir; it is not deleted."
        )

    vocabulary = list(spec.vocabulary(resolved))
    clips_made = spec.generate(resolved, seed)
    _check_labels(spec, clips_made, vocabulary, resolved.clip_seconds)

    # Build next to the final folder and move it in place at the end: heareval never sees half a task.
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f".{folder.name}.partial-{os.getpid()}"
    if partial.exists():
        shutil.rmtree(partial)
    try:
        for rate in rates:
            for split in splits:
                (partial / str(rate) / split).mkdir(parents=True)
        labels: dict[str, dict[str, Any]] = {split: {} for split in splits}
        for clip in tqdm(clips_made, desc=folder.name, unit="clip", disable=not progress):
            if clip.split not in labels:
                raise ValueError(f"{spec.name}: clip {clip.name} is in unknown split {clip.split!r}.")
            labels[clip.split][clip.name] = clip.labels
            for rate in rates:
                audio = clip.sound.render(rate)
                if len(audio) != num_samples(resolved.clip_seconds, rate):
                    raise ValueError(f"{spec.name}: clip {clip.name} has {len(audio)} samples at {rate} Hz.")
                _write_wav(partial / str(rate) / clip.split / clip.name, audio, rate)
        empty = [split for split in splits if len(labels[split]) < 2]
        if empty:
            raise ValueError(
                f"{spec.name}: splits {empty} hold fewer than 2 clips; heareval cannot train on that."
            )
        for split in splits:
            _json(partial / f"{split}.json", dict(sorted(labels[split].items())))
        with (partial / "labelvocabulary.csv").open("w", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(["idx", "label"])
            writer.writerows(enumerate(vocabulary))
        _json(
            partial / "task_metadata.json", _metadata(spec, label, resolved, splits, seed, rates, vocabulary)
        )
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    return folder


def build_tasks(out_dir: str | os.PathLike, kinds: Iterable[str] | None = None, **options: Any) -> list[Path]:
    """`build_task` for several kinds; returns their folders.

    ``kinds``: task kinds, or None for every registered kind (in `TASKS` order).

    ``options`` are `build_task`'s keyword arguments (``sample_rates``, ``seed``, ``size``, ...), the
    same for every kind (``folds`` only where the kind is k-fold).
    """
    names = list(TASKS) if kinds is None else [kinds] if isinstance(kinds, str) else list(kinds)
    for name in names:
        _spec(name)  # every name is checked before anything is written
    folds = options.pop("folds", None)
    return [
        build_task(name, out_dir, **options, folds=folds if _spec(name).kfold else None) for name in names
    ]
