"""A TFLite audio encoder as a `FrameEncoder`: frames of audio in, one embedding per invoke out.

Many on-device audio models ship only as ``.tflite`` files, which neither torch nor heareval can run
(heareval's runner accepts a ``torch.nn.Module`` or a ``tf.Module``). `TFLiteEncoder` owns the model
bytes and its TFLite interpreters inside a ``torch.nn.Module``, so such a model goes through the core
like any other: checks, timestamps, pooling, heareval.

What a model needs to be described (`TFLiteAudioSpec`):

* ``sample_rate``: the rate of the audio it takes (one of HEAR's rates);
* ``frame_samples``: how many samples each invoke takes (the input tensor's size, e.g. ``[1, 320]``);
* ``hop_samples``: how far consecutive invokes advance (``frame_samples`` for a streaming model that
  consumes its input block by block; less for a model that looks at overlapping windows);
* ``input_scale``: what the audio in [-1, 1] is multiplied by before it is fed (``1.0`` for a model
  trained on int16 PCM / 32768, ``32768.0`` for one that takes int16-valued floats);
* ``output``: which output tensor holds the embedding, by name (a signature output name such as
  ``"output_0"`` or a tensor name) or by its position among the model's outputs;
* ``stateful``: whether the model carries state from one invoke to the next (streaming models keep
  their convolutions' past in resource variables).

Timing: invoke ``k`` sees samples ``[k * hop, k * hop + frame)`` of the clip, zero-padded past its end,
and its embedding is timestamped at the centre of that span.

State: a stateful model's output depends on everything fed since its interpreter was created, and the
interpreter API cannot restore the initial state (``reset_all_variables`` only resets old-style variable
tensors, not the resource variables that streaming models use). Each clip is therefore encoded by a
*fresh* interpreter built from the model bytes (a few ms), so a clip's embedding never depends on what
ran before it or beside it in the batch. A stateless model reuses idle interpreters.

Clips of a batch are encoded in parallel on ``workers`` threads (TFLite releases the GIL while it
runs), each clip on its own interpreter, so results do not depend on ``workers``.

Runtimes: ``ai-edge-litert`` (``ai_edge_litert``, the successor of ``tflite-runtime``, much faster on
models that XNNPACK accelerates) or, as a fallback, ``tflite-runtime`` (``tflite_runtime``). Both have
the same ``Interpreter`` API. TFLite runs on the CPU: moving the module with ``.to(device)`` changes
nothing, and embeddings come back on the CPU.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hear_wrappers.core.checkpoints import CheckpointError, CheckpointMismatchError
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.imports import MissingExtraError
from hear_wrappers.core.model import FrameEncoder

__all__ = [
    "RUNTIMES",
    "TFLiteAudioSpec",
    "TFLiteEncoder",
    "TFLiteFile",
    "load_interpreter_class",
    "read_tflite",
]

#: TFLite runtimes, in the order ``runtime="auto"`` tries them: module name -> pip package.
RUNTIMES: dict[str, str] = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}

_TFLITE_IDENTIFIER = b"TFL3"  # the flatbuffer file identifier, bytes 4..8 of every .tflite file


def load_interpreter_class(runtime: str = "auto", *, extra: str) -> tuple[str, type]:
    """The ``Interpreter`` class of a TFLite runtime.

    Args:
        runtime: ``"auto"`` (``ai_edge_litert`` if installed, else ``tflite_runtime``), or one of
            `RUNTIMES` by name.
        extra: the hear-wrappers extra that installs a runtime, for the error message.

    Returns:
        ``(module name, Interpreter class)``.

    Raises:
        ValueError: unknown ``runtime``.
        MissingExtraError: the runtime (or, for ``"auto"``, every runtime) is not installed.
    """
    if runtime != "auto" and runtime not in RUNTIMES:
        raise ValueError(f"unknown TFLite runtime {runtime!r}: choose 'auto' or one of {list(RUNTIMES)}.")
    candidates = list(RUNTIMES) if runtime == "auto" else [runtime]
    for name in candidates:
        if importlib.util.find_spec(name) is None:
            continue
        return name, importlib.import_module(f"{name}.interpreter").Interpreter
    wanted = " or ".join(repr(RUNTIMES[name]) for name in candidates)
    raise MissingExtraError(
        f"this model runs on TFLite and needs the {wanted} package, which is not installed: "
        f"pip install 'hear-wrappers[{extra}]'"
    )


def read_tflite(path: str | os.PathLike[str], *, what: str) -> bytes:
    """The bytes of a ``.tflite`` file, after checking that it is one.

    Raises:
        CheckpointError: the file is not a TFLite flatbuffer (wrong or missing identifier).
    """
    content = Path(path).read_bytes()
    if content[4:8] != _TFLITE_IDENTIFIER:
        raise CheckpointError(
            f"{path} is not a TFLite model (a .tflite file carries the identifier 'TFL3' at byte 4; "
            f"this one starts with {content[:8]!r}): pass the {what} .tflite file."
        )
    return content


@dataclass(frozen=True)
class TFLiteFile:
    """A ``.tflite`` file read into memory (what a TFLite model family's ``read`` returns).

    Attributes:
        path: where it was read from (for messages, and for companion files kept beside it).
        content: its bytes, checked to be a TFLite flatbuffer (see `read_tflite`).
    """

    path: Path
    content: bytes = field(repr=False)

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, what: str) -> TFLiteFile:
        """Read and check ``path`` (see `read_tflite`)."""
        return cls(Path(path), read_tflite(path, what=what))


@dataclass(frozen=True)
class TFLiteAudioSpec:
    """How a TFLite audio encoder is fed and what comes out (see the module docs).

    Attributes:
        sample_rate: rate of the audio the model takes, in Hz (one of HEAR's rates).
        frame_samples: samples fed per invoke; the model's audio input must hold exactly this many
            values (e.g. shape ``[1, 320]``).
        hop_samples: samples between consecutive invokes; ``None`` for ``frame_samples``.
        input_scale: audio in [-1, 1] is multiplied by this before it is fed.
        output: the embedding's output tensor: a signature output name, a tensor name, or its
            position among the model's outputs.
        stateful: the model carries state between invokes (a fresh interpreter per clip).
        input: the audio input tensor, by the same rules as ``output``; the model must have only this
            one input.
        signature: the signature whose input/output names ``input``/``output`` may use; ``None`` for
            the model's only (or first) signature.
        min_samples: shortest clip accepted, in samples; ``None`` for ``frame_samples``.
        name: the model, for messages.
    """

    sample_rate: int
    frame_samples: int
    hop_samples: int | None = None
    input_scale: float = 1.0
    output: str | int = 0
    stateful: bool = False
    input: str | int = 0
    signature: str | None = None
    min_samples: int | None = None
    name: str = "the TFLite model"

    def __post_init__(self) -> None:
        if self.frame_samples <= 0 or (self.hop_samples is not None and self.hop_samples <= 0):
            raise ValueError(
                f"frame_samples and hop_samples must be positive, got {self.frame_samples} and "
                f"{self.hop_samples}."
            )
        if not math.isfinite(self.input_scale) or self.input_scale == 0:
            raise ValueError(f"input_scale must be finite and non-zero, got {self.input_scale}.")

    @property
    def hop(self) -> int:
        """Samples between consecutive invokes."""
        return self.frame_samples if self.hop_samples is None else self.hop_samples

    @property
    def timing(self) -> FrameTiming:
        """Embedding ``k`` sits at the centre of samples ``[k * hop, k * hop + frame_samples)``."""
        return FrameTiming(self.sample_rate, self.hop, first_centre_samples=self.frame_samples / 2)

    def num_frames(self, n_samples: int) -> int:
        """Invokes needed for ``n_samples`` (the last window is zero-padded)."""
        if n_samples <= self.frame_samples:
            return 1
        return math.ceil((n_samples - self.frame_samples) / self.hop) + 1


@dataclass(frozen=True)
class _Port:
    """A resolved input or output tensor of the model's main subgraph."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int


def _ports(details: Sequence[dict[str, Any]]) -> list[_Port]:
    ports = []
    for detail in details:
        scale, zero_point = detail.get("quantization", (0.0, 0))
        ports.append(
            _Port(
                index=int(detail["index"]),
                name=str(detail["name"]),
                shape=tuple(int(d) for d in detail["shape"]),
                dtype=np.dtype(detail["dtype"]),
                scale=float(scale),
                zero_point=int(zero_point),
            )
        )
    return ports


class TFLiteEncoder(FrameEncoder):
    """A TFLite model as a frame encoder: audio ``[B, N]`` -> embeddings ``[B, T, D]`` (float32, CPU).

    Args:
        model_content: the ``.tflite`` file's bytes (see `read_tflite`).
        spec: how to feed it and what to read (`TFLiteAudioSpec`).
        runtime: ``"auto"``, ``"ai_edge_litert"`` or ``"tflite_runtime"`` (`load_interpreter_class`).
        workers: clips encoded in parallel, each on its own interpreter; ``None`` for
            ``torch.get_num_threads()``.
        num_threads: threads of each interpreter (1 is fastest for small per-invoke work).
        extra: the hear-wrappers extra that installs a runtime, for the missing-runtime error.

    Raises:
        MissingExtraError: no TFLite runtime is installed.
        CheckpointError: the bytes are not a model the runtime can load.
        CheckpointMismatchError: the model's input or output does not fit ``spec``.
    """

    def __init__(
        self,
        model_content: bytes,
        spec: TFLiteAudioSpec,
        *,
        runtime: str = "auto",
        workers: int | None = None,
        num_threads: int = 1,
        extra: str,
    ) -> None:
        super().__init__()
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive integer or None, got {workers!r}.")
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be a positive integer, got {num_threads!r}.")
        self.spec = spec
        self.workers = workers
        self.num_threads = num_threads
        self.runtime, self._interpreter_class = load_interpreter_class(runtime, extra=extra)
        self._model_content = bytes(model_content)
        probe = self._new_interpreter()
        self._input = self._resolve_input(probe)
        self._output = self._resolve_output(probe)
        self._output_shape = self._output.shape
        self.timing = spec.timing
        self.embedding_size = math.prod(self._output.shape)
        self.min_samples = spec.frame_samples if spec.min_samples is None else spec.min_samples
        # Idle interpreters of a stateless model, reused across clips (list.pop/append are atomic).
        self._idle: list[Any] = [] if spec.stateful else [probe]

    # -- interpreters ------------------------------------------------------------------------------

    def _new_interpreter(self) -> Any:
        """A fresh interpreter with its tensors allocated (initial state for a stateful model)."""
        try:
            interpreter = self._interpreter_class(
                model_content=self._model_content, num_threads=self.num_threads
            )
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"{self.runtime} cannot load {self.spec.name} ({error}): the file is corrupt, or needs "
                f"ops this runtime lacks."
            ) from error
        return interpreter

    def _acquire(self) -> Any:
        if not self.spec.stateful:
            try:
                return self._idle.pop()
            except IndexError:
                pass
        return self._new_interpreter()

    def _release(self, interpreter: Any) -> None:
        if not self.spec.stateful:
            self._idle.append(interpreter)

    def __getstate__(self) -> dict[str, Any]:
        # Interpreters cannot be pickled or deep-copied; they are rebuilt from the bytes on demand.
        state = dict(super().__getstate__())
        state["_idle"] = []
        return state

    # -- ports -------------------------------------------------------------------------------------

    def _signature_names(self, interpreter: Any, kind: str) -> dict[str, int]:
        """``{signature input/output name: tensor index}`` of the chosen signature (main subgraph)."""
        signatures = interpreter.get_signature_list() if hasattr(interpreter, "get_signature_list") else {}
        if not signatures:
            return {}
        key = self.spec.signature or next(iter(signatures))
        if key not in signatures:
            raise CheckpointMismatchError(
                f"{self.spec.name} has no signature {key!r}; it has {sorted(signatures)}."
            )
        runner = interpreter.get_signature_runner(key)
        details = runner.get_input_details() if kind == "input" else runner.get_output_details()
        names = {name: int(detail["index"]) for name, detail in details.items()}
        main = interpreter.get_input_details() if kind == "input" else interpreter.get_output_details()
        if not set(names.values()) <= {int(detail["index"]) for detail in main}:
            raise CheckpointMismatchError(
                f"{self.spec.name}'s signature {key!r} does not run its main subgraph; only the main "
                f"subgraph is run: choose its signature, or a tensor by position."
            )
        return names

    def _pick(self, interpreter: Any, ports: list[_Port], wanted: str | int, kind: str) -> _Port:
        if isinstance(wanted, bool) or not isinstance(wanted, int | str):
            raise TypeError(f"{kind} must be a tensor name or position, got {type(wanted).__name__}.")
        if isinstance(wanted, int):
            if not -len(ports) <= wanted < len(ports):
                raise CheckpointMismatchError(
                    f"{self.spec.name} has {len(ports)} {kind}(s); {kind} {wanted} does not exist. "
                    f"Its {kind}s: {[p.name for p in ports]}."
                )
            return ports[wanted]
        by_signature = self._signature_names(interpreter, kind)
        for port in ports:
            if port.name == wanted or by_signature.get(wanted) == port.index:
                return port
        raise CheckpointMismatchError(
            f"{self.spec.name} has no {kind} named {wanted!r}: choose a tensor name "
            f"{[p.name for p in ports]}, a signature name {sorted(by_signature)}, or a position."
        )

    def _resolve_input(self, interpreter: Any) -> _Port:
        ports = _ports(interpreter.get_input_details())
        if len(ports) != 1:
            raise CheckpointMismatchError(
                f"{self.spec.name} has {len(ports)} inputs {[p.name for p in ports]}; only models whose "
                f"one input is audio are supported."
            )
        port = self._pick(interpreter, ports, self.spec.input, "input")
        if math.prod(port.shape) != self.spec.frame_samples:
            raise CheckpointMismatchError(
                f"{self.spec.name}'s input {port.name!r} has shape {list(port.shape)} "
                f"({math.prod(port.shape)} values), but {self.spec.frame_samples} samples are fed per "
                f"invoke: pass the right model file, or set frame_samples to match it."
            )
        if port.dtype != np.float32:
            raise CheckpointMismatchError(
                f"{self.spec.name}'s input {port.name!r} is {port.dtype}; only float32 audio inputs are "
                f"supported."
            )
        return port

    def _resolve_output(self, interpreter: Any) -> _Port:
        port = self._pick(interpreter, _ports(interpreter.get_output_details()), self.spec.output, "output")
        quantized = port.dtype in (np.int8, np.uint8, np.int16) and port.scale > 0
        if port.dtype != np.float32 and not quantized:
            raise CheckpointMismatchError(
                f"{self.spec.name}'s output {port.name!r} is {port.dtype} without quantization "
                f"parameters; embeddings must be float32 or quantized int8/uint8/int16."
            )
        return port

    # -- encoding ----------------------------------------------------------------------------------

    def num_frames(self, n_samples: int) -> int:
        return self.spec.num_frames(n_samples)

    def windows(self, audio: np.ndarray) -> np.ndarray:
        """The model inputs for clips ``[B, N]``: ``[B, T, *input shape]`` float32, scaled, padded."""
        n_sounds, n_samples = audio.shape
        frame, hop = self.spec.frame_samples, self.spec.hop
        n_frames = self.num_frames(n_samples)
        padded = np.zeros((n_sounds, (n_frames - 1) * hop + frame), dtype=np.float32)
        np.multiply(audio, np.float32(self.spec.input_scale), out=padded[:, :n_samples])
        if hop == frame:
            windows = padded.reshape(n_sounds, n_frames, frame)
        else:
            windows = np.lib.stride_tricks.sliding_window_view(padded, frame, axis=1)[:, ::hop]
        return windows.reshape(n_sounds, n_frames, *self._input.shape)

    def encode_clip(self, windows: np.ndarray) -> np.ndarray:
        """Embeddings ``[T, D]`` float32 of one clip's model inputs ``[T, *input shape]``.

        A stateful model starts from its initial state (fresh interpreter); runs on any thread.
        """
        interpreter = self._acquire()
        try:
            raw = np.empty((len(windows), *self._output_shape), dtype=self._output.dtype)
            set_tensor, invoke, get_tensor = (
                interpreter.set_tensor,
                interpreter.invoke,
                interpreter.get_tensor,
            )
            in_index, out_index = self._input.index, self._output.index
            for k in range(len(windows)):
                set_tensor(in_index, windows[k])
                invoke()
                raw[k] = get_tensor(out_index)
        finally:
            self._release(interpreter)
        frames = raw.reshape(len(windows), self.embedding_size)
        if frames.dtype != np.float32:  # a quantized output: real = scale * (q - zero_point)
            frames = (frames.astype(np.float32) - self._output.zero_point) * np.float32(self._output.scale)
        return frames

    def map_clips(self, fn: Callable[[np.ndarray], np.ndarray], clips: np.ndarray) -> list[np.ndarray]:
        """``[fn(clip) for clip in clips]``, on up to ``workers`` threads."""
        workers = min(len(clips), self.workers or torch.get_num_threads())
        if workers <= 1:
            return [fn(clip) for clip in clips]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hear-wrappers-tflite") as pool:
            return list(pool.map(fn, clips))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        windows = self.windows(audio.detach().to("cpu", torch.float32).numpy())
        frames = self.map_clips(self.encode_clip, windows)
        return torch.from_numpy(np.stack(frames))

    def extra_repr(self) -> str:
        spec = self.spec
        return (
            f"runtime={self.runtime!r}, frame_samples={spec.frame_samples}, hop_samples={spec.hop}, "
            f"input_scale={spec.input_scale}, output={self._output.name!r}, stateful={spec.stateful}, "
            f"workers={self.workers}"
        )
