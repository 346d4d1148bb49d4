"""Issue 12, item 5: long clips in bounded memory through hear_wrappers.embed (in this process); what
glibc's heap and a Ray driver are given.

A stand-in HEAR module with a cheap frame encoder (frames are slices of the audio, so the test is
about the runner, not a model) embeds an event task of 120 s clips at heareval's batch size (1).
`tracemalloc` follows every numpy allocation (numpy reports its buffers to it), so its peak measures
what the runner itself holds, deterministically (no timing, no RSS noise):

* decoding and embedding one batch holds the batch's audio once (`decode_batch` reads each file
  into its row of the ``[B, N]`` array; no per-clip arrays plus a stacked copy);
* assembling a split holds one clip's frames at a time (they go clip by clip into the memmap) plus
  the split's labels and timestamps as Python objects, never the split's frames.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
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

RATE = 16000
CLIP_SECONDS = 120.0  # heareval's batch size at 120 s and 16 kHz: max(1, int(0.7 * 1 * 1)) = 1
HOP = 320  # 20 ms
DIM = 512
CLIPS = {"train": 3, "valid": 2, "test": 2}
MODULE = "embed_memory_standin"
MIB = 2**20


class SliceEncoder(FrameEncoder):
    """Frame ``k`` is samples ``[k * HOP, k * HOP + DIM)`` of the clip: cheap, with many large frames."""

    def __init__(self) -> None:
        super().__init__()
        self.timing = FrameTiming(RATE, HOP, HOP / 2)
        self.embedding_size = DIM
        self.min_samples = DIM

    def num_frames(self, n_samples: int) -> int:
        return (n_samples - DIM) // HOP + 1

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return audio.unfold(1, DIM, HOP).contiguous()


def load_model(model_file_path: str = "", *, pooling: str = "mean") -> HearModel:
    return HearModel(SliceEncoder(), pooling=pooling)


@pytest.fixture
def standin(monkeypatch):
    module = types.ModuleType(MODULE)
    module.load_model = load_model  # type: ignore[attr-defined]
    module.get_scene_embeddings = get_scene_embeddings  # type: ignore[attr-defined]
    module.get_timestamp_embeddings = get_timestamp_embeddings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, MODULE, module)
    return MODULE


def write_event_task(root: Path) -> Path:
    """A HEAR event task of ``CLIPS`` clips of `CLIP_SECONDS` of noise, a few events each."""
    task = root / "long_events"
    rng = np.random.default_rng(0)
    metadata = {
        "task_name": "long_events",
        "version": "v1",
        "embedding_type": "event",
        "prediction_type": "multilabel",
        "split_mode": "trainvaltest",
        "sample_duration": CLIP_SECONDS,
        "evaluation": ["event_onset_200ms_fms"],
        "splits": list(CLIPS),
    }
    (task / str(RATE)).mkdir(parents=True)
    (task / "task_metadata.json").write_text(json.dumps(metadata))
    (task / "labelvocabulary.csv").write_text("idx,label\n0,a\n1,b\n")
    for split, count in CLIPS.items():
        (task / str(RATE) / split).mkdir()
        labels = {}
        for index in range(count):
            name = f"{split}-{index}.wav"
            audio = rng.uniform(-0.5, 0.5, int(CLIP_SECONDS * RATE)).astype(np.float32)
            sf.write(task / str(RATE) / split / name, audio, RATE, subtype="PCM_16")
            starts = np.sort(rng.uniform(0, CLIP_SECONDS * 1000 - 1000, 5))
            events = [{"label": "ab"[i % 2], "start": s, "end": s + 500.0} for i, s in enumerate(starts)]
            labels[name] = events
        (task / f"{split}.json").write_text(json.dumps(labels))
    return task


def test_long_clips_hold_one_batch_of_audio_and_one_clip_of_frames(standin, tmp_path, monkeypatch):
    import hear_wrappers.embed.runner as runner
    from hear_wrappers.embed.writer import TaskWriter

    write_event_task(tmp_path / "tasks")
    samples = int(CLIP_SECONDS * RATE)
    audio_bytes = samples * 4  # one batch: 1 clip of float32
    frames = SliceEncoder().num_frames(samples)
    clip_frames_bytes = frames * DIM * 4
    peaks: dict[str, list[int]] = {"batch": [], "assemble": []}

    def measured(kind, function):
        def wrapper(*args, **kwargs):
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            result = function(*args, **kwargs)
            peaks[kind].append(tracemalloc.get_traced_memory()[1] - base)
            return result

        return wrapper

    monkeypatch.setattr(runner, "embed_batch", measured("batch", runner.embed_batch))
    monkeypatch.setattr(TaskWriter, "_assemble_split", measured("assemble", TaskWriter._assemble_split))
    tracemalloc.start()
    try:
        report = runner.embed(
            standin,
            tasks_dir=tmp_path / "tasks",
            embeddings_dir=tmp_path / "embeddings",
            poolings=["mean"],
            workers=0,
            progress=False,
        )
    finally:
        tracemalloc.stop()
    assert report.tasks[0].clips == sum(CLIPS.values())
    split = report.folders[0] / "long_events" / "train.embeddings.npy"
    assert split.stat().st_size == CLIPS["train"] * clip_frames_bytes  # the frames were all written

    # Decoding + embedding a batch: its audio once, plus the larger of decoding's NaN/Inf check (1 MiB of
    # booleans at a time) and HearModel's own input check (hear_wrappers.core.checks: one boolean per
    # sample); the frames are torch's (not traced) and the outputs views of them. Holding the audio
    # twice (per-clip arrays, then a stacked copy) would need 2 x audio_bytes.
    assert len(peaks["batch"]) == sum(CLIPS.values())
    batch_bound = audio_bytes + max(MIB, samples) + 64 * 1024
    assert max(peaks["batch"]) <= batch_bound < 2 * audio_bytes, (peaks["batch"], batch_bound)

    # Assembling a split: one clip's frames (np.load) at a time, plus, as Python objects, each row's
    # labels (a list, 56 B, and a label string, ~50 B) and (file, timestamp) pair (a 56 B tuple, a
    # 24 B float, two 8 B list slots): under 256 B a row; plus one clip's parsed label json (another
    # ~120 B per frame) while it is read. The split's frames would be CLIPS["train"] clips' worth.
    rows = CLIPS["train"] * frames
    assemble_bound = clip_frames_bytes + rows * 256 + frames * 128 + MIB
    assert max(peaks["assemble"]) <= assemble_bound, (peaks["assemble"], assemble_bound)
    assert assemble_bound < min(CLIPS["train"], 2) * clip_frames_bytes + rows * 64


def test_glibc_heap_is_fixed_at_the_first_long_batch_only(standin, monkeypatch):
    """Batches of heareval's usual size (``0.7 * 120 * 16000`` samples) keep glibc's default heap (fewer
    page faults); the first batch above it, a long clip, fixes it (`steady_heap`, once per process)."""
    import hear_wrappers.core.memory as memory
    from hear_wrappers.embed.models import LONG_BATCH_SAMPLES, Embedder
    from hear_wrappers.embed.plan import make_variants

    calls: list[int] = []
    monkeypatch.setattr(memory, "steady_heap", lambda: calls.append(1) or True)
    embedder = Embedder(standin, None, make_variants(standin, [{}], ["mean"]))
    assert LONG_BATCH_SAMPLES == 84 * RATE
    embedder.embed(np.zeros((84, RATE), np.float32), "scene")  # 84 x 1 s: heareval's batch at 16 kHz
    embedder.embed(np.zeros((1, 84 * RATE), np.float32), "event")  # one 84 s clip: the same size
    assert calls == []
    embedder.embed(np.zeros((1, 85 * RATE), np.float32), "event")
    assert calls == [1]


def test_the_driver_and_decoding_workers_never_import_torch():
    """On Ray, the driver (runner, distributed, writer) and the tasks that decode audio import no torch:
    the model, and torch, are imported only in the encoder replicas (and in this process with
    --workers 0)."""
    code = (
        "import sys\n"
        "import hear_wrappers.embed, hear_wrappers.embed.runner, hear_wrappers.embed.distributed\n"
        "from hear_wrappers.embed import embed, AudioError\n"
        "from hear_wrappers.embed.outputs import EventOutput\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
