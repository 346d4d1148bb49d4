"""Encoding long clips in bounded memory.

HEAR feeds 120 s and 600 s clips at batch size 1. A convolutional encoder's activations grow with
the clip, so long clips are encoded chunk by chunk. Where the encoder's receptive field is finite, each
chunk is given ``context_frames`` of real audio on both sides and only its middle frames are kept, so
the result equals the one-pass result within float tolerance; the tests check that for every model
that uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

__all__ = ["encode_in_chunks", "iter_chunks"]


def iter_chunks(
    encode: Callable[[torch.Tensor], torch.Tensor],
    audio: torch.Tensor,
    *,
    hop_samples: int,
    n_frames: int,
    chunk_frames: int,
    context_frames: int,
) -> Iterator[torch.Tensor]:
    """Run ``encode`` over overlapping chunks of ``audio``, yielding each chunk's own frames in order.

    Concatenated along the last dimension, the pieces are ``encode(audio)``'s frames (see
    `encode_in_chunks` for the arguments). A clip that fits in one chunk is encoded in one pass.
    Yielding lets a caller stream the frames through a stateful stage (an RNN, say) without holding
    the whole clip's intermediate activations.
    """
    if chunk_frames <= 0 or context_frames < 0 or hop_samples <= 0:
        raise ValueError("chunk_frames and hop_samples must be positive, context_frames >= 0.")
    n_samples = audio.shape[-1]
    if n_frames <= chunk_frames + 2 * context_frames:
        yield encode(audio)
        return
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        first_fed = max(0, start - context_frames)
        begin = first_fed * hop_samples
        end = min(n_samples, (stop + context_frames) * hop_samples)
        frames = encode(audio[:, begin:end])
        offset = start - first_fed
        yield frames[..., offset : offset + stop - start]


def encode_in_chunks(
    encode: Callable[[torch.Tensor], torch.Tensor],
    audio: torch.Tensor,
    *,
    hop_samples: int,
    n_frames: int,
    chunk_frames: int,
    context_frames: int,
) -> torch.Tensor:
    """Run ``encode`` over overlapping chunks of ``audio`` and stitch the frames together.

    Args:
        encode: maps audio ``[B, n]`` to frames ``[B, ..., t]`` (time last). Frame ``k`` of
            ``encode(audio[:, s:e])`` must describe the same time as frame ``s // hop_samples + k``
            of ``encode(audio)`` whenever ``s`` is a multiple of ``hop_samples``, apart from frames
            within ``context_frames`` of a cut.
        audio: ``[B, N]`` input samples.
        hop_samples: frame hop in input samples (an integer; chunk cuts fall on frame boundaries).
        n_frames: number of frames ``encode(audio)`` returns for the whole clip.
        chunk_frames: frames kept per chunk (memory grows with ``chunk_frames + 2 * context_frames``).
        context_frames: frames of extra audio fed on each side of a chunk and then discarded; must
            cover the encoder's receptive field for the result to be exact.

    Returns:
        frames ``[B, ..., n_frames]`` as ``encode(audio)`` would give them.
    """
    pieces = iter_chunks(
        encode,
        audio,
        hop_samples=hop_samples,
        n_frames=n_frames,
        chunk_frames=chunk_frames,
        context_frames=context_frames,
    )
    return torch.cat(list(pieces), dim=-1)
