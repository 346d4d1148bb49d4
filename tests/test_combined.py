"""What is specific to combinations (hear_wrappers.combined); the HEAR contract of the registered
combination is tests/test_contract.py's, as for every registered name.

* alignment on the common timeline, on grids where the answer is known (frames that hold their own
  centre time: an overlap-weighted mean or a linear interpolation of them is the target's centre);
* resampling inside: a sine fed at 48 kHz reaches a 16 kHz member as the same sine;
* the real members on random weights: the finest member's block is its own frames, normalised; the
  clip embedding is the members' own, normalised and concatenated; options per member;
* every bad ``models`` entry and option is refused before any member is built;
* the official embeddings runner with ``--model-options '{"models": [...]}'``, and the official
  predictions runner on what it wrote (a scene and an event task).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import EPS32, build_small_tasks, installed

from hear_wrappers import combined
from hear_wrappers.combined import CombinedEncoder, Grid, align_frames, alignment
from hear_wrappers.core import registry
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.model import FrameEncoder, HearModel

NAMES = ("crepe-tiny", "encodec-24khz")
pytestmark = pytest.mark.skipif(
    not installed("encodec", "julius", "einops"), reason="needs the 'encodec' and 'crepe' extras"
)


# ---------------------------------------------------------------------------------------------------
# Alignment on known grids
# ---------------------------------------------------------------------------------------------------


def clock(grid: Grid) -> torch.Tensor:
    """``[1, count, 1]`` frames holding their own centre time in seconds (float64)."""
    return (grid.first + torch.arange(grid.count, dtype=torch.float64) * grid.hop)[None, :, None]


def test_the_same_grid_is_copied_unchanged():
    grid = Grid(hop=640 / 48000, first=320 / 48000, count=75)
    index, weight = alignment(grid, grid)
    frames = torch.randn(2, 75, 3)
    assert torch.equal(align_frames(frames, index, weight), frames)


def test_a_finer_source_is_averaged_by_overlap():
    # Source frames of 10 ms span [10 j, 10 j + 10) ms; the target frame [0, 25) ms overlaps three of
    # them by 10, 10 and 5 ms.
    source = Grid(hop=0.010, first=0.005, count=10)
    target = Grid(hop=0.025, first=0.0125, count=4)
    index, weight = alignment(source, target)
    row = {int(i): float(w) for i, w in zip(index[0], weight[0], strict=True) if w > 0}
    assert row.keys() == {0, 1, 2}
    assert [row[0], row[1], row[2]] == pytest.approx([0.4, 0.4, 0.2], abs=1e-15)
    assert torch.allclose(weight.sum(dim=1), torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-15)
    # Where the target's span is covered symmetrically, the overlap-weighted centre time is its centre.
    three = Grid(hop=0.030, first=0.015, count=3)
    aligned = align_frames(clock(source), *alignment(source, three))
    assert aligned[0, :, 0].tolist() == pytest.approx([0.015, 0.045, 0.075], abs=1e-15)


def test_a_coarser_source_is_interpolated_and_held_at_its_ends():
    source = Grid(hop=0.050, first=0.0, count=5)  # CREPE-like: centres 0, 50, ..., 200 ms
    target = Grid(hop=0.040 / 3, first=0.020 / 3, count=17)  # EnCodec-like, to 220 ms
    aligned = align_frames(clock(source), *alignment(source, target))[0, :, 0]
    centres = clock(target)[0, :, 0]
    assert torch.allclose(aligned, centres.clamp(max=0.2), rtol=0, atol=1e-15)


def test_a_target_frame_past_the_last_source_frame_takes_the_nearest():
    source = Grid(hop=0.010, first=0.005, count=3)  # spans end at 30 ms
    target = Grid(hop=0.020, first=0.010, count=3)  # the last spans 40-60 ms
    aligned = align_frames(clock(source), *alignment(source, target))[0, :, 0]
    assert aligned.tolist() == pytest.approx([0.010, 0.025, 0.025], abs=1e-15)


# ---------------------------------------------------------------------------------------------------
# The encoder, with members whose frames are known
# ---------------------------------------------------------------------------------------------------


class ClockEncoder(FrameEncoder):
    """Frames ``[B, T, 2]``: the frame's centre in seconds, and the mean of the audio over its span."""

    def __init__(self, rate: int, hop: int, first: float) -> None:
        super().__init__()
        self.timing = FrameTiming(rate, hop, first)
        self.embedding_size = 2
        self.min_samples = hop
        self.hop = hop

    def num_frames(self, n_samples: int) -> int:
        return math.ceil(n_samples / self.hop)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        count = self.num_frames(audio.shape[1])
        padded = torch.nn.functional.pad(audio, (0, count * self.hop - audio.shape[1]))
        means = padded.view(audio.shape[0], count, self.hop).mean(dim=2)
        centres = self.timing.timestamps_ms(audio.shape[0], count) / 1000
        return torch.stack([centres, means], dim=2)


class SampleEncoder(FrameEncoder):
    """Frames ``[B, N, 1]``: the audio samples themselves (hop one sample)."""

    def __init__(self, rate: int) -> None:
        super().__init__()
        self.timing = FrameTiming(rate, 1, 0.5)
        self.embedding_size = 1
        self.min_samples = 1

    def num_frames(self, n_samples: int) -> int:
        return n_samples

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return audio[:, :, None]


def test_members_at_two_rates_land_on_the_finest_timeline():
    coarse = HearModel(ClockEncoder(16000, 800, 400.0))  # 50 ms frames at 16 kHz
    fine = HearModel(ClockEncoder(48000, 480, 240.0))  # 10 ms frames at 48 kHz
    model = HearModel(CombinedEncoder([coarse, fine], ["coarse", "fine"], normalize="none"))
    assert model.sample_rate == 48000 and model.timestamp_embedding_size == 4
    assert model.encoder.timing.hop_ms == pytest.approx(10.0, rel=1e-15)
    audio = torch.full((2, 48000), 0.25)
    frames, timestamps = combined.get_timestamp_embeddings(audio, model)
    assert frames.shape == (2, 100, 4)
    centres = timestamps[0].double() / 1000
    assert timestamps[0, 0] == pytest.approx(5.0) and timestamps[0, -1] == pytest.approx(995.0)
    # The fine member is the timeline: its own frames, unchanged.
    assert torch.allclose(frames[:, :, 2].double(), centres, rtol=0, atol=EPS32)
    # The coarse one is interpolated between its centres 25, 75, ..., 975 ms and held outside them.
    expected = centres.clamp(0.025, 0.975)
    assert torch.allclose(frames[0, :, 0].double(), expected, rtol=0, atol=4 * EPS32)
    # Constant audio stays constant through the resampler (away from the clip's zero-padded edges).
    assert torch.allclose(frames[:, 2:-2, 1], torch.full((2, 96), 0.25), rtol=0, atol=2e-3)


def test_a_chosen_hop_gives_frames_centred_on_half_hops():
    coarse = HearModel(ClockEncoder(16000, 800, 400.0))
    fine = HearModel(ClockEncoder(48000, 480, 240.0))
    model = HearModel(CombinedEncoder([coarse, fine], ["coarse", "fine"], hop_ms=25, normalize="none"))
    frames, timestamps = combined.get_timestamp_embeddings(torch.zeros(1, 24000), model)  # 0.5 s
    assert timestamps[0].tolist() == pytest.approx([12.5 + 25 * k for k in range(20)], abs=1e-4)
    # The fine member's 10 ms frames, averaged by overlap: the frame [0, 25) ms takes the frames
    # centred at 5, 15, 25 ms with weights 10, 10, 5 (13 ms, its centre + 0.5); [25, 50) takes 25, 35,
    # 45 ms with 5, 10, 10 (37 ms, its centre - 0.5); and so on every 50 ms.
    shift = torch.tensor([0.5, -0.5], dtype=torch.float64).repeat(10)
    expected = (timestamps[0].double() + shift) / 1000
    assert torch.allclose(frames[0, :, 2].double(), expected, rtol=0, atol=4 * EPS32)


def test_a_member_at_another_rate_gets_the_same_sound():
    """A 440 Hz sine at 48 kHz reaches a 16 kHz member as the 440 Hz sine at 16 kHz: julius'
    windowed sinc passes it within its stop-band ripple (~1e-3) away from the zero-padded edges."""
    member = HearModel(SampleEncoder(16000))
    other = HearModel(SampleEncoder(48000))
    model = HearModel(CombinedEncoder([member, other], ["16k", "48k"], sample_rate=48000, normalize="none"))
    t48 = torch.arange(4800, dtype=torch.float64) / 48000
    audio = (0.5 * torch.sin(2 * math.pi * 440 * t48)).float()[None]
    encoder = model.encoder
    assert encoder.timing.hop_ms == pytest.approx(1000 / 48000)
    assert encoder.member_samples(4800, member) == 1600
    frames, _ = combined.get_timestamp_embeddings(audio, model)
    # 16 kHz sample j (centre (j + 0.5) / 16000 s) coincides with 48 kHz frame 3 j + 1, where the
    # interpolation gives it unchanged.
    t16 = torch.arange(1600, dtype=torch.float64) / 16000
    sine16 = 0.5 * torch.sin(2 * math.pi * 440 * t16)
    on_grid = frames[0, 1::3, 0].double()
    assert torch.allclose(on_grid[50:-50], sine16[50:-50], rtol=0, atol=2e-3)
    assert torch.equal(frames[0, :, 1], audio[0])


def test_l2_normalisation_gives_each_member_the_same_share():
    loud = HearModel(ClockEncoder(48000, 480, 240.0))
    quiet = HearModel(SampleEncoder(48000))
    model = HearModel(CombinedEncoder([loud, quiet], ["a", "b"], hop_ms=10))
    frames, _ = combined.get_timestamp_embeddings(torch.rand(2, 4800) * 1e-3 + 1e-4, model)
    norms = torch.stack([frames[..., :2].norm(dim=-1), frames[..., 2:].norm(dim=-1)])
    assert torch.allclose(norms, torch.full_like(norms, 1 / math.sqrt(2)), rtol=0, atol=4 * EPS32)


# ---------------------------------------------------------------------------------------------------
# The real members, on random weights
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The registered combination's random weights: the members' files under their official names."""
    folder = tmp_path_factory.mktemp("combined")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return combined.FAMILY.write_random_weights(combined.FAMILY.specs["+".join(NAMES)], folder)


@pytest.fixture(scope="module")
def members(folder: Path) -> dict[str, HearModel]:
    return {name: registry.create_model(name, folder) for name in NAMES}


@pytest.fixture(scope="module")
def model(folder: Path) -> HearModel:
    return combined.load_model(str(folder), models=list(NAMES), progress=False)


@pytest.fixture(scope="module")
def audio() -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    return (torch.rand(2, 14400, generator=generator) - 0.5).float()  # 0.3 s at 48 kHz


def test_the_folder_alone_loads_the_registered_combination(folder: Path, model: HearModel):
    loaded = combined.load_model(str(folder), progress=False)
    assert loaded.encoder.names == NAMES
    spec = combined.FAMILY.specs["+".join(NAMES)]
    assert (loaded.sample_rate, loaded.timestamp_embedding_size, loaded.scene_embedding_size) == (
        spec.sample_rate,
        spec.frame_size,
        spec.clip_embedding_size(),
    )
    # frames: CREPE tiny's 256 + EnCodec's 128; clips: their defaults, mean+max+std (768) + mean+std (256)
    assert (model.sample_rate, model.timestamp_embedding_size, model.scene_embedding_size) == (
        48000,
        384,
        768 + 256,
    )
    assert loaded.encoder.timing.hop_ms == pytest.approx(spec.frame_hop_ms, rel=1e-12)


def test_the_finest_member_block_is_its_own_frames(model, members, audio):
    """EnCodec 24 kHz is the timeline: its block is its frames, bitwise without normalisation and
    normalised to norm 1 / sqrt(2) with it; the timestamps are its own."""
    frames, timestamps = combined.get_timestamp_embeddings(audio, model)
    own, own_timestamps = members["encodec-24khz"].timestamp_embeddings(audio)
    assert torch.equal(timestamps, own_timestamps)
    expected = own / own.norm(dim=-1, keepdim=True) / math.sqrt(2)
    torch.testing.assert_close(frames[..., 256:], expected, atol=4 * EPS32, rtol=0)
    raw = HearModel(CombinedEncoder(list(model.encoder.members), NAMES, normalize="none"))
    assert torch.equal(combined.get_timestamp_embeddings(audio, raw)[0][..., 256:], own)


def test_the_scene_embedding_is_the_members_own(model, members, audio):
    scene = combined.get_scene_embeddings(audio, model)
    crepe_size = 768  # CREPE tiny's default clip embedding: mean+max+std of 256-value frames
    assert scene.shape == (2, crepe_size + 256)
    own = members["encodec-24khz"].scene_embeddings(audio)  # mean+std, EnCodec's default
    torch.testing.assert_close(
        scene[:, crepe_size:], own / own.norm(dim=1, keepdim=True) / math.sqrt(2), atol=4 * EPS32, rtol=0
    )
    norms = scene[:, :crepe_size].norm(dim=1)
    assert torch.allclose(norms, torch.full((2,), 1 / math.sqrt(2)), atol=4 * EPS32)


def test_member_options_and_a_pooling_of_the_combined_frames(folder: Path, audio):
    entries = [
        {"name": "crepe-tiny", "options": {"hop_ms": 10, "pooling": "max"}, "model_file_path": str(folder)},
        {"name": "encodec-24khz", "options": {"pooling": "mean"}},
    ]
    model = combined.load_model(str(folder), models=entries, progress=False)
    assert model.encoder.members[0].encoder.timing.hop_ms == 10
    assert model.encoder.timing.hop_ms == 10  # the finest member is now CREPE, at 16 kHz
    assert model.scene_embedding_size == 256 + 128
    frames, timestamps = combined.get_timestamp_embeddings(audio, model)
    assert timestamps[0, 0] == 0 and timestamps[0, -1] == pytest.approx(300.0)
    pooled = combined.load_model(str(folder), models=list(NAMES), pooling="mean+std", progress=False)
    frames, _ = combined.get_timestamp_embeddings(audio, pooled)
    scene = combined.get_scene_embeddings(audio, pooled)
    assert scene.shape == (2, 2 * 384)
    torch.testing.assert_close(scene[:, :384], frames.mean(dim=1), atol=4 * EPS32, rtol=0)
    assert torch.equal(scene, pooled.pooling(frames))


# ---------------------------------------------------------------------------------------------------
# Everything is checked before any member is built
# ---------------------------------------------------------------------------------------------------

BAD = [
    ({"models": "crepe-tiny"}, TypeError, r"list of registered model names"),
    ({"models": ["crepe-tiny"]}, ValueError, r"two or more models"),
    ({"models": ["crepe-tiny", "encodec-24k"]}, ValueError, r"did you mean.*encodec-24khz"),
    ({"models": ["crepe-tiny", 3]}, TypeError, r"registered name or a dict"),
    ({"models": ["crepe-tiny", {"nom": "encodec-24khz"}]}, ValueError, r"unknown key\(s\) \['nom'\]"),
    (
        {"models": ["crepe-tiny", {"name": "encodec-24khz", "options": {"colour": 1}}]},
        TypeError,
        r"bandwidth",
    ),
    (
        {"models": [{"name": "crepe-tiny", "options": {"hop_ms": 7.3}}, "encodec-24khz"]},
        ValueError,
        r"16 kHz",
    ),
    (
        {"models": [{"name": "crepe-tiny", "options": {"variant": "full"}}, "encodec-24khz"]},
        TypeError,
        r"chooses",
    ),
    (
        {"models": [{"name": "crepe-tiny", "options": {"pooling": "native"}}, "encodec-24khz"]},
        ValueError,
        r"own",
    ),
    ({"models": list(NAMES), "sample_rate": 24000}, ValueError, r"one of HEAR's rates"),
    ({"models": list(NAMES), "hop_ms": 0}, ValueError, r"positive number of milliseconds"),
    ({"models": list(NAMES), "normalize": "block"}, ValueError, r"\['l2', 'none'\]"),
    ({"models": list(NAMES), "pooling": "median"}, ValueError, r"median"),
    ({"models": list(NAMES), "variant": "crepe-tiny+encodec-24khz"}, TypeError, r"either models or"),
]


@pytest.mark.parametrize(("options", "error", "pattern"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_options_are_refused_before_anything_is_built(monkeypatch, options, error, pattern):
    def never(*args, **kwargs):
        raise AssertionError("a member was built before the options were checked")

    monkeypatch.setattr(registry, "create_model", never)
    with pytest.raises(error, match=pattern):
        combined.load_model(**options)


def test_a_file_is_not_a_combination(folder: Path):
    with pytest.raises(ValueError, match=r"folder holding the members' weights"):
        combined.load_model(str(next(folder.iterdir())), models=list(NAMES))


# ---------------------------------------------------------------------------------------------------
# The official runner
# ---------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not installed("heareval", "tensorflow"), reason="needs the 'eval' extra and heareval")
def test_heareval_embeddings_and_predictions_runners_with_model_options(folder: Path, tmp_path: Path):
    """``python -m heareval.embeddings.runner hear_wrappers.combined --model-options '{"models": ...}'``:
    one 1024-d row per clip (scene: the members' default clip embeddings) and one 384-d row per 13.3 ms
    frame (event); then heareval's predictions runner (``python -m hear_wrappers.heareval predictions``,
    one grid point, 3 epochs) trains on those files and scores both tasks: the k-fold scene task's
    aggregated score and the event task's test scores, every metric of the task present and in its
    range."""
    import numpy as np

    tasks = build_small_tasks(tmp_path / "tasks", 48000, event_seconds=1.0)
    options = {"models": [{"name": name, "model_file_path": str(folder)} for name in NAMES]}
    command = [sys.executable, "-m", "heareval.embeddings.runner", "hear_wrappers.combined"]
    command += ["--tasks-dir", str(tmp_path / "tasks"), "--embeddings-dir", str(tmp_path / "embeddings")]
    done = subprocess.run(
        [*command, "--model-options", json.dumps(options)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (module_dir,) = (tmp_path / "embeddings").iterdir()
    for kind, (name, splits) in tasks.items():
        for split, wavs in splits.items():
            dims = json.loads((module_dir / name / f"{split}.embedding-dimensions.json").read_text())
            n_items, dim = dims[:2]
            if kind == "scene":
                assert (n_items, dim) == (len(wavs), 768 + 256)
            else:  # 1 s clips: 75 EnCodec frames of 13.3 ms each
                assert (n_items, dim) == (75 * len(wavs), 384)
            values = np.fromfile(module_dir / name / f"{split}.embeddings.npy", dtype=np.float32)
            assert values.size == n_items * dim and np.isfinite(values).all()

    folders = [str(module_dir / name) for name, _ in tasks.values()]
    for folder in folders:  # a few epochs: the runners' plumbing is under test here, not the learning
        path = Path(folder) / "task_metadata.json"
        metadata = json.loads(path.read_text())
        grid = metadata["evaluation_params"]["task_specific_param_grid"]
        grid.update(max_epochs=[3], check_val_every_n_epoch=[1], patience=[1])
        path.write_text(json.dumps(metadata))
    predictions = [sys.executable, "-m", "hear_wrappers.heareval", "predictions", *folders]
    done = subprocess.run(
        [*predictions, "--grid-points", "1"], capture_output=True, text=True, cwd=tmp_path, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for kind, (name, _) in tasks.items():
        metadata = json.loads((tmp_path / "tasks" / name / "task_metadata.json").read_text())
        scores = json.loads((module_dir / name / "test.predicted-scores.json").read_text())
        if kind == "scene":  # k-fold: heareval aggregates the folds' test scores
            values = {key: scores["aggregated_scores"][f"test_{key}_mean"] for key in metadata["evaluation"]}
        else:
            values = {key: scores["test"][f"test_{key}"] for key in metadata["evaluation"]}
        # accuracies and F-measures lie in [0, 1]; an error rate (segment_1s_er) is >= 0, unbounded
        assert all(value >= 0.0 and (key.endswith("_er") or value <= 1.0) for key, value in values.items()), (
            kind,
            values,
        )
