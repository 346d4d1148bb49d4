"""Scores grouped by task, each task beside its leaderboard references (the rows of table and figure)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hear_wrappers.report.groups import find_combinations, model_order
from hear_wrappers.report.leaderboard import (
    COLUMN_METRICS,
    OPENL3,
    TASK_NOTES,
    Leaderboard,
    leaderboard_column,
    load_leaderboard,
    metric_name,
)
from hear_wrappers.report.scores import Score

__all__ = ["TaskComparison", "compare", "report_models"]


@dataclass(frozen=True)
class TaskComparison:
    """One task's scores next to its leaderboard references.

    Attributes:
        task: the task folder name.
        title: how the report names it: ``"ESC-50 (esc50-v2.0.0-full)"``, ``"<task> (analogue of
            <column>)"`` for a generated task, or the folder name.
        column: the leaderboard column compared against, or None.
        analogue: True when the task is a generated imitation of ``column``, not the real task.
        metric: the task's primary metric (heareval's name).
        scores: ``(label, Score)`` per model, in `report_models` order; labels are the module folder
            names, with the embeddings root's name added where two roots hold the same module.
        best: ``(model, value)`` of the leaderboard's best in ``column``, or None.
        openl3: OpenL3's score in ``column``, or None.
        notes: caveats for this task (shown under the table).
        combinations: the report's combinations (the same for every task), ``{label: (member
            label, ...)}``; see `compare`.
    """

    task: str
    title: str
    column: str | None
    analogue: bool
    metric: str
    scores: tuple[tuple[str, Score], ...]
    best: tuple[str, float] | None
    openl3: float | None
    notes: tuple[str, ...] = ()
    combinations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _labels(scores: Sequence[Score]) -> dict[Path, str]:
    """A label per score file: the module folder, plus its embeddings root where that is ambiguous."""
    roots: dict[str, set[Path]] = {}
    for score in scores:
        roots.setdefault(score.module, set()).add(score.root.resolve())
    return {
        score.source: score.module if len(roots[score.module]) == 1 else f"{score.module} ({score.root.name})"
        for score in scores
    }


def report_models(comparisons: Sequence[TaskComparison]) -> list[str]:
    """Every model label in ``comparisons``, in the report's order: alphabetical, except that each
    combination comes right after its members."""
    labels = {label for item in comparisons for label, _ in item.scores}
    combinations = {k: v for item in comparisons for k, v in item.combinations.items()}
    return model_order(labels, combinations)


def compare(
    scores: Sequence[Score],
    leaderboard: Leaderboard | None = None,
    *,
    groups: Mapping[str, Sequence[str]] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[TaskComparison]:
    """Group ``scores`` by task and attach each task's leaderboard references.

    Tasks come in leaderboard column order (official tasks, then generated analogues), then
    unmapped tasks by name; each task's models in alphabetical order of their labels, except that a
    combination comes right after its members.

    Args:
        scores: from `collect_scores`.
        leaderboard: reference scores; default `load_leaderboard()`.
        groups: combinations marked by the caller, ``{combination: [member, ...]}``, each a label or
            a module folder name (``"hear_wrappers.crepe-variant=tiny"``).
        options: the ``load_model`` options of labels or module folders (as given to heareval's
            ``--model-options``); one holding ``"models": [...]`` (``hear_wrappers.combined``'s
            members, by label, module or registered name) is a combination of those in the report.

    Raises:
        ValueError: no scores; a task whose folders name different analogues; a name in ``groups`` or
            ``options`` that is not in the report (see `find_combinations`).
    """
    if not scores:
        raise ValueError("no scores to report: collect_scores() found none")
    board = leaderboard if leaderboard is not None else load_leaderboard()
    labels = _labels(scores)
    runs = {labels[score.source]: (score.module, score.root.resolve()) for score in scores}
    combinations = find_combinations(runs, groups, options)
    position = {label: index for index, label in enumerate(model_order(runs, combinations))}
    by_task: dict[str, list[Score]] = {}
    for score in scores:
        by_task.setdefault(score.task, []).append(score)

    comparisons = []
    for task, task_scores in by_task.items():
        ordered = sorted(
            ((labels[score.source], score) for score in task_scores), key=lambda p: position[p[0]]
        )
        comparisons.append(_compare_task(task, tuple(ordered), board, combinations))

    order = {column: index for index, column in enumerate(board.columns)}

    def key(item: TaskComparison) -> tuple[int, int, str]:
        if item.column is None:
            return (2, 0, item.task)
        return (int(item.analogue), order[item.column], item.task)

    return sorted(comparisons, key=key)


def _compare_task(
    task: str,
    scores: tuple[tuple[str, Score], ...],
    board: Leaderboard,
    combinations: Mapping[str, tuple[str, ...]],
) -> TaskComparison:
    """One task's `TaskComparison`: its title, leaderboard column, references and notes."""
    analogues = {score.leaderboard_analogue for _, score in scores} - {None}
    if len(analogues) > 1:
        raise ValueError(f"task {task!r} names different leaderboard analogues in its folders: {analogues}")
    notes: list[str] = []
    analogue = bool(analogues)
    if analogue:
        column: str | None = analogues.pop()
        title = f"{task} (analogue of {column})"
        notes.append(
            f"a generated task imitating {column}, not the HEAR task; the reference scores are "
            f"the real {column} task's, for scale only"
        )
    else:
        column = leaderboard_column(task)
        title = f"{column} ({task})" if column else task
        if task in TASK_NOTES:
            notes.append(TASK_NOTES[task])
    metrics = list(dict.fromkeys(score.metric for _, score in scores))
    if len(metrics) > 1:
        warnings.warn(f"task {task}: the score files name different primary metrics {metrics}", stacklevel=3)
    metric = metrics[0]

    best = openl3 = None
    if column is not None and column not in board.columns:
        warnings.warn(
            f"task {task}: leaderboard column {column!r} is not in {board.source}; reported "
            "without reference bars",
            stacklevel=3,
        )
        notes.append(f"no leaderboard column {column!r}: no reference scores")
        column = None
    elif column is not None:
        best = board.best(column)
        openl3 = board.score(OPENL3, column) if OPENL3 in board.rows else None
        expected = COLUMN_METRICS.get(column)
        if expected is not None and expected != metric:
            notes.append(
                f"scored with {metric_name(metric)}, the {column} column with {metric_name(expected)}"
            )
    return TaskComparison(
        task=task,
        title=title,
        column=column,
        analogue=analogue,
        metric=metric,
        scores=scores,
        best=best,
        openl3=openl3,
        notes=tuple(notes),
        combinations=combinations,
    )
