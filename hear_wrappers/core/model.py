"""The shared HEAR model: one frame encoder, plus everything HEAR asks for beyond it.

A model module builds a `FrameEncoder` (audio ``[B, N]`` at the HEAR rate -> frames ``[B, T, D]``,
with their `FrameTiming`) and wraps it in `HearModel`, which owns input checks, timestamps, pooling
and device handling. The three HEAR functions are the same for every model and live here; each model
module re-exports `get_timestamp_embeddings` and `get_scene_embeddings`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch
from torch import nn

from hear_wrappers.core.checks import check_audio
from hear_wrappers.core.framing import FrameTiming
from hear_wrappers.core.memory import steady_heap_if_asked
from hear_wrappers.core.pooling import Pooling, get_pooling

__all__ = [
    "NATIVE_POOLING",
    "ClipEmbedding",
    "FrameEncoder",
    "HearModel",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
]

HEAR_SAMPLE_RATES = (16000, 22050, 32000, 44100, 48000)

#: ``pooling`` value that asks for the model's own clip embedding (e.g. CLAP's projected 512-d
#: embedding) instead of pooling frames; only for encoders that define `FrameEncoder.embed_clips`.
NATIVE_POOLING = "native"


class FrameEncoder(nn.Module, abc.ABC):
    """Maps mono audio ``[B, N]`` at ``timing.sample_rate`` to frames ``[B, T, embedding_size]``.

    Subclasses set `timing`, `embedding_size` and `min_samples` and implement `num_frames` and
    `forward`. ``forward`` receives audio that already passed `check_audio` and runs under
    ``torch.no_grad``; it should keep memory bounded for long clips (see `encode_in_chunks`).

    A model trained to produce a clip embedding of its own (not a pooling of its frames) also sets
    `clip_embedding_size` and implements `embed_clips`; ``pooling="native"`` then uses it.
    """

    timing: FrameTiming
    embedding_size: int
    min_samples: int
    clip_embedding_size: int | None = None

    def embed_clips(self, audio: torch.Tensor) -> torch.Tensor:
        """The model's own clip embeddings ``[B, clip_embedding_size]`` for audio ``[B, N]``."""
        raise NotImplementedError(f"{type(self).__name__} has no clip embedding of its own.")

    @abc.abstractmethod
    def num_frames(self, n_samples: int) -> int:
        """Number of frames ``forward`` returns for a clip of ``n_samples`` input samples."""

    @abc.abstractmethod
    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, T, embedding_size]`` for audio ``[B, N]``."""


@dataclass(frozen=True)
class ClipEmbedding:
    """How a `HearModel` makes clip embeddings: the model's own head, or a pooling of its frames.

    Attributes:
        pooling: the strategy that pools frames ``[n, T, D]`` into ``[n, size]``; None when the
            encoder's own head (`FrameEncoder.embed_clips`) makes the clip embedding.
        size: size of the clip embedding.
    """

    pooling: Pooling | None
    size: int

    @property
    def name(self) -> str:
        """``"native"`` for the model's own head, else the pooling strategy's name."""
        return NATIVE_POOLING if self.pooling is None else self.pooling.name

    @property
    def is_native(self) -> bool:
        """Whether the encoder's own clip head makes the embedding (no frames are pooled)."""
        return self.pooling is None

    @classmethod
    def choose(cls, encoder: FrameEncoder, pooling: str | Pooling) -> ClipEmbedding:
        """``"native"`` for ``encoder``'s own head (a `ValueError` if it has none), else a pooling."""
        if pooling == NATIVE_POOLING:
            if encoder.clip_embedding_size is None:
                raise ValueError(
                    f"pooling={NATIVE_POOLING!r} needs a model with a clip embedding of its own, and "
                    f"{type(encoder).__name__} has none: choose a pooling strategy from "
                    f"hear_wrappers.core.pooling.available_poolings()."
                )
            return cls(None, encoder.clip_embedding_size)
        strategy = get_pooling(pooling)
        return cls(strategy, strategy.output_size(encoder.embedding_size))


class HearModel(nn.Module):
    """A HEAR-compatible model around a `FrameEncoder`.

    Args:
        encoder: the frame encoder.
        pooling: the clip embedding: a pooling strategy (name or `Pooling`), or ``"native"`` for the
            encoder's own clip head.

    Attributes:
        sample_rate: rate of the audio the HEAR functions take, in Hz (one of HEAR's rates).
        timestamp_embedding_size: size of each frame embedding.
        scene_embedding_size: size of the clip embedding.
        clip_embedding: how clip embeddings are made (`ClipEmbedding`).

    Constructing a model changes nothing outside it. Where long clips must stay within one chunk's
    memory, call `hear_wrappers.core.memory.steady_heap` once (our command-line tools do), or set
    ``HEAR_WRAPPERS_MALLOC=steady``.
    """

    def __init__(self, encoder: FrameEncoder, *, pooling: str | Pooling = "mean") -> None:
        super().__init__()
        if encoder.timing.sample_rate not in HEAR_SAMPLE_RATES:
            raise ValueError(
                f"HEAR models must take audio at one of {HEAR_SAMPLE_RATES} Hz, the encoder takes "
                f"{encoder.timing.sample_rate} Hz: resample inside the encoder."
            )
        steady_heap_if_asked()
        self.encoder = encoder
        self.clip_embedding = ClipEmbedding.choose(encoder, pooling)
        self.sample_rate: int = encoder.timing.sample_rate
        self.timestamp_embedding_size: int = encoder.embedding_size
        self.scene_embedding_size: int = self.clip_embedding.size
        self.eval()

    @property
    def pooling(self) -> Pooling | None:
        """The pooling strategy of the clip embeddings; None where the model's own head makes them."""
        return self.clip_embedding.pooling

    @property
    def device(self) -> torch.device:
        """Where the model's weights live (CPU for a model without tensors)."""
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.device
        return torch.device("cpu")

    def check(self, audio: torch.Tensor) -> None:
        """Refuse audio the model cannot take, with a message naming the fix (see `check_audio`)."""
        check_audio(audio, sample_rate=self.sample_rate, min_samples=self.encoder.min_samples)

    def frames(self, audio: torch.Tensor) -> torch.Tensor:
        """Checked frame embeddings ``[n_sounds, n_frames, timestamp_embedding_size]``, float32.

        Only frames whose centre lies within the clip are kept (see `FrameTiming.frames_within`).
        """
        self.check(audio)
        with torch.no_grad():
            frames = self.encoder(audio.to(self.device))
        return frames[:, : self.encoder.timing.frames_within(audio.shape[1])].float()

    def native_clip_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """The encoder's own clip embeddings ``[n_sounds, encoder.clip_embedding_size]``, checked."""
        if self.encoder.clip_embedding_size is None:
            raise ValueError(f"{type(self.encoder).__name__} has no clip embedding of its own.")
        self.check(audio)
        with torch.no_grad():
            return self.encoder.embed_clips(audio.to(self.device)).float()

    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame embeddings and their centres in ms; see `get_timestamp_embeddings`."""
        frames = self.frames(audio)
        timestamps = self.encoder.timing.timestamps_ms(frames.shape[0], frames.shape[1], device=frames.device)
        return frames, timestamps

    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """Clip embeddings ``[n_sounds, scene_embedding_size]``; see `get_scene_embeddings`."""
        pooling = self.clip_embedding.pooling
        if pooling is None:
            return self.native_clip_embeddings(audio)
        return pooling(self.frames(audio))

    def extra_repr(self) -> str:
        timing = self.encoder.timing
        return (
            f"sample_rate={self.sample_rate}, frame_hop_ms={timing.hop_ms:.3f}, "
            f"timestamp_embedding_size={self.timestamp_embedding_size}, "
            f"scene_embedding_size={self.scene_embedding_size}, clip_embedding={self.clip_embedding.name!r}"
        )


def _hear_model(model: object) -> HearModel:
    if not isinstance(model, HearModel):
        raise TypeError(f"model must come from this module's load_model(), got {type(model).__name__}.")
    return model


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """HEAR: frame-level embeddings of each clip.

    Args:
        audio: ``[n_sounds, n_samples]`` float32 mono audio at ``model.sample_rate``.
        model: from the module's ``load_model``.

    Returns:
        ``(embeddings, timestamps)``: embeddings ``[n_sounds, n_frames, model.timestamp_embedding_size]``
        float32, and the centre of each frame in milliseconds ``[n_sounds, n_frames]`` float32,
        evenly spaced, both on the model's device.
    """
    return _hear_model(model).timestamp_embeddings(audio)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """HEAR: one embedding per clip.

    Args:
        audio: ``[n_sounds, n_samples]`` float32 mono audio at ``model.sample_rate``.
        model: from the module's ``load_model``.

    Returns:
        ``[n_sounds, model.scene_embedding_size]`` float32: the frames pooled with
        ``model.pooling``, or the model's own clip embedding where ``model.clip_embedding`` is
        ``"native"``.
    """
    return _hear_model(model).scene_embeddings(audio)
