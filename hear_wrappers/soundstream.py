"""SoundStream (Google's neural audio codec, as shipped in Lyra) as HEAR embeddings.

The public SoundStream encoder is the TFLite file ``lyra/model_coeffs/soundstream_encoder.tflite`` of
`google/lyra <https://github.com/google/lyra>`_ 1.3.2: a causal, streaming convolutional encoder
that takes 20 ms of 16 kHz audio per call (input ``[1, 320]`` float32, int16 PCM / 32768, which is
exactly HEAR's float audio in [-1, 1]) and returns one 64-d frame (``[1, 1, 64]``), 50 frames per
second. It runs through `hear_wrappers.core.tflite`, inside a ``torch.nn.Module``, so the official
heareval runner takes it as it is (no patched heareval).

Timestamp embeddings: frame ``k`` is the encoder's output after it has been fed samples
``[320 k, 320 (k + 1))``; the encoder is causal (an impulse in block ``k`` first changes frame ``k``),
so its timestamp is the centre of that block, ``20 k + 10`` ms. The last block is zero-padded, and
dropped if its centre lies past the clip's end.

State: the encoder is stateful. Its streaming convolutions keep their past in 14 TFLite resource
variables, so the same 20 ms fed twice gives two different frames, and the interpreter API cannot
put them back (``reset_all_variables`` does not touch resource variables). Every clip is therefore
encoded, block after block, by a fresh interpreter built from the model bytes (about 3 ms), exactly
as Lyra encodes one stream from its start: a clip's embedding never depends on the clips encoded
before it or beside it in the batch, and the same clip always gives the same frames. Clips of a batch
run in parallel on ``workers`` threads, one interpreter each.

Quantized frames (``embedding="quantized"``): Lyra's residual vector quantizer (``quantizer.tflite``,
46 codebooks of 16 vectors, 4 bits each) picks, for each frame, the codebook vectors that Lyra would
transmit at ``bitrate`` bits per second (3200, 6000 or 9200: 16, 30 or 46 quantizers), and the frame
becomes the sum of those vectors, as Lyra's decoder reconstructs it from the bitstream.

Default pooling: ``mean+max`` (128-d scene embeddings), chosen from measurements (docs/pooling.md):
codec frames describe the signal locally, and their maximum over time keeps a short sound that their
mean dilutes; any registered strategy can be chosen with ``pooling=``.

Weights: Google's files from the google/lyra repository at tag v1.3.2, Apache License 2.0, verified
against their sha256 and cached (see `hear_wrappers.core.checkpoints`). The registry names the model
``soundstream-lyra-v1.3.2``; ``write_random_weights`` writes a stand-in with random weights and the same
interface (see `SoundStreamFamily.write_random_weights`), for tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from hear_wrappers.core.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointMismatchError,
    resolve_checkpoint,
)
from hear_wrappers.core.imports import MissingExtraError
from hear_wrappers.core.model import get_scene_embeddings, get_timestamp_embeddings
from hear_wrappers.core.registry import ModelFamily, ModelSpec
from hear_wrappers.core.tflite import (
    RUNTIMES,
    TFLiteAudioSpec,
    TFLiteEncoder,
    TFLiteFile,
    load_interpreter_class,
    read_tflite,
)

__all__ = [
    "BITRATES",
    "ENCODER_CHECKPOINT",
    "ENCODER_SPEC",
    "FAMILY",
    "QUANTIZER_CHECKPOINT",
    "SAMPLE_RATE",
    "SoundStreamEncoder",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
]

SAMPLE_RATE = 16000
FRAME_SAMPLES = 320  # 20 ms per encoder call, 50 frames per second
EMBEDDING_SIZE = 64
FRAME_RATE = SAMPLE_RATE // FRAME_SAMPLES
#: Lyra's bitrates (bits per second) and the number of 4-bit quantizers each one transmits per frame.
BITRATES: dict[int, int] = {3200: 16, 6000: 30, 9200: 46}
#: Lyra's quantizer: codebooks (one per 4-bit quantizer) of 16 vectors.
MAX_QUANTIZERS, CODEBOOK_SIZE, BITS_PER_QUANTIZER = 46, 16, 4
#: The registry's variant name: the Lyra release the files come from.
VARIANT = "lyra-v1.3.2"
#: Lyra's name for the quantizer file, looked for beside the encoder file.
QUANTIZER_FILE = "quantizer.tflite"

_LYRA_RAW = "https://raw.githubusercontent.com/google/lyra/v1.3.2/lyra/model_coeffs/"
_LICENSE = "Apache-2.0"
_EXTRA = "soundstream"

ENCODER_CHECKPOINT = Checkpoint(
    name="lyra_soundstream_encoder",
    url=_LYRA_RAW + "soundstream_encoder.tflite",
    sha256="237da0b16226fb0a68d49551c81bebf614e42142af72764448359f68581e88f1",
    license=_LICENSE,
    filename="lyra-v1.3.2-soundstream_encoder.tflite",
)
QUANTIZER_CHECKPOINT = Checkpoint(
    name="lyra_quantizer",
    url=_LYRA_RAW + "quantizer.tflite",
    sha256="841ee05989687d32d1f616a8ad1419fc7eda37599d3c05c7cf5a0d60ccf8ac5c",
    license=_LICENSE,
    filename="lyra-v1.3.2-quantizer.tflite",
)

#: How Lyra feeds the encoder: 320 new samples per call, int16 / 32768 (HEAR's scale), state carried.
ENCODER_SPEC = TFLiteAudioSpec(
    sample_rate=SAMPLE_RATE,
    frame_samples=FRAME_SAMPLES,
    input_scale=1.0,
    output=0,  # the only output (serving_default's "output_0")
    stateful=True,
    name="the SoundStream encoder",
)

Embedding = Literal["latent", "quantized"]


class _LyraQuantizer:
    """Lyra's residual vector quantizer (``quantizer.tflite``): frames ``[T, 64]`` -> the sum of
    the codebook vectors Lyra transmits for them at a bitrate. Stateless; one interpreter per thread."""

    def __init__(self, model_content: bytes, bitrate: int, interpreter_class: type, num_threads: int) -> None:
        self._model_content = model_content
        self._interpreter_class = interpreter_class  # the encoder's runtime
        self._num_threads = num_threads
        self._idle: list[Any] = []
        runners = self._acquire()
        try:
            probe = runners[0](
                input_frames=np.zeros((1, 1, EMBEDDING_SIZE), np.float32),
                num_quantizers=np.array(1, np.int32),
            )
        except (KeyError, ValueError, RuntimeError) as error:
            raise CheckpointMismatchError(
                f"the quantizer file does not fit Lyra's quantizer ({error}); pass Lyra's quantizer.tflite."
            ) from error
        self._release(runners)
        self.max_quantizers = int(np.asarray(probe["output_0"]).size)
        self.bits_per_quantizer = int(np.asarray(probe["output_1"]).reshape(()))
        self.num_quantizers = BITRATES[bitrate]
        if (
            self.num_quantizers > self.max_quantizers
            or self.bits_per_quantizer * FRAME_RATE * self.num_quantizers != bitrate
        ):
            raise CheckpointMismatchError(
                f"this quantizer has {self.max_quantizers} quantizers of {self.bits_per_quantizer} bits; it "
                f"cannot give {bitrate} bit/s. Pass Lyra's quantizer.tflite."
            )

    def _acquire(self) -> tuple[Any, Any]:
        try:
            return self._idle.pop()
        except IndexError:
            pass
        try:
            interpreter = self._interpreter_class(
                model_content=self._model_content, num_threads=self._num_threads
            )
        except (ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"cannot load the quantizer file ({error}): pass Lyra's quantizer.tflite."
            ) from error
        signatures = interpreter.get_signature_list()
        if "encode" not in signatures or "decode" not in signatures:
            raise CheckpointMismatchError(
                f"the quantizer file has signatures {sorted(signatures)}, not Lyra's 'encode' and "
                f"'decode': pass Lyra's quantizer.tflite."
            )
        return interpreter.get_signature_runner("encode"), interpreter.get_signature_runner("decode")

    def _release(self, runners: tuple[Any, Any]) -> None:
        self._idle.append(runners)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_idle": []}

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        encode, decode = runners = self._acquire()
        try:
            count = np.array(self.num_quantizers, np.int32)
            out = np.empty_like(frames)
            for k, frame in enumerate(frames):
                indices = encode(input_frames=frame.reshape(1, 1, -1), num_quantizers=count)["output_0"]
                indices[self.num_quantizers :] = -1  # what Lyra's decoder sees for untransmitted ones
                out[k] = decode(encoding_indices=indices)["output_0"].reshape(-1)
        finally:
            self._release(runners)
        return out


class SoundStreamEncoder(TFLiteEncoder):
    """Lyra's SoundStream encoder on 16 kHz audio ``[B, N]`` -> frames ``[B, ceil(N / 320), 64]``.

    Args:
        encoder_content: bytes of ``soundstream_encoder.tflite``.
        quantizer_content: bytes of ``quantizer.tflite``, for ``embedding="quantized"``.
        embedding: ``"latent"`` (the encoder's output) or ``"quantized"`` (the sum of the codebook
            vectors Lyra transmits at ``bitrate``).
        bitrate: 3200, 6000 or 9200 bit/s, for ``"quantized"``.
        workers: clips encoded in parallel (``None``: ``torch.get_num_threads()``).
        runtime: TFLite runtime, see `hear_wrappers.core.tflite.load_interpreter_class`.
        name: the encoder file, for messages.
    """

    def __init__(
        self,
        encoder_content: bytes,
        quantizer_content: bytes | None = None,
        *,
        embedding: Embedding = "latent",
        bitrate: int = 9200,
        workers: int | None = None,
        runtime: str = "auto",
        name: str = ENCODER_SPEC.name,
    ) -> None:
        check_options(embedding=embedding, bitrate=bitrate)
        spec = dataclasses.replace(ENCODER_SPEC, name=name)
        super().__init__(encoder_content, spec, runtime=runtime, workers=workers, extra="soundstream")
        if self.embedding_size != EMBEDDING_SIZE:
            raise CheckpointMismatchError(
                f"{name} returns {self.embedding_size} values per frame (output shape "
                f"{list(self._output_shape)}), SoundStream's encoder {EMBEDDING_SIZE}: pass Lyra's "
                f"soundstream_encoder.tflite."
            )
        self.embedding = embedding
        self.bitrate = bitrate
        self.quantizer: _LyraQuantizer | None = None
        if embedding == "quantized":
            if quantizer_content is None:
                raise ValueError("embedding='quantized' needs the quantizer file's bytes.")
            self.quantizer = _LyraQuantizer(
                quantizer_content, bitrate, self._interpreter_class, self.num_threads
            )

    def encode_clip(self, windows: np.ndarray) -> np.ndarray:
        frames = super().encode_clip(windows)
        return frames if self.quantizer is None else self.quantizer(frames)

    def extra_repr(self) -> str:
        quantized = f", bitrate={self.bitrate}" if self.quantizer is not None else ""
        return f"embedding={self.embedding!r}{quantized}, " + super().extra_repr()


def check_options(
    *,
    embedding: str,
    bitrate: int,
    quantizer_file_path: str = "",
    workers: int | None = None,
    runtime: str = "auto",
) -> None:
    """Refuse bad `load_model` options with a `ValueError` that names the fix (no file is touched).

    ``quantizer_file_path`` is only read with ``embedding="quantized"`` (and ignored otherwise).
    """
    if embedding not in ("latent", "quantized"):
        raise ValueError(f"embedding must be 'latent' or 'quantized', got {embedding!r}.")
    if embedding == "quantized" and bitrate not in BITRATES:
        raise ValueError(f"Lyra's bitrates are {list(BITRATES)} bit/s, got {bitrate!r}.")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}.")
    if runtime != "auto" and runtime not in RUNTIMES:
        raise ValueError(f"unknown TFLite runtime {runtime!r}: choose 'auto' or one of {list(RUNTIMES)}.")


def _quantizer_path(quantizer_file_path: str, encoder_path: Path, *, progress: bool = True) -> Path:
    """The quantizer: the path given, else Lyra's ``quantizer.tflite`` beside the encoder file, else
    the official file (cached download)."""
    if quantizer_file_path:
        return resolve_checkpoint(QUANTIZER_CHECKPOINT, quantizer_file_path)
    beside = encoder_path.parent / QUANTIZER_FILE
    if beside.is_file():
        return beside
    return resolve_checkpoint(QUANTIZER_CHECKPOINT, extra=_EXTRA, progress=progress)


#: The one released encoder.
SPECS = (
    ModelSpec(
        family="soundstream",
        variant=VARIANT,
        description="Google's SoundStream encoder from Lyra 1.3.2 (TFLite, causal, streaming), 50 Hz",
        sample_rate=SAMPLE_RATE,
        frame_hop_ms=1000 * FRAME_SAMPLES / SAMPLE_RATE,
        frame_size=EMBEDDING_SIZE,
        default_pooling="mean+max",  # from docs/pooling.md's measurements
        weights=ENCODER_CHECKPOINT,
        extra=_EXTRA,
    ),
)


class SoundStreamFamily(ModelFamily):
    """Lyra's SoundStream encoder (and quantizer), run by a TFLite runtime."""

    name = "soundstream"
    title = "SoundStream"
    extra = _EXTRA
    default_variant = VARIANT

    def check_options(self, spec: ModelSpec, options: dict[str, Any]) -> None:
        check_options(**options)
        load_interpreter_class(options.get("runtime", "auto"), extra=self.extra)  # installed?

    def read(self, spec: ModelSpec, path: Path) -> TFLiteFile:
        """The encoder file's bytes (checked to be a TFLite model), and its path."""
        return TFLiteFile.read(path, what="SoundStream encoder (soundstream_encoder.tflite)")

    def identify(self, weights: TFLiteFile) -> tuple[str, ...]:
        """``(VARIANT,)`` if the model has SoundStream's interface (one float32 input of 320 samples,
        a first output of 64 values), else ()."""
        try:
            interpreter = load_interpreter_class("auto", extra=self.extra)[1](model_content=weights.content)
        except (MissingExtraError, ValueError, RuntimeError):
            return ()
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        fits = (
            len(inputs) == 1
            and math.prod(inputs[0]["shape"]) == FRAME_SAMPLES
            and np.dtype(inputs[0]["dtype"]) == np.float32
            and bool(outputs)
            and math.prod(outputs[0]["shape"]) == EMBEDDING_SIZE
        )
        return (VARIANT,) if fits else ()

    def resolve_extra_files(
        self, spec: ModelSpec, path: Path, options: dict[str, Any], *, progress: bool = True
    ) -> None:
        """The quantizer, for ``embedding="quantized"`` (see `_quantizer_path`)."""
        if options["embedding"] == "quantized":
            found = _quantizer_path(options["quantizer_file_path"], path, progress=progress)
            options["quantizer_file_path"] = str(found)

    def build(self, spec: ModelSpec, weights: TFLiteFile, options: dict[str, Any]) -> SoundStreamEncoder:
        quantizer_content = None
        if options["embedding"] == "quantized":
            path = Path(options["quantizer_file_path"])  # local: see resolve_extra_files
            quantizer_content = read_tflite(path, what="Lyra quantizer (quantizer.tflite)")
        return SoundStreamEncoder(
            weights.content,
            quantizer_content,
            embedding=options["embedding"],
            bitrate=options["bitrate"],
            workers=options["workers"],
            runtime=options["runtime"],
            name=f"the SoundStream encoder {str(weights.path)!r}",
        )

    def write_random_weights(self, spec: ModelSpec, folder: Path) -> Path:
        """A stand-in for Lyra's encoder and quantizer with random weights, written under their file
        names: ``lyra-v1.3.2-soundstream_encoder.tflite`` and, beside it, ``quantizer.tflite``.

        The encoder has the real one's interface (``serving_default``: ``input_audio`` ``[1, 320]``
        float32 -> ``output_0`` ``[1, 1, 64]``) and state mechanism: five causal streaming convolutions
        (1 -> 32 -> 64 -> 128 -> 128 -> 64 channels, strides 4, 4, 4, 5, 1, leaky ReLU between them), each
        keeping its past input in a resource variable that a ``CALL_ONCE`` subgraph sets to zeros, as
        Lyra's 14 streaming convolutions do. The quantizer is a residual vector quantizer with Lyra's
        ``encode``/``decode`` signatures: 46 codebooks of 16 random vectors (4 bits each).
        Weights come from torch's generator (the registry seeds it).
        """
        from hear_wrappers.core.tflite_writer import (
            StreamingConv,
            write_residual_quantizer,
            write_streaming_encoder,
        )

        shapes = ((1, 32, 8, 4), (32, 64, 8, 4), (64, 128, 8, 4), (128, 128, 10, 5), (128, 64, 1, 1))
        layers = []
        for index, (n_in, n_out, kernel, stride) in enumerate(shapes):
            last = index == len(shapes) - 1
            gain = 1.0 if last else 2.0 / (1 + 0.2**2)  # He initialisation for a leaky ReLU of slope 0.2
            weights = torch.randn(n_out, n_in, kernel) * math.sqrt(gain / (n_in * kernel))
            bias = torch.randn(n_out) * 0.01
            layers.append(StreamingConv(weights.numpy(), bias.numpy(), stride, None if last else 0.2))
        path = write_streaming_encoder(
            folder / spec.weights.filename,
            layers,
            frame_samples=FRAME_SAMPLES,
            output_shape=(1, 1, EMBEDDING_SIZE),
        )
        # The nearest of 16 random vectors of scale s to a residual r (64-d) shortens it only if s is small
        # against it: ||r - c||^2 ~ ||r||^2 + 64 s^2 - 2 * 1.77 s ||r|| (1.77: the largest of 16 normal
        # draws), best for s ~ 1.77 ||r|| / 64, which removes ~5 % of the residual's energy per stage.
        # For this encoder's frames on noise at +-0.5 (||r|| ~ 2) that is s ~ 0.05, shrinking by
        # sqrt(0.95) per stage, so that more quantizers (higher bitrates) come closer to the frames.
        scales = 0.05 * 0.975 ** torch.arange(MAX_QUANTIZERS, dtype=torch.float32)
        codebooks = torch.randn(MAX_QUANTIZERS, CODEBOOK_SIZE, EMBEDDING_SIZE) * scales[:, None, None]
        write_residual_quantizer(folder / QUANTIZER_FILE, codebooks.numpy(), bits=BITS_PER_QUANTIZER)
        return path


FAMILY = SoundStreamFamily(SPECS)


@FAMILY.hear_load_model
def load_model(
    *,
    embedding: Embedding = "latent",
    bitrate: int = 9200,
    quantizer_file_path: str = "",
    workers: int | None = None,
    runtime: str = "auto",
) -> None:
    """Load Lyra's SoundStream encoder for HEAR.

    Args:
        model_file_path: ``soundstream_encoder.tflite`` (Lyra 1.3.2's, or another with the same
            interface), or a folder holding ``lyra-v1.3.2-soundstream_encoder.tflite``; empty to download
            Google's file from google/lyra v1.3.2 into the cache.
        variant: ``"lyra-v1.3.2"``, the only one (the registry's ``soundstream-lyra-v1.3.2``).
        embedding: ``"latent"`` (default): the encoder's frames; ``"quantized"``: the sum of the
            codebook vectors of Lyra's residual quantizer at ``bitrate``.
        bitrate: 3200, 6000 or 9200 (default) bit/s, for ``embedding="quantized"``.
        quantizer_file_path: Lyra's ``quantizer.tflite``, for ``"quantized"``; empty for the
            ``quantizer.tflite`` beside the encoder file if there is one, else Google's file (cached
            download).
        workers: clips of a batch encoded in parallel, each on its own interpreter; ``None`` for
            ``torch.get_num_threads()``. Results do not depend on it.
        runtime: ``"auto"`` (``ai-edge-litert``, else ``tflite-runtime``), ``"ai_edge_litert"`` or
            ``"tflite_runtime"``.

    Raises:
        ValueError: a bad option (before any file is read).
        MissingExtraError: no TFLite runtime: ``pip install 'hear-wrappers[soundstream]'``.
        CheckpointUnavailableError: the file is missing or cannot be downloaded.
        CheckpointError: the file is not a TFLite model, or the download fails its checksum.
        CheckpointMismatchError: a TFLite model whose input or output is not SoundStream's.
    """
