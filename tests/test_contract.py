"""The HEAR contract, checked on every registered model (``hear_wrappers.list_models()``).

Each name runs on random weights that its family writes in the official file format and under the
official file name (`hear_wrappers.core.registry.write_random_weights`), loaded once per session with
``create_model(name, file)`` (see conftest.py). For every name:

* HEAR attributes: ``sample_rate`` (one of HEAR's rates, the spec's), the sizes the spec announces,
  the module's three functions;
* every bad input (1-D, 3-D, float64/float16, int16, NaN, Inf, empty, too short, numpy or list, a
  model not from ``load_model``) is a TypeError/ValueError whose message names the fix;
* shapes and dtypes; determinism (two calls are bitwise equal); batch invariance and slicing (a
  clip alone, in a contiguous slice and in a strided view of the batch, as in hear-baseline's tests);
  silence and full-scale clipping give finite output; the shortest clip the model takes;
* timestamps in ms: float32, evenly spaced by the spec's hop, within the clip and reaching its end;
* a long clip, and where chunks can equal one pass, small chunks against one pass (`LONG_CLIPS`);
* the weights are the file's (the same file gives the same frames, another file other frames);
* the official validator, ``python -m hearvalidator.validate <module> -m <file>``, with no options:
  the file alone must be enough;
* a file given without a variant loads as the variant it is; a wrong explicit variant is a
  `CheckpointMismatchError` naming the right one; another model's file or no checkpoint at all is a
  clear ValueError; ``create_model`` refuses options the model does not have, listing those it has.

Names of one architecture (e.g. CLAP's 630k-best and 630k-audioset-best) share the numerical checks:
they run on the first such name only (`architecture_twin`). Violations found and reported are strict
xfails (`KNOWN_VIOLATIONS`), so that their fix shows.

Tolerances: determinism is bitwise. Results that may differ only by the order of float operations
(alone vs in a batch, chunked vs one pass) are compared within `helpers.reordering_tolerance`, derived
from float32 rounding, the values' scale and the network's depth and fan-in, never from a run.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import math
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from helpers import EPS32, installed, network_shape, reordering_tolerance

import hear_wrappers
from hear_wrappers.core.checkpoints import CheckpointMismatchError
from hear_wrappers.core.model import HearModel
from hear_wrappers.core.registry import ModelSpec, get_family, get_spec

HEAR_SAMPLE_RATES = (16000, 22050, 32000, 44100, 48000)
HEAR_FUNCTIONS = ("load_model", "get_timestamp_embeddings", "get_scene_embeddings")

#: Length of the clips of the test batch, per family (default `DEFAULT_CLIP_SECONDS`): long enough for
#: several frames, short enough to stay cheap on 2 cores.
CLIP_SECONDS = {
    "encodec": 1.05,  # 48 kHz: one whole 1 s segment and a partial one, batched across clips
    "crepe": 0.25,  # 6 windows of 64 ms per clip; CREPE full costs ~3 GFLOP per window
    "archisound": 0.15,  # 7 (dmae) or 225 (autoencoder) frames; ~2.5 s of CPU per second of audio
}
DEFAULT_CLIP_SECONDS = 0.5


@dataclass(frozen=True)
class LongClip:
    """A family's long clip: cut into chunks, and where chunks can equal one pass, in one pass.

    Attributes:
        seconds: the clip's length: several chunks with the ``chunked`` options (small chunks keep
            the test cheap: default chunk sizes only change how many chunks a clip has, not the path).
        chunked: ``load_model`` options that cut the clip into chunks ({}: the defaults).
        one_pass: options that encode it in one pass ({}: the defaults), or None where chunks cannot
            equal one pass (then ``why`` says why, and only the chunked clip is checked).
        why: the reason, where ``one_pass`` is None.
    """

    seconds: float
    chunked: dict[str, object]
    one_pass: dict[str, object] | None
    why: str = ""


#: Per family: its long clip, or why it has none here (then both long-clip tests skip with that reason).
#: Chunked and one-pass results may differ only by float rounding (kernels block their sums differently
#: on other lengths), so they are compared within `reordering_tolerance`.
LONG_CLIPS: dict[str, LongClip | str] = {
    # 24 kHz: the convolutional front end on 1 s chunks with 4 frames of real audio as context, the LSTM
    # and last convolution carrying their state across; 48 kHz: 1 s segments, one per pass. The default
    # chunk (5 s) takes the 2.2 s clip in one pass.
    "encodec": LongClip(2.2, {"chunk_seconds": 1.0}, {}),
    # Windows are independent: 7 windows in passes of 4; the default (128 per pass) takes all 7 at once.
    "crepe": LongClip(0.3, {"frames_per_batch": 4}, {}),
    # 10 s windows: two in two passes of one window; the default (2 per pass) takes both at once. The
    # clip embedding goes through the long-clip path (fusion, or the weighted mean of windows).
    "clap": LongClip(10.5, {"windows_per_batch": 1}, {}),
    # Every clip streams block by block (20 ms) through one fresh interpreter: no chunks, any length.
    "soundstream": LongClip(30.0, {}, None, "SoundStream streams each clip whole, block by block: no chunks"),
    # Members encode long clips as they do alone (their own entries); the combination adds no chunks.
    "combined": "a combination's members chunk long clips as they do alone (see their own entries)",
    "archisound": (
        "archisound's chunks cannot equal one pass (GroupNorm statistics span the whole input, see its "
        "module), and a chunked clip (chunk + 2 x 0.81 s of context) costs ~20 s of CPU here: "
        "tests/test_archisound.py bounds its chunking against the one-pass encoder"
    ),
}

#: Contract violations found and reported, by family and test: strict xfails, so that a fix shows up as
#: an unexpected pass (then remove the entry).
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


needs_hear_tools = pytest.mark.skipif(
    not installed("hearvalidator", "tensorflow"),
    reason="needs the HEAR tools: pip install 'hear-wrappers[eval]' "
    "&& python -m hear_wrappers.heareval install",
)


def module_of(name: str) -> ModuleType:
    """The HEAR module (``hear_wrappers.<family>``) of a registered name."""
    return importlib.import_module(get_spec(name).module)


def clip_samples(spec: ModelSpec, min_samples: int) -> int:
    return max(min_samples, round(CLIP_SECONDS.get(spec.family, DEFAULT_CLIP_SECONDS) * spec.sample_rate))


def make_batch(n_samples: int, sample_rate: int) -> torch.Tensor:
    """``[4, n_samples]``: noise at +-0.5, silence, noise at +-0.05, and a full-scale 100 Hz square
    wave (a sine clipped to exactly +-1)."""
    generator = torch.Generator().manual_seed(1)
    t = torch.arange(n_samples, dtype=torch.float64) / sample_rate
    return torch.stack(
        [
            torch.rand(n_samples, generator=generator) - 0.5,
            torch.zeros(n_samples),
            (torch.rand(n_samples, generator=generator) - 0.5) * 0.1,
            torch.sign(torch.sin(2 * math.pi * 100 * t)).float(),
        ]
    ).float()


@dataclass(frozen=True)
class Reference:
    """One model's outputs for `make_batch`, computed once per session."""

    audio: torch.Tensor
    embeddings: torch.Tensor
    timestamps: torch.Tensor
    scene: torch.Tensor
    #: for embeddings and native clip embeddings computed with another batch or chunking
    atol: float
    scene_atol: float


def tolerance(model: HearModel, values: torch.Tensor) -> float:
    depth, fan_in = network_shape(model.encoder)
    return reordering_tolerance(values, depth=depth, fan_in=fan_in)


@pytest.fixture(autouse=True)
def known_violation(request: pytest.FixtureRequest) -> None:
    """Mark the tests of `KNOWN_VIOLATIONS` as strict xfails."""
    name = getattr(request.node, "callspec", None) and request.node.callspec.params.get("model_name")
    reason = name and KNOWN_VIOLATIONS.get((get_spec(name).family, request.function.__name__))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.fixture(scope="session")
def architecture_twin(model_name: str, weights_file: Path) -> str | None:
    """The first registered name (in sorted order) of the same architecture, where it is not this one.

    Some families release several checkpoints of one architecture (e.g. CLAP's 630k-best and
    630k-audioset-best); their random-weight files are the same network with the same seed, so every
    numerical check would repeat the same computation. Those checks run on the first of them; the
    others are skipped naming it. What depends on the name (attributes, bad input, files, options,
    the validator) runs for every name.
    """
    spec, family = get_spec(model_name), get_family(model_name)
    fits = family.identify(family.read(spec, weights_file))
    first = min(family.specs[variant].name for variant in fits) if spec.variant in fits else model_name
    return first if first != model_name else None


@pytest.fixture(scope="session")
def numerics(model_name: str, architecture_twin: str | None) -> None:
    """Skip the numerical checks of a name whose architecture twin runs them (see `architecture_twin`)."""
    if architecture_twin is not None:
        pytest.skip(f"same architecture as {architecture_twin}, where the numerical checks ran")


@pytest.fixture(scope="session")
def reference(model_name: str, model: HearModel, numerics: None) -> Reference:
    module = module_of(model_name)
    audio = make_batch(clip_samples(get_spec(model_name), model.encoder.min_samples), model.sample_rate)
    embeddings, timestamps = module.get_timestamp_embeddings(audio, model)
    scene = module.get_scene_embeddings(audio, model)
    return Reference(
        audio, embeddings, timestamps, scene, tolerance(model, embeddings), tolerance(model, scene)
    )


@pytest.fixture(scope="session")
def strided(
    model_name: str, model: HearModel, reference: Reference
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Frames and (for a native clip embedding) clip embeddings of rows 0 and 2 of the batch, given as
    a strided (non-contiguous) view of it, as hear-baseline's slicing test does."""
    module = module_of(model_name)
    view = reference.audio[::2]
    scene = module.get_scene_embeddings(view, model) if model.clip_embedding.is_native else None
    return module.get_timestamp_embeddings(view, model)[0], scene


def check_timestamps(timestamps: torch.Tensor, embeddings: torch.Tensor, n_samples: int, spec: ModelSpec):
    """HEAR timestamps: frame centres in ms, float32, the same for every clip, evenly spaced by the
    spec's hop, the first within one hop of the start, all within the clip and reaching its end."""
    assert timestamps.dtype == torch.float32
    assert timestamps.shape == embeddings.shape[:2]
    assert (timestamps == timestamps[:1]).all(), "clips of the same length must share timestamps"
    row = timestamps[0].double()
    duration_ms = 1000 * n_samples / spec.sample_rate
    hop = spec.frame_hop_ms
    assert 0 <= row[0] < hop, f"the first frame is centred at {row[0]} ms, past one hop ({hop} ms)"
    assert row[-1] <= duration_ms, f"a frame centred at {row[-1]} ms, after the clip's end ({duration_ms} ms)"
    if duration_ms >= hop:
        assert row[-1] > duration_ms - hop, f"frames end at {row[-1]} ms: the last hop of the clip has none"
    # float32 keeps each timestamp within eps32 / 2 of its float64 value: steps within eps32 * max.
    steps = row.diff()
    assert (steps > 0).all()
    if steps.numel():
        assert (steps - hop).abs().max() <= EPS32 * row.abs().max(), f"steps {steps} are not {hop} ms"


# ---------------------------------------------------------------------------------------------------
# The module and the model's attributes
# ---------------------------------------------------------------------------------------------------


def test_hear_attributes(model_name: str, model: HearModel):
    spec = get_spec(model_name)
    module = module_of(model_name)
    for function in HEAR_FUNCTIONS:
        assert callable(getattr(module, function, None)), f"{spec.module} has no {function}"
    first = next(iter(inspect.signature(module.load_model).parameters.values()))
    assert first.name == "model_file_path" and first.default == ""
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate in HEAR_SAMPLE_RATES and model.sample_rate == spec.sample_rate
    assert model.timestamp_embedding_size == spec.frame_size
    assert model.scene_embedding_size == spec.clip_embedding_size()
    for size in (model.sample_rate, model.timestamp_embedding_size, model.scene_embedding_size):
        assert type(size) is int


# ---------------------------------------------------------------------------------------------------
# Bad input: a TypeError/ValueError whose message names the fix
# ---------------------------------------------------------------------------------------------------


def with_nan(n: int) -> torch.Tensor:
    audio = torch.zeros(2, n)
    audio[1, n // 2] = float("nan")
    return audio


def with_inf(n: int) -> torch.Tensor:
    audio = torch.zeros(2, n)
    audio[0, 0] = -float("inf")
    return audio


#: ``(id, audio from a valid length, error, pattern the message must match)``.
BAD_INPUTS: list[tuple[str, Callable[[int], object], type[Exception], str]] = [
    ("1-D", lambda n: torch.zeros(n), ValueError, r"audio\.unsqueeze\(0\)"),
    ("3-D", lambda n: torch.zeros(1, 2, n), ValueError, r"mono.*audio\.mean\(dim=1\)"),
    ("float64", lambda n: torch.zeros(1, n, dtype=torch.float64), TypeError, r"audio\.float\(\)"),
    ("float16", lambda n: torch.zeros(1, n, dtype=torch.float16), TypeError, r"audio\.float\(\)"),
    ("int16", lambda n: torch.zeros(1, n, dtype=torch.int16), TypeError, r"audio\.float\(\) / 32768"),
    ("NaN", with_nan, ValueError, r"clip\(s\) 1: .*torch\.nan_to_num"),
    ("inf", with_inf, ValueError, r"clip\(s\) 0: .*torch\.nan_to_num"),
    ("no samples", lambda n: torch.zeros(2, 0), ValueError, r"empty.*pass at least one clip"),
    ("no clips", lambda n: torch.zeros(0, n), ValueError, r"empty.*pass at least one clip"),
    ("numpy", lambda n: np.zeros((1, n), dtype=np.float32), TypeError, r"torch\.from_numpy\(audio\)"),
    ("list", lambda n: [[0.0] * n], TypeError, r"torch\.Tensor of shape \[n_sounds, n_samples\]"),
]


@pytest.mark.parametrize(
    ("make", "error", "pattern"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_is_refused_with_the_fix(model_name: str, model: HearModel, make, error, pattern):
    module = module_of(model_name)
    audio = make(max(model.encoder.min_samples, model.sample_rate // 10))
    for function in (module.get_timestamp_embeddings, module.get_scene_embeddings):
        with pytest.raises(error, match=pattern):
            function(audio, model)


def test_too_short_clips_are_refused_with_the_padding_to_add(model_name: str, model: HearModel):
    shortest = model.encoder.min_samples
    if shortest <= 1:
        pytest.skip(f"{model_name} takes clips of any length (an empty one is refused: see 'no samples')")
    module = module_of(model_name)
    pattern = rf"minimum of {shortest} samples.*torch\.nn\.functional\.pad\(audio, \(0, 1\)\)"
    for function in (module.get_timestamp_embeddings, module.get_scene_embeddings):
        with pytest.raises(ValueError, match=pattern):
            function(torch.zeros(2, shortest - 1), model)


def test_a_model_not_from_load_model_is_refused(model_name: str):
    module = module_of(model_name)
    for function in (module.get_timestamp_embeddings, module.get_scene_embeddings):
        with pytest.raises(TypeError, match="load_model"):
            function(torch.zeros(1, 16000), torch.nn.Linear(1, 1))


# ---------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------


def test_shapes_dtypes_and_timestamps(model_name: str, reference: Reference):
    spec = get_spec(model_name)
    n_sounds, n_samples = reference.audio.shape
    embeddings = reference.embeddings
    assert embeddings.dtype == torch.float32 and embeddings.device.type == "cpu"
    assert embeddings.shape[0] == n_sounds and embeddings.shape[2] == spec.frame_size
    assert embeddings.shape[1] >= 1
    check_timestamps(reference.timestamps, embeddings, n_samples, spec)
    assert reference.scene.dtype == torch.float32
    assert reference.scene.shape == (n_sounds, spec.clip_embedding_size())


def test_determinism(model_name: str, model: HearModel, reference: Reference, strided):
    """Two calls on the same audio are bitwise equal: the strided view of the batch again, and, for a
    pooled clip embedding, the pooling of the batch's frames and its clip embeddings (whose call
    computed the frames again). Its batch invariance is then the frames'."""
    module = module_of(model_name)
    frames, scene = strided
    view = reference.audio.clone()[::2]
    again, timestamps = module.get_timestamp_embeddings(view, model)
    assert torch.equal(again, frames)
    assert torch.equal(timestamps, reference.timestamps[::2])
    if model.clip_embedding.is_native:
        assert torch.equal(module.get_scene_embeddings(view, model), scene)
    else:
        assert torch.equal(model.pooling(reference.embeddings), reference.scene)


def test_batch_invariance_and_slicing(model_name: str, model: HearModel, reference: Reference, strided):
    """A clip's embeddings are the same alone, in a contiguous slice of the batch and in a strided view
    of it, within float32 rounding (see `helpers.reordering_tolerance`)."""
    module = module_of(model_name)
    audio = reference.audio
    frames, scene = strided
    alone, alone_timestamps = module.get_timestamp_embeddings(audio[2:3], model)
    sliced, sliced_timestamps = module.get_timestamp_embeddings(audio[1:3], model)
    for what, values, rows in (("alone", alone, [2]), ("slice", sliced, [1, 2]), ("strided", frames, [0, 2])):
        said = f"{what}, rows {rows}: {{}}".format
        torch.testing.assert_close(values, reference.embeddings[rows], atol=reference.atol, rtol=0, msg=said)
    assert torch.equal(alone_timestamps, reference.timestamps[2:3])
    assert torch.equal(sliced_timestamps, reference.timestamps[1:3])
    if model.clip_embedding.is_native:
        alone_scene = module.get_scene_embeddings(audio[2:3], model)
        for what, values, rows in (("alone", alone_scene, [2]), ("strided", scene, [0, 2])):
            said = f"clip embedding {what}, rows {rows}: {{}}".format
            torch.testing.assert_close(
                values, reference.scene[rows], atol=reference.scene_atol, rtol=0, msg=said
            )


def test_silence_and_full_scale_clipping_give_finite_output(reference: Reference):
    for row, what in ((1, "silence"), (3, "a full-scale square wave")):
        assert torch.isfinite(reference.embeddings[row]).all(), f"{what}: frames are not finite"
        assert torch.isfinite(reference.scene[row]).all(), f"{what}: the clip embedding is not finite"


def test_the_shortest_clip(model_name: str, model: HearModel):
    spec = get_spec(model_name)
    module = module_of(model_name)
    shortest = model.encoder.min_samples
    audio = make_batch(shortest, model.sample_rate)[:1]
    embeddings, timestamps = module.get_timestamp_embeddings(audio, model)
    assert embeddings.shape[::2] == (1, spec.frame_size) and embeddings.shape[1] >= 1
    assert torch.isfinite(embeddings).all()
    check_timestamps(timestamps, embeddings, shortest, spec)
    scene = module.get_scene_embeddings(audio, model)
    assert scene.shape == (1, spec.clip_embedding_size()) and torch.isfinite(scene).all()


@dataclass(frozen=True)
class LongOutputs:
    """A long clip through the chunked model (see `LONG_CLIPS`)."""

    spec: LongClip
    audio: torch.Tensor
    embeddings: torch.Tensor
    timestamps: torch.Tensor
    scene: torch.Tensor


@pytest.fixture(scope="session")
def long_clip(model_name: str, model: HearModel, weights_file: Path, numerics: None) -> LongOutputs:
    family = get_spec(model_name).family
    long = LONG_CLIPS.get(family)
    assert long is not None, f"say in LONG_CLIPS how {family} encodes long clips (or why not here)"
    if isinstance(long, str):
        pytest.skip(long)
    chunked = hear_wrappers.create_model(model_name, weights_file, **long.chunked) if long.chunked else model
    module = module_of(model_name)
    audio = make_batch(round(long.seconds * model.sample_rate), model.sample_rate)[:1]
    embeddings, timestamps = module.get_timestamp_embeddings(audio, chunked)
    return LongOutputs(long, audio, embeddings, timestamps, module.get_scene_embeddings(audio, chunked))


def test_a_long_clip(model_name: str, long_clip: LongOutputs):
    spec = get_spec(model_name)
    assert torch.isfinite(long_clip.embeddings).all() and torch.isfinite(long_clip.scene).all()
    check_timestamps(long_clip.timestamps, long_clip.embeddings, long_clip.audio.shape[1], spec)
    assert long_clip.scene.shape == (1, spec.clip_embedding_size())


def test_a_long_clip_in_chunks_equals_one_pass(
    model_name: str, model: HearModel, weights_file: Path, long_clip: LongOutputs
):
    long = long_clip.spec
    if long.one_pass is None:
        pytest.skip(long.why)
    whole = hear_wrappers.create_model(model_name, weights_file, **long.one_pass) if long.one_pass else model
    module = module_of(model_name)
    one_pass, timestamps = module.get_timestamp_embeddings(long_clip.audio, whole)
    torch.testing.assert_close(long_clip.embeddings, one_pass, atol=tolerance(whole, one_pass), rtol=0)
    assert torch.equal(long_clip.timestamps, timestamps)
    if whole.clip_embedding.is_native:
        scene = module.get_scene_embeddings(long_clip.audio, whole)
        torch.testing.assert_close(long_clip.scene, scene, atol=tolerance(whole, scene), rtol=0)


# ---------------------------------------------------------------------------------------------------
# Files and options
# ---------------------------------------------------------------------------------------------------


@needs_hear_tools
def test_hearvalidator_accepts_the_file_alone(model_name: str, weights_file: Path, tmp_path: Path):
    """``python -m hearvalidator.validate <module> -m <file>``, the official tool unchanged and with no
    options: the file must be enough to build the right model. Of its warnings, those that say the
    timestamps start after one hop or end more than one hop before the clip's end count as failures
    (its other one, timestamps ending over 50 ms before the end, follows from any hop over 50 ms)."""
    spec = get_spec(model_name)
    command = [sys.executable, "-m", "hearvalidator.validate", spec.module, "-m", str(weights_file)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0 and "Looks good!" in result.stdout, output
    assert "appears to be wrong" not in result.stderr, output
    ends = re.findall(r"Your timestamps end at ([\d.]+)ms, but the audio is ([\d.]+) ms", result.stderr)
    assert all(float(end) > float(length) - spec.frame_hop_ms for end, length in ends), output


def test_the_weights_come_from_the_file(model_name: str, weights_file: Path, reference: Reference, tmp_path):
    """The model is its file's weights: built again from the same file it gives the same frames, from
    a file of the same architecture with other random weights, other frames (beyond rounding: the
    tolerance bounds it). Weights left at their initialisation would fail one or the other."""
    spec, family = get_spec(model_name), get_family(model_name)
    with torch.random.fork_rng():
        torch.manual_seed(1)  # the registry writes with seed 0
        other_file = family.write_random_weights(spec, tmp_path)
    module, clip = module_of(model_name), reference.audio[:1]
    same, _ = module.get_timestamp_embeddings(clip, hear_wrappers.create_model(model_name, weights_file))
    other, _ = module.get_timestamp_embeddings(clip, hear_wrappers.create_model(model_name, other_file))
    torch.testing.assert_close(same, reference.embeddings[:1], atol=reference.atol, rtol=0)
    assert (other - same).abs().max() > reference.atol, "another file's weights give the same frames"


def identified(name: str, path: Path) -> tuple[str, ...]:
    """The variants whose architecture the file fits, as the family recognises them."""
    spec, family = get_spec(name), get_family(name)
    fits = family.identify(family.read(spec, path))
    assert spec.variant in fits, f"{family.name} does not recognise {name}'s own file: {fits}"
    return fits


def test_a_file_without_a_variant_loads_as_its_variant(model_name: str, weights_file: Path, caplog):
    spec, family = get_spec(model_name), get_family(model_name)
    fits = identified(model_name, weights_file)
    default = family.specs[family.default_variant]
    options = json.loads('{"pooling": "mean+max"}')  # as heareval's --model-options passes them
    with caplog.at_level(logging.WARNING, logger="hear_wrappers"):
        model = module_of(model_name).load_model(str(weights_file), progress=False, **options)
    said = [record.getMessage() for record in caplog.records if "loading it as" in record.getMessage()]
    if default.variant in fits:
        loaded = default
        assert not said
    else:
        loaded = family.specs[fits[0]]
        assert len(said) == 1 and str(weights_file) in said[0] and said[0].endswith(f"as {loaded.name}.")
    if len(fits) == 1:
        assert loaded == spec
    # With several variants of one architecture, any of them builds the same model as the file's.
    assert (model.sample_rate, model.timestamp_embedding_size, model.scene_embedding_size) == (
        spec.sample_rate,
        spec.frame_size,
        spec.clip_embedding_size("mean+max"),
    )
    assert model.encoder.timing.hop_ms == pytest.approx(spec.frame_hop_ms, rel=1e-12)
    assert model.clip_embedding.name == "mean+max"


def test_a_wrong_explicit_variant_names_the_right_one(model_name: str, weights_file: Path):
    spec, family = get_spec(model_name), get_family(model_name)
    fits = identified(model_name, weights_file)
    others = [variant for variant in family.specs if variant not in fits]
    if not others:
        pytest.skip(f"every {family.name} variant has the architecture of {model_name}'s file")
    with pytest.raises(CheckpointMismatchError) as error:
        module_of(model_name).load_model(str(weights_file), variant=others[0], progress=False)
    message = str(error.value)
    assert f"variant={fits[0]!r}" in message and family.specs[others[0]].name in message
    if len(fits) == 1:
        assert spec.name in message


def test_a_file_of_another_model_or_no_model_is_refused(model_name: str, weights_file: Path, tmp_path: Path):
    """Another network's state dict, or bytes that are no checkpoint at all, under the official file
    name: a ValueError (`CheckpointError` for a file of the wrong kind) that names the file or the model
    it was meant for."""
    spec, family = get_spec(model_name), get_family(model_name)
    filename = spec.weights.filename or "weights.pt"
    (tmp_path / "other").mkdir()
    (tmp_path / "garbage").mkdir()
    torch.save(torch.nn.Conv1d(1, 8, 3).state_dict(), tmp_path / "other" / filename)
    (tmp_path / "garbage" / filename).write_bytes(b"\x00" * 1000)
    names = {spec.name.lower(), family.name.lower(), (family.title or family.name).lower()}
    for folder in ("other", "garbage"):
        path = tmp_path / folder / filename
        with pytest.raises(ValueError) as error:
            module_of(model_name).load_model(str(path), progress=False)
        message = str(error.value)
        assert str(path) in message or any(name in message.lower() for name in names), message


def test_create_model_refuses_options_the_model_does_not_have(model_name: str):
    family = get_family(model_name)
    parameters = inspect.signature(module_of(model_name).load_model).parameters.values()
    chosen_by_name = {"variant", *family.variant_aliases}
    options = [p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in chosen_by_name]
    assert "pooling" in options
    with pytest.raises(TypeError) as error:
        hear_wrappers.create_model(model_name, "never-read.file", colour="blue")
    message = str(error.value)
    assert "colour" in message and all(re.search(rf"\b{option}\b", message) for option in options), message
    variant = get_spec(model_name).variant
    for option in sorted(chosen_by_name):
        with pytest.raises(TypeError, match=rf"\[{option!r}\].*the name chooses the variant"):
            hear_wrappers.create_model(model_name, "never-read.file", **{option: variant})
