"""hear_wrappers.embed's progress: one bar over every task of a run, counting seconds of audio (so its
rate is seconds of audio per second), with clips and tasks done; then a summary table, one row per task.

A stand-in HEAR module (frames are slices of the audio) embeds two small hand-written tasks in this
process: a scene task with a ``sample_duration`` (the plan counts clips x duration) and an event task
without one (the plan reads each file's length from its header).
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import installed

from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.model import FrameEncoder, HearModel, get_scene_embeddings, get_timestamp_embeddings

pytestmark = pytest.mark.skipif(
    not installed("intervaltree", "slugify"), reason="needs pip install 'hear-wrappers[eval]'"
)

MODULE = "embed_progress_standin"
RATE = 16000


class SliceEncoder(FrameEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.timing = FrameTiming(RATE, 800, 400.0)
        self.embedding_size = 8
        self.min_samples = 800

    def num_frames(self, n_samples: int) -> int:
        return n_samples // 800

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return audio.unfold(1, 800, 800)[..., :8].contiguous()


@pytest.fixture
def standin(monkeypatch):
    module = types.ModuleType(MODULE)
    module.load_model = lambda model_file_path="", pooling="mean": HearModel(SliceEncoder(), pooling=pooling)  # type: ignore[attr-defined]
    module.get_scene_embeddings = get_scene_embeddings  # type: ignore[attr-defined]
    module.get_timestamp_embeddings = get_timestamp_embeddings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, MODULE, module)
    return MODULE


def write_task(root: Path, name: str, kind: str, seconds: list[float], duration: float | None) -> None:
    """A HEAR task: one clip per entry of ``seconds`` in each of train/valid/test."""
    task = root / name
    metadata = {
        "task_name": name,
        "embedding_type": kind,
        "prediction_type": "multiclass" if kind == "scene" else "multilabel",
        "split_mode": "trainvaltest",
        "sample_duration": duration,
        "splits": ["train", "valid", "test"],
    }
    task.mkdir(parents=True)
    (task / "task_metadata.json").write_text(json.dumps(metadata))
    (task / "labelvocabulary.csv").write_text("idx,label\n0,a\n")
    rng = np.random.default_rng(0)
    for split in metadata["splits"]:
        (task / str(RATE) / split).mkdir(parents=True)
        labels = {}
        for index, length in enumerate(seconds):
            file = f"{split}-{index}.wav"
            sf.write(task / str(RATE) / split / file, rng.uniform(-0.5, 0.5, int(length * RATE)), RATE)
            labels[file] = ["a"] if kind == "scene" else [{"label": "a", "start": 100.0, "end": 300.0}]
        (task / f"{split}.json").write_text(json.dumps(labels))


def test_one_bar_in_seconds_of_audio_over_all_tasks_then_a_summary_per_task(
    standin, tmp_path, capsys, monkeypatch
):
    from hear_wrappers.embed import embed

    monkeypatch.setenv("COLUMNS", "200")  # tqdm's width where stderr is no terminal: the whole line

    write_task(tmp_path / "tasks", "scene_task", "scene", [2.0, 2.0], 2.0)
    write_task(tmp_path / "tasks", "event_task", "event", [1.0, 3.0, 2.5], None)
    report = embed(
        standin, tasks_dir=tmp_path / "tasks", embeddings_dir=tmp_path / "out", poolings=["mean"], workers=0
    )
    err = capsys.readouterr().err
    total = 3 * (2.0 + 2.0) + 3 * (1.0 + 3.0 + 2.5)  # 31.5 s over both tasks
    lines = [line.strip() for line in re.split(r"[\r\n]+", err) if "s of audio [" in line]
    assert all(line.startswith(f"embeddings {MODULE}:") for line in lines), lines  # one bar for the run
    assert lines[-1].startswith(f"embeddings {MODULE}: 100%"), lines[-1]
    assert "32/32 s of audio" in lines[-1] and "clips 15/15, tasks 2/2" in lines[-1], lines[-1]
    assert re.search(r", [\d.]+s/s\]", lines[-1]), lines[-1]  # the rate: seconds of audio per second
    assert sum(s.audio_seconds for s in report.tasks) == pytest.approx(total)
    table = err[err.index("task  ") :].splitlines()
    assert [row.split()[0] for row in table[1:3]] == ["event_task", "scene_task"]
    assert table[3].startswith("15 clips, 31.5 s of audio")
