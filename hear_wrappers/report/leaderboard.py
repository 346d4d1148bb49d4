"""The HEAR leaderboard (shipped in ``hear_wrappers/data``) and how task folders map to its columns."""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path

__all__ = [
    "COLUMN_METRICS",
    "HEAR2021_TASKS",
    "METRIC_NAMES",
    "OPENL3",
    "Leaderboard",
    "leaderboard_column",
    "load_leaderboard",
    "metric_name",
]

#: The leaderboard's row for OpenL3 (the HEAR 2021 entry).
OPENL3 = "OpenL3"

#: HEAR 2021 task folder names and the leaderboard column of each.
HEAR2021_TASKS: dict[str, str] = {
    "beehive_states_fold0-v2-full": "Beehive",
    "beehive_states_fold1-v2-full": "Beehive",
    "beijing_opera-v1.0-hear2021-full": "Beijing Opera",
    "tfds_crema_d-1.0.0-full": "CREMA-D",
    "dcase2016_task2-hear2021-full": "DCASE 2016",
    "esc50-v2.0.0-full": "ESC-50",
    "fsd50k-v1.0-full": "FSD50K",
    "tfds_gtzan-1.0.0-full": "GTZAN Genre",
    "tfds_gtzan_music_speech-1.0.0-full": "GTZAN Music/Speech",
    "gunshot_triangulation-v1.0-full": "Gunshot",
    "libricount-v1.0.0-hear2021-full": "Libricount",
    "maestro-v3.0.0-5h": "Maestro 5h",
    "mridangam_stroke-v1.5-full": "Mridangam Stroke",
    "mridangam_tonic-v1.5-full": "Mridangam Tonic",
    "nsynth_pitch-v2.2.3-50h": "NSynth Pitch 50h",
    "nsynth_pitch-v2.2.3-5h": "NSynth Pitch 5h",
    "speech_commands-v0.0.2-5h": "Speech commands 5h",
    "speech_commands-v0.0.2-full": "Speech commands full",
    "vocal_imitation-v1.1.3-full": "Vocal Imitation",
    "vox_lingua_top10-hear2021-full": "VoxLingua107 top 10",
}

#: Caveats shown with a task's reference scores.
TASK_NOTES: dict[str, str] = {
    task: "the Beehive column is the mean of the fold 0 and fold 1 tasks' AUCROC"
    for task in ("beehive_states_fold0-v2-full", "beehive_states_fold1-v2-full")
}

#: Readable names of heareval's metrics (``heareval.score.available_scores``).
METRIC_NAMES: dict[str, str] = {
    "top1_acc": "accuracy",
    "pitch_acc": "pitch accuracy",
    "chroma_acc": "chroma accuracy",
    "mAP": "mAP",
    "d_prime": "d-prime",
    "aucroc": "AUCROC",
    "event_onset_200ms_fms": "onset F-measure (200 ms)",
    "event_onset_50ms_fms": "onset F-measure (50 ms)",
    "event_onset_offset_50ms_20perc_fms": "onset+offset F-measure (50 ms, 20 %)",
    "segment_1s_er": "segment error rate (1 s, lower is better)",
}

#: The primary metric of each leaderboard column (the first of its HEAR task's ``evaluation`` list).
COLUMN_METRICS: dict[str, str] = {
    "Beehive": "aucroc",
    "Beijing Opera": "top1_acc",
    "CREMA-D": "top1_acc",
    "DCASE 2016": "event_onset_200ms_fms",
    "ESC-50": "top1_acc",
    "FSD50K": "mAP",
    "GTZAN Genre": "top1_acc",
    "GTZAN Music/Speech": "top1_acc",
    "Gunshot": "top1_acc",
    "Libricount": "top1_acc",
    "Maestro 5h": "event_onset_50ms_fms",
    "Mridangam Stroke": "top1_acc",
    "Mridangam Tonic": "top1_acc",
    "NSynth Pitch 50h": "pitch_acc",
    "NSynth Pitch 5h": "pitch_acc",
    "Speech commands 5h": "top1_acc",
    "Speech commands full": "top1_acc",
    "Vocal Imitation": "mAP",
    "VoxLingua107 top 10": "top1_acc",
}

# <task_name>-<version>-<mode>, as hear-preprocess names its output folders.
_TASK_FOLDER = re.compile(r"^(?P<name>[^-]+)-(?P<version>.+)-(?P<mode>[^-]+)$")
# Leaderboard CSV columns that are not task scores.
_INFO_COLUMNS = ("Model", "URL", "Submission Date")


def metric_name(metric: str) -> str:
    """The readable name of heareval's metric ``metric`` (``"top1_acc"`` -> ``"accuracy"``), else itself."""
    return METRIC_NAMES.get(metric, metric)


def _base_and_mode(task: str) -> tuple[str, str] | None:
    match = _TASK_FOLDER.match(task)
    if match is None:
        return None
    return match["name"].removeprefix("tfds_"), match["mode"]


_COLUMNS_BY_NAME_AND_MODE: dict[tuple[str, str], str] = {
    key: column for task, column in HEAR2021_TASKS.items() if (key := _base_and_mode(task)) is not None
}


def leaderboard_column(task: str) -> str | None:
    """The leaderboard column of an official HEAR task folder name, or None.

    Exact names from `HEAR2021_TASKS` match, and so does any ``<name>-<version>-<mode>`` whose name
    (without a ``tfds_`` prefix) and mode are those of a HEAR task: ``gtzan_music_speech-v1.0-full``
    gives ``"GTZAN Music/Speech"``; a ``-small`` or ``-5h`` variant of a ``-full`` task gives None.
    """
    if task in HEAR2021_TASKS:
        return HEAR2021_TASKS[task]
    key = _base_and_mode(task)
    return _COLUMNS_BY_NAME_AND_MODE.get(key) if key is not None else None


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """``"; did you mean 'X'?"`` with up to 3 close matches of ``name`` (case-insensitive), else ``""``."""
    by_lower = {option.lower(): option for option in options}
    close = difflib.get_close_matches(name.lower(), by_lower, n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(by_lower[match]) for match in close)}?" if close else ""


class Leaderboard:
    """The HEAR leaderboard: one row per model, one column per task, test scores (higher is better).

    Build it with `load_leaderboard` (the copy shipped in ``hear_wrappers/data``, see its README) or
    `Leaderboard.from_csv`.
    """

    def __init__(self, columns: Sequence[str], rows: Mapping[str, Mapping[str, float | None]], source: str):
        self.columns: tuple[str, ...] = tuple(columns)
        self.rows: dict[str, dict[str, float | None]] = {model: dict(row) for model, row in rows.items()}
        self.source = source

    @classmethod
    def from_csv(cls, text: str, source: str = "<csv>") -> Leaderboard:
        """Parse the hearbenchmark.com ``leaderboard.csv`` format: ``Model``, ``URL``, optionally
        ``Submission Date``, then one column per task; blank cells are missing scores."""
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or reader.fieldnames[0] != "Model":
            raise ValueError(f"{source}: not a HEAR leaderboard CSV (its first column must be 'Model')")
        columns = [name for name in reader.fieldnames if name not in _INFO_COLUMNS]
        rows: dict[str, dict[str, float | None]] = {}
        for line, record in enumerate(reader, start=2):
            model = record["Model"]
            if model in rows:
                raise ValueError(f"{source}, line {line}: model {model!r} appears twice")
            row: dict[str, float | None] = {}
            for column in columns:
                cell = (record.get(column) or "").strip()
                try:
                    row[column] = float(cell) if cell else None
                except ValueError:
                    raise ValueError(
                        f"{source}, line {line}, column {column!r}: {cell!r} is not a score"
                    ) from None
            rows[model] = row
        return cls(columns, rows, source)

    @property
    def models(self) -> tuple[str, ...]:
        """The models, in the file's order."""
        return tuple(self.rows)

    def _check_column(self, column: str) -> None:
        if column not in self.columns:
            hint = did_you_mean(column, self.columns)
            raise ValueError(f"no leaderboard column {column!r}{hint} Columns: {', '.join(self.columns)}")

    def score(self, model: str, column: str) -> float | None:
        """``model``'s score in ``column``, or None where its cell is blank.

        Raises:
            ValueError: unknown model or column (the message suggests close names).
        """
        self._check_column(column)
        if model not in self.rows:
            raise ValueError(f"no model {model!r} on the leaderboard{did_you_mean(model, self.rows)}")
        return self.rows[model][column]

    def best(self, column: str) -> tuple[str, float]:
        """``(model, score)`` of the highest score in ``column`` (the first such row on ties)."""
        self._check_column(column)
        scored = [(model, value) for model, row in self.rows.items() if (value := row[column]) is not None]
        if not scored:
            raise ValueError(f"leaderboard column {column!r} holds no scores")
        return max(scored, key=lambda item: item[1])


def load_leaderboard(path: Path | str | None = None) -> Leaderboard:
    """The HEAR leaderboard: ``path`` if given, else the copy shipped with the package
    (``hear_wrappers/data/hear-leaderboard.csv``, from hearbenchmark.com; see that folder's README)."""
    if path is not None:
        return Leaderboard.from_csv(Path(path).read_text(encoding="utf-8"), source=str(path))
    data = resources.files("hear_wrappers") / "data" / "hear-leaderboard.csv"
    return Leaderboard.from_csv(
        data.read_text(encoding="utf-8"), source="hear_wrappers/data/hear-leaderboard.csv"
    )
