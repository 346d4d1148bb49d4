"""hear_wrappers.soundstream and the generic TFLite encoder (hear_wrappers.core.tflite).

The HEAR contract (attributes, bad inputs, determinism, batch invariance, timestamps, hearvalidator,
file recognition) is checked for ``soundstream-lyra-v1.3.2`` by tests/test_contract.py, on the
random-weight stand-in that the family writes. Here, what is SoundStream's or TFLite's own, on:

* tiny ``.tflite`` files (tests/tflite_models.py), whose outputs are exact numpy expressions: a
  stateless linear encoder and a stateful accumulating one whose state lives in a resource variable,
  as in Lyra's streaming encoder;
* the stand-in of ``write_random_weights`` (hear_wrappers.core.tflite_writer): Lyra's interface, state
  mechanism and quantizer signatures, checked against numpy and against the real files;
* Google's real Lyra 1.3.2 encoder and quantizer from ``../shared/models/lyra-1.3.2`` (skipped, with the
  reason, where that folder is absent, as in a user's own clone): bit-identity with Lyra's own loop;
* the official embeddings runner, unchanged.

Tolerances: a float32 dot product of ``n`` terms is within ``gamma(n) * sum |x_i w_i|`` of its exact
value, ``gamma(n) = n u / (1 - n u)``, ``u = 2**-24`` (Higham, *Accuracy and Stability of Numerical
Algorithms*, 3.1), whatever the order of its additions; the tiny models' outputs are compared with
that bound. Networks are compared within `helpers.reordering_tolerance`.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.machinery
import importlib.util
import json
import math
import pickle
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import build_small_tasks, installed, noise, reordering_tolerance

if not installed("ai_edge_litert"):
    pytest.skip(
        "needs the 'soundstream' extra (ai-edge-litert): pip install 'hear-wrappers[soundstream]'",
        allow_module_level=True,
    )
from ai_edge_litert.interpreter import Interpreter
from tflite_models import write_accumulating_encoder, write_linear_encoder, write_toy_quantizer

from hear_wrappers import soundstream
from hear_wrappers.core.checkpoints import (
    CheckpointError,
    CheckpointMismatchError,
    CheckpointUnavailableError,
    sha256_of,
)
from hear_wrappers.core.imports import MissingExtraError
from hear_wrappers.core.tflite import TFLiteAudioSpec, TFLiteEncoder, load_interpreter_class
from hear_wrappers.core.tflite_writer import StreamingConv, write_residual_quantizer, write_streaming_encoder

SR = 16000
HOP = 320
LYRA = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "lyra-1.3.2"
REAL_ENCODER = LYRA / "soundstream_encoder.tflite"
REAL_QUANTIZER = LYRA / "quantizer.tflite"
needs_real = pytest.mark.skipif(
    not REAL_ENCODER.is_file(),
    reason=f"Lyra's real SoundStream files are not in {LYRA} (a user's clone has no ../shared/models)",
)
FAMILY = soundstream.FAMILY
SPEC = FAMILY.specs[soundstream.VARIANT]
#: Lyra's interfaces, as ``Interpreter.get_signature_list()`` reports them.
ENCODER_SIGNATURES = {"serving_default": {"inputs": ["input_audio"], "outputs": ["output_0"]}}
QUANTIZER_SIGNATURES = {
    "decode": {"inputs": ["encoding_indices"], "outputs": ["output_0"]},
    "encode": {"inputs": ["input_frames", "num_quantizers"], "outputs": ["output_0", "output_1"]},
}


def audio16k(n_sounds: int, seconds: float, seed: int = 0) -> torch.Tensor:
    return noise(n_sounds, seconds, sample_rate=SR, seed=seed)


def gamma(n: int) -> float:
    """Higham's gamma_n for float32: the relative error bound of a sum of ``n`` rounded operations."""
    u = np.finfo(np.float32).eps / 2
    return n * u / (1 - n * u)


def dot_bound(inputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Bound on the float32 error of ``inputs @ weights.T`` (``weights`` ``[out, n]``), per output."""
    return gamma(weights.shape[1] + 1) * (np.abs(inputs) @ np.abs(weights.astype(np.float64)).T)


def assert_within(actual: np.ndarray, expected: np.ndarray, bound: np.ndarray | float) -> None:
    error = np.abs(np.asarray(actual, np.float64) - expected)
    assert actual.shape == expected.shape
    assert (error <= bound).all(), (
        f"off by {error.max():.3g}, above its rounding bound at {np.argmax(error > bound)}"
    )


# ----------------------------------------------------------------------------------------------------
# Tiny models


@dataclasses.dataclass
class Tiny:
    folder: Path
    weights: np.ndarray  # [64, 320]
    initial: np.ndarray  # [64], the stateful model's initial state
    linear: Path  # stateless, SoundStream-shaped: [1, 320] -> [1, 1, 64]
    stateful: Path  # stateful, SoundStream-shaped, with quantizer.tflite beside it
    quantizer: Path  # toy quantizer with Lyra's interface

    def expected_linear(self, audio: torch.Tensor) -> np.ndarray:
        return padded_blocks(audio) @ self.weights.astype(np.float64).T

    def linear_bound(self, audio: torch.Tensor) -> np.ndarray:
        return dot_bound(padded_blocks(audio), self.weights)

    def expected_stateful(self, audio: torch.Tensor) -> np.ndarray:
        return self.initial + np.cumsum(self.expected_linear(audio), axis=1)

    def stateful_bound(self, audio: torch.Tensor) -> np.ndarray:
        """Frame k sums the initial state and k + 1 products W x: at most 320 + k + 2 roundings each."""
        blocks = padded_blocks(audio)
        terms = np.abs(self.initial) + np.cumsum(
            np.abs(blocks) @ np.abs(self.weights.astype(np.float64)).T, axis=1
        )
        return gamma(HOP + blocks.shape[1] + 2) * terms


def padded_blocks(audio: torch.Tensor, hop: int = HOP) -> np.ndarray:
    """Audio ``[B, N]`` -> 320-sample blocks ``[B, ceil(N / 320), 320]``, the last zero-padded."""
    n_frames = math.ceil(audio.shape[1] / hop)
    padded = torch.nn.functional.pad(audio, (0, n_frames * hop - audio.shape[1]))
    return padded.reshape(audio.shape[0], n_frames, hop).double().numpy()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Tiny:
    folder = tmp_path_factory.mktemp("tflite")
    rng = np.random.default_rng(0)
    weights = (rng.standard_normal((64, HOP)) / math.sqrt(HOP)).astype(np.float32)
    initial = rng.standard_normal(64).astype(np.float32)
    (folder / "stateless").mkdir()
    return Tiny(
        folder=folder,
        weights=weights,
        initial=initial,
        linear=write_linear_encoder(folder / "stateless" / "linear.tflite", weights, output_shape=(1, 1, 64)),
        stateful=write_accumulating_encoder(
            folder / "soundstream_encoder.tflite", weights, initial, output_shape=(1, 1, 64)
        ),
        quantizer=write_toy_quantizer(folder / "quantizer.tflite"),
    )


@pytest.fixture(scope="module")
def tiny_model(tiny):
    return soundstream.load_model(str(tiny.stateful))


def frames_of(model, audio):
    return soundstream.get_timestamp_embeddings(audio, model)[0].double().numpy()


# ----------------------------------------------------------------------------------------------------
# The generic TFLite encoder (hear_wrappers.core.tflite)


def generic(path: Path, **spec) -> TFLiteEncoder:
    return TFLiteEncoder(
        path.read_bytes(), TFLiteAudioSpec(**{"sample_rate": SR, **spec}), extra="soundstream"
    )


def test_stateless_frames_are_the_models_own(tiny):
    encoder = generic(tiny.linear, frame_samples=HOP)
    audio = audio16k(2, 0.51)  # 25.5 blocks: the last one is half padding
    frames = encoder(audio).double().numpy()
    assert frames.shape == (2, 26, 64) and encoder.num_frames(audio.shape[1]) == 26
    assert_within(frames, tiny.expected_linear(audio), tiny.linear_bound(audio))


def test_overlapping_windows_scaling_and_their_timestamps(tmp_path):
    """A model that looks at 25 ms windows every 10 ms, fed int16-valued floats."""
    weights = np.random.default_rng(1).standard_normal((8, 400)).astype(np.float32) / 20
    path = write_linear_encoder(tmp_path / "windows.tflite", weights)
    encoder = generic(path, frame_samples=400, hop_samples=160, input_scale=32768.0)
    audio = audio16k(1, 0.1)  # 1600 samples -> windows at 0, 160, ..., 1280 (the last one padded)
    frames = encoder(audio).double().numpy()
    assert frames.shape == (1, 9, 8)
    padded = np.pad(audio.double().numpy()[0] * 32768, (0, 1680 - 1600))  # x 2**15: exact in float32
    windows = np.stack([padded[k * 160 : k * 160 + 400] for k in range(9)])
    assert_within(frames[0], windows @ weights.T, dot_bound(windows, weights))
    # Window k covers samples [160 k, 160 k + 400): its centre is 12.5 ms + 10 k ms.
    timing = encoder.timing
    torch.testing.assert_close(timing.timestamps_ms(1, 3), torch.tensor([[12.5, 22.5, 32.5]]))
    assert timing.frames_within(1600) == 9  # the last window's centre, 92.5 ms, lies inside the clip
    assert encoder.min_samples == 400


@pytest.mark.parametrize("output", [1, -1, "emb_b", "second"])
def test_output_by_position_tensor_name_or_signature_name(tmp_path, output):
    rng = np.random.default_rng(2)
    first, second = rng.standard_normal((6, 320), np.float32), rng.standard_normal((4, 320), np.float32)
    path = write_linear_encoder(tmp_path / "two.tflite", first, second_weights=second)
    encoder = generic(path, frame_samples=HOP, output=output)
    audio = audio16k(1, 0.1)
    assert encoder.embedding_size == 4
    blocks = padded_blocks(audio)
    assert_within(encoder(audio).double().numpy(), blocks @ second.T, dot_bound(blocks, second))


def test_unknown_output_names_the_choices(tmp_path):
    rng = np.random.default_rng(2)
    path = write_linear_encoder(tmp_path / "two.tflite", rng.standard_normal((6, 320)))
    with pytest.raises(CheckpointMismatchError, match=r"no output named 'logits'.*'emb_a'.*'first'"):
        generic(path, frame_samples=HOP, output="logits")
    with pytest.raises(CheckpointMismatchError, match="has 1 output"):
        generic(path, frame_samples=HOP, output=3)


def test_quantized_int8_output_is_dequantized(tmp_path):
    weights = np.random.default_rng(3).standard_normal((16, 320)).astype(np.float32) / 5
    path = write_linear_encoder(tmp_path / "int8.tflite", weights, quantize=(0.05, 3))
    encoder = generic(path, frame_samples=HOP)
    audio = audio16k(1, 0.2) * 0.5
    frames = encoder(audio).double().numpy()
    blocks = padded_blocks(audio)
    exact = blocks @ weights.T
    # int8 rounds to the nearest multiple of the scale (half a step), after the float32 product
    assert_within(frames, exact, 0.05 / 2 + dot_bound(blocks, weights))
    assert not np.allclose(frames, exact, atol=1e-3)  # it really went through int8


def test_input_of_another_shape_is_accepted_when_it_holds_a_frame(tmp_path):
    weights = np.random.default_rng(4).standard_normal((8, 320)).astype(np.float32)
    path = write_linear_encoder(tmp_path / "shaped.tflite", weights, input_shape=(1, 320, 1))
    audio = audio16k(1, 0.1)
    blocks = padded_blocks(audio)
    frames = generic(path, frame_samples=HOP)(audio).double().numpy()
    assert_within(frames, blocks @ weights.T, dot_bound(blocks, weights))


def test_input_size_mismatch_is_refused(tiny):
    with pytest.raises(CheckpointMismatchError, match=r"shape \[1, 320\].*400 samples are fed"):
        generic(tiny.linear, frame_samples=400)


def test_stateful_model_starts_every_clip_from_its_initial_state(tiny):
    encoder = generic(tiny.stateful, frame_samples=HOP, stateful=True)
    audio = audio16k(3, 0.3, seed=5)
    expected, bound = tiny.expected_stateful(audio), tiny.stateful_bound(audio)
    for _ in range(2):  # the second call would continue the state if it were carried over
        assert_within(encoder(audio).double().numpy(), expected, bound)
    assert_within(encoder(audio[2:]).double().numpy()[0], expected[2], bound[2])


def test_the_tiny_stateful_model_behaves_like_lyras(tiny):
    """What the fresh interpreters are for: the model's state survives invokes and reset_all_variables."""
    interpreter = Interpreter(model_path=str(tiny.stateful))
    interpreter.allocate_tensors()
    block = np.full((1, 320), 0.1, np.float32)
    outputs = []
    for reset in (False, True):
        if reset:
            interpreter.reset_all_variables()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], block)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).ravel())
    # each output is within its accumulation's rounding bound; the difference within both
    bound = gamma(HOP + 3) * (2 * np.abs(tiny.initial) + 3 * np.abs(tiny.weights) @ np.abs(block[0]))
    difference = np.subtract(outputs[1], outputs[0], dtype=np.float64)
    assert_within(difference, tiny.weights @ block[0].astype(np.float64), bound)


def test_stateful_encoder_without_fresh_interpreters_would_leak_state(tiny):
    """The check above can fail: declared stateless, the accumulating model's interpreter is reused."""
    encoder = generic(tiny.stateful, frame_samples=HOP, stateful=False)
    audio = audio16k(1, 0.1)
    first, second = encoder(audio), encoder(audio)
    assert not torch.allclose(first, second)


@pytest.mark.parametrize("stateful", [False, True])
def test_results_do_not_depend_on_workers(tiny, stateful):
    path = tiny.stateful if stateful else tiny.linear
    audio = audio16k(5, 0.4, seed=6)
    results = [generic(path, frame_samples=HOP, stateful=stateful) for _ in range(3)]
    for encoder, workers in zip(results, (1, 2, 4), strict=True):
        encoder.workers = workers
    first, *others = (encoder(audio) for encoder in results)
    for other in others:
        assert torch.equal(first, other)


def test_stateless_interpreters_are_reused(tiny):
    encoder = generic(tiny.linear, frame_samples=HOP)
    encoder.workers = 1
    probe = encoder._idle[0]
    encoder(audio16k(4, 0.1))
    assert encoder._idle == [probe]


def test_pickle_and_deepcopy(tiny_model):
    audio = audio16k(2, 0.5, seed=7)
    expected = soundstream.get_scene_embeddings(audio, tiny_model)
    for clone in (copy.deepcopy(tiny_model), pickle.loads(pickle.dumps(tiny_model))):
        assert torch.equal(soundstream.get_scene_embeddings(audio, clone), expected)


def test_to_device_and_eval_are_harmless(tiny):
    """heareval calls model.to(device); TFLite runs on the CPU whatever the module's device."""
    model = soundstream.load_model(str(tiny.stateful))
    assert model.to("cpu") is model and model.eval() is model and not model.training
    model.to("cuda")  # no tensors to move: fine even without a GPU
    embeddings, timestamps = soundstream.get_timestamp_embeddings(audio16k(1, 0.2), model)
    assert embeddings.device.type == "cpu" and timestamps.device.type == "cpu"


def test_runtime_choice_and_tflite_runtime_fallback(tiny, monkeypatch):
    assert load_interpreter_class("auto", extra="soundstream")[0] == "ai_edge_litert"
    with pytest.raises(ValueError, match="unknown TFLite runtime 'tensorflow'"):
        load_interpreter_class("tensorflow", extra="soundstream")

    # tflite-runtime has the same Interpreter API; stand it in with ai-edge-litert's class.
    class FallbackInterpreter(Interpreter):
        pass

    package = types.ModuleType("tflite_runtime")
    module = types.ModuleType("tflite_runtime.interpreter")
    module.Interpreter = FallbackInterpreter
    monkeypatch.setitem(sys.modules, "tflite_runtime", package)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", module)
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        if name == "ai_edge_litert":
            return None
        if name == "tflite_runtime":
            return importlib.machinery.ModuleSpec(name, loader=None)
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    model = soundstream.load_model(str(tiny.stateful))
    assert model.encoder.runtime == "tflite_runtime"
    assert model.encoder._interpreter_class is FallbackInterpreter
    audio = audio16k(2, 0.2)
    assert_within(frames_of(model, audio), tiny.expected_stateful(audio), tiny.stateful_bound(audio))


def test_no_runtime_names_the_install_command(tiny, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("ai_edge_litert", "tflite_runtime") else real_find_spec(name, *a),
    )
    with pytest.raises(MissingExtraError, match=r"pip install 'hear-wrappers\[soundstream\]'"):
        soundstream.load_model(str(tiny.stateful))


def test_bad_encoder_arguments(tiny):
    with pytest.raises(ValueError, match="workers"):
        TFLiteEncoder(b"", TFLiteAudioSpec(SR, HOP), workers=0, extra="soundstream")
    with pytest.raises(ValueError, match="positive"):
        TFLiteAudioSpec(SR, 0)
    with pytest.raises(ValueError, match="input_scale"):
        TFLiteAudioSpec(SR, HOP, input_scale=0.0)


# ----------------------------------------------------------------------------------------------------
# hear_wrappers.soundstream on the tiny SoundStream-shaped models


def test_frames_are_the_models_own_at_block_centres(tiny, tiny_model):
    """Frame k is the encoder's output after block k, timestamped at the block's centre, 20 k + 10 ms."""
    audio = audio16k(3, 1.5)
    embeddings, timestamps = soundstream.get_timestamp_embeddings(audio, tiny_model)
    assert embeddings.shape == (3, 75, 64)
    torch.testing.assert_close(timestamps[0], 10.0 + 20.0 * torch.arange(75, dtype=torch.float32))
    assert_within(embeddings.double().numpy(), tiny.expected_stateful(audio), tiny.stateful_bound(audio))


def test_bad_options_are_refused_before_any_file_is_read():
    with pytest.raises(ValueError, match="embedding must be"):
        soundstream.load_model("missing.tflite", embedding="codes")
    with pytest.raises(ValueError, match=r"bitrates are \[3200, 6000, 9200\]"):
        soundstream.load_model("missing.tflite", embedding="quantized", bitrate=5000)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        soundstream.load_model("missing.tflite", workers=0)
    with pytest.raises(ValueError, match="unknown TFLite runtime 'tensorflow'"):
        soundstream.load_model("missing.tflite", runtime="tensorflow")


def test_wrong_files_are_refused(tiny, tmp_path):
    with pytest.raises(CheckpointUnavailableError, match="is not a file"):
        soundstream.load_model(str(tmp_path / "missing.tflite"))
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\x00" * 1000)
    with pytest.raises(CheckpointError, match="not a TFLite model"):
        soundstream.load_model(str(garbage))
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(tiny.stateful.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cannot load"):
        soundstream.load_model(str(truncated))
    other = write_linear_encoder(tmp_path / "other.tflite", np.ones((32, 320), np.float32))
    with pytest.raises(CheckpointMismatchError, match="returns 32 values per frame"):
        soundstream.load_model(str(other))
    windows = write_linear_encoder(tmp_path / "windows.tflite", np.ones((64, 400), np.float32))
    with pytest.raises(CheckpointMismatchError, match=r"shape \[1, 400\]"):
        soundstream.load_model(str(windows))


def test_identify_checks_the_interface(tiny, tmp_path):
    """The family recognises a file by its interface: one float32 input of 320 samples, 64 values out."""

    def identify(path: Path) -> tuple[str, ...]:
        return FAMILY.identify(FAMILY.read(SPEC, path))

    assert identify(tiny.stateful) == identify(tiny.linear) == ("lyra-v1.3.2",)
    assert identify(write_linear_encoder(tmp_path / "d32.tflite", np.ones((32, 320), np.float32))) == ()
    assert identify(write_linear_encoder(tmp_path / "n400.tflite", np.ones((64, 400), np.float32))) == ()
    assert identify(tiny.quantizer) == ()  # two inputs
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(tiny.stateful.read_bytes()[:200])
    assert identify(truncated) == ()


@pytest.mark.parametrize(("bitrate", "n_quantizers"), [(3200, 16), (6000, 30), (9200, 46)])
def test_quantized_frames_go_through_the_quantizer(tiny, bitrate, n_quantizers):
    """The toy quantizer's codes are trunc(frame[:46]); those Lyra does not transmit become -1."""
    model = soundstream.load_model(str(tiny.stateful), embedding="quantized", bitrate=bitrate)
    audio = audio16k(2, 0.3) * 4
    latent = tiny.expected_stateful(audio)
    expected = np.zeros_like(latent)
    expected[..., :46] = -1
    expected[..., :n_quantizers] = np.trunc(latent[..., :n_quantizers])
    quantized = frames_of(model, audio)
    assert quantized.shape == latent.shape
    # Float rounding may put a value across an integer: compare where its bound cannot reach one.
    safe = np.abs(latent - np.round(latent)) > tiny.stateful_bound(audio)
    assert safe.mean() > 0.99
    np.testing.assert_array_equal(quantized[safe], expected[safe])


def test_quantizer_is_found_beside_the_encoder_or_given(tiny, tmp_path):
    # tiny.stateful has quantizer.tflite beside it; tiny.linear does not, so the path is given.
    beside = soundstream.load_model(str(tiny.stateful), embedding="quantized")
    assert beside.encoder.quantizer is not None
    given = soundstream.load_model(
        str(tiny.linear), embedding="quantized", quantizer_file_path=str(tiny.quantizer)
    )
    audio = audio16k(1, 0.2) * 4
    codes = frames_of(given, audio)[..., :46]
    assert np.array_equal(codes, np.trunc(codes)) and (codes != 0).any()
    with pytest.raises(CheckpointMismatchError, match="'encode' and 'decode'"):
        soundstream.load_model(str(tiny.linear), embedding="quantized", quantizer_file_path=str(tiny.linear))


def official_from(monkeypatch, which: str, path: Path, sha256: str | None = None) -> None:
    """Point an official file (``"encoder"``: the spec's weights; ``"quantizer"``) at a local file
    served by URL, as GitHub would serve it."""
    original = SPEC.weights if which == "encoder" else soundstream.QUANTIZER_CHECKPOINT
    checkpoint = dataclasses.replace(
        original, url=path.as_uri(), sha256=sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    )
    if which == "encoder":
        monkeypatch.setitem(FAMILY.specs, SPEC.variant, dataclasses.replace(SPEC, weights=checkpoint))
    else:
        monkeypatch.setattr(soundstream, "QUANTIZER_CHECKPOINT", checkpoint)


def test_default_load_downloads_verifies_and_caches(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HEAR_WRAPPERS_CACHE", str(tmp_path / "cache"))
    official_from(monkeypatch, "encoder", tiny.stateful)
    official_from(monkeypatch, "quantizer", tiny.quantizer)
    model = soundstream.load_model(embedding="quantized", progress=False)
    assert (tmp_path / "cache" / "lyra-v1.3.2-soundstream_encoder.tflite").is_file()
    assert (tmp_path / "cache" / "lyra-v1.3.2-quantizer.tflite").is_file()
    reference = soundstream.load_model(str(tiny.stateful), embedding="quantized")
    audio = audio16k(1, 0.5)
    assert torch.equal(
        soundstream.get_scene_embeddings(audio, model), soundstream.get_scene_embeddings(audio, reference)
    )


def test_default_load_refuses_a_wrong_checksum(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HEAR_WRAPPERS_CACHE", str(tmp_path / "cache"))
    official_from(monkeypatch, "encoder", tiny.stateful, sha256=soundstream.ENCODER_CHECKPOINT.sha256)
    with pytest.raises(CheckpointError, match="expected 237da0b1"):
        soundstream.load_model(progress=False)
    assert not (tmp_path / "cache" / "lyra-v1.3.2-soundstream_encoder.tflite").exists()


def test_registry_entry_is_lyras_release():
    assert SPEC.name == "soundstream-lyra-v1.3.2" and SPEC.weights is soundstream.ENCODER_CHECKPOINT
    assert (SPEC.sample_rate, SPEC.frame_hop_ms, SPEC.frame_size) == (16000, 20.0, 64)
    for checkpoint, name in (
        (soundstream.ENCODER_CHECKPOINT, "soundstream_encoder.tflite"),
        (soundstream.QUANTIZER_CHECKPOINT, "quantizer.tflite"),
    ):
        assert (
            checkpoint.url == f"https://raw.githubusercontent.com/google/lyra/v1.3.2/lyra/model_coeffs/{name}"
        )
        assert len(checkpoint.sha256) == 64 and checkpoint.license == "Apache-2.0"


# ----------------------------------------------------------------------------------------------------
# The random-weight stand-in (write_random_weights) and the TFLite writer


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Path:
    """The encoder file ``write_random_weights`` writes (with ``quantizer.tflite`` beside it)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return FAMILY.write_random_weights(SPEC, tmp_path_factory.mktemp("stand-in"))


def interface(path: Path) -> dict[str, object]:
    """What a user of the file sees: signatures, and the main subgraph's inputs' and outputs' shapes
    and dtypes."""
    interpreter = Interpreter(model_path=str(path))
    return {
        "signatures": interpreter.get_signature_list(),
        "inputs": [(list(d["shape"]), np.dtype(d["dtype"]).name) for d in interpreter.get_input_details()],
        "outputs": [(list(d["shape"]), np.dtype(d["dtype"]).name) for d in interpreter.get_output_details()],
    }


def test_stand_in_has_lyras_interface(stand_in):
    assert stand_in.name == "lyra-v1.3.2-soundstream_encoder.tflite"
    assert FAMILY.identify(FAMILY.read(SPEC, stand_in)) == ("lyra-v1.3.2",)
    assert interface(stand_in) == {
        "signatures": ENCODER_SIGNATURES,
        "inputs": [([1, 320], "float32")],
        "outputs": [([1, 1, 64], "float32")],
    }
    quantizer = interface(stand_in.parent / "quantizer.tflite")
    assert quantizer["signatures"] == QUANTIZER_SIGNATURES


@needs_real
def test_stand_in_interface_equals_the_real_files(stand_in):
    assert interface(stand_in) == interface(REAL_ENCODER)
    assert interface(stand_in.parent / "quantizer.tflite") == interface(REAL_QUANTIZER)


def test_stand_in_is_stateful_and_causal_like_lyras(stand_in):
    """Its state survives invokes and reset_all_variables (resource variables, as Lyra's); the
    wrapper's fresh interpreters still make every clip start from the initial state; and frame k
    depends on blocks up to k only, the state carrying block k into the next frames."""
    interpreter = Interpreter(model_path=str(stand_in))
    interpreter.allocate_tensors()
    block = audio16k(1, 0.02, seed=12).numpy()
    outputs = []
    for reset in (False, True, False):
        if reset:
            interpreter.reset_all_variables()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], block)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy())
    assert not np.array_equal(outputs[0], outputs[1]) and not np.array_equal(outputs[1], outputs[2])
    model = soundstream.load_model(str(stand_in))
    audio = audio16k(1, 0.2, seed=13)
    clicked = audio.clone()
    clicked[0, 5 * 320 + 100] += 0.5  # a click in block 5
    before, _ = soundstream.get_timestamp_embeddings(audio, model)
    after, _ = soundstream.get_timestamp_embeddings(clicked, model)
    changed = (after - before).abs().amax(dim=2)[0] > 0
    assert not changed[:5].any() and changed[5] and changed[6]


def causal_network(audio: np.ndarray, layers: list[StreamingConv]) -> np.ndarray:
    """The layers over a whole clip ``[N]`` at once, in float64: each convolution causal (the input
    zero-padded by ``kernel - stride`` steps on the left); frames ``[T, channels]``."""
    x = audio[None].astype(np.float64)  # [channels, time]
    for layer in layers:
        weights = layer.weights.astype(np.float64)
        kernel, stride = weights.shape[2], layer.stride
        padded = np.pad(x, ((0, 0), (layer.past, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=1)[:, ::stride]
        x = np.einsum("oik,itk->ot", weights, windows[:, : x.shape[1] // stride]) + layer.bias[:, None]
        if layer.leaky_relu is not None:
            x = np.where(x > 0, x, layer.leaky_relu * x)
    return x.T


def test_streaming_encoder_is_the_causal_network_fed_block_by_block(tmp_path):
    """`write_streaming_encoder`'s model, fed 320 samples per invoke through the wrapper, gives the
    whole-clip causal network's frames: its resource variables carry exactly each layer's past."""
    rng = np.random.default_rng(14)
    shapes = ((1, 8, 8, 4), (8, 16, 8, 4), (16, 32, 8, 4), (32, 64, 10, 5))
    layers = [
        StreamingConv(
            (rng.standard_normal((n_out, n_in, kernel)) * math.sqrt(2 / (n_in * kernel))).astype(np.float32),
            (rng.standard_normal(n_out) * 0.1).astype(np.float32),
            stride,
            None if index == len(shapes) - 1 else 0.2,
        )
        for index, (n_in, n_out, kernel, stride) in enumerate(shapes)
    ]
    path = write_streaming_encoder(tmp_path / "s.tflite", layers, frame_samples=320, output_shape=(1, 1, 64))
    audio = audio16k(2, 0.3, seed=15)
    frames = soundstream.load_model(str(path)).encoder(audio).double()
    expected = torch.from_numpy(np.stack([causal_network(clip, layers) for clip in audio.double().numpy()]))
    assert frames.shape == expected.shape == (2, 15, 64)
    fan_in = max(n_in * kernel for n_in, _, kernel, _ in shapes)
    tolerance = reordering_tolerance(expected, depth=len(layers), fan_in=fan_in)
    torch.testing.assert_close(frames, expected, atol=tolerance, rtol=0)


def residual_quantize(
    frames: np.ndarray, codebooks: np.ndarray, n_quantizers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy residual vector quantization in float64: ``(sum of the first n chosen vectors [T, D],
    each frame's smallest relative gap between its nearest and second-nearest vector)``."""
    sums, gaps = np.zeros_like(frames), np.full(len(frames), np.inf)
    for t, frame in enumerate(frames):
        residual = frame.copy()
        for stage, book in enumerate(codebooks.astype(np.float64)):
            distances = ((book - residual) ** 2).sum(axis=1)
            nearest, second = np.argsort(distances)[:2]
            gaps[t] = min(gaps[t], (distances[second] - distances[nearest]) / distances[nearest])
            residual -= book[nearest]
            if stage < n_quantizers:
                sums[t] += book[nearest]
    return sums, gaps


@pytest.mark.parametrize(("bitrate", "n_quantizers"), [(3200, 16), (9200, 46)])
def test_residual_quantizer_picks_the_nearest_vectors(stand_in, tmp_path, bitrate, n_quantizers):
    """`write_residual_quantizer`'s model, through the wrapper, sums the vectors that greedy residual
    quantization picks (compared where no two distances are within float32 rounding of each other)."""
    codebooks = (np.random.default_rng(16).standard_normal((46, 16, 64)) * 0.05).astype(np.float32)
    path = write_residual_quantizer(tmp_path / "q.tflite", codebooks, bits=4)
    model = soundstream.load_model(
        str(stand_in), embedding="quantized", bitrate=bitrate, quantizer_file_path=str(path)
    )
    latent = soundstream.load_model(str(stand_in)).encoder(audio16k(1, 0.5, seed=17))[0].double().numpy()
    quantized = model.encoder(audio16k(1, 0.5, seed=17))[0].double().numpy()
    expected, gaps = residual_quantize(latent, codebooks, n_quantizers)
    # A float32 squared distance of 64 terms is within gamma(66) of its value, and each stage's residual
    # within 46 roundings of its float64 value, moving the distance by up to gamma(2 * 46) of it more:
    # two distances closer than twice that may swap; frames where none are that close must agree.
    safe = gaps > 2 * gamma(66 + 2 * 46)
    assert safe.sum() >= 0.75 * len(safe)
    bound = gamma(46 + 1) * np.abs(codebooks[:n_quantizers]).max(axis=1).sum(axis=0)
    assert_within(quantized[safe], expected[safe], bound)


def test_stand_ins_quantized_frames_approach_the_latent_ones_with_bitrate(stand_in):
    audio = audio16k(1, 1.0, seed=11)
    latent = frames_of(soundstream.load_model(str(stand_in)), audio)
    errors = []
    for bitrate in (3200, 6000, 9200):
        quantized = frames_of(
            soundstream.load_model(str(stand_in), embedding="quantized", bitrate=bitrate), audio
        )
        errors.append(np.linalg.norm(quantized - latent) / np.linalg.norm(latent))
    assert errors[0] > errors[1] > errors[2]


# ----------------------------------------------------------------------------------------------------
# Google's real Lyra 1.3.2 files


def bare_lyra(audio: torch.Tensor) -> np.ndarray:
    """Lyra's own way: a fresh interpreter per stream, 320 samples per invoke; ``[B, T, 64]``."""
    content = REAL_ENCODER.read_bytes()
    result = []
    for blocks in padded_blocks(audio).astype(np.float32):
        interpreter = Interpreter(model_content=content)
        interpreter.allocate_tensors()
        frames = []
        for block in blocks:
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], block[None])
            interpreter.invoke()
            frames.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).reshape(64))
        result.append(np.stack(frames))
    return np.stack(result)


@pytest.fixture(scope="module")
def real_model():
    if not REAL_ENCODER.is_file():
        pytest.skip(
            f"Lyra's real SoundStream files are not in {LYRA} (a user's clone has no ../shared/models)"
        )
    return soundstream.load_model(str(REAL_ENCODER))


@needs_real
def test_real_files_are_the_official_ones_and_recognised():
    assert soundstream.ENCODER_CHECKPOINT.matches(sha256_of(REAL_ENCODER))
    assert soundstream.QUANTIZER_CHECKPOINT.matches(sha256_of(REAL_QUANTIZER))
    assert FAMILY.identify(FAMILY.read(SPEC, REAL_ENCODER)) == ("lyra-v1.3.2",)
    assert interface(REAL_ENCODER)["signatures"] == ENCODER_SIGNATURES
    assert interface(REAL_QUANTIZER)["signatures"] == QUANTIZER_SIGNATURES


@needs_real
def test_real_encoder_frames_equal_lyras_own_loop(real_model):
    audio = audio16k(2, 1.005, seed=8) * 0.3  # 50.25 blocks: the padded 51st is dropped
    embeddings, timestamps = soundstream.get_timestamp_embeddings(audio, real_model)
    assert embeddings.shape == (2, 50, 64) and timestamps[0, -1] == 990.0
    assert torch.isfinite(embeddings).all() and embeddings.abs().max() > 0.1
    np.testing.assert_array_equal(embeddings.numpy(), bare_lyra(audio)[:, :50])


@needs_real
def test_real_encoder_is_stateful_and_the_wrapper_is_not(real_model):
    audio = audio16k(3, 0.6, seed=9) * 0.3
    first = soundstream.get_timestamp_embeddings(audio, real_model)[0]
    assert torch.equal(soundstream.get_timestamp_embeddings(audio, real_model)[0], first)
    assert torch.equal(soundstream.get_timestamp_embeddings(audio[1:2], real_model)[0][0], first[1])
    # The model itself: the same input fed again to the same interpreter gives other frames.
    interpreter = Interpreter(model_path=str(REAL_ENCODER))
    interpreter.allocate_tensors()
    block = audio[0, :320].numpy()[None]
    outputs = []
    for _ in range(2):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], block)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy())
    assert not np.array_equal(*outputs)


@needs_real
def test_real_encoder_is_causal_so_frame_k_describes_block_k(real_model):
    audio = audio16k(1, 0.5, seed=10) * 0.1
    clicked = audio.clone()
    clicked[0, 10 * 320 + 100] += 0.8  # a click in block 10
    before, _ = soundstream.get_timestamp_embeddings(audio, real_model)
    after, _ = soundstream.get_timestamp_embeddings(clicked, real_model)
    changed = (after - before).abs().amax(dim=2)[0] > 0
    assert not changed[:10].any() and changed[10]


@needs_real
def test_real_quantized_frames_approach_the_latent_ones_with_bitrate(real_model):
    audio = audio16k(1, 1.0, seed=11) * 0.3
    latent = frames_of(real_model, audio)
    errors = []
    for bitrate in (3200, 6000, 9200):
        model = soundstream.load_model(str(REAL_ENCODER), embedding="quantized", bitrate=bitrate)
        quantized = frames_of(model, audio)
        errors.append(np.linalg.norm(quantized - latent) / np.linalg.norm(latent))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.3
    # The last model's frames are exactly Lyra's quantize + decode of the latent frames.
    interpreter = Interpreter(model_path=str(REAL_QUANTIZER))
    encode, decode = interpreter.get_signature_runner("encode"), interpreter.get_signature_runner("decode")
    for k in (0, 25, 49):
        frame = latent[0, k].astype(np.float32).reshape(1, 1, 64)
        codes = encode(input_frames=frame, num_quantizers=np.array(46, np.int32))["output_0"]
        np.testing.assert_array_equal(quantized[0, k], decode(encoding_indices=codes)["output_0"].reshape(64))


# ----------------------------------------------------------------------------------------------------
# The official tools, unchanged (the contract suite runs hearvalidator on the stand-in)

needs_tools = pytest.mark.skipif(
    not installed("heareval", "hearvalidator", "tensorflow"),
    reason="needs the HEAR tools: pip install 'hear-wrappers[eval]' "
    "&& python -m hear_wrappers.heareval install",
)
MODEL_FILES = [
    pytest.param("tiny", id="tiny-stateful"),
    pytest.param("real", id="lyra-1.3.2", marks=needs_real),
]


def model_file(which: str, tiny: Tiny) -> Path:
    return tiny.stateful if which == "tiny" else REAL_ENCODER


@needs_tools
@needs_real
def test_hearvalidator_passes_on_the_real_file():
    """The contract suite runs hearvalidator on the stand-in; this is Google's own file."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hear_wrappers.heareval",
            "validate",
            "hear_wrappers.soundstream",
            "-m",
            str(REAL_ENCODER),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Looks good!" in result.stdout


@needs_tools
@pytest.mark.parametrize("which", MODEL_FILES)
def test_official_embeddings_runner_end_to_end(tiny, which, tmp_path):
    """``python -m heareval.embeddings.runner``, heareval unpatched, takes the module as it is."""
    import soundfile

    path = model_file(which, tiny)
    layout = build_small_tasks(tmp_path / "tasks", SR, event_seconds=2.0)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "heareval.embeddings.runner",
            "hear_wrappers.soundstream",
            "--model",
            str(path),
            "--tasks-dir",
            "tasks",
            "--embeddings-dir",
            "embeddings",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    model = soundstream.load_model(str(path))
    for kind, (task, splits) in layout.items():
        out = tmp_path / "embeddings" / "hear_wrappers.soundstream" / task
        assert (out / ".done.embeddings").is_file()
        for split, names in splits.items():
            n_embeddings, dim = json.loads((out / f"{split}.embedding-dimensions.json").read_text())
            if kind == "scene":
                assert (n_embeddings, dim) == (len(names), 128)
            else:
                assert (n_embeddings, dim) == (len(names) * 100, 64)  # 2 s at 50 frames per second
            memmap = np.memmap(
                out / f"{split}.embeddings.npy", dtype=np.float32, mode="r", shape=(n_embeddings, dim)
            )
            assert np.isfinite(memmap).all() and memmap.std() > 0
            # Each clip's embedding is the one the module gives in this process, whatever the batch.
            for name in names:
                audio, _ = soundfile.read(
                    str(tmp_path / "tasks" / task / str(SR) / split / name), dtype="float32"
                )
                clip = torch.from_numpy(audio)[None]
                written = np.load(out / split / f"{name}.embedding.npy")
                if kind == "scene":
                    expected = soundstream.get_scene_embeddings(clip, model)[0]
                else:
                    expected, timestamps = soundstream.get_timestamp_embeddings(clip, model)
                    expected = expected[0]
                    assert (
                        json.loads((out / split / f"{name}.timestamps.json").read_text())
                        == timestamps[0].tolist()
                    )
                np.testing.assert_array_equal(written, expected.numpy())


@pytest.mark.parametrize("progress", [False, True])
def test_quantizer_download_shows_a_bar_only_with_progress(tiny, tmp_path, monkeypatch, capfd, progress):
    # tiny.linear has no quantizer beside it: the quantizer is the official file, downloaded.
    monkeypatch.setenv("HEAR_WRAPPERS_CACHE", str(tmp_path / "cache"))
    official_from(monkeypatch, "quantizer", tiny.quantizer)
    capfd.readouterr()
    model = soundstream.load_model(str(tiny.linear), embedding="quantized", progress=progress)
    assert model.encoder.quantizer is not None
    assert ("100%" in capfd.readouterr().err) is progress  # torch.hub's tqdm bar
