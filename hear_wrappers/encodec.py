"""EnCodec (Meta AI's neural audio codec) as HEAR embeddings.

Timestamp embeddings are the codec encoder's latent frames (or, optionally, their residual-vector
quantized version at a chosen bandwidth), timestamped at their true centres; the scene embedding pools
them with a strategy from the registry (``mean+std`` by default, see below).

Variants:

=========== ============ ============================ ================ ===========================
variant     HEAR rate    model                        frames           mono HEAR audio is fed as
=========== ============ ============================ ================ ===========================
``24khz``   48000 Hz     causal, 24 kHz mono          75 Hz, 128-d     resampled 48 -> 24 kHz
``48khz``   48000 Hz     non-causal, 48 kHz stereo    150 Hz, 128-d    the same signal on L and R
=========== ============ ============================ ================ ===========================

The 24 kHz model declares ``sample_rate = 48000`` (HEAR ships no 24 kHz audio, and 48 kHz halves
exactly) and resamples inside with julius' windowed-sinc resampler; frames are 13.33 ms apart. The
48 kHz model works, as in EnCodec itself, on independent 1 s segments, each scaled to unit RMS; we cut
them without overlap (EnCodec overlaps them by 1 % to cross-fade its *decoded* audio, which embeddings
do not need), so its 150 frames per second tile the clip, 6.67 ms apart.

Frame ``k`` summarises the input samples ``[k * hop, (k + 1) * hop)`` (hop 320 samples at the model's
rate), and its timestamp is the centre of that span.

Default pooling: ``mean+std``. The latent frames of a codec describe the signal locally; their mean
keeps the average timbre and loses every change over time, while the standard deviation over time
keeps how much each latent feature moves (onsets, rhythm, vibrato). It doubles the size to 256, small
for HEAR's downstream MLP. Any registered strategy can be chosen with ``pooling=``.

Long clips: the 24 kHz encoder is a convolutional front end (finite receptive field) followed by an
LSTM and a last causal convolution. We run the front end on chunks of ``chunk_seconds`` with 4 frames
(53 ms) of real audio as context on each side, and stream the chunks' frames through the LSTM and the
last convolution, carrying the LSTM state and the convolution's left context. The result equals the
one-pass encoder within float tolerance, and memory stays that of one chunk whatever the clip's length.
The 48 kHz model's 1 s segments are independent and are encoded ``chunk_seconds`` at a time.

Weights: the official files from ``https://dl.fbaipublicfiles.com/encodec/v0/`` (checksum prefixes
as published in their names), released by Meta AI under CC BY-NC 4.0 (non-commercial use); the
``encodec`` package (0.1.1) is also CC BY-NC 4.0. The architecture is built from the installed
``encodec`` package's own module files, without running its ``__init__`` (which imports torchaudio).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from hear_wrappers.core.checkpoints import Checkpoint, load_matching_weights, strip_prefix
from hear_wrappers.core.chunking import iter_chunks
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.imports import import_isolated, require
from hear_wrappers.core.model import (
    FrameEncoder,
    get_scene_embeddings,
    get_timestamp_embeddings,
)
from hear_wrappers.core.registry import ModelFamily, ModelSpec

__all__ = [
    "FAMILY",
    "VARIANTS",
    "EncodecEncoder",
    "build_encodec_modules",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
]

SAMPLE_RATE = 48000
_ROOT_URL = "https://dl.fbaipublicfiles.com/encodec/v0/"
_LICENSE = "CC BY-NC 4.0"


@dataclass(frozen=True)
class EncodecVariant:
    """One released EnCodec model: its weights and how its architecture is configured."""

    checkpoint: Checkpoint
    native_rate: int
    channels: int
    causal: bool
    norm: str
    normalize: bool
    segment_seconds: float | None
    bandwidths: tuple[float, ...]

    @property
    def hop(self) -> int:
        """Encoder hop in samples at the native rate (product of SEANet's strides)."""
        return 320

    @property
    def frame_rate(self) -> int:
        return math.ceil(self.native_rate / self.hop)

    @property
    def n_codebooks(self) -> int:
        """Codebooks in the residual quantizer (enough for the largest bandwidth; 10 bits each)."""
        return int(1000 * self.bandwidths[-1] // (self.frame_rate * 10))


VARIANTS: dict[str, EncodecVariant] = {
    "24khz": EncodecVariant(
        checkpoint=Checkpoint(
            name="encodec_24khz",
            url=_ROOT_URL + "encodec_24khz-d7cc33bc.th",
            sha256="d7cc33bc",
            license=_LICENSE,
        ),
        native_rate=24000,
        channels=1,
        causal=True,
        norm="weight_norm",
        normalize=False,
        segment_seconds=None,
        bandwidths=(1.5, 3.0, 6.0, 12.0, 24.0),
    ),
    "48khz": EncodecVariant(
        checkpoint=Checkpoint(
            name="encodec_48khz",
            url=_ROOT_URL + "encodec_48khz-7e698e3e.th",
            sha256="7e698e3e",
            license=_LICENSE,
        ),
        native_rate=48000,
        channels=2,
        causal=False,
        norm="time_group_norm",
        normalize=True,
        segment_seconds=1.0,
        bandwidths=(3.0, 6.0, 12.0, 24.0),
    ),
}

Embedding = Literal["latent", "quantized"]


def build_encodec_modules(variant: str, *, with_decoder: bool = False) -> nn.ModuleDict:
    """The official EnCodec architecture with random weights, laid out as in the official files.

    Returns a ``ModuleDict`` with ``encoder`` and ``quantizer`` (and ``decoder`` if asked), so that
    its ``state_dict()`` has exactly the keys of ``encodec_<variant>-*.th`` when ``with_decoder``.
    """
    spec = _variant(variant)
    seanet = import_isolated("encodec", "modules", extra="encodec")
    quantization = import_isolated("encodec", "quantization", extra="encodec")
    with warnings.catch_warnings():
        # EnCodec's layers use torch.nn.utils.weight_norm, whose key names the official files carry.
        warnings.filterwarnings("ignore", message=".*weight_norm` is deprecated", category=FutureWarning)
        parts: dict[str, nn.Module] = {
            "encoder": seanet.SEANetEncoder(channels=spec.channels, norm=spec.norm, causal=spec.causal),
            "quantizer": quantization.ResidualVectorQuantizer(dimension=128, n_q=spec.n_codebooks, bins=1024),
        }
        if with_decoder:
            parts["decoder"] = seanet.SEANetDecoder(
                channels=spec.channels, norm=spec.norm, causal=spec.causal
            )
    return nn.ModuleDict(parts)


def _variant(variant: str) -> EncodecVariant:
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(f"unknown EnCodec variant {variant!r}: choose one of {sorted(VARIANTS)}.") from None


def check_options(variant: str, *, embedding: str, bandwidth: float, chunk_seconds: float) -> None:
    """Refuse bad `EncodecEncoder` options with a `ValueError` that names the fix."""
    spec = _variant(variant)
    if embedding not in ("latent", "quantized"):
        raise ValueError(f"embedding must be 'latent' or 'quantized', got {embedding!r}.")
    if embedding == "quantized" and bandwidth not in spec.bandwidths:
        raise ValueError(
            f"EnCodec {variant} supports bandwidths {list(spec.bandwidths)} kbit/s, got {bandwidth}."
        )
    if chunk_seconds < 1.0:
        raise ValueError(f"chunk_seconds must be at least 1.0, got {chunk_seconds}.")


class EncodecEncoder(FrameEncoder):
    """EnCodec's encoder on mono 48 kHz audio ``[B, N]`` -> latent frames ``[B, T, 128]``.

    Args:
        variant: ``"24khz"`` or ``"48khz"``.
        embedding: ``"latent"`` for the continuous encoder output, ``"quantized"`` for the sum of
            the residual quantizer's codebook vectors at ``bandwidth``.
        bandwidth: kbit/s for ``"quantized"``; one of the variant's bandwidths.
        chunk_seconds: audio encoded per chunk for long clips (24 kHz) or per batch of segments
            (48 kHz); bounds memory.
    """

    #: Frames of context fed on each side of a chunk of the 24 kHz front end. Two frames (27 ms) already
    #: give results identical to the one-pass encoder (its strided convolutions see little past one
    #: hop); four leave a margin. The chunk test in tests/test_encodec.py checks it.
    context_frames = 4

    def __init__(
        self,
        variant: str = "24khz",
        *,
        embedding: Embedding = "latent",
        bandwidth: float = 6.0,
        chunk_seconds: float = 5.0,
    ) -> None:
        super().__init__()
        check_options(variant, embedding=embedding, bandwidth=bandwidth, chunk_seconds=chunk_seconds)
        self.variant = _variant(variant)
        self.embedding = embedding
        self.bandwidth = bandwidth
        self.chunk_seconds = chunk_seconds
        parts = build_encodec_modules(variant)
        # EnCodec's SEANetEncoder and ResidualVectorQuantizer (the encodec package ships no types).
        self.encoder: Any = parts["encoder"]
        self.quantizer: Any = parts["quantizer"] if embedding == "quantized" else None
        self.resample_factor = SAMPLE_RATE // self.variant.native_rate  # 2 or 1
        self._julius = require("julius", extra="encodec") if self.resample_factor > 1 else None
        hop = self.variant.hop * self.resample_factor
        self.timing = FrameTiming(SAMPLE_RATE, hop_samples=hop, first_centre_samples=hop / 2)
        self.embedding_size = 128
        self.min_samples = hop
        self._lstm_index = self._check_streamable() if self.variant.causal else -1

    def _check_streamable(self) -> int:
        """Index of the LSTM in EnCodec's causal encoder, after checking what follows it."""
        names = [type(layer).__name__ for layer in self.encoder.model]
        index = names.index("SLSTM")
        last = self.encoder.model[-1].conv.conv
        if names[index:] != ["SLSTM", "ELU", "SConv1d"] or last.stride[0] != 1:
            raise RuntimeError(f"unexpected EnCodec encoder layout {names}: the encodec package changed.")
        return index

    def num_frames(self, n_samples: int) -> int:
        return math.ceil((n_samples // self.resample_factor) / self.variant.hop)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if self.variant.segment_seconds is None:
            latent = self._encode_whole(audio)
        else:
            latent = self._encode_segments(audio)
        if self.quantizer is not None:
            codes = self.quantizer.encode(latent, self.variant.frame_rate, self.bandwidth)
            latent = self.quantizer.decode(codes)
        return latent.transpose(1, 2)

    # 24 kHz: the convolutional front end runs on overlapping chunks of audio (exact: its receptive
    # field is finite); the LSTM, ELU and last causal convolution then stream over the chunks' frames,
    # carrying the LSTM state and the convolution's left context, so no stage holds the whole clip.
    def _front_end(self, audio: torch.Tensor) -> torch.Tensor:
        return self.encoder.model[: self._lstm_index](self._to_native(audio).unsqueeze(1))

    def _encode_whole(self, audio: torch.Tensor) -> torch.Tensor:
        hop = int(self.timing.hop_samples)
        hidden_chunks = iter_chunks(
            self._front_end,
            audio,
            hop_samples=hop,
            n_frames=self.num_frames(audio.shape[-1]),
            chunk_frames=max(1, round(self.chunk_seconds * SAMPLE_RATE / hop)),
            context_frames=self.context_frames,
        )
        lstm, activation, last_conv = self.encoder.model[self._lstm_index :]
        conv = last_conv.conv.conv
        conv_context = (conv.kernel_size[0] - 1) * conv.dilation[0]
        state = None
        left = audio.new_zeros(audio.shape[0], conv.in_channels, 0)
        pieces = []
        for hidden in hidden_chunks:
            steps = hidden.permute(2, 0, 1)  # [T, B, C], as EnCodec's SLSTM feeds its LSTM
            out, state = lstm.lstm(steps, state)
            if lstm.skip:
                out = out + steps
            with_left = torch.cat([left, activation(out.permute(1, 2, 0))], dim=-1)
            pieces.append(last_conv(with_left)[..., left.shape[-1] :])
            left = with_left[..., -conv_context:]
        return torch.cat(pieces, dim=-1)

    def _to_native(self, audio: torch.Tensor) -> torch.Tensor:
        if self._julius is None:
            return audio
        return self._julius.resample_frac(audio, SAMPLE_RATE, self.variant.native_rate)

    # 48 kHz: independent 1 s segments, each scaled to unit RMS, as EnCodec does.
    def _encode_segment_batch(self, segments: torch.Tensor) -> torch.Tensor:
        scale = segments.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-8
        stereo = (segments / scale).unsqueeze(1).expand(-1, self.variant.channels, -1)
        return self.encoder(stereo)

    def _encode_segments(self, audio: torch.Tensor) -> torch.Tensor:
        n_sounds, n_samples = audio.shape
        segment_seconds = self.variant.segment_seconds or 1.0  # set for every segmented variant
        segment = round(segment_seconds * self.variant.native_rate)
        n_full = n_samples // segment
        per_forward = max(1, round(self.chunk_seconds / segment_seconds))  # segments
        pieces = []
        if n_full:
            segments = audio[:, : n_full * segment].reshape(n_sounds * n_full, segment)
            latent = torch.cat([self._encode_segment_batch(batch) for batch in segments.split(per_forward)])
            # [n_sounds * n_full, D, t] -> [n_sounds, D, n_full * t]
            latent = latent.reshape(n_sounds, n_full, *latent.shape[1:])
            pieces.append(latent.permute(0, 2, 1, 3).flatten(2))
        if n_samples % segment:
            pieces.append(self._encode_segment_batch(audio[:, n_full * segment :]))
        return torch.cat(pieces, dim=-1)


#: The released models, one registry entry each.
SPECS = tuple(
    ModelSpec(
        family="encodec",
        variant=variant,
        description=f"Meta's EnCodec {variant[:2]} kHz ({kind}) latents, {VARIANTS[variant].frame_rate} Hz",
        sample_rate=SAMPLE_RATE,
        frame_hop_ms=1000 * VARIANTS[variant].hop / VARIANTS[variant].native_rate,
        frame_size=128,
        default_pooling="mean+std",
        weights=VARIANTS[variant].checkpoint,
        extra="encodec",
    )
    for variant, kind in (("24khz", "causal, mono"), ("48khz", "non-causal, stereo"))
)


class EncodecFamily(ModelFamily):
    """EnCodec's two released models; the official files hold encoder, quantizer and decoder."""

    name = "encodec"
    title = "EnCodec"
    requires = ("encodec", "julius", "einops")
    extra = "encodec"
    default_variant = "24khz"

    def check_options(self, spec: ModelSpec, options: dict[str, Any]) -> None:
        check_options(spec.variant, **options)

    def identify(self, weights: dict[str, torch.Tensor]) -> tuple[str, ...]:
        """The variant whose first convolution takes the file's number of channels (1 or 2)."""
        for key in ("encoder.model.0.conv.conv.weight_v", "encoder.model.0.conv.conv.weight"):
            if key in weights and weights[key].dim() == 3:
                found = {VARIANTS[v].channels: v for v in VARIANTS}.get(weights[key].shape[1])
                return (found,) if found else ()
        return ()

    def build(
        self, spec: ModelSpec, weights: dict[str, torch.Tensor], options: dict[str, Any]
    ) -> EncodecEncoder:
        encoder = EncodecEncoder(spec.variant, **options)
        what = f"EnCodec {spec.variant}"
        hint = f"Pass an EnCodec {spec.variant} weights file such as {spec.weights.filename}."
        load_matching_weights(encoder.encoder, strip_prefix(weights, "encoder."), what=what, hint=hint)
        if encoder.quantizer is not None:
            load_matching_weights(
                encoder.quantizer,
                strip_prefix(weights, "quantizer."),
                what=f"the {what} quantizer",
                hint=hint,
            )
        return encoder

    def write_random_weights(self, spec: ModelSpec, folder: Path) -> Path:
        modules = build_encodec_modules(spec.variant, with_decoder=True)
        # Codebooks start as zeros until k-means runs in training; trained files hold real vectors.
        for buffer_name, buffer in modules.named_buffers():
            if buffer_name.endswith("_codebook.embed"):
                buffer.normal_()
            elif buffer_name.endswith("_codebook.inited"):
                buffer.fill_(1.0)
        return self.save_weights(spec, folder, modules.state_dict())


FAMILY = EncodecFamily(SPECS)


@FAMILY.hear_load_model
def load_model(
    *, embedding: Embedding = "latent", bandwidth: float = 6.0, chunk_seconds: float = 5.0
) -> None:
    """Load EnCodec for HEAR.

    Args:
        model_file_path: an EnCodec weights file (``encodec_24khz-d7cc33bc.th`` or
            ``encodec_48khz-7e698e3e.th`` as published); empty to download the official file
            into the cache (see `hear_wrappers.core.checkpoints`).
        variant: ``"24khz"`` (the default) or ``"48khz"``; with ``model_file_path`` and no variant,
            the file's own variant (recognised from its first layer).
        embedding: ``"latent"`` (default) or ``"quantized"`` codebook vectors.
        bandwidth: kbit/s for ``embedding="quantized"``: 1.5, 3, 6, 12 or 24 (24 kHz); 3, 6, 12 or 24
            (48 kHz).
        chunk_seconds: seconds of audio per encoder pass on long clips (bounds memory).
    """
