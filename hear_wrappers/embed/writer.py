"""Per-clip results, written atomically, and heareval's files assembled from them.

For each (variant, task) the folder is exactly the one heareval 2021.1.3's runner writes::

    <embeddings-dir>/<module><options slug>/<task>/
        task_metadata.json  labelvocabulary.csv  <split>.json      copies of the task's files
        <split>/<file>.embedding.npy                               per clip: [D] (scene) or [T, D] (event)
        <split>/<file>.target-labels.json                          per clip: its labels (per frame for events)
        <split>/<file>.timestamps.json                             per clip, event tasks: frame centres, ms
        <split>.embeddings.npy                                     raw float32 [N, D], no npy header
        <split>.embedding-dimensions.json  <split>.target-labels.pkl  <split>.filename-timestamps.json
        profile.embeddings.json
        .done.embeddings                                           written last

Every file is written under a temporary name in the same folder and renamed into place (atomic on
POSIX), labels and timestamps before the embedding, so a clip whose ``.embedding.npy`` exists and
loads is complete; ``.done.embeddings`` is written only after every split file. A run that stops at
any point leaves nothing half-written under a final name, and a new run redoes only missing clips.
The split files are assembled one clip at a time into the memmap, so the assembling process holds
one clip's frames, never a whole split (plus the split's labels and timestamps as Python objects,
which heareval's pickle and json files hold whole).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from hear_wrappers.embed.plan import SplitPlan, TaskPlan

__all__ = ["DONE_FILE", "TaskWriter", "atomic_write", "event_labels"]

DONE_FILE = ".done.embeddings"


def atomic_write(path: Path, write: Callable[[IO[Any]], object], *, mode: str = "wb") -> None:
    """Write ``path`` through ``write(handle)`` into a temporary sibling, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, mode) as handle:
            write(handle)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def event_labels(events: Sequence[dict[str, Any]], timestamps: np.ndarray) -> list[list[str]]:
    """The labels active at each frame centre, exactly as heareval's ``get_labels_for_timestamps``.

    Args:
        events: the clip's events from the split json (``start``/``end`` in ms, ``label``).
        timestamps: the clip's frame centres in ms, float32 ``[T]``.

    Returns:
        ``T`` lists of labels (an event covers ``[start, end + 0.0001)``; labels of overlapping events
        in `intervaltree`'s set order, which is heareval's).
    """
    from hear_wrappers.core.imports import require

    tree = require("intervaltree", extra="eval").IntervalTree()
    for event in events:
        tree.addi(event["start"], event["end"] + 0.0001, event["label"])
    return [[interval.data for interval in tree[t]] for t in timestamps]


class TaskWriter:
    """Results of one task for one variant folder.

    Args:
        embeddings_dir: ``--embeddings-dir`` as given (heareval writes this string, joined with the
            folder names, into ``filename-timestamps.json``: it is not resolved).
        folder_name: the variant's folder, ``<module><options slug>``.
        task: the task plan.
    """

    def __init__(self, embeddings_dir: str | os.PathLike[str], folder_name: str, task: TaskPlan) -> None:
        self.task = task
        self.folder_name = folder_name
        self.task_dir = Path(embeddings_dir).joinpath(folder_name).joinpath(task.name)

    @property
    def done(self) -> bool:
        """Whether heareval's done marker is there (the folder is complete)."""
        return self.task_dir.joinpath(DONE_FILE).exists()

    def _clip(self, split: str, file: str) -> Path:
        return self.task_dir.joinpath(split).joinpath(f"{file}")

    def _embedding_path(self, split: str, file: str) -> Path:
        return Path(f"{self._clip(split, file)}.embedding.npy")

    def clip_done(self, split: str, file: str) -> bool:
        """Whether the clip's files are complete: its labels (and timestamps) parse and its embedding
        loads with the right rank (so a truncated file, e.g. from an interrupted official run, is redone)."""
        base = self._clip(split, file)
        embedding = self._embedding_path(split, file)
        if not embedding.is_file():
            return False
        try:
            json.loads(Path(f"{base}.target-labels.json").read_text())
            values = np.load(embedding, mmap_mode="r")
            if self.task.embedding_type == "event":
                timestamps = json.loads(Path(f"{base}.timestamps.json").read_text())
                return values.ndim == 2 and values.shape[0] == len(timestamps)
            return values.ndim == 1
        except (OSError, ValueError, EOFError):
            return False

    def missing(self, split: SplitPlan) -> set[str]:
        """Files of ``split`` whose clip results are not complete."""
        return {file for file in split.files if not self.clip_done(split.name, file)}

    def write_scene(self, split: str, file: str, embedding: np.ndarray, labels: Any) -> None:
        """Store one clip's embedding ``[D]`` float32 and its labels, as heareval's per-clip files."""
        base = self._clip(split, file)
        base.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(f"{base}.target-labels.json"), lambda f: json.dump(labels, f), mode="w")
        atomic_write(Path(f"{base}.embedding.npy"), lambda f: np.save(f, embedding))

    def write_event(
        self, split: str, file: str, embedding: np.ndarray, timestamps: np.ndarray, labels: list[list[str]]
    ) -> None:
        """Store one clip's frames ``[T, D]`` float32, centres ``[T]`` (ms, float32) and per-frame labels."""
        if timestamps.ndim != 1 or embedding.shape[0] != timestamps.shape[0]:
            raise ValueError(
                f"{self.task.name}/{split}/{file}: {embedding.shape[0]} frames but timestamps of shape "
                f"{timestamps.shape}; the model's timestamps must be [n_sounds, n_frames]."
            )
        base = self._clip(split, file)
        base.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(f"{base}.timestamps.json"), lambda f: json.dump(timestamps.tolist(), f), mode="w")
        atomic_write(Path(f"{base}.target-labels.json"), lambda f: json.dump(labels, f, indent=4), mode="w")
        atomic_write(Path(f"{base}.embedding.npy"), lambda f: np.save(f, embedding))

    def assemble(self, profile: dict[str, Any]) -> None:
        """Write heareval's split files from the per-clip files, then ``profile`` and the done marker.

        Raises:
            ValueError: a clip's results are missing (the caller must embed every clip first).
        """
        task = self.task
        self.task_dir.mkdir(parents=True, exist_ok=True)
        for name in ("task_metadata.json", "labelvocabulary.csv"):
            shutil.copy(task.path / name, self.task_dir)
        for split in task.splits:
            shutil.copy(task.path / f"{split.name}.json", self.task_dir)
            self._assemble_split(split)
        atomic_write(
            self.task_dir / "profile.embeddings.json", lambda f: json.dump(profile, f, indent=4), mode="w"
        )
        self.task_dir.joinpath(DONE_FILE).touch()

    def _assemble_split(self, split: SplitPlan) -> None:
        task, name = self.task, split.name
        scene = task.embedding_type == "scene"
        # heareval shuffles these paths with the task's generator; split.row_order is that order.
        files = [self._embedding_path(name, file) for file in split.row_order]
        n_rows, dim = 0, 0
        for file in files:
            if not file.is_file():
                raise ValueError(
                    f"{task.name}/{name}: {file} is missing; embed every clip before assembling."
                )
            values = np.load(file, mmap_mode="r")
            n_rows += 1 if scene else values.shape[0]
            dim = values.shape[-1]
        atomic_write(
            self.task_dir / f"{name}.embedding-dimensions.json",
            lambda f: f.write(json.dumps((n_rows, dim))),
            mode="wt",
        )
        labels: list[Any] = []
        filename_timestamps: list[tuple[str, float]] = []
        final = self.task_dir / f"{name}.embeddings.npy"
        temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            memmap = np.memmap(temporary, dtype=np.float32, mode="w+", shape=(n_rows, dim))
            row = 0
            for file in files:
                # copied from the file's mapping into the memmap: no clip's frames on the heap (and
                # never two: a plain np.load would allocate the next clip before freeing the last)
                values = np.load(file, mmap_mode="r")
                # heareval's labels come back from each clip's json file: read them the same way, so the
                # pickled objects (and so the pickle's bytes) are the same.
                label = json.loads(Path(str(file).replace("embedding.npy", "target-labels.json")).read_text())
                if scene:
                    if task.metadata["prediction_type"] == "multiclass" and len(label) != 1:
                        raise ValueError(f"{file}: a multiclass task needs exactly one label, got {label!r}.")
                    memmap[row] = values
                    labels.append(label)
                    row += 1
                else:
                    memmap[row : row + values.shape[0]] = values
                    labels += label
                    timestamps = json.loads(
                        Path(str(file).replace("embedding.npy", "timestamps.json")).read_text()
                    )
                    slug = str(file).replace(".embedding.npy", "")
                    filename_timestamps += [(slug, timestamp) for timestamp in timestamps]
                    row += values.shape[0]
                del values
            memmap.flush()
            del memmap
            os.replace(temporary, final)
        finally:
            if temporary.exists():
                temporary.unlink()
        atomic_write(self.task_dir / f"{name}.target-labels.pkl", lambda f: pickle.dump(labels, f))
        if not scene:
            # json.dump streams the text (the same as heareval's json.dumps(..., indent=4)) in pieces
            atomic_write(
                self.task_dir / f"{name}.filename-timestamps.json",
                lambda f: json.dump(filename_timestamps, f, indent=4),
                mode="wt",
            )
