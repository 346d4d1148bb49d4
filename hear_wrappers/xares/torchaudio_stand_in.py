"""The two torchaudio functions X-ARES's data pipeline calls, for where torchaudio cannot be imported.

X-ARES 0.1.3 imports torchaudio at the top of ``xares/audiowebdataset.py`` and calls exactly two of its
functions: ``torchaudio.load`` (through webdataset's ``torch_audio`` decoder, on a temporary file) and
``torchaudio.functional.resample`` (every clip, to the encoder's ``sampling_rate``). torchaudio wheels
are built for one torch release each (2.11.1 is the newest on PyPI), so with another torch it fails to
import. `install` then puts a module named ``torchaudio`` in ``sys.modules`` with only those two
functions: ``load`` by soundfile, ``functional.resample`` by scipy's polyphase resampler (Kaiser window,
the same family as torchaudio's windowed sinc; scipy comes with X-ARES's scikit-learn). Anything else
taken from it raises an error that names the stand-in. Where the real torchaudio imports, nothing is
replaced.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import math
import sys
import types
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["install", "load", "resample", "while_importing"]


def load(path: str, *args: object, **kwargs: object) -> tuple[torch.Tensor, int]:
    """``torchaudio.load``: ``(waveform float32 [channels, samples] in [-1, 1], sample_rate)``."""
    import soundfile

    data, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(sample_rate)


def resample(
    waveform: torch.Tensor, orig_freq: int, new_freq: int, *args: object, **kwargs: object
) -> torch.Tensor:
    """``torchaudio.functional.resample`` along the last axis, by `scipy.signal.resample_poly`.

    Args:
        waveform: ``[..., samples]`` float audio at ``orig_freq`` Hz.
        orig_freq: its rate in Hz (an integer).
        new_freq: the rate wanted, in Hz (an integer).
        *args: torchaudio's filter options (``lowpass_filter_width`` ...), ignored.
        **kwargs: the same, by name, ignored.

    Returns:
        ``[..., ceil(samples * new_freq / orig_freq)]`` float32 on ``waveform``'s device.
    """
    from scipy.signal import resample_poly

    orig_freq, new_freq = int(orig_freq), int(new_freq)
    if orig_freq == new_freq:
        return waveform
    divisor = math.gcd(orig_freq, new_freq)
    source = waveform.detach().to("cpu", torch.float64).numpy()
    out = resample_poly(source, new_freq // divisor, orig_freq // divisor, axis=-1)
    return torch.from_numpy(out.astype(np.float32)).to(waveform.device)


class _StandIn(types.ModuleType):
    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise AttributeError(
            f"{self.__name__}.{attribute} is not available: torchaudio cannot be imported here, and "
            f"hear_wrappers.xares.torchaudio_stand_in provides only load and functional.resample (what "
            f"X-ARES's data pipeline uses). Install a torchaudio built for your torch release."
        )


def install() -> bool:
    """Make ``import torchaudio`` work for X-ARES: the real one if it imports, else the stand-in.

    Returns:
        True if the stand-in was installed, False if the real torchaudio (or the stand-in) is already
        there.
    """
    current = sys.modules.get("torchaudio")
    if isinstance(current, _StandIn) or (current is not None and hasattr(current, "load")):
        return False
    try:
        import torchaudio  # noqa: F401

        return False
    except Exception:  # a build for another torch fails with OSError, RuntimeError or ImportError
        for name in [name for name in sys.modules if name == "torchaudio" or name.startswith("torchaudio.")]:
            del sys.modules[name]
    package = _StandIn("torchaudio", __doc__)
    functional = _StandIn("torchaudio.functional", "torchaudio.functional stand-in: resample only")
    # a spec, so that importlib.util.find_spec("torchaudio") (transformers asks) answers
    package.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None, is_package=True)
    functional.__spec__ = importlib.machinery.ModuleSpec("torchaudio.functional", None)
    for module, attribute, value in ((package, "load", load), (functional, "resample", resample)):
        setattr(module, attribute, value)
    setattr(package, "functional", functional)  # noqa: B010  # a module attribute mypy cannot see
    sys.modules["torchaudio"] = package
    sys.modules["torchaudio.functional"] = functional
    return True


@contextlib.contextmanager
def while_importing() -> Iterator[bool]:
    """The stand-in (where torchaudio cannot be imported) only while the block runs, e.g. the import of a
    library whose top level imports torchaudio for parts we never use (transformers' audio_utils, which
    mteb imports); ``sys.modules`` is restored afterwards, so a later ``import torchaudio`` fails as before.

    Yields:
        whether the stand-in was put in place.
    """
    placed = install()
    try:
        yield placed
    finally:
        if placed:
            for name in ("torchaudio.functional", "torchaudio"):
                if isinstance(sys.modules.get(name), _StandIn):
                    del sys.modules[name]
