"""Reading heareval's score files: a `Score` per ``<embeddings>/<module>/<task>/<SCORE_FILE>``."""

from __future__ import annotations

import json
import math
import statistics
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["METADATA_FILE", "SCORE_FILE", "Score", "collect_scores"]

#: The score file heareval's predictions step writes into each task folder.
SCORE_FILE = "test.predicted-scores.json"
#: The task's metadata, copied into each task folder by heareval's embeddings step.
METADATA_FILE = "task_metadata.json"


@dataclass(frozen=True)
class Score:
    """One model's primary test score on one task, read from a heareval score file.

    Attributes:
        module: the embeddings folder's name: the module, plus heareval's ``-<option>=<value>`` slugs
            when it ran with ``--model-options`` (``hear_wrappers.encodec-pooling=mean``).
        task: the task folder's name (``esc50-v2.0.0-full``).
        metric: heareval's name of the primary metric (``top1_acc``), the first of the task's
            ``evaluation`` list.
        value: ``test_score``; for several test splits (k-fold), its mean over them. NaN where
            heareval could not compute it (e.g. AUCROC with one class in a test split).
        std: sample standard deviation over the test splits (as heareval aggregates), None for one.
        split_mode: ``task_metadata.json["split_mode"]`` (``trainvaltest``, ``new_split_kfold``,
            ``presplit_kfold``), or inferred from the splits when the metadata is missing.
        splits: the test splits' names, ``("test",)`` or ``("fold00", "fold01", ...)``.
        split_values: ``test_score`` of each split, in the order of ``splits``.
        source: the score file.
        leaderboard_analogue: the leaderboard column that a task made by ``hear_wrappers.tasks``
            imitates (``task_metadata.json["hear_wrappers"]["leaderboard_analogue"]``), else None.
    """

    module: str
    task: str
    metric: str
    value: float
    std: float | None
    split_mode: str
    splits: tuple[str, ...]
    split_values: tuple[float, ...]
    source: Path
    leaderboard_analogue: str | None = None

    @property
    def n_splits(self) -> int:
        """How many test splits the score is over (1, or the number of folds)."""
        return len(self.splits)

    @property
    def root(self) -> Path:
        """The embeddings root: the folder holding the module folder (``EMB`` in ``EMB/<module>/<task>/``)."""
        return self.source.parent.parent.parent


def _score_files(path: Path) -> tuple[list[Path], list[Path]]:
    """(score files, task folders without one) for an embeddings root, module folder or task folder."""
    if path.is_file():
        if path.name != SCORE_FILE:
            raise ValueError(f"{path} is not a heareval score file ({SCORE_FILE}) or a folder")
        return [path], []
    for pattern in ("", "*/", "*/*/"):
        scores = sorted(path.glob(pattern + SCORE_FILE))
        tasks = sorted(metadata.parent for metadata in path.glob(pattern + METADATA_FILE))
        if scores or tasks:
            have = {score.parent for score in scores}
            return scores, [task for task in tasks if task not in have]
    return [], []


def _number(value: Any, where: str) -> float:
    if value is None:  # json.dumps writes NaN as NaN; a null is a hand-edited or foreign file
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: expected a number, found {value!r}")
    return float(value)


def _read_score(path: Path) -> Score:
    task_dir = path.parent
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); re-run heareval's predictions step") from error
    if not isinstance(results, dict):
        raise ValueError(f"{path}: expected heareval's JSON object of test results, found {type(results)}")
    metadata: dict[str, Any] = {}
    if (task_dir / METADATA_FILE).is_file():
        metadata = json.loads((task_dir / METADATA_FILE).read_text())

    # Test splits are the entries holding a split's test scores ("test", "fold00", ...).
    splits = {
        name: entry
        for name, entry in results.items()
        if name != "aggregated_scores" and isinstance(entry, dict) and "test_score" in entry
    }
    if not splits:
        raise ValueError(
            f"{path} holds no test results (no entry with 'test_score'): is it heareval's "
            f"{SCORE_FILE}? Re-run the predictions step for {task_dir}"
        )
    evaluation = metadata.get("evaluation") or []
    metric = evaluation[0] if evaluation else _guess_metric(next(iter(splits.values())))
    values = tuple(
        _number(entry["test_score"], f"{path} [{name}]['test_score']") for name, entry in splits.items()
    )

    aggregated = results.get("aggregated_scores")
    std: float | None = None
    if len(values) == 1:
        value = values[0]
    elif isinstance(aggregated, dict) and "test_score_mean" in aggregated:
        value = _number(aggregated["test_score_mean"], f"{path} ['aggregated_scores']['test_score_mean']")
        std = _number(aggregated.get("test_score_std"), f"{path} ['aggregated_scores']['test_score_std']")
    else:  # heareval always aggregates several splits; be exact anyway for a file that does not
        value, std = statistics.fmean(values), statistics.stdev(values)

    split_mode = metadata.get("split_mode") or ("trainvaltest" if list(splits) == ["test"] else "kfold")
    analogue = (metadata.get("hear_wrappers") or {}).get("leaderboard_analogue")
    return Score(
        module=task_dir.parent.name,
        task=task_dir.name,
        metric=str(metric),
        value=value,
        std=std,
        split_mode=str(split_mode),
        splits=tuple(splits),
        split_values=values,
        source=path,
        leaderboard_analogue=str(analogue) if analogue else None,
    )


def _guess_metric(entry: Mapping[str, Any]) -> str:
    """Without task metadata: the ``test_<metric>`` entry equal to ``test_score``, else ``"score"``."""
    for key, value in entry.items():
        if (
            key.startswith("test_")
            and key not in ("test_score", "test_loss")
            and value == entry["test_score"]
        ):
            return key.removeprefix("test_")
    return "score"


def collect_scores(paths: Iterable[Path | str]) -> list[Score]:
    """Read every heareval score file under ``paths``.

    Args:
        paths: each an embeddings root (``EMB/`` holding ``<module>/<task>/`` folders), a module folder
            (``EMB/<module>/``), a task folder (``EMB/<module>/<task>/``) or a score file itself.

    Returns:
        One `Score` per score file, in the order of ``paths`` and, within each, sorted by module and
        task. A file reached through two paths is read once. Task folders that hold embeddings but
        no score file yet are skipped, with a warning naming them.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: no score file was found anywhere (the predictions step has not run), or a score
            file is not heareval's.
    """
    folders = [Path(path) for path in paths]
    if not folders:
        raise ValueError("collect_scores needs at least one embeddings folder")
    scores: list[Score] = []
    seen: set[Path] = set()
    pending: list[Path] = []
    for path in folders:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist (expected an embeddings folder from heareval)")
        files, without = _score_files(path)
        pending += [task for task in without if task not in pending]
        for file in files:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                scores.append(_read_score(file))
    if not scores:
        looked = ", ".join(str(path) for path in folders)
        found = (
            f"{len(pending)} task folder(s) hold embeddings but no scores yet ({_shorten(pending)}). "
            if pending
            else "No task folders (with task_metadata.json) were found either. "
        )
        raise ValueError(
            f"no heareval score files ({SCORE_FILE}) in {looked}, nor in their sub-folders or "
            f"sub-sub-folders (the layout is <embeddings>/<module>/<task>/). {found}"
            "Scores come from heareval's predictions step, which must run first: "
            "python -m hear_wrappers.heareval predictions <embeddings>/<module>/<task> [...]"
        )
    if pending:
        warnings.warn(
            f"{len(pending)} task folder(s) have no {SCORE_FILE} yet and are left out of the report "
            f"(run heareval's predictions step on them): {_shorten(pending)}",
            stacklevel=2,
        )
    return scores


def _shorten(paths: Sequence[Path], limit: int = 5) -> str:
    shown = ", ".join(str(path) for path in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
