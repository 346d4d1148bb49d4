"""Reading task audio as heareval does (soundfile, float32), with errors that name the file and task.

A batch is decoded straight into one ``[B, N]`` float32 array (`decode_batch`): each file's samples
are read into its row, so a batch's audio exists once in memory (a 600 s clip at 16 kHz is 37 MiB),
never as per-clip arrays plus a stacked copy.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
import soundfile as sf

__all__ = ["AudioError", "decode_batch", "decode_clip"]

#: Samples checked for NaN/Inf at a time (bounds the check's temporary to 1 MiB of booleans).
_CHECK_SAMPLES = 1 << 20


class AudioError(ValueError):
    """An audio file of a task cannot be embedded (unreadable, wrong rate, not mono, empty, NaN/Inf)."""


def _open(source: str | os.PathLike[str] | bytes, where: str, sample_rate: int) -> sf.SoundFile:
    """The file opened for reading, after checking its rate, channels and length from its header."""
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
        opened = sf.SoundFile(handle)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as error:
        raise AudioError(f"{where}: cannot read the audio ({error}).") from None
    try:
        if opened.samplerate != sample_rate:
            raise AudioError(
                f"{where}: the file is at {opened.samplerate} Hz, the model takes {sample_rate} Hz: the "
                f"<task>/{sample_rate}/ folder must hold audio resampled to {sample_rate} Hz."
            )
        if opened.channels != 1:
            raise AudioError(f"{where}: {opened.channels} channels; HEAR tasks are mono: mix the file down.")
        if opened.frames == 0:
            raise AudioError(f"{where}: the file has no samples.")
    except AudioError:
        opened.close()
        raise
    return opened


def _read_into(opened: sf.SoundFile, out: np.ndarray, where: str, sample_rate: int) -> None:
    """Read the whole file into ``out`` (float32 ``[n_samples]``) and refuse NaN/Inf samples."""
    try:
        got = opened.read(out=out, dtype=np.float32)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioError(f"{where}: cannot read the audio ({error}).") from None
    if got.shape[0] != out.shape[0]:
        raise AudioError(
            f"{where}: the header announces {out.shape[0]} samples but only {got.shape[0]} could be read "
            f"(a truncated file?): re-export it."
        )
    chunks = range(0, out.shape[0], _CHECK_SAMPLES)
    for start in chunks:
        if not np.isfinite(out[start : start + _CHECK_SAMPLES]).all():  # one chunk's booleans at a time
            first = start + int(np.flatnonzero(~np.isfinite(out[start : start + _CHECK_SAMPLES]))[0])
            count = sum(int((~np.isfinite(out[s : s + _CHECK_SAMPLES])).sum()) for s in chunks if s >= start)
            raise AudioError(
                f"{where}: {count} NaN/Inf sample(s), the first at sample {first} "
                f"({first / sample_rate:.3f} s): fix or re-export the file."
            )


def decode_batch(
    sources: Sequence[str | os.PathLike[str] | bytes], names: Sequence[str], *, task: str, sample_rate: int
) -> np.ndarray:
    """A batch of clips as one float32 array ``[B, N]``, read with ``soundfile`` like heareval's runner.

    Every file's header is checked first (rate, channels, length); the samples are then read straight
    into the batch's rows, so the batch's audio is held once (as heareval's ``DataLoader`` stacks it).

    Args:
        sources: the files' paths, or their bytes (when the files were read on another machine).
        names: the files as shown in errors (``<task>/<rate>/<split>/<file>``).
        task: the task's name, for errors.
        sample_rate: the rate the model takes, in Hz; every file must have it.

    Raises:
        AudioError: a file cannot be decoded, has another rate, several channels, no samples, or
            NaN/Inf samples (the message names the file and the task); or the clips have different
            lengths (heareval's runner fails there too; a task with a ``sample_duration`` has clips of
            one length).
    """
    opened: list[sf.SoundFile] = []
    try:
        for source, name in zip(sources, names, strict=True):
            opened.append(_open(source, f"task {task!r}, file {name}", sample_rate))
        lengths = {handle.frames for handle in opened}
        if len(lengths) > 1:
            detail = ", ".join(f"{name}: {h.frames}" for name, h in zip(names, opened, strict=True))
            raise AudioError(
                f"task {task!r}: clips batched together have different lengths ({detail} samples): "
                f"pad the task's clips to its sample_duration, or set sample_duration to null in "
                f"task_metadata.json so that each clip is embedded alone."
            )
        audio = np.empty((len(opened), lengths.pop() if opened else 0), dtype=np.float32)
        for row, (handle, name) in enumerate(zip(opened, names, strict=True)):
            _read_into(handle, audio[row], f"task {task!r}, file {name}", sample_rate)
        return audio
    finally:
        for handle in opened:
            handle.close()


def decode_clip(
    source: str | os.PathLike[str] | bytes, *, name: str, task: str, sample_rate: int
) -> np.ndarray:
    """One clip as float32 samples ``[n_samples]`` (`decode_batch` of one file; same checks)."""
    return decode_batch([source], [name], task=task, sample_rate=sample_rate)[0]
