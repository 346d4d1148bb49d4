"""Results table and figure from heareval's score files (``python -m hear_wrappers.report``).

heareval's predictions step (``python -m hear_wrappers.heareval predictions EMB/<module>/<task> ...``)
trains a downstream predictor per task folder and writes ``test.predicted-scores.json`` into it, beside
the ``task_metadata.json`` that the embeddings step copied there. This package reads any set of such
folders and writes, into one output folder:

* ``results.md``: one row per task with each model's primary test score, the best score on the HEAR
  leaderboard (and whose it is) and OpenL3's, and the metric's name;
* ``results.png``: per task a group of bars (each model, the leaderboard's best labelled with its model,
  OpenL3) with their values written on them;
* ``results.json``: the bars exactly as drawn, ``[{"task", "label", "kind", "value"}, ...]`` with
  ``kind`` one of ``"model"``, ``"best"``, ``"openl3"``.

What a score file holds (heareval 2021.1.3, ``task_predictions``): one entry per test split, keyed by
its name (``"test"`` for ``trainvaltest`` tasks, ``"fold00"``, ``"fold01"``... for k-fold ones), each
with ``test_score`` (the primary metric, the first of ``task_metadata.json["evaluation"]``),
``test_<metric>`` for every metric, ``test_loss``, ``validation_score``, ``epoch``, ``time_in_min``;
for k-fold tasks also ``aggregated_scores`` with ``<key>_mean`` and ``<key>_std`` (pandas' sample
standard deviation) over the folds; and ``hparams``, ``postprocessing``, ``score_mode``,
``embedding_path``. The score reported here is ``test_score``, or ``test_score_mean`` over the folds.

Tasks are matched to leaderboard columns by their folder name (`HEAR2021_TASKS`; other versions of
the same task and mode, e.g. ``gtzan_music_speech-v1.0-full``, match too). Tasks made by
``hear_wrappers.tasks`` name the column they imitate in ``task_metadata.json["hear_wrappers"]
["leaderboard_analogue"]`` and are shown as ``<task> (analogue of <column>)``, so a synthetic task is
never mistaken for the real one. A task with neither is reported without reference bars.

A model made of others (``hear_wrappers.combined``, or any label the caller groups) is placed right
after its members in table and figure, grouped (``groups=`` / ``options=`` of `write_report`, ``--group``
/ ``--options`` on the command line).

The package, one module per step: `scores` reads heareval's files, `leaderboard` the HEAR leaderboard,
`compare` groups scores by task beside their references (with `groups` for combinations), `tables` writes
the markdown, `figure` draws the PNG, `cli` writes the files and holds the command line.
"""

from hear_wrappers.report.cli import ReportFiles, main, write_report
from hear_wrappers.report.compare import TaskComparison, compare
from hear_wrappers.report.figure import Bar, draw_figure
from hear_wrappers.report.leaderboard import (
    COLUMN_METRICS,
    HEAR2021_TASKS,
    METRIC_NAMES,
    OPENL3,
    Leaderboard,
    leaderboard_column,
    load_leaderboard,
)
from hear_wrappers.report.scores import METADATA_FILE, SCORE_FILE, Score, collect_scores
from hear_wrappers.report.tables import markdown_table

__all__ = [
    "COLUMN_METRICS",
    "HEAR2021_TASKS",
    "METADATA_FILE",
    "METRIC_NAMES",
    "OPENL3",
    "SCORE_FILE",
    "Bar",
    "Leaderboard",
    "ReportFiles",
    "Score",
    "TaskComparison",
    "collect_scores",
    "compare",
    "draw_figure",
    "leaderboard_column",
    "load_leaderboard",
    "main",
    "markdown_table",
    "write_report",
]
