"""The report's figure: per task a panel of bars (each model, the leaderboard's best, OpenL3)."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hear_wrappers.report.compare import TaskComparison, report_models
from hear_wrappers.report.groups import COMBINATION_MARK, group_spans
from hear_wrappers.report.leaderboard import OPENL3, metric_name

__all__ = ["Bar", "draw_figure"]

_BEST_COLOUR = "#4d4d4d"
_OPENL3_COLOUR = "#b3b3b3"
_GROUP_COLOUR = "#dde8f5"  # behind a combination and its members


@dataclass(frozen=True)
class Bar:
    """One bar of the figure.

    Attributes:
        task: the task folder name of its group.
        label: the model's label, the leaderboard best's model name, or ``"OpenL3"``.
        kind: ``"model"``, ``"best"`` or ``"openl3"``.
        value: its height; None for a NaN score (drawn as an empty bar marked ``n/a``).
    """

    task: str
    label: str
    kind: Literal["model", "best", "openl3"]
    value: float | None


def _wrap(text: str, width: int) -> str:
    """Break ``text`` into lines of at most ``width`` characters, after spaces, dots, dashes,
    underscores, slashes or ``=`` where possible (module and task names have no spaces)."""
    pieces = [piece for piece in re.split(r"(?<=[ ._/=-])", text) if piece]
    lines = [""]
    for piece in pieces:
        while len(piece) > width:  # a piece longer than a line: cut it
            if lines[-1]:
                lines.append("")
            lines[-1], piece = piece[:width], piece[width:]
            lines.append("")
        if lines[-1] and len(lines[-1]) + len(piece.rstrip()) > width:
            lines.append("")
        lines[-1] += piece
    return "\n".join(line.rstrip() for line in lines if line.strip())


def _panel_title(item: TaskComparison) -> str:
    """The leaderboard column over the task folder, or the task over "(analogue of <column>)"."""
    if item.analogue and item.column:
        lines = [item.task, f"(analogue of {item.column})"]
    elif item.analogue:  # its column is not on the leaderboard
        lines = [item.title]
    elif item.column:
        lines = [item.column, item.task]
    else:
        lines = [item.task]
    return "\n".join(_wrap(line, 48) for line in lines)


def _task_bars(item: TaskComparison) -> list[Bar]:
    """``item``'s bars, left to right: its models, the leaderboard's best, OpenL3."""
    bars = [
        Bar(item.task, label, "model", None if math.isnan(score.value) else score.value)
        for label, score in item.scores
    ]
    if item.best is not None:
        bars.append(Bar(item.task, item.best[0], "best", item.best[1]))
    if item.openl3 is not None:
        bars.append(Bar(item.task, OPENL3, "openl3", item.openl3))
    return bars


def _tick(bar: Bar, combinations: Collection[str]) -> str:
    """The label under ``bar``: the model (``⊕ <label>`` for a combination), ``best: <model>``, OpenL3."""
    if bar.kind == "best":
        return f"best: {bar.label}"
    return COMBINATION_MARK + bar.label if bar.kind == "model" and bar.label in combinations else bar.label


def draw_figure(
    comparisons: Sequence[TaskComparison], *, title: str = "HEAR results"
) -> tuple[Any, list[Bar]]:
    """Draw one group of bars per task on an Agg canvas (no display needed).

    A combination's bar comes right after its members' and is drawn with them on a shaded band, and
    its legend entry is marked ``⊕``.

    Returns:
        ``(figure, bars)``: the ``matplotlib.figure.Figure`` and the bars exactly as drawn, task by
        task in the figure's order (each task's axes holds its bars as ``ax.patches``, left to
        right: the models, the leaderboard best, OpenL3).
    """
    try:
        from matplotlib import colormaps
    except ModuleNotFoundError as error:
        from hear_wrappers.core.imports import MissingExtraError  # here: hear_wrappers.core imports torch

        raise MissingExtraError(
            "the report's figure needs matplotlib, which is not installed: pip install 'hear-wrappers[eval]'"
        ) from error
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    if not comparisons:
        raise ValueError("no tasks to draw")
    models = report_models(comparisons)
    palette = colormaps["tab10" if len(models) <= 10 else "tab20"]
    colours = {model: palette(index % 20) for index, model in enumerate(models)}
    reference_colours = {"best": _BEST_COLOUR, "openl3": _OPENL3_COLOUR}
    combinations = {label for item in comparisons for label in item.combinations}
    task_bars = [_task_bars(item) for item in comparisons]
    slots = max(4, *(len(bars) for bars in task_bars))  # every panel this many bars wide

    n = len(comparisons)
    ncols = min(n, max(1, 16 // slots))  # 4 panels of 4 bars a row; fewer of more
    nrows = math.ceil(n / ncols)
    header_in, panel_h = 0.8, 4.0
    panel_w = 4.6 * slots / 4  # room for each bar's tick label
    height = header_in + panel_h * nrows
    figure = Figure(figsize=(panel_w * ncols, height), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()

    for ax, item, bars in zip(axes, comparisons, task_bars, strict=False):
        heights = [0.0 if bar.value is None else bar.value for bar in bars]
        container = ax.bar(
            range(len(bars)),
            heights,
            color=[reference_colours.get(bar.kind) or colours[bar.label] for bar in bars],
            edgecolor="black",
            linewidth=0.5,
        )
        for rect, bar in zip(container.patches, bars, strict=True):
            if bar.kind == "openl3":
                rect.set_hatch("//")
        ax.bar_label(
            container,
            labels=["n/a" if bar.value is None else f"{bar.value:.3f}" for bar in bars],
            padding=2,
            fontsize=8,
        )
        ax.set_xticks(range(len(bars)))
        ax.set_xticklabels([_wrap(_tick(bar, combinations), 16) for bar in bars], fontsize=7)
        ax.set_xlim(-0.6, slots - 0.4)  # same bar width in every panel
        for first, last in group_spans([label for label, _ in item.scores], item.combinations):
            # a band behind the group, as a collection: ax.patches stays the bars
            band = (first - 0.48, last + 0.48)
            ax.fill_between(
                band, 0, 1, transform=ax.get_xaxis_transform(), color=_GROUP_COLOUR, lw=0, zorder=0
            )
        ax.set_title(_panel_title(item), fontsize=9.5)
        ax.set_ylabel(_wrap(metric_name(item.metric), 28), fontsize=8)
        low = min([0.0, *heights])
        high = max([1.0, *heights])
        # generated tasks carry a two-line note at the top: leave it room above the value labels
        ax.set_ylim(low * 1.15, high * (1.35 if item.analogue else 1.15))
        ax.set_yticks([tick for tick in ax.get_yticks() if low * 1.15 <= tick <= high + 1e-9])
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        if item.analogue:  # a generated task: never mistaken for the real one at a glance
            ax.set_facecolor("#fbf6e9")
            ax.text(
                0.02,
                0.97,
                "generated task; reference bars:\nthe real task's scores",
                transform=ax.transAxes,
                va="top",
                fontsize=7,
                style="italic",
            )
    for ax in axes[n:]:
        ax.set_visible(False)

    handles = [
        Patch(
            facecolor=colours[model],
            label=COMBINATION_MARK + model if model in combinations else model,
            edgecolor="black",
            linewidth=0.5,
        )
        for model in models
    ]
    if combinations:
        handles.append(
            Patch(facecolor=_GROUP_COLOUR, label=f"{COMBINATION_MARK}combination with its members")
        )
    if any(item.best is not None for item in comparisons):
        handles.append(
            Patch(
                facecolor=_BEST_COLOUR,
                label="HEAR leaderboard best (model below bar)",
                edgecolor="black",
                linewidth=0.5,
            )
        )
    if any(item.openl3 is not None for item in comparisons):
        handles.append(
            Patch(
                facecolor=_OPENL3_COLOUR,
                hatch="//",
                label="OpenL3 (HEAR 2021)",
                edgecolor="black",
                linewidth=0.5,
            )
        )
    figure.suptitle(title, fontsize=13, y=1 - 0.12 / height)
    figure.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.45 / height),
        ncol=min(len(handles), 4),
        fontsize=8.5,
        frameon=False,
    )
    figure.tight_layout(rect=(0, 0, 1, 1 - header_in / height))
    return figure, [bar for bars in task_bars for bar in bars]
