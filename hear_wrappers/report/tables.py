"""The report's markdown: one table row per task, one column per model, then notes and sources."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hear_wrappers.report.compare import TaskComparison, report_models
from hear_wrappers.report.groups import COMBINATION_MARK
from hear_wrappers.report.leaderboard import OPENL3, metric_name
from hear_wrappers.report.scores import SCORE_FILE, Score

__all__ = ["markdown_table"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _format_score(score: Score) -> str:
    if math.isnan(score.value):
        return "n/a"
    if score.std is None:
        return f"{score.value:.3f}"
    return f"{score.value:.3f} ± {score.std:.3f} ({score.n_splits} folds)"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def markdown_table(comparisons: Sequence[TaskComparison], *, title: str = "HEAR results") -> str:
    """The report's markdown: a heading, one table row per task, then notes and sources.

    Columns: task, metric, one per model (its primary test score; ``mean ± std (k folds)`` for
    k-fold tasks; ``n/a`` where heareval produced NaN; ``-`` where the model has no score for the
    task), the leaderboard's best (``value (model)``) and OpenL3's score. Models are in alphabetical
    order, except that a combination (headed ``⊕ <label>``) comes right after its members.
    """
    models = report_models(comparisons)
    combinations = {k: v for item in comparisons for k, v in item.combinations.items() if k in models}
    headings = [COMBINATION_MARK + model if model in combinations else model for model in models]
    lines = [
        f"# {title}",
        "",
        _row(["task", "metric", *headings, "HEAR leaderboard best", OPENL3]),
        "| " + " | ".join(["---"] * 2 + ["---:"] * (len(models) + 2)) + " |",
    ]
    notes: list[str] = []
    for item in comparisons:
        by_label = dict(item.scores)
        cells = [item.title, f"{metric_name(item.metric)} (`{item.metric}`)"]
        cells += [_format_score(by_label[model]) if model in by_label else "-" for model in models]
        cells.append(f"{item.best[1]:.3f} ({item.best[0]})" if item.best else "-")
        cells.append(f"{item.openl3:.3f}" if item.openl3 is not None else "-")
        lines.append(_row(cells))
        notes += [f"{item.task}: {note}" for note in item.notes]

    lines += [
        "",
        "Scores are heareval's primary test metric (the first of the task's `evaluation` list) from "
        f"`{SCORE_FILE}`; k-fold tasks show the mean ± standard deviation over the folds. "
        '"HEAR leaderboard best" is the highest score in the task\'s column of the HEAR leaderboard '
        "(hearbenchmark.com) and whose it is; OpenL3 is its HEAR 2021 OpenL3 row. "
        'Tasks marked "analogue of" are generated stand-ins, not the HEAR tasks.',
    ]
    if combinations:
        lines += ["", f"Combinations ({COMBINATION_MARK.strip()}), each in the column after its members:", ""]
        for label in (model for model in models if model in combinations):
            *others, last = (f"`{member}`" for member in combinations[label])
            lines.append(f"- `{label}` combines {', '.join(others)}{' and ' if others else ''}{last}")
    if notes:
        lines += ["", "Notes:", "", *(f"- {note}" for note in notes)]
    sources = sorted({str(score.source) for item in comparisons for _, score in item.scores})
    lines += ["", "Score files:", "", *(f"- `{source}`" for source in sources), ""]
    return "\n".join(lines)
