"""``python -m hear_wrappers.evaluate predictions`` / ``hear-wrappers predictions``: heareval's
predictions runner on existing embedding folders, as parallel local jobs, and the report.

Embeddings come from `hear_wrappers.embed` in this process with a cheap stand-in HEAR module (frames are
slices of the audio; this is about the command, not a model), for two poolings of one tiny generated
scene task. The scores must equal those of heareval's runner run by hand on a copy of a folder (the
same data, seeds and thread count: the same computation). The Ray path of the jobs is the same
`run_predictions` as `evaluate` uses, tested on a real cluster in tests/test_embed_ray.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from helpers import installed

from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.model import FrameEncoder, HearModel, get_scene_embeddings, get_timestamp_embeddings

pytestmark = pytest.mark.skipif(
    not installed("heareval", "pytorch_lightning", "intervaltree", "slugify", "matplotlib"),
    reason="needs the HEAR tools: pip install 'hear-wrappers[eval]' "
    "&& python -m hear_wrappers.heareval install",
)

MODULE = "predictions_standin"
POOLINGS = ("mean", "max")


class SliceEncoder(FrameEncoder):
    """Frame ``k``: 64 samples from ``k * 320`` on (16 kHz, 20 ms hop)."""

    def __init__(self) -> None:
        super().__init__()
        self.timing = FrameTiming(16000, 320, 32.0)
        self.embedding_size = 64
        self.min_samples = 64

    def num_frames(self, n_samples: int) -> int:
        return (n_samples - 64) // 320 + 1

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return audio.unfold(1, 64, 320).contiguous()


def load_model(model_file_path: str = "", *, pooling: str = "mean") -> HearModel:
    return HearModel(SliceEncoder(), pooling=pooling)


@pytest.fixture(scope="module")
def embeddings(tmp_path_factory) -> Path:
    """An embeddings root: one tiny scene task (synth_pitch, train/valid/test) x two poolings."""
    from hear_wrappers import tasks
    from hear_wrappers.embed import embed

    root = tmp_path_factory.mktemp("predictions")
    tasks.build_task("synth_pitch", root / "tasks", sample_rates=(16000,), seed=0, size="tiny")
    module = types.ModuleType(MODULE)
    module.load_model = load_model  # type: ignore[attr-defined]
    module.get_scene_embeddings = get_scene_embeddings  # type: ignore[attr-defined]
    module.get_timestamp_embeddings = get_timestamp_embeddings  # type: ignore[attr-defined]
    sys.modules[MODULE] = module
    try:
        embed(
            MODULE,
            tasks_dir=root / "tasks",
            embeddings_dir=root / "embeddings",
            poolings=list(POOLINGS),
            workers=0,
            progress=False,
        )
    finally:
        del sys.modules[MODULE]
    return root / "embeddings"


def flat_scores(folder: Path) -> dict:
    """heareval's test scores without run times, paths and memory addresses (they differ run to run)."""

    def flat(scores: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in scores.items():
            if key.startswith("time_in_min") or key == "embedding_path":
                continue
            if isinstance(value, dict):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[prefix + key] = re.sub(r" at 0x[0-9a-f]+", "", value) if isinstance(value, str) else value
        return out

    return flat(json.loads((folder / "test.predicted-scores.json").read_text()))


def test_finds_task_folders_from_a_root_a_configuration_or_a_task(embeddings, tmp_path):
    from hear_wrappers.evaluate import find_embedded_tasks

    tasks = find_embedded_tasks([embeddings])
    assert [(t.parent.name, t.name.split("-")[0]) for t in tasks] == [
        (f"{MODULE}-pooling=max", "synth_pitch"),
        (f"{MODULE}-pooling=mean", "synth_pitch"),
    ]
    assert find_embedded_tasks([tasks[1].parent, tasks[1], tasks[0]]) == [tasks[1], tasks[0]]
    unfinished = tmp_path / "cfg" / tasks[0].name
    shutil.copytree(tasks[0], unfinished)
    (unfinished / ".done.embeddings").unlink()
    with pytest.raises(ValueError, match=r"without \.done\.embeddings"):
        find_embedded_tasks([tmp_path])
    with pytest.raises(ValueError, match="is not a folder"):
        find_embedded_tasks([tmp_path / "nope"])


def test_predictions_command_scores_every_folder_in_parallel_and_reports(embeddings, tmp_path, capsys):
    from hear_wrappers.cli import main

    work = tmp_path / "work"
    shutil.copytree(embeddings, work / "embeddings")
    reference = tmp_path / "by-hand" / f"{MODULE}-pooling=mean"
    (task,) = (work / "embeddings" / f"{MODULE}-pooling=mean").iterdir()
    shutil.copytree(task, reference / task.name)

    out = work / "report"
    args = ["predictions", str(work / "embeddings"), "--out", str(out), "--jobs", "2", "--threads", "1"]
    assert main([*args, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    folders = sorted((work / "embeddings").glob(f"{MODULE}-pooling=*/synth_pitch*"))
    assert len(folders) == 2
    for folder in folders:
        assert (folder / "test.predicted-scores.json").is_file() and (
            folder / "prediction-done.json"
        ).is_file()
        log = out / "console" / f"predictions-{folder.parent.name}-{folder.name}.log"
        assert "hear_wrappers.heareval predictions" in log.read_text()
    table = (out / "results.md").read_text()
    assert all(f"pooling={pooling}" in table for pooling in POOLINGS), table
    assert (out / "results.png").is_file() and "2 prediction job(s)" in printed
    timings = json.loads((out / "timings.json").read_text())
    assert {"predictions", "report"} <= timings.keys() and len(timings) == 4

    # the official runner, run by hand on a copy, scores the same (one thread, as the jobs had)
    command = [sys.executable, "-m", "hear_wrappers.heareval", "predictions", str(reference / task.name)]
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    scores = flat_scores(reference / task.name)
    assert any(key.endswith("test_score") for key in scores), scores
    assert flat_scores(task) == scores

    # scored folders are kept with --skip-scored; the report still has both
    before = {f: (f / "test.predicted-scores.json").stat().st_mtime_ns for f in folders}
    assert main([*args, "--skip-scored", "--no-progress"]) == 0
    assert "0 prediction job(s)" in capsys.readouterr().out
    assert {f: (f / "test.predicted-scores.json").stat().st_mtime_ns for f in folders} == before
    assert all(f"pooling={pooling}" in (out / "results.md").read_text() for pooling in POOLINGS)


def test_predictions_command_errors(embeddings, tmp_path, capsys):
    from hear_wrappers.evaluate import main

    assert main(["predictions", str(tmp_path)]) == 1
    assert "no finished embeddings" in capsys.readouterr().err
    assert main(["predictions", str(embeddings), "--jobs", "0"]) == 2
    assert "--jobs must be >= 1" in capsys.readouterr().err
