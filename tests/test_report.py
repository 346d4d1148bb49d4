"""hear_wrappers.report on score files written in heareval's exact format, in temporary folders."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
from helpers import installed

from hear_wrappers import report
from hear_wrappers.report import (
    HEAR2021_TASKS,
    OPENL3,
    Leaderboard,
    collect_scores,
    compare,
    draw_figure,
    leaderboard_column,
    load_leaderboard,
    write_report,
)

needs_matplotlib = pytest.mark.skipif(
    not installed("matplotlib"), reason="needs matplotlib: pip install 'hear-wrappers[eval]'"
)


# ------------------------------------------------------------------ score files as heareval writes them


def split_results(score: float, metrics: list[str], seed: int) -> dict[str, float]:
    """One test split's entry: what ``trainer.test`` returns, plus the fields heareval adds."""
    entry = {"test_loss": 0.5 + seed / 10, "test_score": score}
    for index, metric in enumerate(metrics):
        entry[f"test_{metric}"] = score if index == 0 else score / 2
    entry.update({"validation_score": score + 0.01, "epoch": 10 + seed, "time_in_min": 0.25 * (seed + 1)})
    return entry


def aggregate(splits: dict[str, dict[str, float]]) -> dict[str, float]:
    """``aggregated_scores``: ``<key>_mean`` and ``<key>_std`` (sample std) of every key over the splits."""
    keys = next(iter(splits.values()))
    result = {}
    for key in keys:
        values = [entry[key] for entry in splits.values()]
        result[f"{key}_mean"] = statistics.fmean(values)
        result[f"{key}_std"] = statistics.stdev(values)
    return result


def write_task(
    root: Path,
    module: str,
    task: str,
    scores: list[float],
    *,
    evaluation: tuple[str, ...] = ("top1_acc", "mAP"),
    analogue: str | None = None,
    with_scores: bool = True,
) -> Path:
    """``root/module/task/`` with ``task_metadata.json`` and, if ``with_scores``, heareval's
    ``test.predicted-scores.json``: one score is a trainvaltest task, several are k folds."""
    folder = root / module / task
    folder.mkdir(parents=True)
    kfold = len(scores) > 1
    name, version, mode = task.split("-", 2) if task.count("-") >= 2 else (task, "v1", "full")
    metadata = {
        "task_name": name,
        "version": version,
        "embedding_type": "scene",
        "prediction_type": "multiclass",
        "split_mode": "new_split_kfold" if kfold else "trainvaltest",
        "sample_duration": 2.0,
        "evaluation": list(evaluation),
        "mode": mode,
        "splits": [f"fold{i:02d}" for i in range(len(scores))] if kfold else ["train", "valid", "test"],
    }
    if analogue is not None:
        metadata["hear_wrappers"] = {"leaderboard_analogue": analogue}
    (folder / "task_metadata.json").write_text(json.dumps(metadata, indent=4))
    if not with_scores:
        return folder
    names = [f"fold{i:02d}" for i in range(len(scores))] if kfold else ["test"]
    results: dict = {
        name: split_results(score, list(evaluation), i)
        for i, (name, score) in enumerate(zip(names, scores, strict=True))
    }
    if kfold:
        results["aggregated_scores"] = aggregate(results)
    results.update(
        {
            "hparams": {"hidden_dim": 1024, "lr": 0.001, "norm_after_activation": False},
            "postprocessing": [],
            "score_mode": "max",
            "embedding_path": str(folder),
        }
    )
    (folder / "test.predicted-scores.json").write_text(json.dumps(results, indent=4))
    return folder


ESC50 = [0.50, 0.55, 0.60, 0.45, 0.40]  # 5 folds: mean 0.5, stdev 0.0790569


@pytest.fixture()
def embeddings(tmp_path: Path) -> Path:
    """Two modules; an official trainvaltest task, an official k-fold task, a generated analogue,
    a task with no leaderboard column, and a Beehive fold."""
    root = tmp_path / "embeddings"
    encodec, crepe = "hear_wrappers.encodec", "hear_wrappers.crepe-pooling=mean"
    write_task(root, encodec, "speech_commands-v0.0.2-5h", [0.42])
    write_task(root, encodec, "esc50-v2.0.0-full", ESC50)
    write_task(
        root, encodec, "hw_pitch-v1-full", [0.31], evaluation=("pitch_acc",), analogue="NSynth Pitch 5h"
    )
    write_task(root, encodec, "toy_clicks-v1-full", [0.9, 0.8, 0.7])
    write_task(root, crepe, "speech_commands-v0.0.2-5h", [0.125])
    write_task(root, crepe, "beehive_states_fold0-v2-full", [0.65], evaluation=("aucroc", "mAP"))
    return root


# ---------------------------------------------------------------------------------------- leaderboard


def test_leaderboard_known_rows():
    board = load_leaderboard()
    assert board.columns[0] == "Beehive" and board.columns[-1] == "VoxLingua107 top 10"
    assert len(board.columns) == 19 and "Submission Date" not in board.columns and "URL" not in board.columns
    assert board.score("CREPE", "NSynth Pitch 5h") == pytest.approx(0.870000005)
    assert board.score("CREPE", "ESC-50") == pytest.approx(0.3005)
    assert board.score(OPENL3, "Beehive") == pytest.approx(0.604021996)
    assert board.score(OPENL3, "DCASE 2016") == pytest.approx(0.832779646)
    assert board.score("CP-JKU PaSST 2lvl", "Beehive") is None  # a blank cell
    assert board.best("ESC-50") == ("RedRice ced_base", pytest.approx(0.966499996))
    assert board.best("NSynth Pitch 50h") == ("CREPE", pytest.approx(0.899999976))
    assert board.best("Beijing Opera") == (OPENL3, pytest.approx(0.974556744))
    assert board.best("Beehive") == ("Sony UDONS ViT", pytest.approx(0.877965838))  # skips blank cells
    for column in board.columns:
        _, best = board.best(column)
        assert all(value is None or value <= best for value in (row[column] for row in board.rows.values()))


def test_leaderboard_errors_name_close_matches():
    board = load_leaderboard()
    with pytest.raises(ValueError, match="'ESC-50'"):
        board.best("ESC50")
    with pytest.raises(ValueError, match="'CREPE'"):
        board.score("Crepe", "ESC-50")
    with pytest.raises(ValueError, match="first column must be 'Model'"):
        Leaderboard.from_csv("Name,ESC-50\nx,0.5\n")
    with pytest.raises(ValueError, match="line 3, column 'ESC-50'"):
        Leaderboard.from_csv("Model,URL,ESC-50\na,u,0.5\nb,u,high\n")


def test_leaderboard_from_a_given_csv(tmp_path):
    path = tmp_path / "board.csv"
    path.write_text("Model,URL,ESC-50,FSD50K\nA,u,0.5,\nB,u,0.7,0.2\nOpenL3,u,0.6,0.1\n")
    board = load_leaderboard(path)
    assert board.models == ("A", "B", "OpenL3")
    assert board.best("ESC-50") == ("B", 0.7) and board.score("A", "FSD50K") is None


def test_every_hear2021_task_maps_to_a_column_with_its_metric():
    board = load_leaderboard()
    assert set(HEAR2021_TASKS.values()) == set(board.columns) == set(report.COLUMN_METRICS)
    assert len(HEAR2021_TASKS) == 20  # 19 columns; Beehive has two tasks


@pytest.mark.parametrize(
    ("task", "column"),
    [
        ("nsynth_pitch-v2.2.3-5h", "NSynth Pitch 5h"),
        ("nsynth_pitch-v2.2.3-50h", "NSynth Pitch 50h"),
        ("dcase2016_task2-hear2021-full", "DCASE 2016"),
        ("esc50-v2.0.0-full", "ESC-50"),
        ("speech_commands-v0.0.2-5h", "Speech commands 5h"),
        ("speech_commands-v0.0.2-full", "Speech commands full"),
        ("beehive_states_fold0-v2-full", "Beehive"),
        ("beehive_states_fold1-v2-full", "Beehive"),
        ("tfds_gtzan_music_speech-1.0.0-full", "GTZAN Music/Speech"),
        ("gtzan_music_speech-v1.0-full", "GTZAN Music/Speech"),  # another version, same task and mode
        ("tfds_crema_d-1.0.0-full", "CREMA-D"),
        ("vox_lingua_top10-hear2021-full", "VoxLingua107 top 10"),
        ("maestro-v3.0.0-5h", "Maestro 5h"),
        ("esc50-v2.0.0-5h", None),  # a mode the leaderboard does not score
        ("nsynth_pitch-v2.2.3-small", None),
        ("nsynth_pitch_kfold-v2.2.3-5h", None),
        ("my_task", None),
    ],
)
def test_leaderboard_column(task, column):
    assert leaderboard_column(task) == column


# --------------------------------------------------------------------------------------------- scores


def test_collect_reads_trainvaltest_and_kfold_scores(embeddings):
    scores = {(s.module, s.task): s for s in collect_scores([embeddings])}
    assert len(scores) == 6

    single = scores["hear_wrappers.encodec", "speech_commands-v0.0.2-5h"]
    assert (single.metric, single.value, single.std) == ("top1_acc", 0.42, None)
    assert (single.split_mode, single.splits, single.split_values) == ("trainvaltest", ("test",), (0.42,))
    assert (
        single.source
        == embeddings / "hear_wrappers.encodec" / "speech_commands-v0.0.2-5h" / report.SCORE_FILE
    )
    assert single.leaderboard_analogue is None and single.n_splits == 1

    kfold = scores["hear_wrappers.encodec", "esc50-v2.0.0-full"]
    assert kfold.value == pytest.approx(0.5) and kfold.std == pytest.approx(statistics.stdev(ESC50))
    assert kfold.splits == ("fold00", "fold01", "fold02", "fold03", "fold04") and kfold.split_values == tuple(
        ESC50
    )
    assert kfold.split_mode == "new_split_kfold" and kfold.n_splits == 5

    analogue = scores["hear_wrappers.encodec", "hw_pitch-v1-full"]
    assert analogue.leaderboard_analogue == "NSynth Pitch 5h" and analogue.metric == "pitch_acc"
    assert scores["hear_wrappers.crepe-pooling=mean", "beehive_states_fold0-v2-full"].metric == "aucroc"


def test_collect_accepts_roots_modules_task_folders_and_files_once_each(embeddings):
    module = embeddings / "hear_wrappers.crepe-pooling=mean"
    task = embeddings / "hear_wrappers.encodec" / "esc50-v2.0.0-full"
    assert [s.task for s in collect_scores([module])] == [
        "beehive_states_fold0-v2-full",
        "speech_commands-v0.0.2-5h",
    ]
    assert [(s.module, s.task) for s in collect_scores([str(task)])] == [
        ("hear_wrappers.encodec", "esc50-v2.0.0-full")
    ]
    assert len(collect_scores([task / report.SCORE_FILE])) == 1
    assert len(collect_scores([embeddings, module, task])) == 6  # overlapping paths: each file once


def test_collect_without_metadata_infers_the_metric(embeddings):
    task = embeddings / "hear_wrappers.encodec" / "esc50-v2.0.0-full"
    (task / "task_metadata.json").unlink()
    (score,) = collect_scores([task])
    assert (score.metric, score.split_mode, score.value) == ("top1_acc", "kfold", pytest.approx(0.5))


def test_no_score_files_is_a_clear_error(tmp_path):
    with pytest.raises(
        ValueError, match=r"no heareval score files .* predictions step, which must run first"
    ):
        collect_scores([tmp_path])
    write_task(tmp_path / "emb", "m", "esc50-v2.0.0-full", [0.5], with_scores=False)
    with pytest.raises(ValueError, match=r"1 task folder\(s\) hold embeddings but no scores yet .*esc50"):
        collect_scores([tmp_path / "emb"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        collect_scores([tmp_path / "missing"])
    with pytest.raises(ValueError, match="at least one"):
        collect_scores([])
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="not a heareval score file"):
        collect_scores([tmp_path / "x.json"])


def test_foreign_json_is_refused(tmp_path):
    folder = write_task(tmp_path, "m", "esc50-v2.0.0-full", [0.5])
    (folder / report.SCORE_FILE).write_text(json.dumps({"accuracy": 0.5}))
    with pytest.raises(ValueError, match="no test results"):
        collect_scores([folder])


def test_task_folders_without_scores_are_left_out_with_a_warning(embeddings):
    write_task(embeddings, "hear_wrappers.encodec", "fsd50k-v1.0-full", [0.3], with_scores=False)
    with pytest.warns(UserWarning, match=r"1 task folder\(s\) have no test.predicted-scores.json.*fsd50k"):
        scores = collect_scores([embeddings])
    assert len(scores) == 6


# --------------------------------------------------------------------------------------------- report


def test_compare_orders_tasks_and_attaches_references(embeddings):
    comparisons = compare(collect_scores([embeddings]))
    assert [c.title for c in comparisons] == [
        "Beehive (beehive_states_fold0-v2-full)",
        "ESC-50 (esc50-v2.0.0-full)",
        "Speech commands 5h (speech_commands-v0.0.2-5h)",
        "hw_pitch-v1-full (analogue of NSynth Pitch 5h)",
        "toy_clicks-v1-full",
    ]
    beehive, esc50, speech, analogue, toy = comparisons
    assert esc50.best == ("RedRice ced_base", pytest.approx(0.966499996))
    assert esc50.openl3 == pytest.approx(0.750500011)
    assert [label for label, _ in speech.scores] == [  # alphabetical
        "hear_wrappers.crepe-pooling=mean",
        "hear_wrappers.encodec",
    ]
    assert analogue.analogue and analogue.column == "NSynth Pitch 5h"
    assert analogue.best == ("GURA Avg Hubert+Crepe", pytest.approx(0.878000021))
    assert (toy.column, toy.best, toy.openl3) == (None, None, None)
    assert "mean of the fold 0 and fold 1" in beehive.notes[0]


def test_write_report_table(embeddings, tmp_path):
    files = write_report(collect_scores([embeddings]), tmp_path / "out", title="EnCodec vs CREPE")
    out = tmp_path / "out"
    assert (files.markdown, files.png, files.json) == (
        out / "results.md",
        out / "results.png",
        out / "results.json",
    )
    lines = files.markdown.read_text().splitlines()
    assert lines[0] == "# EnCodec vs CREPE"
    assert lines[2] == (
        "| task | metric | hear_wrappers.crepe-pooling=mean | hear_wrappers.encodec "
        "| HEAR leaderboard best | OpenL3 |"
    )
    rows = [line for line in lines[4:] if line.startswith("| ")]
    assert rows == [
        "| Beehive (beehive_states_fold0-v2-full) | AUCROC (`aucroc`) | 0.650 | - "
        "| 0.878 (Sony UDONS ViT) | 0.604 |",
        "| ESC-50 (esc50-v2.0.0-full) | accuracy (`top1_acc`) | - | 0.500 ± 0.079 (5 folds) "
        "| 0.966 (RedRice ced_base) | 0.751 |",
        "| Speech commands 5h (speech_commands-v0.0.2-5h) | accuracy (`top1_acc`) | 0.125 | 0.420 "
        "| 0.976 (IUT-CSE MLP (keyword)) | 0.680 |",
        "| hw_pitch-v1-full (analogue of NSynth Pitch 5h) | pitch accuracy (`pitch_acc`) | - | 0.310 "
        "| 0.878 (GURA Avg Hubert+Crepe) | 0.560 |",
        "| toy_clicks-v1-full | accuracy (`top1_acc`) | - | 0.800 ± 0.100 (3 folds) | - | - |",
    ]
    text = "\n".join(lines)
    assert "- hw_pitch-v1-full: a generated task imitating NSynth Pitch 5h, not the HEAR task" in text
    assert f"`{embeddings / 'hear_wrappers.encodec' / 'esc50-v2.0.0-full' / report.SCORE_FILE}`" in text


EXPECTED_BARS = [
    {
        "task": "beehive_states_fold0-v2-full",
        "label": "hear_wrappers.crepe-pooling=mean",
        "kind": "model",
        "value": 0.65,
    },
    {"task": "beehive_states_fold0-v2-full", "label": "Sony UDONS ViT", "kind": "best", "value": 0.877965838},
    {"task": "beehive_states_fold0-v2-full", "label": "OpenL3", "kind": "openl3", "value": 0.604021996},
    {"task": "esc50-v2.0.0-full", "label": "hear_wrappers.encodec", "kind": "model", "value": 0.5},
    {"task": "esc50-v2.0.0-full", "label": "RedRice ced_base", "kind": "best", "value": 0.966499996},
    {"task": "esc50-v2.0.0-full", "label": "OpenL3", "kind": "openl3", "value": 0.750500011},
    {
        "task": "speech_commands-v0.0.2-5h",
        "label": "hear_wrappers.crepe-pooling=mean",
        "kind": "model",
        "value": 0.125,
    },
    {"task": "speech_commands-v0.0.2-5h", "label": "hear_wrappers.encodec", "kind": "model", "value": 0.42},
    {
        "task": "speech_commands-v0.0.2-5h",
        "label": "IUT-CSE MLP (keyword)",
        "kind": "best",
        "value": 0.976278186,
    },
    {"task": "speech_commands-v0.0.2-5h", "label": "OpenL3", "kind": "openl3", "value": 0.679550111},
    {"task": "hw_pitch-v1-full", "label": "hear_wrappers.encodec", "kind": "model", "value": 0.31},
    {"task": "hw_pitch-v1-full", "label": "GURA Avg Hubert+Crepe", "kind": "best", "value": 0.878000021},
    {"task": "hw_pitch-v1-full", "label": "OpenL3", "kind": "openl3", "value": 0.560000002},
    {"task": "toy_clicks-v1-full", "label": "hear_wrappers.encodec", "kind": "model", "value": 0.8},
]


@needs_matplotlib
def test_write_report_figure_and_drawn_bars(embeddings, tmp_path):
    import matplotlib.image

    scores = collect_scores([embeddings])
    files = write_report(scores, tmp_path / "out")
    bars = json.loads(files.json.read_text())
    assert [{**bar, "value": pytest.approx(bar["value"])} for bar in bars] == EXPECTED_BARS

    image = matplotlib.image.imread(files.png)
    height, width, channels = image.shape
    assert channels in (3, 4) and 600 <= height <= 1600 and 1200 <= width <= 2400  # 2 rows of 4 panels
    assert image[..., :3].std() > 0.05  # drawn, not blank

    # The same bars, read back from the axes: heights, order, value labels and tick labels.
    figure, drawn = draw_figure(compare(scores))
    assert [bar.__dict__ for bar in drawn] == bars
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.patches]
    assert len(panels) == 5 and sum(not ax.get_visible() for ax in figure.axes) == 3
    heights = [rect.get_height() for ax in panels for rect in ax.patches]
    assert heights == pytest.approx([bar["value"] for bar in EXPECTED_BARS])
    esc50 = panels[1]
    assert "ESC-50" in esc50.get_title()
    assert [text.get_text() for text in esc50.texts] == ["0.500", "0.966", "0.751"]
    assert [tick.get_text() for tick in esc50.get_xticklabels()] == [
        "hear_wrappers.\nencodec",
        "best: RedRice\nced_base",
        "OpenL3",
    ]
    assert "analogue of NSynth Pitch 5h" in panels[3].get_title().replace("\n", " ")
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == [
        "hear_wrappers.crepe-pooling=mean",
        "hear_wrappers.encodec",
        "HEAR leaderboard best (model below bar)",
        "OpenL3 (HEAR 2021)",
    ]


@needs_matplotlib
def test_nan_scores_are_marked_not_drawn_as_numbers(tmp_path):
    write_task(tmp_path / "emb", "m", "beehive_states_fold1-v2-full", [math.nan], evaluation=("aucroc",))
    scores = collect_scores([tmp_path / "emb"])
    assert math.isnan(scores[0].value)
    files = write_report(scores, tmp_path / "out")
    assert (
        "| Beehive (beehive_states_fold1-v2-full) | AUCROC (`aucroc`) | n/a |" in files.markdown.read_text()
    )
    bars = json.loads(files.json.read_text())
    assert bars[0] == {"task": "beehive_states_fold1-v2-full", "label": "m", "kind": "model", "value": None}
    figure, _ = draw_figure(compare(scores))
    assert figure.axes[0].texts[0].get_text() == "n/a"


@needs_matplotlib
def test_same_module_in_two_roots_gets_distinct_labels(tmp_path):
    write_task(tmp_path / "run_a", "hear_wrappers.encodec", "esc50-v2.0.0-full", [0.5])
    write_task(tmp_path / "run_b", "hear_wrappers.encodec", "esc50-v2.0.0-full", [0.6])
    (comparison,) = compare(collect_scores([tmp_path / "run_a", tmp_path / "run_b"]))
    assert [label for label, _ in comparison.scores] == [
        "hear_wrappers.encodec (run_a)",
        "hear_wrappers.encodec (run_b)",
    ]


def test_a_metric_other_than_the_columns_is_noted(tmp_path):
    write_task(
        tmp_path / "emb", "m", "clicks-v1-full", [0.5], evaluation=("top1_acc",), analogue="DCASE 2016"
    )
    (comparison,) = compare(collect_scores([tmp_path / "emb"]))
    assert comparison.best == ("CP-JKU PaSST 2lvl+mel", pytest.approx(0.925373137))
    assert "scored with accuracy, the DCASE 2016 column with onset F-measure (200 ms)" in comparison.notes


def test_unknown_analogue_column_is_reported_without_references(tmp_path):
    write_task(tmp_path / "emb", "m", "toy-v1-full", [0.5], analogue="No Such Column")
    with pytest.warns(UserWarning, match="'No Such Column' is not in"):
        (comparison,) = compare(collect_scores([tmp_path / "emb"]))
    assert comparison.title == "toy-v1-full (analogue of No Such Column)"
    assert (comparison.column, comparison.best, comparison.openl3) == (None, None, None)


def test_without_matplotlib_the_figure_names_the_extra(embeddings, monkeypatch):
    from hear_wrappers.core.imports import MissingExtraError

    comparisons = compare(collect_scores([embeddings]))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'hear-wrappers\[eval\]'"):
        draw_figure(comparisons)


def test_importing_the_report_is_light():
    code = "import sys, hear_wrappers.report; print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------- combinations

CREPE_TINY = "hear_wrappers.crepe-variant=tiny"
SOUNDSTREAM = "hear_wrappers.soundstream"
COMBINED = "hear_wrappers.combined-models=crepe-tiny-soundstream"
ENCODEC = "hear_wrappers.encodec"
OTHER = "aaa.model"  # first alphabetically, in no group
ALPHABETICAL = [OTHER, COMBINED, CREPE_TINY, ENCODEC, SOUNDSTREAM]
GROUPED = [OTHER, CREPE_TINY, SOUNDSTREAM, COMBINED, ENCODEC]
needs_slugify = pytest.mark.skipif(not installed("slugify"), reason="needs python-slugify (heareval's)")


@pytest.fixture()
def with_combination(tmp_path: Path) -> Path:
    """Five modules, one combining two others; ESC-50 scored by all, speech commands by all but one
    member (soundstream)."""
    root = tmp_path / "embeddings"
    for index, module in enumerate(ALPHABETICAL):
        write_task(root, module, "esc50-v2.0.0-full", [0.3 + index / 20])
        if module != SOUNDSTREAM:
            write_task(root, module, "speech_commands-v0.0.2-5h", [0.2 + index / 20])
    return root


def test_a_grouped_combination_comes_right_after_its_members(with_combination):
    scores = collect_scores([with_combination])
    assert [label for label, _ in compare(scores)[0].scores] == ALPHABETICAL  # no groups: as before

    esc50, speech = compare(scores, groups={COMBINED: [CREPE_TINY, SOUNDSTREAM]})
    assert [label for label, _ in esc50.scores] == GROUPED
    assert [label for label, _ in speech.scores] == [OTHER, CREPE_TINY, COMBINED, ENCODEC]
    assert esc50.combinations == speech.combinations == {COMBINED: (CREPE_TINY, SOUNDSTREAM)}
    assert dict(esc50.scores)[COMBINED].value == pytest.approx(0.35)  # the scores travel with their labels


@needs_slugify
def test_options_naming_members_make_a_combination(with_combination):
    scores = collect_scores([with_combination])
    members = [
        {
            "name": "hear_wrappers.crepe",
            "options": {"variant": "tiny"},
        },  # heareval's folder: crepe-variant=tiny
        SOUNDSTREAM,  # a label
        "hear_wrappers.clap",  # not in the report: left out
    ]
    (esc50, _) = compare(scores, options={COMBINED: {"models": members, "hop_ms": 10}, ENCODEC: {}})
    assert [label for label, _ in esc50.scores] == GROUPED
    assert esc50.combinations == {COMBINED: (CREPE_TINY, SOUNDSTREAM)}

    # members none of which is in the report (plain hear_wrappers.crepe is not its variant=tiny run):
    # no combination, alphabetical order
    (esc50, _) = compare(
        scores, options={COMBINED: {"models": ["hear_wrappers.clap", "hear_wrappers.crepe"]}}
    )
    assert esc50.combinations == {} and [label for label, _ in esc50.scores] == ALPHABETICAL


class _FakeRegistry:
    """The two calls the report makes of ``hear_wrappers.core.registry``, for three families."""

    specs: ClassVar[dict[str, tuple[str, str]]] = {
        "crepe-tiny": ("crepe", "tiny"),
        "crepe-full": ("crepe", "full"),
        "soundstream": ("soundstream", "default"),
        "clap-630k-best": ("clap", "630k-best"),
    }
    families: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "crepe": ("full", ()),
        "soundstream": ("default", ()),
        "clap": ("630k-audioset-best", ("checkpoint",)),
    }

    def get_spec(self, name: str) -> SimpleNamespace:
        if name not in self.specs:
            raise ValueError(f"no registered model is named {name!r}")
        family, variant = self.specs[name]
        return SimpleNamespace(module=f"hear_wrappers.{family}", variant=variant, family=family)

    def get_family(self, name: str) -> SimpleNamespace:
        default, aliases = self.families[self.get_spec(name).family]
        return SimpleNamespace(default_variant=default, variant_aliases=aliases)


@needs_slugify
def test_registered_member_names_find_the_folders_heareval_wrote(monkeypatch):
    from hear_wrappers.report.groups import find_combinations

    monkeypatch.setitem(sys.modules, "hear_wrappers.core.registry", _FakeRegistry())
    folders = [
        "hear_wrappers.crepe-variant=tiny",
        "hear_wrappers.crepe-pooling=mean-std-variant=tiny",  # slugs in any order; a value holding "-"
        "hear_wrappers.soundstream",  # the default variant: heareval's folder has no variant slug
        "hear_wrappers.clap-checkpoint=630k-best",  # the variant under CLAP's other option name
        "hear_wrappers.combined-models=a",
        "hear_wrappers.combined-models=b",
    ]
    runs = {folder: (folder, Path("/emb")) for folder in folders}
    options = {
        "hear_wrappers.combined-models=a": {
            "models": [
                {"name": "crepe-tiny", "options": {"pooling": "mean+std"}},
                "soundstream",
                "crepe-full",
            ]
        },
        "hear_wrappers.combined-models=b": {"models": ["crepe-tiny", "clap-630k-best", "unregistered"]},
    }
    assert find_combinations(runs, options=options) == {
        "hear_wrappers.combined-models=a": ("hear_wrappers.crepe-pooling=mean-std-variant=tiny", folders[2]),
        "hear_wrappers.combined-models=b": ("hear_wrappers.crepe-variant=tiny", folders[3]),
    }


def test_order_of_shared_members_and_combinations_of_combinations():
    from hear_wrappers.report.groups import group_spans, model_order

    shared = {"a+b": ("a", "b"), "a+c": ("a", "c")}
    order = model_order(["a+c", "c", "b", "a+b", "a", "d"], shared)
    assert order == ["a", "b", "a+b", "c", "a+c", "d"]  # a member of two is placed with the first
    assert group_spans(order, shared) == [(0, 2), (3, 4)]

    nested = {"x": ("a+b", "c"), "a+b": ("a", "b")}
    order = model_order(["x", "c", "a+b", "b", "a"], nested)
    assert order == ["a", "b", "a+b", "c", "x"]
    assert group_spans(order, nested) == [(0, 2), (0, 4)]
    assert group_spans(["a", "a+b"], {"a+b": ("a", "b")}) == [(0, 1)]  # b has no score on this task
    assert group_spans(["a+b", "d"], {"a+b": ("a", "b")}) == []  # no member beside it: no band


def test_combination_errors_name_the_problem(with_combination):
    from hear_wrappers.report.groups import find_combinations

    scores = collect_scores([with_combination])
    with pytest.raises(
        ValueError,
        match=r"member 'hear_wrappers.crepe' of group .* is not a model in this report; did you mean",
    ):
        compare(scores, groups={COMBINED: ["hear_wrappers.crepe", SOUNDSTREAM]})
    with pytest.raises(ValueError, match="group 'combined' is not a model in this report"):
        compare(scores, groups={"combined": [CREPE_TINY]})
    with pytest.raises(
        ValueError, match=r"options key 'nope' is not a model in this report\. Models: aaa.model, "
    ):
        compare(scores, options={"nope": {}})
    with pytest.raises(ValueError, match="names no members"):
        compare(scores, groups={COMBINED: []})
    with pytest.raises(TypeError, match="list of member names, not the string"):
        compare(scores, groups={COMBINED: CREPE_TINY})
    with pytest.raises(ValueError, match=r'\["models"\] must be a list of names'):
        compare(scores, options={COMBINED: {"models": SOUNDSTREAM}})
    with pytest.raises(ValueError, match=r'a "models" entry must be a model name or \{"name"'):
        compare(scores, options={COMBINED: {"models": [{"options": {}}]}})
    runs = {label: (label, Path("/emb")) for label in "abc"}
    with pytest.raises(ValueError, match="combination 'a' contains itself"):
        find_combinations(runs, groups={"a": ["b"], "b": ["c", "a"]})


@needs_matplotlib
def test_table_and_figure_group_a_combination_with_its_members(with_combination, tmp_path):
    scores = collect_scores([with_combination])
    files = write_report(scores, tmp_path / "out", groups={COMBINED: [CREPE_TINY, SOUNDSTREAM]})
    lines = files.markdown.read_text().splitlines()
    assert lines[2] == "| task | metric | " + " | ".join([*GROUPED[:3], "⊕ " + COMBINED, ENCODEC]) + (
        " | HEAR leaderboard best | OpenL3 |"
    )
    assert lines[5].startswith(
        "| Speech commands 5h (speech_commands-v0.0.2-5h) | accuracy (`top1_acc`) "
        "| 0.200 | 0.300 | - | 0.250 | 0.350 |"
    )
    assert f"- `{COMBINED}` combines `{CREPE_TINY}` and `{SOUNDSTREAM}`" in lines

    bars = json.loads(files.json.read_text())
    assert [bar["label"] for bar in bars if bar["kind"] == "model"] == [*GROUPED, *GROUPED[:2], *GROUPED[3:]]
    assert {bar["kind"] for bar in bars} == {"model", "best", "openl3"}  # the same kinds as before

    figure, drawn = draw_figure(compare(scores, groups={COMBINED: [CREPE_TINY, SOUNDSTREAM]}))
    assert [bar.__dict__ for bar in drawn] == bars
    esc50, speech = (ax for ax in figure.axes if ax.get_visible())
    assert len(esc50.patches) == 7 and len(speech.patches) == 6  # the bars only; the band is no patch
    assert esc50.get_xlim() == speech.get_xlim()  # same bar width in every panel
    ticks = [tick.get_text() for tick in esc50.get_xticklabels()]
    assert ticks[3].startswith("⊕ hear_wrappers.") and ticks[3].replace("\n", "") == "⊕ " + COMBINED
    assert not any(tick.startswith("⊕") for tick in ticks[:3] + ticks[4:])
    for ax, (first, last) in ((esc50, (1, 3)), (speech, (1, 2))):  # bands behind each group's bars
        (band,) = ax.collections
        xs = band.get_paths()[0].vertices[:, 0]
        assert (xs.min(), xs.max()) == pytest.approx((first - 0.48, last + 0.48))
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend[:6] == [*GROUPED[:3], "⊕ " + COMBINED, ENCODEC, "⊕ combination with its members"]


# ------------------------------------------------------------------------------------------------ CLI


@needs_matplotlib
def test_cli(embeddings, tmp_path, capsys):
    assert report.main([str(embeddings), "--out", str(tmp_path / "out"), "--title", "CLI run"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# CLI run") and "wrote" in printed and "(6 scores)" in printed
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"results.md", "results.png", "results.json"}

    assert report.main([str(tmp_path / "out"), "--out", str(tmp_path / "again")]) == 2
    assert "predictions step, which must run first" in capsys.readouterr().err


@needs_matplotlib
def test_cli_groups_a_combination(with_combination, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert (
        report.main([str(with_combination), "--out", out, "--group", COMBINED, CREPE_TINY, SOUNDSTREAM]) == 0
    )
    heading = "| task | metric | " + " | ".join([*GROUPED[:3], "⊕ " + COMBINED, ENCODEC])
    assert heading in capsys.readouterr().out
    if installed("slugify"):
        members = json.dumps({"models": [{"name": "hear_wrappers.crepe", "options": {"variant": "tiny"}}]})
        assert report.main([str(with_combination), "--out", out, "--options", COMBINED, members]) == 0
        assert f"- `{COMBINED}` combines `{CREPE_TINY}`\n" in capsys.readouterr().out

    assert report.main([str(with_combination), "--out", out, "--group", COMBINED, "crepe"]) == 2
    assert "member 'crepe' of group" in capsys.readouterr().err
    for bad in (["--group", COMBINED], ["--options", COMBINED, "{models"], ["--options", COMBINED, "[1]"]):
        with pytest.raises(SystemExit) as exit_:
            report.main([str(with_combination), "--out", out, *bad])
        assert exit_.value.code == 2
    errors = capsys.readouterr().err
    assert "needs at least one MEMBER" in errors and "not valid" in errors and "must be an object" in errors


@needs_matplotlib
def test_python_dash_m(embeddings, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "hear_wrappers.report", str(embeddings), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "results.png").stat().st_size > 10_000


# ----------------------------------------------------------------------- the fixture's format is heareval's


@pytest.mark.skipif(
    not installed("heareval", "pytorch_lightning"), reason="needs heareval (the 'eval' extra)"
)
def test_fixture_aggregates_folds_like_heareval():
    from heareval.predictions.task_predictions import aggregate_test_results

    splits = {f"fold{i:02d}": split_results(score, ["top1_acc", "mAP"], i) for i, score in enumerate(ESC50)}
    ours, theirs = aggregate(splits), aggregate_test_results(splits)
    assert list(ours) == list(theirs)
    assert ours == pytest.approx(theirs)


def write_embeddings(folder: Path, splits: list[str], split_mode: str, evaluation: list[str]) -> None:
    """A scene task's embeddings folder as heareval's embeddings step leaves it: metadata, label
    vocabulary, and per split a float32 memmap, its dimensions and its labels (3 separable classes)."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    name, version, mode = folder.name.split("-", 2)
    metadata = {"task_name": name, "version": version, "mode": mode, "embedding_type": "scene"}
    metadata |= {"prediction_type": "multiclass", "split_mode": split_mode, "sample_duration": 1.0}
    metadata |= {"evaluation": evaluation, "splits": splits}
    (folder / "task_metadata.json").write_text(json.dumps(metadata))
    (folder / "labelvocabulary.csv").write_text("idx,label\n0,c0\n1,c1\n2,c2\n")
    for split in splits:
        labels = rng.integers(0, 3, 48)
        embeddings = rng.normal(size=(48, 8)).astype(np.float32)
        embeddings[:, 0] += 3.0 * labels
        embeddings.tofile(folder / f"{split}.embeddings.npy")  # heareval memmaps it: raw float32
        (folder / f"{split}.embedding-dimensions.json").write_text(json.dumps([48, 8]))
        (folder / f"{split}.target-labels.pkl").write_bytes(pickle.dumps([[f"c{label}"] for label in labels]))


@pytest.mark.slow
@needs_matplotlib
@pytest.mark.skipif(
    not installed("heareval", "pytorch_lightning"), reason="needs heareval (the 'eval' extra)"
)
def test_score_files_from_heareval_itself(tmp_path):
    """heareval's own predictions step (one grid point) writes the score files this module reads,
    with the same keys as the fixture above."""
    module = tmp_path / "emb" / "toy.module"
    kfold, single = module / "esc50-v2.0.0-full", module / "speech_commands-v0.0.2-5h"
    write_embeddings(kfold, ["fold00", "fold01", "fold02"], "new_split_kfold", ["top1_acc", "mAP"])
    write_embeddings(single, ["train", "valid", "test"], "trainvaltest", ["top1_acc", "mAP"])
    command = [sys.executable, "-m", "hear_wrappers.heareval", "predictions", str(kfold), str(single)]
    run = subprocess.run(
        [*command, "--grid", "faster", "--grid-points", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    real_kfold = json.loads((kfold / report.SCORE_FILE).read_text())
    real_single = json.loads((single / report.SCORE_FILE).read_text())
    fixture = {f"fold{i:02d}": split_results(0.5, ["top1_acc", "mAP"], i) for i in range(3)}
    assert set(real_kfold) == {
        *fixture,
        "aggregated_scores",
        "hparams",
        "postprocessing",
        "score_mode",
        "embedding_path",
    }
    assert set(real_kfold["fold00"]) == set(fixture["fold00"])
    assert set(real_kfold["aggregated_scores"]) == set(aggregate(fixture))
    assert "aggregated_scores" not in real_single and set(real_single["test"]) == set(fixture["fold00"])

    scores = {score.task: score for score in collect_scores([tmp_path / "emb"])}
    assert scores[kfold.name].value == real_kfold["aggregated_scores"]["test_score_mean"]
    assert scores[kfold.name].std == real_kfold["aggregated_scores"]["test_score_std"]
    assert scores[kfold.name].split_values == tuple(
        real_kfold[f"fold{i:02d}"]["test_top1_acc"] for i in range(3)
    )
    assert scores[single.name].value == real_single["test"]["test_top1_acc"]
    files = write_report(list(scores.values()), tmp_path / "out")
    bars = json.loads(files.json.read_text())
    assert [(bar["task"], bar["kind"]) for bar in bars] == [
        (kfold.name, "model"),
        (kfold.name, "best"),
        (kfold.name, "openl3"),
        (single.name, "model"),
        (single.name, "best"),
        (single.name, "openl3"),
    ]
    assert bars[0]["value"] == scores[kfold.name].value
