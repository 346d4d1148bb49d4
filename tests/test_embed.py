"""hear_wrappers.embed against heareval 2021.1.3's own embeddings runner, in this process (--workers 0).

The official runner (``python -m heareval.embeddings.runner``, once per pooling) and ours (all poolings
in one pass) run on generated scene (train/valid/test), k-fold scene and event tasks, with CREPE tiny on
its real weights at 16 kHz (``hear_wrappers.crepe``) and at 48 kHz (tests/embed_testmodel.py). Every
file must be byte-identical except the embeddings, which must agree to float32 rounding (see
`assert_same_folders`), and the official predictions runner must score ours as it scores its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import installed

pytestmark = pytest.mark.skipif(
    not installed("heareval", "tensorflow", "torchcrepe", "intervaltree", "slugify", "pytorch_lightning"),
    reason="needs the HEAR tools and CREPE: pip install 'hear-wrappers[crepe,eval]' "
    "&& python -m hear_wrappers.heareval install",
)

TESTS = Path(__file__).resolve().parent
KINDS = ("synth_pitch", "sound_vs_noise", "synth_onsets")  # scene, k-fold scene, event
CREPE = "hear_wrappers.crepe"
TESTMODEL = "embed_testmodel"  # CREPE tiny at 48 kHz (tests/embed_testmodel.py)

# Embeddings may differ from the official runner's only by float32 rounding: the same operations on
# the same batches, in another process (thread count, memory alignment may change the summation order
# of the convolutions). A CREPE tiny value is a chain of five conv + batch-norm layers, each output a
# sum of at most 64 x 16 = 1024 float32 products; reordering such a sum moves it by at most
# 1024 x 2^-24 ~ 6e-5 of the sum of its terms' magnitudes, so 1e-4 of the array's largest value bounds
# any reordering, while any real mistake (a row out of order, a wrong pooling, a wrong clip) moves
# values by the order of the values themselves.
RELATIVE_TOLERANCE = 1e-4


def env() -> dict[str, str]:
    """This environment with tests/ importable (for embed_testmodel), in subprocesses too."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def run(command: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env())
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def official(module: str, options: dict, tasks: Path, cwd: Path) -> None:
    """heareval's embeddings runner, as users run it, writing ``cwd/embeddings``."""
    cwd.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "heareval.embeddings.runner", module, "--tasks-dir", str(tasks)]
    run([*command, "--embeddings-dir", "embeddings", "--model-options", json.dumps(options)], cwd)


def ours(module: str, options: dict, poolings: str, tasks: Path, cwd: Path, *extra: str) -> str:
    """``python -m hear_wrappers.embed`` writing ``cwd/embeddings``; returns its stderr (bar + summary)."""
    cwd.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "hear_wrappers.embed", module, "--tasks-dir", str(tasks)]
    command += ["--embeddings-dir", "embeddings", "--model-options", json.dumps(options)]
    return run([*command, "--poolings", poolings, *extra], cwd).stderr


def assert_same_folders(expected: Path, actual: Path) -> None:
    """The same files; byte-identical except embeddings (float32 rounding) and the run's profile."""
    names = sorted(str(p.relative_to(expected)) for p in expected.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(actual)) for p in actual.rglob("*") if p.is_file())
    assert any(name.endswith(".done.embeddings") for name in names)
    for name in names:
        a, b = expected / name, actual / name
        if name.endswith("profile.embeddings.json"):
            continue
        if name.endswith(".embedding.npy"):  # one clip, with npy header
            x, y = np.load(a), np.load(b)
        elif name.endswith(".embeddings.npy"):  # a split: raw float32 rows, no header
            x, y = np.fromfile(a, dtype=np.float32), np.fromfile(b, dtype=np.float32)
        else:
            assert a.read_bytes() == b.read_bytes(), name
            continue
        assert x.shape == y.shape and x.dtype == y.dtype == np.float32, name
        scale = float(np.abs(x).max())
        np.testing.assert_allclose(y, x, rtol=0, atol=RELATIVE_TOLERANCE * scale, err_msg=name)


@pytest.fixture(scope="module")
def tasks_16k(tmp_path_factory) -> Path:
    from hear_wrappers import tasks

    root = tmp_path_factory.mktemp("tasks16k")
    tasks.build_tasks(root, KINDS, sample_rates=(16000,), seed=0, size="tiny")
    return root


@pytest.fixture(scope="module")
def tasks_48k(tmp_path_factory) -> Path:
    """Fewer clips, at 48 kHz (heareval's batch size there is a third of 16 kHz's)."""
    from hear_wrappers.tasks import build_task

    root = tmp_path_factory.mktemp("tasks48k")
    for kind in KINDS:
        build_task(kind, root, sample_rates=(48000,), seed=1, clips=2 if kind == "synth_onsets" else 1)
    return root


@pytest.fixture(scope="module")
def crepe_runs(tasks_16k, tmp_path_factory) -> dict[str, Path]:
    """``{"official": cwd, "ours": cwd}``: official once per pooling, ours in one pass."""
    work = tmp_path_factory.mktemp("crepe16k")
    for pooling in ("mean", "mean+std"):
        official(CREPE, {"variant": "tiny", "pooling": pooling}, tasks_16k, work / "official")
    ours(CREPE, {"variant": "tiny"}, "mean,mean+std", tasks_16k, work / "ours", "--workers", "0")
    return {"official": work / "official", "ours": work / "ours"}


def test_same_files_as_official_runner_16k(crepe_runs, tasks_16k):
    folders = sorted(p.name for p in (crepe_runs["official"] / "embeddings").iterdir())
    assert folders == [
        "hear_wrappers.crepe-variant=tiny-pooling=mean",
        "hear_wrappers.crepe-variant=tiny-pooling=mean-std",
    ]
    assert folders == sorted(p.name for p in (crepe_runs["ours"] / "embeddings").iterdir())
    for folder in folders:
        assert_same_folders(
            crepe_runs["official"] / "embeddings" / folder, crepe_runs["ours"] / "embeddings" / folder
        )


def test_same_files_as_official_runner_48k(tasks_48k, tmp_path):
    options = {"rate": 48000}
    official(TESTMODEL, {**options, "pooling": "max"}, tasks_48k, tmp_path / "official")
    ours(TESTMODEL, options, "max,mean", tasks_48k, tmp_path / "ours", "--workers", "0")
    name = "embed_testmodel-rate=48000-pooling=max"
    assert_same_folders(tmp_path / "official" / "embeddings" / name, tmp_path / "ours" / "embeddings" / name)
    # the other pooling, from the same forward, is what heareval's layout holds for it
    mean = tmp_path / "ours" / "embeddings" / "embed_testmodel-rate=48000-pooling=mean"
    event = next(mean.glob("synth_onsets*"))
    assert json.loads((event / "train.embedding-dimensions.json").read_text())[1] == 256
    scene = next(mean.glob("synth_pitch*"))
    assert json.loads((scene / "train.embedding-dimensions.json").read_text())[1] == 256


def test_poolings_come_from_one_forward_and_match_their_definition(crepe_runs, tasks_16k):
    """The mean+std rows are [mean, std] of the very frames the mean rows were pooled from."""
    root = crepe_runs["ours"] / "embeddings"
    task = next(tasks_16k.glob("synth_pitch*")).name
    mean = np.fromfile(
        root / "hear_wrappers.crepe-variant=tiny-pooling=mean" / task / "test.embeddings.npy", np.float32
    )
    both = np.fromfile(
        root / "hear_wrappers.crepe-variant=tiny-pooling=mean-std" / task / "test.embeddings.npy", np.float32
    )
    mean, both = mean.reshape(-1, 256), both.reshape(-1, 512)
    # torch.std_mean and Tensor.mean may sum in different orders: equal up to float32 rounding
    np.testing.assert_allclose(both[:, :256], mean, rtol=0, atol=RELATIVE_TOLERANCE * np.abs(mean).max())
    assert (both[:, 256:] > 0).any()


def test_summary_names_every_task(crepe_runs, tasks_16k):
    profile = json.loads(
        next((crepe_runs["ours"] / "embeddings").glob("*/synth_pitch*/profile.embeddings.json")).read_text()
    )
    assert profile["hear_wrappers_embed"]["clips"] == 40
    assert profile["hear_wrappers_embed"]["variants_in_pass"] == 2


def flat_scores(scores: dict, prefix: str = "") -> dict:
    """heareval's ``test.predicted-scores.json`` as ``{"fold00.test_score": value, ...}``, without the
    training's wall times (``time_in_min*``), the embeddings' path and memory addresses, which differ
    from run to run."""
    flat = {}
    for key, value in scores.items():
        if key.startswith("time_in_min") or key == "embedding_path":
            continue
        if isinstance(value, dict):
            flat.update(flat_scores(value, f"{prefix}{key}."))
        elif isinstance(value, str):  # hparams hold reprs such as "<function xavier_normal_ at 0x7f...>"
            flat[prefix + key] = re.sub(r" at 0x[0-9a-f]+", "", value)
        else:
            flat[prefix + key] = value
    return flat


@pytest.mark.slow
def test_official_predictions_score_ours_as_theirs(crepe_runs, tasks_16k):
    name = "hear_wrappers.crepe-variant=tiny-pooling=mean-std"
    for side in ("official", "ours"):
        folders = [
            str(crepe_runs[side] / "embeddings" / name / task.name) for task in sorted(tasks_16k.iterdir())
        ]
        predictions = [sys.executable, "-m", "hear_wrappers.heareval", "predictions", *folders]
        run([*predictions, "--grid-points", "1"], crepe_runs[side])
    for task in sorted(tasks_16k.iterdir()):
        scores = [
            json.loads(
                (
                    crepe_runs[side] / "embeddings" / name / task.name / "test.predicted-scores.json"
                ).read_text()
            )
            for side in ("official", "ours")
        ]
        assert scores[0] and scores[0].keys() == scores[1].keys(), task.name
        official_scores, our_scores = flat_scores(scores[0]), flat_scores(scores[1])
        assert any(key.endswith("test_score") for key in official_scores), official_scores
        assert our_scores.keys() == official_scores.keys(), task.name
        for key, value in official_scores.items():
            if isinstance(value, float):
                assert our_scores[key] == pytest.approx(value, abs=1e-6), (task.name, key)
            else:
                assert our_scores[key] == value, (task.name, key)


# --- resumption and bad audio, in this process --------------------------------------------------


def test_resume_redoes_only_missing_clips(crepe_runs, tasks_16k, tmp_path, monkeypatch):
    import shutil

    from hear_wrappers.embed import embed

    monkeypatch.chdir(tmp_path)  # "embeddings", relative as in crepe_runs: it is in filename-timestamps.json
    out = Path("embeddings")
    shutil.copytree(crepe_runs["ours"] / "embeddings", out)
    folder = out / "hear_wrappers.crepe-variant=tiny-pooling=mean"
    task = next(folder.glob("synth_onsets*"))
    # what a run killed midway leaves: no done marker, a split file, clips missing or truncated
    (task / ".done.embeddings").unlink()
    (task / "test.embeddings.npy").unlink()
    clips = sorted((task / "train").glob("*.embedding.npy"))
    clips[0].unlink()
    clips[1].write_bytes(clips[1].read_bytes()[:100])
    report = embed(
        CREPE,
        tasks_dir=tasks_16k,
        embeddings_dir=out,
        model_options=[{"variant": "tiny"}],
        poolings=["mean", "mean+std"],
        workers=0,
        progress=False,
    )
    done = {summary.task: summary for summary in report.tasks}
    train = json.loads((task / "train.json").read_text())
    assert done[task.name].clips == len(train)  # the train split is one batch (heareval's batch size 21)
    assert done[task.name].folders == [folder.name]
    assert all(
        summary.clips == 0 and not summary.folders for name, summary in done.items() if name != task.name
    )
    assert_same_folders(crepe_runs["ours"] / "embeddings" / folder.name, folder)


def _one_task(tasks_16k: Path, root: Path) -> tuple[Path, Path]:
    import shutil

    source = next(tasks_16k.glob("sound_vs_noise*"))
    task = root / "tasks" / source.name
    shutil.copytree(source, task)
    return task, sorted((task / "16000" / "fold01").glob("*.wav"))[0]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("garbage", "cannot read the audio"),
        ("rate", "the file is at 22050 Hz, the model takes 16000 Hz"),
        ("nan", "NaN/Inf sample(s)"),
        ("empty", "no samples"),
        ("missing", "cannot read the audio"),
    ],
)
def test_bad_audio_names_file_and_task(tasks_16k, tmp_path, damage, message):
    import soundfile as sf

    from hear_wrappers.embed import AudioError, embed

    task, wav = _one_task(tasks_16k, tmp_path)
    audio, rate = sf.read(wav, dtype="float32")
    if damage == "garbage":
        wav.write_bytes(b"RIFF not really a wave file")
    elif damage == "rate":
        sf.write(wav, audio, 22050, subtype="FLOAT")
    elif damage == "nan":
        audio[100] = np.nan
        sf.write(wav, audio, rate, subtype="FLOAT")
    elif damage == "empty":
        sf.write(wav, audio[:0], rate)
    else:
        wav.unlink()
    with pytest.raises(AudioError) as caught:
        embed(
            CREPE,
            tasks_dir=task.parent,
            embeddings_dir=tmp_path / "out",
            model_options=[{"variant": "tiny"}],
            workers=0,
            progress=False,
        )
    text = str(caught.value)
    assert message in text and task.name in text and f"16000/fold01/{wav.name}" in text
    done = list((tmp_path / "out").rglob(".done.embeddings"))
    assert done == []


def test_cli_errors(tasks_16k, tmp_path, capsys):
    from hear_wrappers.embed.__main__ import main

    args = [CREPE, "--tasks-dir", str(tasks_16k), "--embeddings-dir", str(tmp_path), "--workers", "0"]
    assert main([*args, "--model-options", "[1]"]) == 2
    assert "JSON dict" in capsys.readouterr().err
    assert main([*args, "--model-options", '{"variant": "tiny"}', "--poolings", "mean,nope"]) == 1
    assert "unknown pooling 'nope'" in capsys.readouterr().err
    assert main([*args, "--task", "no-such-task"]) == 1
    assert "do not exist" in capsys.readouterr().err


def test_plan_reproduces_heareval_order_and_batch_size(tasks_16k):
    import random

    from hear_wrappers.embed.plan import heareval_batch_size, options_slug, read_task

    assert heareval_batch_size(1.0, 16000) == 84 and heareval_batch_size(4.0, 48000) == 7
    assert heareval_batch_size(600.0, 48000) == 1 and heareval_batch_size(None, 16000) == 1
    assert options_slug({"variant": "tiny", "pooling": "mean+std", "hop_ms": 25.0}) == (
        "-variant=tiny-pooling=mean-std-hop-ms=25-0"
    )
    plan = read_task(next(tasks_16k.glob("sound_vs_noise*")), 16000)
    prng = random.Random(0)
    for split in plan.splits:  # heareval: one generator per task, split after split
        order = list(split.files)
        prng.shuffle(order)
        assert list(split.row_order) == order and sorted(order) == sorted(split.files)
