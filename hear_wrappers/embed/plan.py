"""What heareval 2021.1.3's embeddings runner would do, decided before any audio is read.

Everything the official runner (``heareval.embeddings.runner`` / ``task_embeddings``) derives from the
task files and its arguments is reproduced here exactly, so that our output folders are drop-in
replacements for its own:

* the output folder ``<embeddings-dir>/<module><options slug>/<task>/`` (`options_slug`);
* the batch size, ``max(1, int(0.7 * (120 / sample_duration) * (16000 / sample_rate)))``, 1 when the
  task has no fixed duration (`heareval_batch_size`), and batches of consecutive files in the split
  json's order (the official ``DataLoader(shuffle=False)``);
* the row order of ``<split>.embeddings.npy``: one ``random.Random(0)`` per task shuffles each split's
  file list in turn, in the metadata's split order (`TaskPlan`), which the predictions runner then
  trains in.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SplitPlan",
    "TaskPlan",
    "Variant",
    "find_tasks",
    "heareval_batch_size",
    "make_variants",
    "options_slug",
    "read_task",
]


def options_slug(options: Mapping[str, Any]) -> str:
    """heareval's folder suffix for ``--model-options``: ``"-k1=v1-k2=v2"`` (slugified), or ``""``.

    Keys keep the dict's order, as in ``json.loads(--model-options)``; values go through ``str()``
    first (so ``True`` becomes ``true``, ``50.0`` becomes ``50-0``).
    """
    if not options:
        return ""
    from hear_wrappers.core.imports import require

    slugify = require("slugify", extra="eval").slugify  # python-slugify, heareval's own dependency
    return "-" + "-".join(f"{slugify(key)}={slugify(str(value))}" for key, value in options.items())


@dataclass(frozen=True)
class Variant:
    """One output folder: the module with one set of ``load_model`` options, as heareval names it.

    Attributes:
        options: the ``load_model`` keyword arguments, in ``--model-options`` order (with ``pooling``
            set when ``--poolings`` asked for one).
        folder_name: ``<module><options slug>``, the folder heareval's runner writes for them.
    """

    options: dict[str, Any]
    folder_name: str

    @property
    def pooling(self) -> str | None:
        """The pooling asked for in the options (None: the model's default)."""
        value = self.options.get("pooling")
        return None if value is None else str(value)

    @property
    def model_key(self) -> str:
        """The options other than ``pooling``: variants with equal keys can share one model."""
        return json.dumps({k: v for k, v in self.options.items() if k != "pooling"}, sort_keys=True)


def make_variants(
    module: str, options_list: Sequence[Mapping[str, Any]], poolings: Sequence[str] | None = None
) -> list[Variant]:
    """The output folders for every (options x pooling), in order, without duplicates.

    Args:
        module: the HEAR module's import name (heareval names folders after ``module.__name__``).
        options_list: ``load_model`` option dicts (each one ``--model-options``); ``[{}]`` for none.
        poolings: pooling names; each sets ``options["pooling"]`` (in place if the options already
            name a pooling, else appended last, which is where heareval's slug then puts it).

    Raises:
        TypeError: options that are not dicts, or poolings that are not strings.
    """
    variants: dict[str, Variant] = {}
    for options in options_list or [{}]:
        if not isinstance(options, Mapping):
            raise TypeError(f"model options must be a JSON dict, got {options!r}.")
        for pooling in [*poolings] if poolings else [None]:
            if pooling is not None and not isinstance(pooling, str):
                raise TypeError(f"poolings must be names such as 'mean+std', got {pooling!r}.")
            full = dict(options)
            if pooling is not None:
                full["pooling"] = pooling
            variant = Variant(full, module + options_slug(full))
            variants.setdefault(variant.folder_name, variant)
    return list(variants.values())


def heareval_batch_size(sample_duration: float | None, sample_rate: int) -> int:
    """heareval 2021.1.3's batch size: ``max(1, int(0.7 * (120 / duration) * (16000 / rate)))``.

    1 when the task has no fixed ``sample_duration`` (clips of different lengths cannot be stacked).
    """
    if sample_duration is None:
        return 1
    return max(1, int(0.7 * (120 / sample_duration) * (16000 / sample_rate)))


@dataclass(frozen=True)
class SplitPlan:
    """One split of one task.

    Attributes:
        name: the split (``"train"``, ``"fold00"``, ...).
        audio_dir: ``<task>/<sample rate>/<split>/``.
        files: the split json's file names, in its order (the order batches are made in).
        labels: ``{file: label}`` from the split json (a label list for scene tasks, event dicts for
            event tasks).
        row_order: the files in heareval's shuffled order, the order of the rows it writes.
        batch_size: heareval's batch size for this task at this rate.
    """

    name: str
    audio_dir: Path
    files: tuple[str, ...]
    labels: dict[str, Any] = field(repr=False)
    row_order: tuple[str, ...] = field(repr=False)
    batch_size: int = 1

    def batches(self) -> list[tuple[str, ...]]:
        """Consecutive groups of ``batch_size`` files, as heareval's ``DataLoader`` makes them."""
        size = self.batch_size
        return [self.files[start : start + size] for start in range(0, len(self.files), size)]


@dataclass(frozen=True)
class TaskPlan:
    """A HEAR task folder, read for one sample rate.

    Attributes:
        path: the task folder (``task_metadata.json``, ``labelvocabulary.csv``, ``<split>.json``,
            ``<rate>/<split>/*.wav``).
        metadata: ``task_metadata.json``.
        sample_rate: the model's rate, in Hz (which audio sub-folder is read).
        splits: the splits, in the metadata's order.
    """

    path: Path
    metadata: dict[str, Any] = field(repr=False)
    sample_rate: int
    splits: tuple[SplitPlan, ...]

    @property
    def name(self) -> str:
        """The task folder's name, which is also the output sub-folder's."""
        return self.path.name

    @property
    def embedding_type(self) -> str:
        """``"scene"`` (one embedding per clip) or ``"event"`` (one per frame, with timestamps)."""
        return str(self.metadata["embedding_type"])

    @property
    def n_clips(self) -> int:
        """Number of audio files over all splits."""
        return sum(len(split.files) for split in self.splits)


def read_task(task_path: str | os.PathLike[str], sample_rate: int) -> TaskPlan:
    """Read a HEAR task folder the way heareval's embeddings runner does.

    Args:
        task_path: the task folder.
        sample_rate: the model's sample rate in Hz; its audio must be in ``<task>/<rate>/<split>/``.

    Raises:
        ValueError: a missing or malformed metadata/split file, an unknown embedding type, or no
            audio folder at this rate (the message lists the rates the task has).
    """
    path = Path(task_path)
    metadata_path = path / "task_metadata.json"
    if not metadata_path.is_file():
        raise ValueError(f"task {path.name!r}: {metadata_path} is missing; is {path} a HEAR task folder?")
    try:
        metadata = json.loads(metadata_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"task {path.name!r}: {metadata_path} is not valid JSON ({error}).") from None
    kind = metadata.get("embedding_type")
    if kind not in ("scene", "event"):
        raise ValueError(f"task {path.name!r}: embedding_type must be 'scene' or 'event', got {kind!r}.")
    if not (path / "labelvocabulary.csv").is_file():
        raise ValueError(f"task {path.name!r}: labelvocabulary.csv is missing in {path}.")
    if not (path / str(sample_rate)).is_dir():
        rates = sorted(child.name for child in path.iterdir() if child.is_dir() and child.name.isdigit())
        raise ValueError(
            f"task {path.name!r} has no audio at {sample_rate} Hz (no folder {path / str(sample_rate)}); "
            f"it has {rates or 'none'}: build or resample the task at the model's rate."
        )
    batch_size = heareval_batch_size(metadata.get("sample_duration"), sample_rate)
    prng = random.Random()
    prng.seed(0)  # one generator per task, drawn from split after split (heareval's task_embeddings)
    splits = []
    for split in metadata["splits"]:
        split_path = path / f"{split}.json"
        if not split_path.is_file():
            raise ValueError(f"task {path.name!r}: split file {split_path} is missing.")
        labels = json.loads(split_path.read_text())
        files = tuple(labels)
        order = list(files)
        prng.shuffle(order)
        audio_dir = path / str(sample_rate) / split
        splits.append(SplitPlan(split, audio_dir, files, labels, tuple(order), batch_size))
    return TaskPlan(path, metadata, sample_rate, tuple(splits))


def find_tasks(tasks_dir: str | os.PathLike[str], task: str | Iterable[str] = "all") -> list[Path]:
    """The task folders heareval's runner would visit: every folder in ``tasks_dir``, or the named ones.

    Raises:
        ValueError: ``tasks_dir`` is not a folder, or a named task does not exist in it.
    """
    root = Path(tasks_dir)
    if not root.is_dir():
        raise ValueError(
            f"Cannot locate directory containing tasks: {str(root)!r} is not a folder (give a "
            f"folder of HEAR tasks with --tasks-dir)."
        )
    if task == "all":
        return sorted(child for child in root.iterdir() if child.is_dir())
    names = [task] if isinstance(task, str) else list(task)
    paths = [root / name for name in names]
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        raise ValueError(f"task folder(s) {missing} do not exist in {root}.")
    return paths
