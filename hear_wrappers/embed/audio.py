"""Reading task audio as heareval does (soundfile, float32), with errors that name the file and task."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
import soundfile as sf

__all__ = ["AudioError", "decode_clip", "stack_batch"]


class AudioError(ValueError):
    """An audio file of a task cannot be embedded (unreadable, wrong rate, not mono, empty, NaN/Inf)."""


def decode_clip(
    source: str | os.PathLike[str] | bytes, *, name: str, task: str, sample_rate: int
) -> np.ndarray:
    """One clip as float32 samples ``[n_samples]``, read with ``soundfile`` like heareval's runner.

    Args:
        source: the file's path, or its bytes (when the file was read on another machine).
        name: the file's path as shown in errors (``<task>/<rate>/<split>/<file>``).
        task: the task's name, for errors.
        sample_rate: the rate the model takes, in Hz; the file must have it.

    Raises:
        AudioError: the file cannot be decoded, has another rate, several channels, no samples, or
            NaN/Inf samples. The message names the file and the task.
    """
    where = f"task {task!r}, file {name}"
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
        audio, rate = sf.read(handle, dtype=np.float32)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as error:
        raise AudioError(f"{where}: cannot read the audio ({error}).") from None
    if rate != sample_rate:
        raise AudioError(
            f"{where}: the file is at {rate} Hz, the model takes {sample_rate} Hz: the "
            f"<task>/{sample_rate}/ folder must hold audio resampled to {sample_rate} Hz."
        )
    if audio.ndim != 1:
        raise AudioError(f"{where}: {audio.shape[1]} channels; HEAR tasks are mono: mix the file down.")
    if audio.size == 0:
        raise AudioError(f"{where}: the file has no samples.")
    bad = ~np.isfinite(audio)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise AudioError(
            f"{where}: {int(bad.sum())} NaN/Inf sample(s), the first at sample {first} "
            f"({first / sample_rate:.3f} s): fix or re-export the file."
        )
    return audio


def stack_batch(clips: Sequence[np.ndarray], names: Sequence[str], *, task: str) -> np.ndarray:
    """Stack clips into ``[B, N]`` float32, as heareval's ``DataLoader`` does.

    Raises:
        AudioError: clips of different lengths in one batch (heareval's runner fails there too; a
            task with a ``sample_duration`` has clips of one length).
    """
    lengths = {clip.shape[0] for clip in clips}
    if len(lengths) > 1:
        detail = ", ".join(f"{name}: {clip.shape[0]}" for name, clip in zip(names, clips, strict=True))
        raise AudioError(
            f"task {task!r}: clips batched together have different lengths ({detail} samples): "
            f"pad the task's clips to its sample_duration, or set sample_duration to null in "
            f"task_metadata.json so that each clip is embedded alone."
        )
    return np.stack(clips)
