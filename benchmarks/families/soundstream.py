"""SoundStream (Lyra 1.3.2, TFLite): Google's real encoder and quantizer, against Lyra's own loop on a plain
interpreter, with the wrapper one clip at a time (``x1``) and with its default parallel workers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from harness.measure import time_call
from harness.profile import Bench, Call, Method, Profile, Section, Settings, Step, Weights

from hear_wrappers import soundstream
from hear_wrappers.core.checkpoints import resolve_checkpoint
from hear_wrappers.core.tflite import load_interpreter_class

#: Lyra's files beside the repository (``../shared/models/lyra-1.3.2/``), when present.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "models" / "lyra-1.3.2"
QUANTIZED_BITRATE = 9200
BLOCK = soundstream.FRAME_SAMPLES
X1 = {"workers": 1}  # one clip at a time, like the bare loop


class BareLoop:
    """Lyra's loop around a plain TFLite interpreter, in plain Python: what the wrapper is compared with.

    Args:
        encoder: ``soundstream_encoder.tflite``.
        quantizer: ``quantizer.tflite``.
    """

    def __init__(self, encoder: Path, quantizer: Path) -> None:
        self.interpreter_class = load_interpreter_class("auto", extra="soundstream")[1]
        self.encoder = encoder.read_bytes()
        self.quantizer = self.interpreter_class(model_path=str(quantizer))
        self.encode = self.quantizer.get_signature_runner("encode")
        self.decode = self.quantizer.get_signature_runner("decode")

    def fresh(self) -> Any:
        """A fresh encoder interpreter, allocated: the encoder is stateful, this is its initial state."""
        interpreter = self.interpreter_class(model_content=self.encoder, num_threads=1)
        interpreter.allocate_tensors()
        return interpreter

    def latent(self, audio: torch.Tensor) -> np.ndarray:
        """``[B, ceil(N / 320), 64]``: each clip from a fresh interpreter, block by block."""
        n_blocks = math.ceil(audio.shape[1] / BLOCK)
        padded = np.zeros((audio.shape[0], n_blocks * BLOCK), np.float32)
        padded[:, : audio.shape[1]] = audio.numpy()
        clips = []
        for blocks in padded.reshape(audio.shape[0], n_blocks, 1, BLOCK):
            interpreter = self.fresh()
            source = interpreter.get_input_details()[0]["index"]
            target = interpreter.get_output_details()[0]["index"]
            frames = np.empty((n_blocks, 64), np.float32)
            for k in range(n_blocks):
                interpreter.set_tensor(source, blocks[k])
                interpreter.invoke()
                frames[k] = interpreter.get_tensor(target).reshape(64)
            clips.append(frames)
        return np.stack(clips)

    def quantized(self, audio: torch.Tensor) -> np.ndarray:
        """`latent`, then Lyra's quantize (46 quantizers, 9200 bit/s) and decode of every frame."""
        latent = self.latent(audio)
        count = np.array(soundstream.BITRATES[QUANTIZED_BITRATE], np.int32)
        out = np.empty_like(latent)
        for index in np.ndindex(latent.shape[:2]):
            codes = self.encode(input_frames=latent[index].reshape(1, 1, 64), num_quantizers=count)
            out[index] = self.decode(encoding_indices=codes["output_0"])["output_0"].reshape(64)
        return out


class SoundStreamProfile(Profile):
    """The real files: ``--weights`` (the encoder; the quantizer beside it), ``../shared``, or the cache."""

    repeats = (5, 3)
    long_repeats = (3, 1)

    def weights(self, folder: Path, given: Path | None) -> Weights:
        if given is not None:
            return Weights(given, f"--weights {given}")
        if (SHARED / "soundstream_encoder.tflite").is_file():
            return Weights(SHARED / "soundstream_encoder.tflite", str(SHARED))
        path = resolve_checkpoint(self.spec.weights, extra=self.spec.extra, progress=False)
        return Weights(path, f"official download ({self.spec.weights.url}), cached")

    def methods(self) -> dict[str, Method]:
        quantized = {"workers": 1, "embedding": "quantized", "bitrate": QUANTIZED_BITRATE}
        methods = (
            Method("bare", baseline=None, wrapper=False),
            Method("encoder x1", "encoder", X1),
            Method("timestamp x1", "timestamp", X1),
            Method("scene x1", "scene", X1),
            Method("timestamp"),
            Method("bare quantized", baseline=None, wrapper=False),
            Method("quantized x1", "timestamp", quantized, baseline="bare quantized"),
        )
        return {m.name: m for m in methods}

    def plan(self, settings: Settings) -> list[Step]:
        methods = tuple(self.methods())
        memory = ("bare", "timestamp x1")
        short = [self.case(32, 1), self.case(4, 10), self.case(1, 10)]
        return [
            *(self.short_step(c, methods, memory if c.n_clips == 1 else (), settings) for c in short),
            self.long_step(methods, memory, settings),
        ]

    def _loop(self, bench: Bench) -> BareLoop:
        encoder = bench.weights.path
        beside = encoder.parent / soundstream.QUANTIZER_FILE
        quantizer = beside if beside.is_file() else resolve_checkpoint(soundstream.QUANTIZER_CHECKPOINT)
        return BareLoop(encoder, quantizer)

    def bare(self, bench: Bench) -> Call:
        """Lyra's loop: a fresh interpreter per clip, set_tensor / invoke / get_tensor per 320 samples."""
        return self._loop(bench).latent

    def call(self, method: Method, bench: Bench) -> Call:
        if method.kind == "bare quantized":
            return self._loop(bench).quantized
        return super().call(method, bench)

    def check(self, bench: Bench) -> dict[str, float]:
        """The wrapper's frames (one clip at a time) equal the bare loop's exactly, on 2 x 3 s."""
        audio = self.case(2, 3.0).audio(seed=1)
        bare = cast(np.ndarray, self.bare(bench)(audio))
        wrapped = soundstream.get_timestamp_embeddings(audio, bench.model(**X1))[0].numpy()
        if not np.array_equal(wrapped, bare[:, : wrapped.shape[1]]):
            raise RuntimeError("the wrapper's frames differ from the bare loop's: the comparison is void")
        return {"timestamp x1": 0.0}

    def describe(self, bench: Bench) -> list[str]:
        return [
            "`bare` = Lyra's loop on a plain interpreter (fresh interpreter per clip, one "
            "set_tensor/invoke/get_tensor per 320 samples, one thread); `encoder x1` = the wrapper's TFLite "
            "encoder alone (`model.encoder(audio)`, no input checks or pooling); `timestamp x1` / `scene x1` "
            "= the wrapper with `workers=1`; `timestamp` = the wrapper with the default workers (clips in "
            "parallel); `bare quantized` / `quantized x1` = the same with Lyra's quantizer at "
            f"{QUANTIZED_BITRATE} bit/s on every frame (`quantized x1` over `bare quantized`)."
        ]

    def extras(self, bench: Bench, rows: list[Any]) -> list[Section]:
        """What the per-clip state reset (a fresh, allocated interpreter) costs."""
        reset = time_call(self._loop(bench).fresh, warmup=3, repeats=50).median
        line = f"A fresh encoder interpreter (the per-clip state reset): {1000 * reset:.2f} ms (median, 50)."
        print(line, flush=True)
        return [Section("Per-clip state reset", [line], {"reset_ms": 1000 * reset})]


PROFILE = SoundStreamProfile
